//! Lock safety under hostile conditions: a lease never ends before its full length, measured
//! from before its request was sent, on the real clock; a script stuck in a Lua library
//! function or catching its own kill cannot hold the server; a stop happens even then; a
//! restricted user's `LOCK.LIST` names only keys it may touch.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Raw, TestServer};
use proptest::prelude::*;

/// One short lease, taken by `acquire` and watched by `poll` from another connection until
/// the key is free; returns how long after the acquire was *sent* the poll's answer proving
/// it free was *received*. That is an upper bound on the lease's real length, so anything
/// below the lease is a provably early release.
fn observed_lease(
    holder: &mut Raw,
    watcher: &mut Raw,
    acquire: &[&[u8]],
    is_free: impl Fn(&mut Raw) -> bool,
) -> Duration {
    let sent = Instant::now();
    let reply = holder.cmd(acquire);
    assert!(
        reply == b"+OK\r\n" || reply.starts_with(b":"),
        "granted: {:?}",
        String::from_utf8_lossy(&reply)
    );
    let give_up = sent + Duration::from_secs(10);
    loop {
        if is_free(watcher) {
            return sent.elapsed();
        }
        assert!(Instant::now() < give_up, "the lease never ended");
    }
}

/// 1,000 leases of 1 to 50 ms, half by `SET NX PX`, half by `LOCK.ACQUIRE`, each watched by a
/// second client that polls `EXISTS` (or tries to take the lock itself): none ends early.
#[test]
fn no_lease_ends_before_its_length_on_the_real_clock() {
    let server = common::start_real(|_| {});
    let addr = server.local_addr();
    const WORKERS: usize = 4;
    const TRIALS: usize = 250;
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            thread::spawn(move || {
                let (mut holder, mut watcher) = (Raw::connect(addr), Raw::connect(addr));
                let mut early = Vec::new();
                for trial in 0..TRIALS {
                    let lease_ms = 1 + (trial * 7 + worker) % 50;
                    let key = format!("lease:{worker}:{trial}");
                    let px = lease_ms.to_string();
                    let observed = if trial % 2 == 0 {
                        let acquire: [&[u8]; 6] =
                            [b"SET", key.as_bytes(), b"a", b"NX", b"PX", px.as_bytes()];
                        observed_lease(&mut holder, &mut watcher, &acquire, |w| {
                            w.cmd(&[b"EXISTS", key.as_bytes()]) == b":0\r\n"
                        })
                    } else {
                        let acquire: [&[u8]; 5] =
                            [b"LOCK.ACQUIRE", key.as_bytes(), b"a", b"PX", px.as_bytes()];
                        observed_lease(&mut holder, &mut watcher, &acquire, |w| {
                            let reply =
                                w.cmd(&[b"LOCK.ACQUIRE", key.as_bytes(), b"b", b"PX", b"10"]);
                            reply.starts_with(b":")
                        })
                    };
                    if observed < Duration::from_millis(lease_ms as u64) {
                        early.push((key, lease_ms, observed));
                    }
                }
                early
            })
        })
        .collect();
    let early: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    assert!(early.is_empty(), "leases ended early: {early:?}");
}

/// `now > deadline`, to the microsecond, on every path a deadline is read: `EXISTS`, `PTTL`
/// (never more than what is left), a second `SET NX`, `LOCK.ACQUIRE`.
#[test]
fn expiry_boundary_to_the_microsecond() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET k v NX PX 5", "+OK\r\n");
    assert!(c.call("LOCK.ACQUIRE l a PX 5").starts_with(':'));
    server.clock.advance_micros(4_999);
    c.expect("PTTL k", ":0\r\n");
    server.clock.advance_micros(1);
    // At the deadline itself: still held.
    c.expect("EXISTS k", ":1\r\n");
    c.expect("SET k w NX PX 5", "$-1\r\n");
    c.expect("LOCK.ACQUIRE l b PX 5", "$-1\r\n");
    c.expect("PTTL k", ":0\r\n");
    server.clock.advance_micros(1);
    c.expect("EXISTS k", ":0\r\n");
    c.expect("SET k w NX PX 5", "+OK\r\n");
    assert!(c.call("LOCK.ACQUIRE l b PX 5").starts_with(':'));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random leases and random steps of the clock: a key exists exactly while the time since
    /// its `SET` is at most its lease, and `PTTL` never says more than is left.
    #[test]
    fn keys_live_exactly_their_lease(
        leases in proptest::collection::vec(1u64..200, 1..8),
        steps in proptest::collection::vec(0u64..60_000, 1..12),
    ) {
        let server: TestServer = common::start();
        let mut c = server.raw();
        for (i, lease) in leases.iter().enumerate() {
            c.expect(&format!("SET k{i} v PX {lease}"), "+OK\r\n");
        }
        let mut elapsed_us = 0u64;
        for step in steps {
            server.clock.advance_micros(step);
            elapsed_us += step;
            for (i, lease) in leases.iter().enumerate() {
                let live = elapsed_us <= lease * 1000;
                let exists = c.call(&format!("EXISTS k{i}"));
                prop_assert_eq!(exists == ":1\r\n", live, "k{} lease {} at {}us", i, lease, elapsed_us);
                let pttl: i64 = c.call(&format!("PTTL k{i}"))[1..].trim().parse().unwrap();
                if live {
                    prop_assert!(pttl >= 0 && pttl as u64 * 1000 <= lease * 1000 - elapsed_us);
                } else {
                    prop_assert_eq!(pttl, -2);
                }
            }
        }
    }
}

/// Scripts that would hold the server: only with the Lua engine.
#[cfg(feature = "lua")]
mod stuck_scripts {
    use std::process::{Command, Stdio};

    use super::*;

