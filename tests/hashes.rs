//! Hashes: exact replies of every hash command (checked against redis-server 7.0), RESP3
//! forms, WRONGTYPE both ways, and HSCAN over a large hash with writes between calls.

mod common;

use std::collections::HashMap;

#[test]
fn hash_commands_reply_like_redis() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("HSET h a 1 b 2", ":2\r\n");
    c.expect("HSET h a 3 c 4", ":1\r\n");
    c.expect(
        "HGETALL h",
        "*6\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n4\r\n",
    );
    c.expect("HMSET h d 5", "+OK\r\n");
    c.expect("HSETNX h d 6", ":0\r\n");
    c.expect("HSETNX h e 7", ":1\r\n");
    c.expect("HGET h a", "$1\r\n3\r\n");
    c.expect("HGET h zz", "$-1\r\n");
    c.expect("HGET nokey a", "$-1\r\n");
    c.expect("HMGET h a zz b", "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\n2\r\n");
    c.expect("HMGET nokey a", "*1\r\n$-1\r\n");
    c.expect("HDEL h a zz", ":1\r\n");
    c.expect("HDEL nokey a", ":0\r\n");
    c.expect("HEXISTS h b", ":1\r\n");
    c.expect("HEXISTS h a", ":0\r\n");
    c.expect("HLEN h", ":4\r\n");
    c.expect("HLEN nokey", ":0\r\n");
    c.expect(
        "HKEYS h",
        "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n",
    );
    c.expect(
        "HVALS h",
        "*4\r\n$1\r\n2\r\n$1\r\n4\r\n$1\r\n5\r\n$1\r\n7\r\n",
    );
    c.expect("HKEYS nokey", "*0\r\n");
    c.expect("HSTRLEN h b", ":1\r\n");
    c.expect("HSTRLEN h zz", ":0\r\n");
    c.expect("HINCRBY h n 5", ":5\r\n");
    c.expect("HINCRBY h n -10", ":-5\r\n");
    c.expect(
        "HINCRBY h n x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect(
        "HINCRBY h b 1.5",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("HINCRBYFLOAT h f 0.1", "$3\r\n0.1\r\n");
    c.expect("HINCRBYFLOAT h f 0.2", "$3\r\n0.3\r\n");
    c.expect("HINCRBYFLOAT h f 1e20", "$21\r\n100000000000000000000\r\n");
    c.expect("HINCRBYFLOAT h f2 -3", "$2\r\n-3\r\n");
    c.expect("HINCRBYFLOAT h f2 2.5", "$4\r\n-0.5\r\n");
    c.expect("HINCRBYFLOAT h s x", "-ERR value is not a valid float\r\n");
    c.expect("HINCRBYFLOAT h s inf", "-ERR value is NaN or Infinity\r\n");
    c.expect("HSET h str abc", ":1\r\n");
    c.expect("HINCRBYFLOAT h str 1", "-ERR hash value is not a float\r\n");
    c.expect("HINCRBY h str 1", "-ERR hash value is not an integer\r\n");
    c.expect("HSET h i 9223372036854775807", ":1\r\n");
    c.expect(
        "HINCRBY h i 1",
        "-ERR increment or decrement would overflow\r\n",
    );
    c.expect(
        "HSET h",
        "-ERR wrong number of arguments for 'hset' command\r\n",
    );
    c.expect(
        "HSET h a",
        "-ERR wrong number of arguments for 'hset' command\r\n",
    );
    c.expect(
        "HMSET h a",
        "-ERR wrong number of arguments for 'hmset' command\r\n",
    );
    c.expect("HGETALL nokey", "*0\r\n");
    c.expect("HRANDFIELD nokey", "$-1\r\n");
    c.expect("HRANDFIELD nokey 2", "*0\r\n");
    c.expect("HRANDFIELD h 0", "*0\r\n");
    c.expect("HRANDFIELD h 1 WITHVALUES x", "-ERR syntax error\r\n");
    c.expect("HRANDFIELD h 1 x", "-ERR syntax error\r\n");
    c.expect(
        "HRANDFIELD h x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("HSCAN h 0", "*2\r\n$1\r\n0\r\n*18\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n4\r\n$1\r\nd\r\n$1\r\n5\r\n$1\r\ne\r\n$1\r\n7\r\n$1\r\nn\r\n$2\r\n-5\r\n$1\r\nf\r\n$21\r\n100000000000000000000\r\n$2\r\nf2\r\n$4\r\n-0.5\r\n$3\r\nstr\r\n$3\r\nabc\r\n$1\r\ni\r\n$19\r\n9223372036854775807\r\n");
    c.expect("HSCAN h 0 MATCH f*", "*2\r\n$1\r\n0\r\n*4\r\n$1\r\nf\r\n$21\r\n100000000000000000000\r\n$2\r\nf2\r\n$4\r\n-0.5\r\n");
    c.expect("HSCAN h 0 COUNT 1", "*2\r\n$1\r\n0\r\n*18\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n4\r\n$1\r\nd\r\n$1\r\n5\r\n$1\r\ne\r\n$1\r\n7\r\n$1\r\nn\r\n$2\r\n-5\r\n$1\r\nf\r\n$21\r\n100000000000000000000\r\n$2\r\nf2\r\n$4\r\n-0.5\r\n$3\r\nstr\r\n$3\r\nabc\r\n$1\r\ni\r\n$19\r\n9223372036854775807\r\n");
    c.expect("HSCAN nokey 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("HSCAN h x", "-ERR invalid cursor\r\n");
    c.expect("HSCAN h 0 COUNT 0", "-ERR syntax error\r\n");
    c.expect("HDEL h b c d e n f f2 str i", ":9\r\n");
    c.expect("EXISTS h", ":0\r\n");
    c.expect("HSET h2 only 1", ":1\r\n");
    c.expect("HDEL h2 only", ":1\r\n");
    c.expect("EXISTS h2", ":0\r\n");
    c.expect("TYPE h2", "+none\r\n");
    c.expect("HSET h3 a 1", ":1\r\n");
    c.expect("TYPE h3", "+hash\r\n");
    c.expect(
        "GET h3",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "LPUSH h3 a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect("SET s v", "+OK\r\n");
    c.expect(
        "HSET s a b",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "HGET s a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "HGETALL s",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "HSCAN s 0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    let _ = c.call("HELLO 3");
    c.expect("HGETALL h3", "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
    c.expect(
        "HRANDFIELD h3 1 WITHVALUES",
        "*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
    c.expect(
        "HRANDFIELD h3 -2 WITHVALUES",
        "*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
    c.expect("HRANDFIELD h3 -2", "*2\r\n$1\r\na\r\n$1\r\na\r\n");
    c.expect("HINCRBYFLOAT h3 a 1.5", "$3\r\n2.5\r\n");
    c.expect("HGETALL nokey", "%0\r\n");
}

#[test]
fn hscan_returns_every_stable_field_once_with_bounded_pages() {
    let server = common::start();
    let mut c = server.raw();
    for i in 0..1000 {
        let field = format!("f{i}");
        c.cmd(&[b"HSET", b"big", field.as_bytes(), b"v"]);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor = 0u64;
    for round in 0..10_000 {
        let reply = c.cmd(&[
            b"HSCAN",
            b"big",
            cursor.to_string().as_bytes(),
            b"COUNT",
            b"25",
        ]);
        let (next, items) = common::parse_scan(&reply);
        assert!(items.len() <= 50, "at most COUNT pairs per call");
        for pair in items.chunks(2) {
            *seen.entry(pair[0].clone()).or_default() += 1;
        }
        // Writes between calls: delete some fields above 500 and add new ones.
        let gone = format!("f{}", 501 + round);
        c.cmd(&[b"HDEL", b"big", gone.as_bytes()]);
        let added = format!("new{round}");
        c.cmd(&[b"HSET", b"big", added.as_bytes(), b"v"]);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for i in 0..500 {
        assert_eq!(seen.get(&format!("f{i}")), Some(&1), "f{i}");
    }
    let reply = c.cmd(&[b"HSCAN", b"big", b"0", b"MATCH", b"f1?", b"COUNT", b"2000"]);
    let (next, items) = common::parse_scan(&reply);
    assert_eq!(next, 0);
    assert_eq!(items.len(), 20, "f10..f19, fields with values");
}

#[test]
fn hrandfield_counts() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("HSET h a 1 b 2 c 3", ":3\r\n");
    // Distinct fields, at most the hash's size.
    let reply = c.call("HRANDFIELD h 5");
    assert!(reply.starts_with("*3\r\n"), "{reply}");
    for field in ["$1\r\na\r\n", "$1\r\nb\r\n", "$1\r\nc\r\n"] {
        assert!(reply.contains(field), "{reply}");
    }
    // A negative count may repeat fields.
    assert!(c.call("HRANDFIELD h -7").starts_with("*7\r\n"));
    assert!(c.call("HRANDFIELD h -2 WITHVALUES").starts_with("*4\r\n"));
    c.expect(
        "HRANDFIELD h -99999999999",
        "-ERR value is out of range\r\n",
    );
}

#[test]
fn hashes_count_in_memory() {
    let server = common::start();
    let mut c = server.raw();
    let used = |c: &mut common::Raw| -> usize {
        let info = c.call("INFO memory");
        let line = info
            .lines()
            .find(|l| l.starts_with("used_memory:"))
            .unwrap();
        line["used_memory:".len()..].trim().parse().unwrap()
    };
    let before = used(&mut c);
    let big = "x".repeat(50_000);
    c.cmd(&[b"HSET", b"h", b"a", big.as_bytes(), b"b", big.as_bytes()]);
    assert!(used(&mut c) >= before + 100_000);
    c.expect("HDEL h a b", ":2\r\n");
    assert!(used(&mut c) < before + 1000);
}

/// Small hashes, sets and sorted sets come whole from any cursor, with cursor 0, as in Redis.
#[test]
fn small_collections_scan_whole_from_any_cursor() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("HSET h a 1 b 2", ":2\r\n");
    c.expect(
        "HSCAN h 12345",
        "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
    );
    c.expect(
        "HSCAN h 1",
        "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
    );
    c.expect("ZADD z 1 a 2 b", ":2\r\n");
    c.expect(
        "ZSCAN z 999",
        "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
    );
    c.expect("SADD s 1 2 3", ":3\r\n");
    c.expect(
        "SSCAN s 77",
        "*2\r\n$1\r\n0\r\n*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n",
    );
    c.expect("SADD s2 a", ":1\r\n");
    c.expect("SSCAN s2 0 COUNT 100", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n");
}

/// Errors come in the order Redis checks: key and type before some arguments, after others.
#[test]
fn errors_in_redis_order() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("HSCAN nokey 0 FOO", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("HSCAN nokey x", "-ERR invalid cursor\r\n");
    c.expect("SSCAN nokey 0 COUNT 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("ZSCAN nokey 0 MATCH", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("SET str v", "+OK\r\n");
    c.expect(
        "HSCAN str 0 FOO",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZSCAN str 0 COUNT 0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect("LINDEX nokey x", "$-1\r\n");
    c.expect("LSET nokey x y", "-ERR no such key\r\n");
    c.expect(
        "LSET str x y",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "LINDEX str x",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect("ZINCRBY z CH 5", "-ERR syntax error\r\n");
    c.expect("ZINCRBY z NX m", "-ERR syntax error\r\n");
    c.expect("ZINCRBY z 1 m", "$1\r\n1\r\n");
    c.expect("LPOS l a COUNT x", "-ERR COUNT can't be negative\r\n");
    c.expect("LPOS l a MAXLEN x", "-ERR MAXLEN can't be negative\r\n");
}
