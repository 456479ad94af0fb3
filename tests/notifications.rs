//! Keyspace notifications: `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages
//! for `set`, `del`, `expire`, `persist`, `incrby` and `expired` (from active expiry with no
//! client touching the key, and from lazy expiry on access), and the list, hash, set and
//! sorted-set events.

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

/// The list, hash, set and sorted-set commands publish Redis's events (checked against
/// redis-server 7.0), `del` after the event when they empty the key, and nothing when they
/// change nothing.
#[test]
fn aggregate_events() {
    let server = common::start();
    enable(&server, "KEA");
    let mut sub = subscriber(&server);
    let mut c = server.raw();
    let steps: &[(&str, &[(&str, &str)])] = &[
        ("LPUSH l a b c", &[("lpush", "l")]),
        ("LPUSHX nol x", &[]),
        ("RPUSHX l e", &[("rpush", "l")]),
        ("LINSERT l BEFORE a z", &[("linsert", "l")]),
        ("LINSERT l BEFORE nope z", &[]),
        ("LSET l 0 q", &[("lset", "l")]),
        ("LREM l 1 q", &[("lrem", "l")]),
        ("LREM l 1 nope", &[]),
        ("LTRIM l 0 2", &[("ltrim", "l")]),
        ("LPOP l", &[("lpop", "l")]),
        ("LPOP l 0", &[]),
        ("RPOP l 2", &[("rpop", "l"), ("del", "l")]),
        ("RPUSH src a b", &[("rpush", "src")]),
        (
            "LMOVE src dst LEFT RIGHT",
            &[("rpush", "dst"), ("lpop", "src")],
        ),
        (
            "RPOPLPUSH src dst",
            &[("lpush", "dst"), ("rpop", "src"), ("del", "src")],
        ),
        ("BLPOP dst 1", &[("lpop", "dst")]),
        ("BRPOP dst 1", &[("rpop", "dst"), ("del", "dst")]),
        ("HSET h a 1 b 2", &[("hset", "h")]),
        ("HSETNX h a 1", &[]),
        ("HSETNX h c 3", &[("hset", "h")]),
        ("HINCRBY h n 5", &[("hincrby", "h")]),
        ("HINCRBYFLOAT h f 1.5", &[("hincrbyfloat", "h")]),
        ("HDEL h nope", &[]),
        ("HDEL h a b c n f", &[("hdel", "h"), ("del", "h")]),
        ("SADD s a b", &[("sadd", "s")]),
        ("SADD s a", &[]),
        ("SREM s a", &[("srem", "s")]),
        (
            "SMOVE s s2 b",
            &[("srem", "s"), ("del", "s"), ("sadd", "s2")],
        ),
        ("SPOP s2", &[("spop", "s2"), ("del", "s2")]),
        ("SADD t1 a b", &[("sadd", "t1")]),
        ("SADD t2 b c", &[("sadd", "t2")]),
        ("SINTERSTORE out t1 t2", &[("sinterstore", "out")]),
        ("SUNIONSTORE out t1 t2", &[("sunionstore", "out")]),
        ("SDIFFSTORE out t1 t1", &[("del", "out")]),
        ("SDIFFSTORE out t1 t1", &[]),
        ("ZADD z 1 a 2 b", &[("zadd", "z")]),
        ("ZADD z 1 a", &[]),
        ("ZADD z INCR 1 a", &[("zincr", "z")]),
        ("ZINCRBY z 1 b", &[("zincr", "z")]),
        ("ZREM z a", &[("zrem", "z")]),
        ("ZADD z 1 a 3 c 4 d", &[("zadd", "z")]),
        ("ZREMRANGEBYSCORE z 4 4", &[("zremrangebyscore", "z")]),
        ("ZREMRANGEBYRANK z 0 0", &[("zremrangebyrank", "z")]),
        ("ZREMRANGEBYLEX z [z [z", &[]),
        ("ZPOPMIN z", &[("zpopmin", "z")]),
        ("ZPOPMAX z 5", &[("zpopmax", "z"), ("del", "z")]),
        ("ZADD z1 1 a", &[("zadd", "z1")]),
        ("ZUNIONSTORE zo 1 z1", &[("zunionstore", "zo")]),
        ("ZDIFFSTORE zo 1 nokey", &[("del", "zo")]),
        ("ZRANGESTORE zo z1 0 -1", &[("zrangestore", "zo")]),
        ("BZPOPMIN z1 1", &[("zpopmin", "z1"), ("del", "z1")]),
        // A last event: nothing stray came before it.
        ("SET end 1", &[("set", "end")]),
    ];
    for (command, events) in steps {
        c.call(command);
        for (event, key) in *events {
            expect_event(&mut sub, 0, event, key);
        }
    }
}

/// A pop that serves a client blocked in `BLPOP`/`BLMOVE` publishes its events after the push
/// that woke it, as in Redis.
#[test]
fn served_blocked_pops_publish_their_events() {
    let server = common::start();
    enable(&server, "KEA");
    let mut sub = subscriber(&server);
    let mut c = server.raw();
    let mut blocked = server.raw();
    let mut mover = server.raw();
    blocked.send(b"BLPOP q 0\r\n");
    mover.send(b"BLMOVE src dst LEFT RIGHT 0\r\n");
    // Both wait before the pushes arrive (bounded: the clients block at once).
    for _ in 0..1000 {
        let list = c.call("CLIENT LIST");
        if list.contains("cmd=blpop") && list.contains("cmd=blmove") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    c.expect("LPUSH q x", ":1\r\n");
    assert_eq!(blocked.read_text(), "*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    expect_event(&mut sub, 0, "lpush", "q");
    expect_event(&mut sub, 0, "lpop", "q");
    expect_event(&mut sub, 0, "del", "q");
    c.expect("RPUSH src a b", ":2\r\n");
    assert_eq!(mover.read_text(), "$1\r\na\r\n");
    expect_event(&mut sub, 0, "rpush", "src");
    expect_event(&mut sub, 0, "rpush", "dst");
    expect_event(&mut sub, 0, "lpop", "src");
}
