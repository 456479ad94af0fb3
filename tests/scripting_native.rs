//! The native fast paths against the Lua engine: every natively run lock script is sent to two
//! servers, one running it natively and one in Lua, over randomised keyspace states (key
//! missing, token equal, token different, wrong type, expired, no TTL) and arguments (good and
//! bad TTLs); the replies and the keyspace afterwards must be identical, byte for byte.
#![cfg(feature = "lua")]

mod common;

use common::{start, Raw, TestServer};
use latchkey::script::native;

/// What a key holds before the script runs.
#[derive(Clone, Copy, Debug)]
enum State {
    Missing,
    Token,
    TokenWithoutTtl,
    OtherToken,
    WrongType,
    Expired,
}

const STATES: &[State] = &[
    State::Missing,
    State::Token,
    State::TokenWithoutTtl,
    State::OtherToken,
    State::WrongType,
    State::Expired,
];
const TTLS: &[&str] = &[
    "30000",
    "1",
    "250",
    "0",
    "-5",
    "abc",
    "1.5",
    "99999999999999",
];
const KEYS: &[&str] = &["lock:a", "lock:b", "lock:c"];

struct Side {
    server: TestServer,
    c: Raw,
}

impl Side {
    fn new(native: bool) -> Side {
        let server = start();
        server.server.shared().scripts.set_native(native);
        let c = server.raw();
        Side { server, c }
    }

    fn send(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.c.cmd(&args)
    }
}

/// Sets `key` to `state` on both sides.
fn prepare(sides: &mut [Side; 2], key: &str, state: State, wrong_type: &[&str]) {
    for side in sides.iter_mut() {
        side.send(&["DEL", key]);
        match state {
            State::Missing => {}
            State::Token => {
                side.send(&["SET", key, "tok", "PX", "5000"]);
            }
            State::TokenWithoutTtl => {
                side.send(&["SET", key, "tok"]);
            }
            State::OtherToken => {
                side.send(&["SET", key, "other", "PX", "7000"]);
            }
            State::WrongType => {
                let mut command = wrong_type.to_vec();
                command.insert(1, key);
                side.send(&command);
            }
            State::Expired => {
                side.send(&["SET", key, "tok", "PX", "10"]);
                side.server.advance_ms(20);
            }
        }
    }
}

/// A command that stores a non-string value, if this build has a type other than strings.
fn wrong_type_command(side: &mut Side) -> Option<Vec<&'static str>> {
    for command in [
        vec!["LPUSH", "x"],
        vec!["SADD", "x"],
        vec!["HSET", "f", "v"],
    ] {
        let mut probe = command.clone();
        probe.insert(1, "probe:type");
        let reply = side.send(&probe);
        side.send(&["DEL", "probe:type"]);
        if !reply.starts_with(b"-ERR unknown command") {
            return Some(command);
        }
    }
    None
}

/// The keyspace as both sides must agree on it.
fn snapshot(side: &mut Side) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for db in ["0", "1"] {
        side.send(&["SELECT", db]);
        for key in KEYS {
            out.push(side.send(&["TYPE", key]));
            out.push(side.send(&["GET", key]));
            out.push(side.send(&["PTTL", key]));
        }
    }
    side.send(&["SELECT", "0"]);
    out
}

#[test]
fn native_scripts_match_lua() {
    let mut sides = [Side::new(true), Side::new(false)];
    let wrong_type = wrong_type_command(&mut sides[0]);
    if wrong_type.is_none() {
        eprintln!("no non-string type in this build: the wrong-type state is left out");
    }
    let mut rng = fastrand::Rng::with_seed(20_26);
    let mut runs = 0;
    for script in native::all() {
        let sha = script.sha_hex().to_string();
        for side in sides.iter_mut() {
            let loaded = side.send(&["SCRIPT", "LOAD", script.text]);
            assert_eq!(loaded, format!("$40\r\n{sha}\r\n").into_bytes());
        }
        let multi_key = script.text.contains("ipairs(KEYS)");
        let select_first = script.text.contains("SELECT");
        for _ in 0..60 {
            let key_count = if multi_key { rng.usize(1..=3) } else { 1 };
            let keys = &KEYS[..key_count];
            for key in KEYS {
                let state = match (STATES[rng.usize(..STATES.len())], &wrong_type) {
                    (State::WrongType, None) => State::OtherToken,
                    (state, _) => state,
                };
                prepare(&mut sides, key, state, wrong_type.as_deref().unwrap_or(&[]));
            }
            let token = if rng.u8(..4) == 0 { "other" } else { "tok" };
            let ttl = TTLS[rng.usize(..TTLS.len())];
            let mut argv: Vec<&str> = Vec::new();
            if select_first {
                argv.push(if rng.u8(..4) == 0 { "1" } else { "0" });
            }
            argv.push(token);
            argv.push(ttl);
            if rng.bool() {
                argv.push(if rng.bool() { "0" } else { "1" });
            }
            let numkeys = key_count.to_string();
            let mut command = vec!["EVALSHA", &sha, &numkeys];
            command.extend_from_slice(keys);
            command.extend_from_slice(&argv);
            let native_reply = sides[0].send(&command);
            let lua_reply = sides[1].send(&command);
            assert_eq!(
                String::from_utf8_lossy(&native_reply),
                String::from_utf8_lossy(&lua_reply),
                "{}: {command:?}",
                script.name
            );
            let [native_side, lua_side] = &mut sides;
            assert_eq!(
                snapshot(native_side),
                snapshot(lua_side),
                "{}: keyspace after {command:?}",
                script.name
            );
            runs += 1;
        }
    }
    assert_eq!(runs, 60 * native::all().count());
}

/// The shapes a library really sends are the ones run natively (and give what Lua gives,
/// above): the compare-delete with one key and one token.
#[test]
fn known_scripts_are_recognised() {
    let texts: Vec<&str> = native::all().map(|s| s.text).collect();
    assert!(texts.len() >= 17);
    for script in native::all() {
        assert_eq!(
            native::find(&latchkey::script::sha1(script.text.as_bytes())).map(|s| s.name),
            Some(script.name)
        );
    }
}
