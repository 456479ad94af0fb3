//! Pub/sub over raw RESP: subscriptions and messages across connections in RESP2 and RESP3,
//! patterns, `PUBSUB` introspection, the RESP2 subscribed-mode rules, and a subscriber that
//! stops reading being disconnected at its output limit.

mod common;

use std::time::Duration;

use common::Raw;

/// `SUBSCRIBE`-style confirmation or message bytes: `kind` is `*` (RESP2) or `>` (RESP3).
fn frame(kind: char, items: &[&str]) -> String {
    let mut out = format!("{kind}{}\r\n", items.len());
    for item in items {
        match item.strip_prefix(':') {
            Some(n) => out.push_str(&format!(":{n}\r\n")),
            None => out.push_str(&format!("${}\r\n{item}\r\n", item.len())),
        }
    }
    out
}

/// Waits (bounded) until `PUBSUB NUMSUB channel` reports `count`: a closed connection's
/// subscriptions go when its task ends, just after the close.
fn wait_numsub(c: &mut Raw, channel: &str, count: usize) {
    let expected = format!("*2\r\n${}\r\n{channel}\r\n:{count}\r\n", channel.len());
    for _ in 0..500 {
        if c.call(&format!("PUBSUB NUMSUB {channel}")) == expected {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("NUMSUB {channel} never reached {count}");
}

#[test]
fn subscribe_publish_unsubscribe_resp2() {
    let server = common::start();
    let mut sub = server.raw();
    let mut publisher = server.raw();
    sub.send(&common::encode(&[b"SUBSCRIBE", b"news", b"lock:released"]));
    assert_eq!(sub.read_text(), frame('*', &["subscribe", "news", ":1"]));
    assert_eq!(
        sub.read_text(),
        frame('*', &["subscribe", "lock:released", ":2"])
    );
    publisher.expect("PUBLISH news hello", ":1\r\n");
    publisher.expect("PUBLISH nobody hello", ":0\r\n");
    assert_eq!(sub.read_text(), frame('*', &["message", "news", "hello"]));
    // A binary payload arrives untouched.
    assert_eq!(
        publisher.cmd(&[b"PUBLISH", b"lock:released", b"a\r\nb\x00"]),
        b":1\r\n"
    );
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$13\r\nlock:released\r\n$5\r\na\r\nb\x00\r\n"
    );
    sub.expect(
        "UNSUBSCRIBE news",
        &frame('*', &["unsubscribe", "news", ":1"]),
    );
    publisher.expect("PUBLISH news again", ":0\r\n");
    sub.expect(
        "UNSUBSCRIBE",
        &frame('*', &["unsubscribe", "lock:released", ":0"]),
    );
    // Nothing left: one confirmation with a null channel.
    sub.expect("UNSUBSCRIBE", "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    // Out of subscribed mode, every command runs again.
    sub.expect("PING", "+PONG\r\n");
    sub.expect("SET k v", "+OK\r\n");
    sub.expect_silence(50);
}

#[test]
fn subscribe_publish_resp3_push_frames() {
    let server = common::start();
    let mut sub = server.raw();
    let mut publisher = server.raw();
    sub.send(b"HELLO 3\r\n");
    sub.read_reply();
    sub.send(&common::encode(&[b"SUBSCRIBE", b"a", b"b"]));
    assert_eq!(sub.read_text(), frame('>', &["subscribe", "a", ":1"]));
    assert_eq!(sub.read_text(), frame('>', &["subscribe", "b", ":2"]));
    publisher.expect("PUBLISH a m1", ":1\r\n");
    assert_eq!(sub.read_text(), frame('>', &["message", "a", "m1"]));
    // RESP3 clients may run any command while subscribed.
    sub.expect("SET k v", "+OK\r\n");
    sub.expect("GET k", "$1\r\nv\r\n");
    sub.expect("PING", "+PONG\r\n");
    // A message to oneself comes before the reply to PUBLISH, as in Redis.
    assert_eq!(
        sub.call("PUBLISH b self"),
        frame('>', &["message", "b", "self"])
    );
    assert_eq!(sub.read_text(), ":1\r\n");
    sub.expect("UNSUBSCRIBE b", &frame('>', &["unsubscribe", "b", ":1"]));
    sub.expect("UNSUBSCRIBE a", &frame('>', &["unsubscribe", "a", ":0"]));
    sub.expect("UNSUBSCRIBE", ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
}

#[test]
fn pattern_subscriptions() {
    let server = common::start();
    let mut sub = server.raw();
    let mut publisher = server.raw();
    sub.expect(
        "PSUBSCRIBE lock:*",
        &frame('*', &["psubscribe", "lock:*", ":1"]),
    );
    sub.expect(
        "SUBSCRIBE lock:a",
        &frame('*', &["subscribe", "lock:a", ":2"]),
    );
    // One client reached twice (channel and pattern) counts twice.
    publisher.expect("PUBLISH lock:a free", ":2\r\n");
    assert_eq!(sub.read_text(), frame('*', &["message", "lock:a", "free"]));
    assert_eq!(
        sub.read_text(),
        frame('*', &["pmessage", "lock:*", "lock:a", "free"])
    );
    publisher.expect("PUBLISH lock:b free", ":1\r\n");
    assert_eq!(
        sub.read_text(),
        frame('*', &["pmessage", "lock:*", "lock:b", "free"])
    );
    publisher.expect("PUBLISH other free", ":0\r\n");
    sub.expect(
        "PUNSUBSCRIBE lock:*",
        &frame('*', &["punsubscribe", "lock:*", ":1"]),
    );
    sub.expect("PUNSUBSCRIBE", "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:1\r\n");
    publisher.expect("PUBLISH lock:b free", ":0\r\n");
    sub.expect_silence(50);
}

#[test]
fn pubsub_introspection() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let mut c = server.raw();
    a.expect(
        "SUBSCRIBE ch1 ch2",
        &frame('*', &["subscribe", "ch1", ":1"]),
    );
    a.read_reply();
    b.expect("SUBSCRIBE ch1", &frame('*', &["subscribe", "ch1", ":1"]));
    b.expect(
        "PSUBSCRIBE ch* x*",
        &frame('*', &["psubscribe", "ch*", ":2"]),
    );
    b.read_reply();
    c.expect(
        "PUBSUB NUMSUB ch1 ch2 none",
        "*6\r\n$3\r\nch1\r\n:2\r\n$3\r\nch2\r\n:1\r\n$4\r\nnone\r\n:0\r\n",
    );
    c.expect("PUBSUB NUMSUB", "*0\r\n");
    c.expect("PUBSUB NUMPAT", ":2\r\n");
    c.expect("PUBSUB CHANNELS ch2", "*1\r\n$3\r\nch2\r\n");
    c.expect("PUBSUB CHANNELS zz*", "*0\r\n");
    let all = c.call("PUBSUB CHANNELS");
    assert!(all.starts_with("*2\r\n") && all.contains("ch1") && all.contains("ch2"));
    c.expect(
        "PUBSUB NUMPAT x",
        "-ERR wrong number of arguments for 'pubsub|numpat' command\r\n",
    );
    c.expect(
        "PUBSUB FOO",
        "-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n",
    );
    // A client that goes away leaves no subscription behind.
    drop(a);
    wait_numsub(&mut c, "ch1", 1);
    c.expect("PUBSUB NUMSUB ch2", "*2\r\n$3\r\nch2\r\n:0\r\n");
    c.expect("PUBSUB CHANNELS", "*1\r\n$3\r\nch1\r\n");
    drop(b);
    wait_numsub(&mut c, "ch1", 0);
    c.expect("PUBSUB NUMPAT", ":0\r\n");
}

#[test]
fn shard_channels_are_their_own_namespace() {
    let server = common::start();
    let mut sub = server.raw();
    let mut publisher = server.raw();
    sub.expect("SUBSCRIBE x", &frame('*', &["subscribe", "x", ":1"]));
    sub.expect("SSUBSCRIBE x", &frame('*', &["ssubscribe", "x", ":1"]));
    publisher.expect("SPUBLISH x hi", ":1\r\n");
    assert_eq!(sub.read_text(), frame('*', &["smessage", "x", "hi"]));
    publisher.expect("PUBSUB SHARDNUMSUB x", "*2\r\n$1\r\nx\r\n:1\r\n");
    publisher.expect("PUBSUB SHARDCHANNELS", "*1\r\n$1\r\nx\r\n");
    sub.expect("SUNSUBSCRIBE", &frame('*', &["sunsubscribe", "x", ":0"]));
    publisher.expect("SPUBLISH x hi", ":0\r\n");
    publisher.expect("PUBLISH x hi", ":1\r\n");
}

#[test]
fn resp2_subscribed_mode_restrictions() {
    let server = common::start();
    let mut sub = server.raw();
    sub.expect("SUBSCRIBE c", &frame('*', &["subscribe", "c", ":1"]));
    sub.expect(
        "GET k",
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    sub.expect(
        "PUBLISH c x",
        "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    sub.expect("PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    sub.expect("PING hi", "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    sub.expect("PSUBSCRIBE p*", &frame('*', &["psubscribe", "p*", ":2"]));
    // RESET leaves subscribed mode and drops the subscriptions.
    sub.expect("RESET", "+RESET\r\n");
    sub.expect("PING", "+PONG\r\n");
    let mut other = server.raw();
    other.expect("PUBSUB NUMSUB c", "*2\r\n$1\r\nc\r\n:0\r\n");
    other.expect("PUBSUB NUMPAT", ":0\r\n");
    sub.expect("SUBSCRIBE c", &frame('*', &["subscribe", "c", ":1"]));
    sub.expect("QUIT", "+OK\r\n");
    assert!(sub.is_closed());
}

#[test]
fn subscriber_that_stops_reading_is_disconnected_at_the_output_limit() {
    let server = common::start();
    server.server.shared().pubsub.set_output_limit(256 * 1024);
    let mut slow = server.raw();
    slow.expect(
        "SUBSCRIBE firehose",
        &frame('*', &["subscribe", "firehose", ":1"]),
    );
    let mut fast = server.raw();
    fast.expect(
        "SUBSCRIBE firehose",
        &frame('*', &["subscribe", "firehose", ":1"]),
    );
    // The slow subscriber never reads again; the publisher keeps publishing until only the
    // fast subscriber (which reads everything) is left.
    let mut publisher = server.raw();
    let payload = vec![b'x'; 16 * 1024];
    let mut receivers = Vec::new();
    for _ in 0..4000 {
        let reply = publisher.cmd(&[b"PUBLISH", b"firehose", &payload]);
        fast.read_reply();
        receivers.push(reply.clone());
        if reply == b":1\r\n" {
            break;
        }
    }
    assert_eq!(receivers.first().map(Vec::as_slice), Some(&b":2\r\n"[..]));
    assert_eq!(
        receivers.last().map(Vec::as_slice),
        Some(&b":1\r\n"[..]),
        "slow subscriber never disconnected after {} messages",
        receivers.len()
    );
    // The server stays responsive and the slow client's socket is closed.
    publisher.expect("PING", "+PONG\r\n");
    publisher.expect("PUBSUB NUMSUB firehose", "*2\r\n$8\r\nfirehose\r\n:1\r\n");
    let mut drained = 0usize;
    let closed = loop {
        let mut chunk = [0u8; 65536];
        match std::io::Read::read(&mut slow.stream, &mut chunk) {
            Ok(0) => break true,
            Ok(n) => drained += n,
            Err(_) => break false,
        }
        assert!(drained < 1 << 30);
    };
    assert!(closed, "the slow subscriber's connection stays open");
}

#[test]
fn redis_crate_subscriber_resp2_and_resp3() {
    let server = common::start();
    for protocol in ["", "?protocol=resp3"] {
        let url = format!("{}{protocol}", server.url());
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut subscriber = client.get_connection().unwrap();
        let mut publisher = client.get_connection().unwrap();
        let mut pubsub = subscriber.as_pubsub();
        pubsub.subscribe("lock:released").unwrap();
        pubsub.psubscribe("lock:*").unwrap();
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg("lock:released")
            .arg("token-1")
            .query(&mut publisher)
            .unwrap();
        assert_eq!(receivers, 2, "{protocol}");
        let message = pubsub.get_message().unwrap();
        assert_eq!(message.get_channel_name(), "lock:released");
        assert_eq!(message.get_payload::<String>().unwrap(), "token-1");
        let message = pubsub.get_message().unwrap();
        assert_eq!(message.get_pattern::<String>().unwrap(), "lock:*");
        assert_eq!(message.get_payload::<String>().unwrap(), "token-1");
        pubsub.unsubscribe("lock:released").unwrap();
        pubsub.punsubscribe("lock:*").unwrap();
    }
}

/// Scripts run `PUBLISH` through `execute_nested` while holding their shards: the message must
/// reach subscribers like any other.
#[test]
fn publish_through_the_nested_path_scripts_use() {
    use std::sync::Arc;

    use bytes::Bytes;
    use latchkey::client::{Client, ClientInfo};
    use latchkey::command::{self, Ctx};
    use latchkey::db::ShardGuards;
    use latchkey::protocol::Reply;

    let server = common::start();
    let shared = server.server.shared().clone();
    let mut sub = server.raw();
    sub.expect(
        "SUBSCRIBE unlocks",
        &frame('*', &["subscribe", "unlocks", ":1"]),
    );
    let addr = "127.0.0.1:1".parse().unwrap();
    let mut client = Client::new(Arc::new(ClientInfo::new(u64::MAX, addr, addr)), true);
    let mut guards = ShardGuards::new(&shared.keyspace);
    guards.lock_keys(0, [&b"lock"[..]]).unwrap();
    let mut ctx = Ctx {
        shared: &shared,
        client: &mut client,
        guards: &mut guards,
        now: shared.keyspace.now(),
        in_script: true,
        effects: Vec::new(),
    };
    let args = [
        Bytes::from("publish"),
        Bytes::from("unlocks"),
        Bytes::from("lock"),
    ];
    assert_eq!(
        command::execute_nested(
            &mut ctx,
            command::Caller::Script {
                read_only: false,
                allow_oom: false,
                running: None,
                wrote: &std::cell::Cell::new(false)
            },
            &args
        ),
        Reply::Integer(1)
    );
    assert_eq!(latchkey::pubsub::publish(&shared, b"unlocks", b"direct"), 1);
    drop(guards);
    assert_eq!(sub.read_text(), frame('*', &["message", "unlocks", "lock"]));
    assert_eq!(
        sub.read_text(),
        frame('*', &["message", "unlocks", "direct"])
    );
}
