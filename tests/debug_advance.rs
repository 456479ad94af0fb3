//! `DEBUG ADVANCE ms` over the wire, on the real (system) clock: keys expire, lock waiters are
//! granted or give up, blocking pops time out, as if the time had passed; and
//! `enable-debug-command` (`yes|local|no`) deciding who may run `DEBUG`.

mod common;

use std::time::Duration;

use common::{encode, Raw};
use latchkey::config::DebugAccess;

fn send(c: &mut Raw, line: &str) {
    let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    c.send(&encode(&args));
}

fn integer(reply: &str) -> i64 {
    reply
        .strip_prefix(':')
        .and_then(|t| t.strip_suffix("\r\n"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {reply:?}"))
}

/// Waits (bounded) until `LOCK.INFO key` counts `waiters` clients in line.
fn wait_for_waiters(c: &mut Raw, key: &str, waiters: &str) {
    for _ in 0..500 {
        let info = c.call(&format!("LOCK.INFO {key}"));
        if info.ends_with(&format!("$7\r\nwaiters\r\n:{waiters}\r\n")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{key}: never {waiters} waiters");
}

/// Waits (bounded) until another client is blocked (`CLIENT LIST` shows `cmd=blpop`).
fn wait_for_blocked(c: &mut Raw, command: &str) {
    for _ in 0..500 {
        if c.call("CLIENT LIST").contains(&format!("cmd={command}")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no client ever blocked in {command}");
}

#[test]
fn advance_expires_keys_at_once() {
    let server = common::start_real(|_| {});
    let mut c = Raw::connect(server.local_addr());
    c.expect("SET short v PX 3000", "+OK\r\n");
    c.expect("SET long v PX 600000", "+OK\r\n");
    c.expect("SET forever v", "+OK\r\n");
    c.expect("DEBUG ADVANCE 5000", "+OK\r\n");
    c.expect("GET short", "$-1\r\n");
    c.expect("GET forever", "$1\r\nv\r\n");
    let left = integer(&c.call("PTTL long"));
    assert!(left <= 595_000 && left > 500_000, "PTTL {left}");
    c.expect("DEBUG ADVANCE 0", "+OK\r\n");
    c.expect("EXISTS long", ":1\r\n");
}

#[test]
fn advance_moves_the_wall_clock_with_the_deadlines() {
    let server = common::start_real(|_| {});
    let mut c = Raw::connect(server.local_addr());
    c.expect("SET k v EX 1000", "+OK\r\n");
    let before = integer(&c.call("EXPIRETIME k"));
    c.expect("DEBUG ADVANCE 400000", "+OK\r\n");
    // The deadline stays where it was on the (advanced) wall clock; the time left shrank.
    let after = integer(&c.call("EXPIRETIME k"));
    assert!(
        (before - after).abs() <= 1,
        "EXPIRETIME {before} then {after}"
    );
    let ttl = integer(&c.call("TTL k"));
    assert!((599..=600).contains(&ttl), "TTL {ttl}");
}

#[test]
fn advance_grants_a_lock_waiter_when_the_lease_runs_out() {
    let server = common::start_real(|_| {});
    let mut holder = Raw::connect(server.local_addr());
    let mut waiter = Raw::connect(server.local_addr());
    let mut admin = Raw::connect(server.local_addr());
    let first = integer(&holder.call("LOCK.ACQUIRE job a PX 3000"));
    send(&mut waiter, "LOCK.ACQUIRE job b PX 60000 WAIT 600000");
    wait_for_waiters(&mut admin, "job", "1");
    admin.expect("DEBUG ADVANCE 5000", "+OK\r\n");
    let granted = integer(&String::from_utf8_lossy(&waiter.read_reply()));
    assert!(granted > first, "fencing {granted} after {first}");
    admin.expect("GET job", "$1\r\nb\r\n");
    holder.expect("LOCK.RELEASE job a", ":0\r\n");
}

#[test]
fn advance_ends_a_lock_wait_whose_time_is_up() {
    let server = common::start_real(|_| {});
    let mut holder = Raw::connect(server.local_addr());
    let mut waiter = Raw::connect(server.local_addr());
    let mut admin = Raw::connect(server.local_addr());
    integer(&holder.call("LOCK.ACQUIRE job a PX 600000"));
    send(&mut waiter, "LOCK.ACQUIRE job b PX 1000 WAIT 2000");
    wait_for_waiters(&mut admin, "job", "1");
    admin.expect("DEBUG ADVANCE 3000", "+OK\r\n");
    assert_eq!(waiter.read_reply(), b"$-1\r\n");
    wait_for_waiters(&mut admin, "job", "0");
    admin.expect("GET job", "$1\r\na\r\n");
    // A wait that the step does not use up goes on: granted at the release.
    send(&mut waiter, "LOCK.ACQUIRE job b PX 1000 WAIT 600000");
    wait_for_waiters(&mut admin, "job", "1");
    admin.expect("DEBUG ADVANCE 1000", "+OK\r\n");
    holder.expect("LOCK.RELEASE job a", ":1\r\n");
    integer(&String::from_utf8_lossy(&waiter.read_reply()));
}

#[test]
fn advance_fires_blocking_pop_timeouts() {
    let server = common::start_real(|_| {});
    let mut blocked = Raw::connect(server.local_addr());
    let mut admin = Raw::connect(server.local_addr());
    send(&mut blocked, "BLPOP queue 100");
    wait_for_blocked(&mut admin, "blpop");
    admin.expect("DEBUG ADVANCE 50000", "+OK\r\n");
    // Half the timeout is left: still blocked, and served by a push.
    admin.expect("RPUSH queue one", ":1\r\n");
    assert_eq!(blocked.read_reply(), b"*2\r\n$5\r\nqueue\r\n$3\r\none\r\n");
    send(&mut blocked, "BLPOP queue 100");
    wait_for_blocked(&mut admin, "blpop");
    admin.expect("DEBUG ADVANCE 100001", "+OK\r\n");
    assert_eq!(blocked.read_reply(), b"*-1\r\n");
    // A wait without a timeout stays.
    send(&mut blocked, "BLPOP queue 0");
    wait_for_blocked(&mut admin, "blpop");
    admin.expect("DEBUG ADVANCE 1000000", "+OK\r\n");
    admin.expect("RPUSH queue two", ":1\r\n");
    assert_eq!(blocked.read_reply(), b"*2\r\n$5\r\nqueue\r\n$3\r\ntwo\r\n");
}

#[test]
fn advance_checks_its_argument() {
    let server = common::start_real(|_| {});
    let mut c = Raw::connect(server.local_addr());
    for bad in ["x", "-1", "1.5", "99999999999999999999"] {
        c.expect(
            &format!("DEBUG ADVANCE {bad}"),
            "-ERR value is not an integer or out of range\r\n",
        );
    }
    c.expect(
        "DEBUG ADVANCE",
        "-ERR unknown subcommand or wrong number of arguments for 'ADVANCE'. Try DEBUG HELP.\r\n",
    );
    assert!(c.call("DEBUG HELP").contains("ADVANCE <milliseconds>"));
}

const NOT_ALLOWED: &str = "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";

#[test]
fn debug_is_local_by_default_and_shown_by_config_get() {
    let server = common::start_real(|_| {});
    let mut c = Raw::connect(server.local_addr());
    c.expect(
        "CONFIG GET enable-debug-command",
        "*2\r\n$20\r\nenable-debug-command\r\n$5\r\nlocal\r\n",
    );
    // This client is on the loopback interface.
    c.expect("DEBUG SET-ACTIVE-EXPIRE 1", "+OK\r\n");
    c.expect(
        "CONFIG SET enable-debug-command yes",
        "-ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config\r\n",
    );
}

#[test]
fn local_means_the_loopback_interface() {
    let local = DebugAccess::Local;
    for peer in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
        assert!(local.allows(peer.parse().unwrap()), "{peer}");
    }
    for peer in [
        "10.0.0.7",
        "192.168.1.2",
        "172.17.0.1",
        "2001:db8::1",
        "::ffff:10.0.0.7",
    ] {
        assert!(!local.allows(peer.parse().unwrap()), "{peer}");
        assert!(DebugAccess::Yes.allows(peer.parse().unwrap()), "{peer}");
    }
    assert!(!DebugAccess::No.allows("127.0.0.1".parse().unwrap()));
    assert_eq!(DebugAccess::parse("LOCAL"), Ok(DebugAccess::Local));
    assert_eq!(
        DebugAccess::parse("sometimes"),
        Err("argument(s) must be one of the following: no, yes, local".to_string())
    );
}

#[test]
fn debug_refused_when_disabled_before_auth_and_in_multi() {
    let server = common::start_real(|config| {
        config.enable_debug_command = DebugAccess::No;
        config.requirepass = Some("pw".into());
    });
    let mut c = Raw::connect(server.local_addr());
    // Refused before authentication is even asked for, as Redis does; arity comes first.
    c.expect("DEBUG HELP", NOT_ALLOWED);
    c.expect(
        "DEBUG",
        "-ERR wrong number of arguments for 'debug' command\r\n",
    );
    c.expect("AUTH pw", "+OK\r\n");
    c.expect("DEBUG ADVANCE 5000", NOT_ALLOWED);
    c.expect(
        "CONFIG GET enable-debug-command",
        "*2\r\n$20\r\nenable-debug-command\r\n$2\r\nno\r\n",
    );
    c.expect("MULTI", "+OK\r\n");
    c.expect("DEBUG HELP", NOT_ALLOWED);
    c.expect(
        "EXEC",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
}

#[test]
fn debug_for_everyone_with_yes() {
    let server = common::start_real(|config| config.enable_debug_command = DebugAccess::Yes);
    let mut c = Raw::connect(server.local_addr());
    c.expect(
        "CONFIG GET enable-debug-command",
        "*2\r\n$20\r\nenable-debug-command\r\n$3\r\nyes\r\n",
    );
    c.expect("DEBUG ADVANCE 1", "+OK\r\n");
}
