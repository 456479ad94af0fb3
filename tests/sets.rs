//! Sets: exact replies of every set command (checked against redis-server 7.0; a set of
//! strings comes back in insertion order here, where Redis's order is arbitrary), RESP3
//! forms, WRONGTYPE both ways, and SSCAN over a large set with writes between calls.

mod common;

use std::collections::HashMap;

#[test]
fn set_commands_reply_like_redis() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SADD s a b c", ":3\r\n");
    c.expect("SADD s a d", ":1\r\n");
    c.expect(
        "SMEMBERS s",
        "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    c.expect("SCARD s", ":4\r\n");
    c.expect("SCARD nokey", ":0\r\n");
    c.expect("SISMEMBER s a", ":1\r\n");
    c.expect("SISMEMBER s z", ":0\r\n");
    c.expect("SISMEMBER nokey a", ":0\r\n");
    c.expect("SMISMEMBER s a z d", "*3\r\n:1\r\n:0\r\n:1\r\n");
    c.expect("SMISMEMBER nokey a", "*1\r\n:0\r\n");
    c.expect("SREM s a z", ":1\r\n");
    c.expect("SREM nokey a", ":0\r\n");
    c.expect("SMEMBERS nokey", "*0\r\n");
    c.expect("SADD ints 3 1 2 -5 10", ":5\r\n");
    c.expect(
        "SMEMBERS ints",
        "*5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
    );
    c.expect("SADD ints2 5 1", ":2\r\n");
    c.expect(
        "SUNION ints2 ints",
        "*6\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n5\r\n$2\r\n10\r\n",
    );
    c.expect("SINTER ints ints2", "*1\r\n$1\r\n1\r\n");
    c.expect(
        "SDIFF ints ints2",
        "*4\r\n$2\r\n-5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
    );
    c.expect("SDIFF ints2 ints", "*1\r\n$1\r\n5\r\n");
    c.expect("SUNIONSTORE u ints ints2", ":6\r\n");
    c.expect(
        "SMEMBERS u",
        "*6\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n5\r\n$2\r\n10\r\n",
    );
    c.expect("SINTERSTORE i ints ints2 nokey", ":0\r\n");
    c.expect("EXISTS i", ":0\r\n");
    c.expect("SINTERSTORE i ints ints2", ":1\r\n");
    c.expect("SMEMBERS i", "*1\r\n$1\r\n1\r\n");
    c.expect("SDIFFSTORE d ints ints2", ":4\r\n");
    c.expect(
        "SMEMBERS d",
        "*4\r\n$2\r\n-5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
    );
    c.expect("SINTERCARD 2 ints ints2", ":1\r\n");
    c.expect("SINTERCARD 1 ints LIMIT 2", ":2\r\n");
    c.expect("SINTERCARD 1 ints LIMIT 0", ":5\r\n");
    c.expect(
        "SINTERCARD 0 s1",
        "-ERR numkeys should be greater than 0\r\n",
    );
    c.expect(
        "SINTERCARD -1 s1",
        "-ERR numkeys should be greater than 0\r\n",
    );
    c.expect(
        "SINTERCARD 3 s1",
        "-ERR Number of keys can't be greater than number of args\r\n",
    );
    c.expect(
        "SINTERCARD x s1",
        "-ERR numkeys should be greater than 0\r\n",
    );
    c.expect(
        "SINTERCARD 1 s1 LIMIT -1",
        "-ERR LIMIT can't be negative\r\n",
    );
    c.expect(
        "SINTERCARD 1 s1 LIMIT x",
        "-ERR LIMIT can't be negative\r\n",
    );
    c.expect("SINTERCARD 1 s1 FOO 1", "-ERR syntax error\r\n");
    c.expect("SINTERCARD 1 s1 LIMIT", "-ERR syntax error\r\n");
    c.expect("SINTERCARD 1 nos", ":0\r\n");
    c.expect(
        "SPOP ints 10",
        "*5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
    );
    c.expect("EXISTS ints", ":0\r\n");
    c.expect("SPOP nos", "$-1\r\n");
    c.expect("SPOP nos 2", "*0\r\n");
    c.expect("SPOP s 0", "*0\r\n");
    c.expect(
        "SPOP s -1",
        "-ERR value is out of range, must be positive\r\n",
    );
    c.expect(
        "SPOP s x",
        "-ERR value is out of range, must be positive\r\n",
    );
    c.expect("SPOP s 1 2", "-ERR syntax error\r\n");
    c.expect("SMOVE nos s a", ":0\r\n");
    c.expect("SET str v", "+OK\r\n");
    c.expect("SMOVE nos str a", ":0\r\n");
    c.expect(
        "SMOVE s str b",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SMOVE str s a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect("SMOVE s s b", ":1\r\n");
    c.expect("SMOVE s s zz", ":0\r\n");
    c.expect("SMOVE s t b", ":1\r\n");
    c.expect("SMEMBERS t", "*1\r\n$1\r\nb\r\n");
    c.expect("SMOVE s t zz", ":0\r\n");
    c.expect("SINTERSTORE str s", ":2\r\n");
    c.expect("TYPE str", "+set\r\n");
    c.expect("SINTERSTORE str nos", ":0\r\n");
    c.expect("EXISTS str", ":0\r\n");
    c.expect("SET str v", "+OK\r\n");
    c.expect(
        "SDIFF nos str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SINTER s str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SUNION s str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SINTER nos str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SINTERCARD 2 nos str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SRANDMEMBER t -3",
        "*3\r\n$1\r\nb\r\n$1\r\nb\r\n$1\r\nb\r\n",
    );
    c.expect("SRANDMEMBER t 3", "*1\r\n$1\r\nb\r\n");
    c.expect("SRANDMEMBER t", "$1\r\nb\r\n");
    c.expect("SRANDMEMBER nos", "$-1\r\n");
    c.expect("SRANDMEMBER nos 2", "*0\r\n");
    c.expect(
        "SRANDMEMBER t x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("SRANDMEMBER t 1 2", "-ERR syntax error\r\n");
    c.expect(
        "SADD s",
        "-ERR wrong number of arguments for 'sadd' command\r\n",
    );
    c.expect("SSCAN s 0", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nc\r\n$1\r\nd\r\n");
    c.expect(
        "SSCAN u 0 MATCH 1*",
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\n1\r\n$2\r\n10\r\n",
    );
    c.expect("SSCAN nokey 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("SSCAN s x", "-ERR invalid cursor\r\n");
    c.expect("SSCAN s 0 COUNT 0", "-ERR syntax error\r\n");
    c.expect("SSCAN s 0 FOO bar", "-ERR syntax error\r\n");
    c.expect("SSCAN s 0 MATCH", "-ERR syntax error\r\n");
    c.expect("TYPE t", "+set\r\n");
    c.expect(
        "GET t",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "LPUSH t x",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "HSET t a b",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SADD str a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SMEMBERS str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    let _ = c.call("HELLO 3");
    c.expect(
        "SMEMBERS u",
        "~6\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n5\r\n$2\r\n10\r\n",
    );
    c.expect("SPOP nos 3", "~0\r\n");
    c.expect("SINTER u nokey", "~0\r\n");
    c.expect("SRANDMEMBER u 0", "*0\r\n");
}

#[test]
fn sscan_returns_every_stable_member_once_with_bounded_pages() {
    let server = common::start();
    let mut c = server.raw();
    for i in 0..1000 {
        c.cmd(&[b"SADD", b"big", format!("m{i}").as_bytes()]);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor = 0u64;
    for round in 0..10_000 {
        let reply = c.cmd(&[
            b"SSCAN",
            b"big",
            cursor.to_string().as_bytes(),
            b"COUNT",
            b"30",
        ]);
        let (next, items) = common::parse_scan(&reply);
        assert!(items.len() <= 30);
        for item in items {
            *seen.entry(item).or_default() += 1;
        }
        c.cmd(&[b"SREM", b"big", format!("m{}", 999 - round).as_bytes()]);
        c.cmd(&[b"SADD", b"big", format!("new{round}").as_bytes()]);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for i in 0..600 {
        assert_eq!(seen.get(&format!("m{i}")), Some(&1), "m{i}");
    }
}

#[test]
fn spop_and_srandmember_pick_members() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SADD s a b c d e", ":5\r\n");
    let reply = c.call("SPOP s 2");
    assert!(reply.starts_with("*2\r\n"), "{reply}");
    c.expect("SCARD s", ":3\r\n");
    let one = c.call("SPOP s");
    assert!(one.starts_with("$1\r\n"), "{one}");
    c.expect("SCARD s", ":2\r\n");
    assert!(c.call("SRANDMEMBER s -5").starts_with("*5\r\n"));
    assert!(c.call("SRANDMEMBER s 1").starts_with("*1\r\n"));
    c.expect("SCARD s", ":2\r\n");
    assert!(c.call("SPOP s 5").starts_with("*2\r\n"));
    c.expect("EXISTS s", ":0\r\n");
}

/// Every type meets every other type's commands with WRONGTYPE, and TYPE names each one.
#[test]
fn wrongtype_across_all_types() {
    let server = common::start();
    let mut c = server.raw();
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    let types: [(&str, &str, &[&str]); 5] = [
        (
            "string",
            "SET k v",
            &[
                "GET k",
                "INCR k",
                "STRLEN k",
                "GETRANGE k 0 1",
                "GETDEL k",
                "SET k v GET",
            ],
        ),
        (
            "list",
            "RPUSH k v",
            &[
                "LPUSH k v",
                "LPOP k",
                "LLEN k",
                "LRANGE k 0 -1",
                "LINDEX k 0",
                "BLPOP k 0",
            ],
        ),
        (
            "hash",
            "HSET k f v",
            &[
                "HSET k f v",
                "HGET k f",
                "HGETALL k",
                "HINCRBY k f 1",
                "HLEN k",
                "HSCAN k 0",
            ],
        ),
        (
            "set",
            "SADD k v",
            &[
                "SADD k v",
                "SMEMBERS k",
                "SISMEMBER k v",
                "SCARD k",
                "SPOP k",
                "SSCAN k 0",
            ],
        ),
        (
            "zset",
            "ZADD k 1 v",
            &[
                "ZADD k 1 v",
                "ZSCORE k v",
                "ZRANGE k 0 -1",
                "ZCARD k",
                "ZPOPMIN k",
                "ZSCAN k 0",
            ],
        ),
    ];
    for (name, create, _) in &types {
        c.expect("DEL k", ":0\r\n");
        c.expect(
            create,
            if *name == "string" {
                "+OK\r\n"
            } else {
                ":1\r\n"
            },
        );
        c.expect("TYPE k", &format!("+{name}\r\n"));
        for (other, _, commands) in &types {
            if other == name {
                continue;
            }
            for command in *commands {
                c.expect(command, wrong);
            }
        }
        c.expect("DEL k", ":1\r\n");
    }
    c.expect("TYPE k", "+none\r\n");
    // Commands over several keys check every key's type.
    c.expect("SADD s a", ":1\r\n");
    c.expect("RPUSH l a", ":1\r\n");
    for command in [
        "SINTER s l",
        "SUNION s l",
        "SDIFF s l",
        "SINTERSTORE d s l",
        "SMOVE s l a",
    ] {
        c.expect(command, wrong);
    }
    c.expect("LMOVE l s LEFT LEFT", wrong);
}

/// Aggregates follow the keyspace's expiry rules like strings.
#[test]
fn aggregates_expire() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SADD s a", ":1\r\n");
    c.expect("RPUSH l a", ":1\r\n");
    c.expect("HSET h f v", ":1\r\n");
    c.expect("ZADD z 1 m", ":1\r\n");
    for key in ["s", "l", "h", "z"] {
        c.expect(&format!("PEXPIRE {key} 100"), ":1\r\n");
    }
    c.expect("SADD s b", ":1\r\n");
    c.expect("PTTL s", ":100\r\n");
    server.advance_past_ms(100);
    c.expect("SCARD s", ":0\r\n");
    c.expect("LLEN l", ":0\r\n");
    c.expect("HGET h f", "$-1\r\n");
    c.expect("ZSCORE z m", "$-1\r\n");
    c.expect("DBSIZE", ":0\r\n");
}
