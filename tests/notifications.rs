//! Keyspace notifications: `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages
//! for `set`, `del`, `expire`, `persist`, `incrby` and `expired` (from active expiry with no
//! client touching the key, and from lazy expiry on access).

mod common;

use std::sync::atomic::Ordering;

use common::{Raw, TestServer};

fn enable(server: &TestServer, flags: &str) {
    let mut admin = server.raw();
    let set: &[&[u8]] = &[
        b"CONFIG",
        b"SET",
        b"notify-keyspace-events",
        flags.as_bytes(),
    ];
    assert_eq!(admin.cmd(set), b"+OK\r\n");
}

fn pmessage(pattern: &str, channel: &str, payload: &str) -> String {
    format!(
        "*4\r\n$8\r\npmessage\r\n${}\r\n{pattern}\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
        pattern.len(),
        channel.len(),
        payload.len()
    )
}

/// Asserts the next two messages are the keyspace and keyevent forms of `event` on `key`.
fn expect_event(sub: &mut Raw, db: u32, event: &str, key: &str) {
    assert_eq!(
        sub.read_text(),
        pmessage("__key*", &format!("__keyspace@{db}__:{key}"), event)
    );
    assert_eq!(
        sub.read_text(),
        pmessage("__key*", &format!("__keyevent@{db}__:{event}"), key)
    );
}

fn subscriber(server: &TestServer) -> Raw {
    let mut sub = server.raw();
    sub.expect(
        "PSUBSCRIBE __key*",
        "*3\r\n$10\r\npsubscribe\r\n$6\r\n__key*\r\n:1\r\n",
    );
    sub
}

#[test]
fn flags_are_validated() {
    let server = common::start();
    let mut c = server.raw();
    c.expect(
        "CONFIG SET notify-keyspace-events KEQ",
        "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n",
    );
    c.expect(
        "CONFIG GET notify-keyspace-events",
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$0\r\n\r\n",
    );
    enable(&server, "Ex$gxK");
    c.expect(
        "CONFIG GET notify-keyspace-events",
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$5\r\ng$xKE\r\n",
    );
}

#[test]
fn command_events() {
    let server = common::start();
    enable(&server, "KEA");
    let mut sub = subscriber(&server);
    let mut c = server.raw();
    c.expect("SET k v EX 100", "+OK\r\n");
    expect_event(&mut sub, 0, "set", "k");
    expect_event(&mut sub, 0, "expire", "k");
    c.expect("PERSIST k", ":1\r\n");
    expect_event(&mut sub, 0, "persist", "k");
    c.expect("PEXPIRE k 5000", ":1\r\n");
    expect_event(&mut sub, 0, "expire", "k");
    c.expect("SET n 1", "+OK\r\n");
    expect_event(&mut sub, 0, "set", "n");
    c.expect("INCR n", ":2\r\n");
    expect_event(&mut sub, 0, "incrby", "n");
    c.expect("DEL k n missing", ":2\r\n");
    expect_event(&mut sub, 0, "del", "k");
    expect_event(&mut sub, 0, "del", "n");
    // Nothing happens, nothing is published.
    c.expect("SET lock tok NX", "+OK\r\n");
    expect_event(&mut sub, 0, "set", "lock");
    c.expect("SET lock other NX", "$-1\r\n");
    c.expect("DELIFEQ lock other", ":0\r\n");
    c.expect("DELIFEQ lock tok", ":1\r\n");
    expect_event(&mut sub, 0, "del", "lock");
    c.expect("SELECT 3", "+OK\r\n");
    c.expect("MSET a 1", "+OK\r\n");
    expect_event(&mut sub, 3, "set", "a");
    c.expect("EXPIRE a -1", ":1\r\n");
    expect_event(&mut sub, 3, "del", "a");
    sub.expect_silence(50);
}

#[test]
fn classes_and_channel_families_filter() {
    let server = common::start();
    // Only key-event channels, only expiry.
    enable(&server, "Ex");
    let mut sub = subscriber(&server);
    let mut c = server.raw();
    c.expect("SET k v PX 10", "+OK\r\n");
    c.expect("DEL k", ":1\r\n");
    sub.expect_silence(50);
    // Off again: nothing at all.
    enable(&server, "");
    c.expect("SET k v", "+OK\r\n");
    sub.expect_silence(50);
}

#[test]
fn active_expiry_publishes_expired_without_any_client_touching_the_key() {
    let server = common::start();
    enable(&server, "Ex");
    let mut sub = server.raw();
    sub.expect(
        "SUBSCRIBE __keyevent@0__:expired",
        "*3\r\n$9\r\nsubscribe\r\n$22\r\n__keyevent@0__:expired\r\n:1\r\n",
    );
    let mut c = server.raw();
    c.expect("SET lock:orders tok PX 30000", "+OK\r\n");
    server.advance_past_ms(30_000);
    // The background expiry task (10 times a second) finds it: no client reads the key.
    assert_eq!(
        sub.read_text(),
        "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$11\r\nlock:orders\r\n"
    );
    c.expect("EXISTS lock:orders", ":0\r\n");
    sub.expect_silence(50);
}

#[test]
fn lazy_expiry_publishes_expired() {
    let server = common::start();
    server
        .server
        .shared()
        .expiry
        .enabled
        .store(false, Ordering::SeqCst);
    enable(&server, "KEA");
    let mut sub = subscriber(&server);
    let mut c = server.raw();
    c.expect("SET lock tok PX 100", "+OK\r\n");
    expect_event(&mut sub, 0, "set", "lock");
    expect_event(&mut sub, 0, "expire", "lock");
    server.advance_past_ms(100);
    sub.expect_silence(50);
    c.expect("GET lock", "$-1\r\n");
    expect_event(&mut sub, 0, "expired", "lock");
    // A lock taken over after it lapsed: `expired` first, then `set`, as in Redis.
    c.expect("SET lock tok-a PX 100", "+OK\r\n");
    expect_event(&mut sub, 0, "set", "lock");
    expect_event(&mut sub, 0, "expire", "lock");
    server.advance_past_ms(100);
    c.expect("SET lock tok-b", "+OK\r\n");
    expect_event(&mut sub, 0, "expired", "lock");
    expect_event(&mut sub, 0, "set", "lock");
    sub.expect_silence(50);
}