    /// The pattern of a catastrophic backtrack inside `string.find` (C code in stock Lua, where no
    /// hook runs).
    const BACKTRACKING: &str =
        "return string.find(string.rep('a', 30) .. 'b', string.rep('a*', 30) .. 'c')";

    /// Sends `EVAL script 1 key` without waiting for the reply.
    fn start_script(c: &mut Raw, script: &str, key: &str) {
        c.send(&common::encode(&[
            b"EVAL",
            script.as_bytes(),
            b"1",
            key.as_bytes(),
        ]));
    }

    /// Sends `SCRIPT KILL` until it is accepted (the script must first pass the time limit).
    fn kill_script(admin: &mut Raw) -> Instant {
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = admin.call("SCRIPT KILL");
            if reply == "+OK\r\n" {
                return Instant::now();
            }
            assert!(reply.starts_with("-NOTBUSY"), "{reply}");
            assert!(Instant::now() < give_up, "the script never became killable");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_script_stuck_in_string_find_answers_to_busy_and_script_kill() {
        let server = common::start_real(|config| config.lua_time_limit = 100);
        let addr = server.local_addr();
        let mut script = Raw::connect(addr);
        let mut other = Raw::connect(addr);
        other.expect("SET elsewhere v", "+OK\r\n");
        start_script(&mut script, BACKTRACKING, "stuck");
        // Other clients are answered: at once, or with BUSY once the limit passed.
        thread::sleep(Duration::from_millis(300));
        let reply = other.call("GET elsewhere");
        assert!(
            reply == "$1\r\nv\r\n" || reply.starts_with("-BUSY"),
            "{reply}"
        );
        let mut newcomer = Raw::connect(addr);
        let reply = newcomer.call("PING");
        assert!(
            reply == "+PONG\r\n" || reply.starts_with("-BUSY"),
            "{reply}"
        );
        let killed_at = kill_script(&mut other);
        let reply = String::from_utf8_lossy(&script.read_reply()).into_owned();
        assert!(
            reply.contains("Script killed by user with SCRIPT KILL"),
            "{reply}"
        );
        assert!(killed_at.elapsed() < Duration::from_secs(2));
        other.expect("PING", "+PONG\r\n");
        other.expect("GET elsewhere", "$1\r\nv\r\n");
    }

    #[test]
    fn a_script_cannot_catch_its_own_kill() {
        let server = common::start_real(|config| config.lua_time_limit = 10);
        let addr = server.local_addr();
        let (mut script, mut admin) = (Raw::connect(addr), Raw::connect(addr));
        let runaway = "local f = function() while 1 do redis.call('ping') end end \
                       while 1 do pcall(f) end";
        script.send(&common::encode(&[b"EVAL", runaway.as_bytes(), b"0"]));
        let killed_at = kill_script(&mut admin);
        let reply = String::from_utf8_lossy(&script.read_reply()).into_owned();
        assert!(
            reply.contains("Script killed by user with SCRIPT KILL"),
            "{reply}"
        );
        assert!(killed_at.elapsed() < Duration::from_secs(2));
        admin.expect("PING", "+PONG\r\n");
        // xpcall cannot keep it either.
        let runaway =
            "while 1 do xpcall(function() while 1 do end end, function(e) return e end) end";
        script.send(&common::encode(&[b"EVAL", runaway.as_bytes(), b"0"]));
        kill_script(&mut admin);
        let reply = String::from_utf8_lossy(&script.read_reply()).into_owned();
        assert!(reply.contains("Script killed"), "{reply}");
        admin.expect("PING", "+PONG\r\n");
    }

    /// SIGTERM while a script is stuck in a pattern: the process exits 0 within 3 s.
    #[test]
    fn sigterm_stops_the_server_even_with_a_stuck_script() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["--port", "0", "--lua-time-limit", "100"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn latchkey");
        let addr = common::start_line_addr(&mut child).expect("start line");
        let mut script = Raw::connect(addr);
        start_script(&mut script, BACKTRACKING, "stuck");
        thread::sleep(Duration::from_millis(300));
        common::signal(&child, "TERM");
        let sent = Instant::now();
        let exit = common::wait_exit(&mut child);
        assert!(exit.success(), "{exit:?}");
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "{:?}",
            sent.elapsed()
        );
    }
}

#[test]
fn lock_list_names_only_keys_within_the_users_patterns() {
    let server = common::start();
    let mut admin = server.raw();
    for key in ["app:1", "app:2", "secret:1"] {
        assert!(admin
            .call(&format!("LOCK.ACQUIRE {key} tok PX 10000"))
            .starts_with(':'));
    }
    admin.expect("ACL SETUSER app on >pw ~app:* +@all", "+OK\r\n");
    let mut app = server.raw();
    app.expect("AUTH app pw", "+OK\r\n");
    app.expect("LOCK.LIST", "*2\r\n$5\r\napp:1\r\n$5\r\napp:2\r\n");
    app.expect("LOCK.LIST secret:*", "*0\r\n");
    admin.expect(
        "LOCK.LIST",
        "*3\r\n$5\r\napp:1\r\n$5\r\napp:2\r\n$8\r\nsecret:1\r\n",
    );
}

#[test]
fn hz_is_clamped_as_redis_does() {
    let server = common::start_with(|config| config.hz = 1_000_000);
    let mut c = server.raw();
    c.expect("CONFIG GET hz", "*2\r\n$2\r\nhz\r\n$3\r\n500\r\n");
    c.expect("CONFIG SET hz 1000000", "+OK\r\n");
    c.expect("CONFIG GET hz", "*2\r\n$2\r\nhz\r\n$3\r\n500\r\n");
    c.expect("CONFIG SET hz 0", "+OK\r\n");
    c.expect("CONFIG GET hz", "*2\r\n$2\r\nhz\r\n$1\r\n1\r\n");
}
