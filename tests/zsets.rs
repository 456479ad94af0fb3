//! Sorted sets: exact replies of every sorted-set command (checked against redis-server 7.0),
//! RESP3 forms, WRONGTYPE both ways, ranks and ranges on a large set, and ZSCAN paging.

mod common;

use std::collections::HashMap;

#[test]
fn sorted_set_commands_reply_like_redis() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("ZADD z 1 a 2 b 3 c 4 d", ":4\r\n");
    c.expect("ZADD z 2.5 x -1 y", ":2\r\n");
    c.expect("ZCARD z", ":6\r\n");
    c.expect("ZCARD nokey", ":0\r\n");
    c.expect("ZSCORE z x", "$3\r\n2.5\r\n");
    c.expect("ZSCORE z nope", "$-1\r\n");
    c.expect("ZSCORE nokey a", "$-1\r\n");
    c.expect(
        "ZMSCORE z a nope x",
        "*3\r\n$1\r\n1\r\n$-1\r\n$3\r\n2.5\r\n",
    );
    c.expect("ZMSCORE nokey a b", "*2\r\n$-1\r\n$-1\r\n");
    c.expect("ZRANK z a", ":1\r\n");
    c.expect("ZRANK z y", ":0\r\n");
    c.expect("ZREVRANK z y", ":5\r\n");
    c.expect("ZRANK z nope", "$-1\r\n");
    c.expect("ZRANK nokey a", "$-1\r\n");
    c.expect(
        "ZRANGE z 0 -1",
        "*6\r\n$1\r\ny\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    c.expect("ZRANGE z 0 -1 WITHSCORES", "*12\r\n$1\r\ny\r\n$2\r\n-1\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nx\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n");
    c.expect(
        "ZRANGE z 1 2 REV WITHSCORES",
        "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nx\r\n$3\r\n2.5\r\n",
    );
    c.expect("ZRANGE z -2 -1", "*2\r\n$1\r\nc\r\n$1\r\nd\r\n");
    c.expect("ZRANGE z 5 1", "*0\r\n");
    c.expect(
        "ZRANGE z 0 100",
        "*6\r\n$1\r\ny\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    c.expect(
        "ZRANGE z (1 3 BYSCORE",
        "*3\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n",
    );
    c.expect(
        "ZRANGE z 1 (3 BYSCORE WITHSCORES",
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nx\r\n$3\r\n2.5\r\n",
    );
    c.expect(
        "ZRANGE z -inf +inf BYSCORE LIMIT 1 2",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.expect(
        "ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2 WITHSCORES",
        "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nx\r\n$3\r\n2.5\r\n",
    );
    c.expect("ZRANGE z (1 3 BYSCORE REV", "*0\r\n");
    c.expect(
        "ZRANGE z 3 (1 BYSCORE REV",
        "*3\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\nb\r\n",
    );
    c.expect("ZRANGE z 0 -1 REV REV", "-ERR syntax error\r\n");
    c.expect("ZRANGE z 0 -1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n");
    c.expect(
        "ZRANGE z 0 -1 LIMIT 0 -1",
        "*6\r\n$1\r\ny\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    c.expect(
        "ZRANGE z 0 -1 LIMIT 2 -1",
        "*6\r\n$1\r\ny\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    c.expect(
        "ZRANGE z - + BYLEX WITHSCORES",
        "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n",
    );
    c.expect("ZRANGE z 0 1 WITHSCORES LIMIT", "-ERR syntax error\r\n");
    c.expect("ZRANGE z 0 1 BYSCORE BYLEX", "-ERR syntax error\r\n");
    c.expect(
        "ZRANGE z x 1",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("ZRANGE z a 1 BYSCORE", "-ERR min or max is not a float\r\n");
    c.expect("ZRANGE nokey 0 -1", "*0\r\n");
    c.expect(
        "ZRANGEBYSCORE z -inf +inf",
        "*6\r\n$1\r\ny\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    c.expect("ZRANGEBYSCORE z -inf +inf LIMIT -1 2", "*0\r\n");
    c.expect(
        "ZRANGEBYSCORE z -inf +inf LIMIT 1 -1",
        "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    c.expect("ZRANGEBYSCORE z -inf +inf LIMIT 10 1", "*0\r\n");
    c.expect(
        "ZRANGEBYSCORE z (2 inf WITHSCORES",
        "*6\r\n$1\r\nx\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n",
    );
    c.expect("ZRANGEBYSCORE z 1 2 REV", "-ERR syntax error\r\n");
    c.expect("ZRANGEBYSCORE z a 2", "-ERR min or max is not a float\r\n");
    c.expect("ZRANGEBYSCORE z (a 2", "-ERR min or max is not a float\r\n");
    c.expect("ZRANGEBYSCORE z 4 1", "*0\r\n");
    c.expect(
        "ZREVRANGEBYSCORE z 4 1",
        "*5\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\na\r\n",
    );
    c.expect(
        "ZREVRANGEBYSCORE z (4 (1 WITHSCORES LIMIT 0 2",
        "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nx\r\n$3\r\n2.5\r\n",
    );
    c.expect("ZREVRANGE z 0 1", "*2\r\n$1\r\nd\r\n$1\r\nc\r\n");
    c.expect(
        "ZREVRANGE z 0 1 WITHSCORES",
        "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n",
    );
    c.expect("ZREVRANGE z 0 1 BYSCORE", "-ERR syntax error\r\n");
    c.expect("ZCOUNT z -inf +inf", ":6\r\n");
    c.expect("ZCOUNT z (1 3", ":3\r\n");
    c.expect("ZCOUNT z (1 x", "-ERR min or max is not a float\r\n");
    c.expect("ZCOUNT z 3 1", ":0\r\n");
    c.expect("ZCOUNT nokey 0 1", ":0\r\n");
    c.expect("ZADD lex 0 a 0 b 0 c 0 d 0 e", ":5\r\n");
    c.expect(
        "ZRANGEBYLEX lex - +",
        "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n",
    );
    c.expect("ZRANGEBYLEX lex [b (d", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
    c.expect("ZRANGEBYLEX lex (b [d LIMIT 1 1", "*1\r\n$1\r\nd\r\n");
    c.expect(
        "ZREVRANGEBYLEX lex + -",
        "*5\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n",
    );
    c.expect(
        "ZREVRANGEBYLEX lex [d (a",
        "*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n",
    );
    c.expect("ZRANGE lex [b [d BYLEX REV", "*0\r\n");
    c.expect(
        "ZRANGE lex [d [b BYLEX REV",
        "*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n",
    );
    c.expect(
        "ZRANGEBYLEX lex a b",
        "-ERR min or max not valid string range item\r\n",
    );
    c.expect("ZRANGEBYLEX lex + -", "*0\r\n");
    c.expect("ZLEXCOUNT lex - +", ":5\r\n");
    c.expect("ZLEXCOUNT lex [b [c", ":2\r\n");
    c.expect(
        "ZLEXCOUNT lex a b",
        "-ERR min or max not valid string range item\r\n",
    );
    c.expect("ZREMRANGEBYLEX lex [a (c", ":2\r\n");
    c.expect("ZRANGE lex 0 -1", "*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n");
    c.expect(
        "ZADD z NX XX 1 a",
        "-ERR XX and NX options at the same time are not compatible\r\n",
    );
    c.expect(
        "ZADD z NX GT 1 a",
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n",
    );
    c.expect(
        "ZADD z GT LT 1 a",
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n",
    );
    c.expect(
        "ZADD z INCR 1 a 2 b",
        "-ERR INCR option supports a single increment-element pair\r\n",
    );
    c.expect(
        "ZADD z 1",
        "-ERR wrong number of arguments for 'zadd' command\r\n",
    );
    c.expect("ZADD z NX 1", "-ERR syntax error\r\n");
    c.expect("ZADD z x a", "-ERR value is not a valid float\r\n");
    c.expect("ZADD z nan a", "-ERR value is not a valid float\r\n");
    c.expect("ZADD z XX INCR 1 nokey", "$-1\r\n");
    c.expect("ZADD nokey XX 1 a", ":0\r\n");
    c.expect("EXISTS nokey", ":0\r\n");
    c.expect("ZADD z inf a", ":0\r\n");
    c.expect(
        "ZINCRBY z -inf a",
        "-ERR resulting score is not a number (NaN)\r\n",
    );
    c.expect("ZINCRBY z x a", "-ERR value is not a valid float\r\n");
    c.expect("ZADD z CH GT 0 a 5 b 1 new", ":2\r\n");
    c.expect("ZADD z 1.0 a", ":0\r\n");
    c.expect("ZADD z LT CH INCR -1 a", "$1\r\n0\r\n");
    c.expect("ZADD z NX INCR 5 a", "$-1\r\n");
    c.expect("ZADD z INCR 5 a", "$1\r\n5\r\n");
    c.expect("ZADD z XX CH 7 a 7 nothere", ":1\r\n");
    c.expect("ZADD z GT CH 6 a", ":0\r\n");
    c.expect("ZADD z LT 6 a", ":0\r\n");
    c.expect("ZRANGE z 0 -1 WITHSCORES", "*14\r\n$1\r\ny\r\n$2\r\n-1\r\n$3\r\nnew\r\n$1\r\n1\r\n$1\r\nx\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nb\r\n$1\r\n5\r\n$1\r\na\r\n$1\r\n6\r\n");
    c.expect("ZINCRBY z 2.5 b", "$3\r\n7.5\r\n");
    c.expect("ZINCRBY z 1 fresh", "$1\r\n1\r\n");
    c.expect("ZINCRBY nz 1 m", "$1\r\n1\r\n");
    c.expect("ZREM z a nope", ":1\r\n");
    c.expect("ZREM nokey a", ":0\r\n");
    c.expect("ZREMRANGEBYSCORE z -inf (3", ":4\r\n");
    c.expect("ZREMRANGEBYRANK z 0 0", ":1\r\n");
    c.expect(
        "ZREMRANGEBYRANK z x 1",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect(
        "ZRANGE z 0 -1 WITHSCORES",
        "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nb\r\n$3\r\n7.5\r\n",
    );
    c.expect("ZPOPMIN z", "*2\r\n$1\r\nd\r\n$1\r\n4\r\n");
    c.expect("ZPOPMAX z 2", "*2\r\n$1\r\nb\r\n$3\r\n7.5\r\n");
    c.expect("ZPOPMIN z 0", "*0\r\n");
    c.expect(
        "ZPOPMIN z -1",
        "-ERR value is out of range, must be positive\r\n",
    );
    c.expect(
        "ZPOPMIN z x",
        "-ERR value is out of range, must be positive\r\n",
    );
    c.expect("ZPOPMIN z 1 2", "-ERR syntax error\r\n");
    c.expect("ZPOPMIN nokey", "*0\r\n");
    c.expect("ZPOPMIN nokey 3", "*0\r\n");
    c.expect(
        "ZRANK z a x",
        "-ERR wrong number of arguments for 'zrank' command\r\n",
    );
    c.expect("ZSCAN z 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("ZSCAN z 0 MATCH f*", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("ZSCAN nokey 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.expect("ZSCAN z x", "-ERR invalid cursor\r\n");
    c.expect("ZADD dbl 0.5 a 1e5 b 1.25 c", ":3\r\n");
    c.expect(
        "ZRANGE dbl 0 -1 WITHSCORES",
        "*6\r\n$1\r\na\r\n$3\r\n0.5\r\n$1\r\nc\r\n$4\r\n1.25\r\n$1\r\nb\r\n$6\r\n100000\r\n",
    );
    c.expect("ZSCORE dbl c", "$4\r\n1.25\r\n");
    c.expect("ZSCAN dbl 0", "*2\r\n$1\r\n0\r\n*6\r\n$1\r\na\r\n$3\r\n0.5\r\n$1\r\nc\r\n$4\r\n1.25\r\n$1\r\nb\r\n$6\r\n100000\r\n");
    c.expect("ZREMRANGEBYSCORE nz -inf +inf", ":1\r\n");
    c.expect("EXISTS nz", ":0\r\n");
    c.expect("TYPE dbl", "+zset\r\n");
    c.expect(
        "GET dbl",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "LPUSH dbl x",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "SADD dbl x",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "HSET dbl a b",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect("SET str v", "+OK\r\n");
    c.expect(
        "ZADD str 1 a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZRANGE str 0 -1",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZSCORE str a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZCARD str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZPOPMIN str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZRANGEBYSCORE str 0 1",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZREMRANGEBYRANK str 0 1",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZINCRBY str 1 a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZSCAN str 0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZMSCORE str a",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    let _ = c.call("HELLO 3");
    c.expect(
        "ZRANGE dbl 0 -1 WITHSCORES",
        "*3\r\n*2\r\n$1\r\na\r\n,0.5\r\n*2\r\n$1\r\nc\r\n,1.25\r\n*2\r\n$1\r\nb\r\n,100000\r\n",
    );
    c.expect(
        "ZRANGEBYSCORE dbl -inf +inf WITHSCORES LIMIT 0 1",
        "*1\r\n*2\r\n$1\r\na\r\n,0.5\r\n",
    );
    c.expect("ZSCORE dbl a", ",0.5\r\n");
    c.expect("ZMSCORE dbl a nope", "*2\r\n,0.5\r\n_\r\n");
    c.expect("ZINCRBY dbl 1 a", ",1.5\r\n");
    c.expect("ZADD dbl INCR 1 a", ",2.5\r\n");
    c.expect("ZADD dbl NX INCR 1 a", "_\r\n");
    c.expect("ZPOPMIN dbl", "*2\r\n$1\r\nc\r\n,1.25\r\n");
    c.expect("ZPOPMIN dbl 1", "*1\r\n*2\r\n$1\r\na\r\n,2.5\r\n");
    c.expect("ZPOPMAX dbl 0", "*0\r\n");
    c.expect(
        "ZSCAN dbl 0",
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$6\r\n100000\r\n",
    );
    c.expect("ZRANK dbl zz", "_\r\n");
}

#[test]
fn large_sorted_set_ranks_ranges_and_scan() {
    let server = common::start();
    let mut c = server.raw();
    // Scores in a scrambled order: member i has score (i * 7919) % 2000.
    for i in 0..2000u32 {
        let score = (i * 7919) % 2000;
        c.cmd(&[
            b"ZADD",
            b"big",
            score.to_string().as_bytes(),
            format!("m{i}").as_bytes(),
        ]);
    }
    c.expect("ZCARD big", ":2000\r\n");
    c.expect("ZCOUNT big 100 (200", ":100\r\n");
    // The member with score s has rank s.
    for i in (0..2000u32).step_by(37) {
        let score = (i * 7919) % 2000;
        c.expect(&format!("ZRANK big m{i}"), &format!(":{score}\r\n"));
        c.expect(
            &format!("ZREVRANK big m{i}"),
            &format!(":{}\r\n", 1999 - score),
        );
    }
    c.expect("ZRANGE big 1500 1500 WITHSCORES", &{
        let member = (0..2000u32).find(|i| (i * 7919) % 2000 == 1500).unwrap();
        let name = format!("m{member}");
        format!("*2\r\n${}\r\n{name}\r\n$4\r\n1500\r\n", name.len())
    });
    // The semaphore pattern: drop everything up to a score.
    c.expect("ZREMRANGEBYSCORE big -inf 999", ":1000\r\n");
    c.expect("ZCARD big", ":1000\r\n");
    c.expect("ZCOUNT big -inf (1000", ":0\r\n");

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor = 0u64;
    for _ in 0..10_000 {
        let reply = c.cmd(&[
            b"ZSCAN",
            b"big",
            cursor.to_string().as_bytes(),
            b"COUNT",
            b"40",
        ]);
        let (next, items) = common::parse_scan(&reply);
        assert!(items.len() <= 80);
        for pair in items.chunks(2) {
            *seen.entry(pair[0].clone()).or_default() += 1;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 1000);
    assert!(seen.values().all(|&n| n == 1));
}

#[test]
fn sorted_sets_count_in_memory() {
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
    let big = "x".repeat(100_000);
    c.cmd(&[b"ZADD", b"z", b"1", big.as_bytes()]);
    assert!(used(&mut c) >= before + 100_000);
    c.expect(
        "ZPOPMIN z",
        &format!("*2\r\n$100000\r\n{big}\r\n$1\r\n1\r\n"),
    );
    assert!(used(&mut c) < before + 1000);
}

/// The flows lock libraries run on these types, through the `redis` crate as a real client,
/// over RESP2 and RESP3 (whose replies it decodes differently: maps, sets, doubles).
#[test]
fn lock_library_flows_through_a_real_client() {
    use std::collections::{HashMap, HashSet};

    use redis::Commands;

    let server = common::start();
    for protocol in ["resp2", "resp3"] {
        let url = format!("{}/?protocol={protocol}", server.url());
        let client = redis::Client::open(url).unwrap();
        let mut con = client.get_connection().unwrap();
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();

        // Redisson's reentrant lock: owner → hold count in a hash with a TTL.
        let count: i64 = con.hincr("lock", "owner:1", 1).unwrap();
        assert_eq!(count, 1);
        let count: i64 = con.hincr("lock", "owner:1", 1).unwrap();
        assert_eq!(count, 2);
        let _: bool = con.pexpire("lock", 30_000).unwrap();
        assert!(con.hexists::<_, _, bool>("lock", "owner:1").unwrap());
        let all: HashMap<String, String> = con.hgetall("lock").unwrap();
        assert_eq!(
            all,
            HashMap::from([("owner:1".to_string(), "2".to_string())])
        );

        // redis-semaphore: acquisitions as scores, expired ones removed by score.
        let added: i64 = redis::cmd("ZADD")
            .arg("sem")
            .arg(100)
            .arg("a")
            .arg(200)
            .arg("b")
            .arg(300)
            .arg("c")
            .query(&mut con)
            .unwrap();
        assert_eq!(added, 3);
        let removed: i64 = con.zrembyscore("sem", "-inf", 150).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(con.zcard::<_, i64>("sem").unwrap(), 2);
        assert_eq!(
            con.zscore::<_, _, Option<f64>>("sem", "b").unwrap(),
            Some(200.0)
        );
        assert_eq!(con.zscore::<_, _, Option<f64>>("sem", "a").unwrap(), None);
        let ranked: Vec<(String, f64)> = con.zrange_withscores("sem", 0, -1).unwrap();
        assert_eq!(ranked, vec![("b".into(), 200.0), ("c".into(), 300.0)]);

        // A set under a lock key, as node redlock's tests do to provoke WRONGTYPE.
        let _: i64 = con.sadd("set", &["x", "y"]).unwrap();
        let members: HashSet<String> = con.smembers("set").unwrap();
        assert_eq!(members, HashSet::from(["x".to_string(), "y".to_string()]));
        let error = con.get::<_, String>("set").unwrap_err();
        assert_eq!(error.code(), Some("WRONGTYPE"));

        // python-redis-lock's wake-up: BLPOP on a list another client pushes to.
        let mut pusher = client.get_connection().unwrap();
        let waiter = std::thread::spawn(move || {
            let popped: Option<(String, String)> = con.blpop("signal", 5.0).unwrap();
            popped
        });
        // Whether the push lands before or after the waiter blocks, the waiter gets it.
        let _: i64 = pusher.lpush("signal", "1").unwrap();
        assert_eq!(waiter.join().unwrap(), Some(("signal".into(), "1".into())));
    }
}

#[test]
fn bzpop_replies_like_redis() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("ZADD z 1 a 2 b 3 c", ":3\r\n");
    c.expect("BZPOPMIN z 0", "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n");
    c.expect("BZPOPMAX z 0", "*3\r\n$1\r\nz\r\n$1\r\nc\r\n$1\r\n3\r\n");
    c.expect(
        "BZPOPMIN nokey z 0",
        "*3\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\n2\r\n",
    );
    c.expect("BZPOPMIN nokey 0.01", "*-1\r\n");
    c.expect(
        "BZPOPMIN z x",
        "-ERR timeout is not a float or out of range\r\n",
    );
    c.expect("BZPOPMIN z -1", "-ERR timeout is negative\r\n");
    c.expect(
        "BZPOPMIN z",
        "-ERR wrong number of arguments for 'bzpopmin' command\r\n",
    );
    c.expect("SET s v", "+OK\r\n");
    c.expect(
        "BZPOPMIN s 0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "BZPOPMAX nokey s 0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect("EXISTS z", ":0\r\n");
    c.expect("ZADD z 1.5 a", ":1\r\n");
    let _ = c.call("HELLO 3");
    c.expect("BZPOPMAX z 0", "*3\r\n$1\r\nz\r\n$1\r\na\r\n,1.5\r\n");
    c.expect("BZPOPMIN nokey 0.01", "_\r\n");
}

#[test]
fn bzpopmin_waiters_are_woken_in_order_by_zadd() {
    let server = common::start();
    let mut first = server.raw();
    let mut second = server.raw();
    let mut adder = server.raw();
    for waiter in [&mut first, &mut second] {
        let mut request = common::encode(&[b"ECHO", b"queued"]);
        request.extend_from_slice(&common::encode(&[b"BZPOPMIN", b"jobs", b"0"]));
        waiter.send(&request);
        assert_eq!(waiter.read_reply(), b"$6\r\nqueued\r\n");
    }
    adder.expect("ZADD jobs 20 late 10 early", ":2\r\n");
    assert_eq!(
        first.read_reply(),
        b"*3\r\n$4\r\njobs\r\n$5\r\nearly\r\n$2\r\n10\r\n"
    );
    assert_eq!(
        second.read_reply(),
        b"*3\r\n$4\r\njobs\r\n$4\r\nlate\r\n$2\r\n20\r\n"
    );
    adder.expect("EXISTS jobs", ":0\r\n");
}

#[test]
fn union_inter_diff_store_randmember_reply_like_redis() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("ZADD z1 1 a 2 b", ":2\r\n");
    c.expect("ZADD z2 10 b 20 c", ":2\r\n");
    c.expect("SADD s1 a c", ":2\r\n");
    c.expect(
        "ZUNIONSTORE d 0 z1",
        "-ERR at least 1 input key is needed for 'zunionstore' command\r\n",
    );
    c.expect(
        "ZUNIONSTORE d x z1",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("ZUNIONSTORE d 3 z1", "-ERR syntax error\r\n");
    c.expect("ZUNIONSTORE d 2 z1 z2 WEIGHTS 1", "-ERR syntax error\r\n");
    c.expect(
        "ZUNIONSTORE d 2 z1 z2 WEIGHTS 1 x",
        "-ERR weight value is not a float\r\n",
    );
    c.expect(
        "ZUNIONSTORE d 2 z1 z2 AGGREGATE foo",
        "-ERR syntax error\r\n",
    );
    c.expect("ZUNIONSTORE d 2 z1 z2 FOO", "-ERR syntax error\r\n");
    c.expect("ZUNIONSTORE d 2 z1 z2 WITHSCORES", "-ERR syntax error\r\n");
    c.expect("ZUNIONSTORE d 2 z1 z2", ":3\r\n");
    c.expect(
        "ZRANGE d 0 -1 WITHSCORES",
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n20\r\n",
    );
    c.expect(
        "ZUNION 2 z1 z2 WITHSCORES",
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n20\r\n",
    );
    c.expect(
        "ZUNION 3 z1 z2 s1 WITHSCORES",
        "*6\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n21\r\n",
    );
    c.expect(
        "ZUNION 2 z1 z2 WEIGHTS 2 3 AGGREGATE MIN WITHSCORES",
        "*6\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n4\r\n$1\r\nc\r\n$2\r\n60\r\n",
    );
    c.expect(
        "ZINTER 2 z1 z2 WITHSCORES AGGREGATE MAX",
        "*2\r\n$1\r\nb\r\n$2\r\n10\r\n",
    );
    c.expect("ZINTER 2 z1 s1 WITHSCORES", "*2\r\n$1\r\na\r\n$1\r\n2\r\n");
    c.expect("ZINTER 2 z1 nokey", "*0\r\n");
    c.expect("ZINTERSTORE d 2 z1 nokey", ":0\r\n");
    c.expect("EXISTS d", ":0\r\n");
    c.expect("ZINTERSTORE d 2 z1 z2 WEIGHTS 0.5 2", ":1\r\n");
    c.expect("ZRANGE d 0 -1 WITHSCORES", "*2\r\n$1\r\nb\r\n$2\r\n21\r\n");
    c.expect("ZDIFF 2 z1 z2 WITHSCORES", "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    c.expect("ZDIFF 2 z1 s1", "*1\r\n$1\r\nb\r\n");
    c.expect("ZDIFF 2 z1 z2 WEIGHTS 1 1", "-ERR syntax error\r\n");
    c.expect("ZDIFF 2 nokey z1", "*0\r\n");
    c.expect("ZDIFFSTORE d 2 z2 z1", ":1\r\n");
    c.expect("ZRANGE d 0 -1 WITHSCORES", "*2\r\n$1\r\nc\r\n$2\r\n20\r\n");
    c.expect("ZINTERCARD 2 z1 z2", ":1\r\n");
    c.expect("ZINTERCARD 2 z1 s1 LIMIT 1", ":1\r\n");
    c.expect(
        "ZINTERCARD 0 z1",
        "-ERR at least 1 input key is needed for 'zintercard' command\r\n",
    );
    c.expect(
        "ZINTERCARD 1 z1 LIMIT -1",
        "-ERR LIMIT can't be negative\r\n",
    );
    c.expect(
        "ZINTERCARD 1 z1 LIMIT x",
        "-ERR LIMIT can't be negative\r\n",
    );
    c.expect("ZINTERCARD 1 z1 WITHSCORES", "-ERR syntax error\r\n");
    c.expect("ZRANDMEMBER nokey", "$-1\r\n");
    c.expect("ZRANDMEMBER nokey 2", "*0\r\n");
    c.expect("ZRANDMEMBER z1 1 x", "-ERR syntax error\r\n");
    c.expect("ZRANDMEMBER z1 0", "*0\r\n");
    c.expect("ZRANDMEMBER z1 5", "*2\r\n$1\r\nb\r\n$1\r\na\r\n");
    c.expect("ZRANGESTORE dst z1 0 -1", ":2\r\n");
    c.expect(
        "ZRANGE dst 0 -1 WITHSCORES",
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
    );
    c.expect(
        "ZRANGESTORE dst z1 0 -1 WITHSCORES",
        "-ERR syntax error\r\n",
    );
    c.expect("ZRANGESTORE dst z2 (10 +inf BYSCORE", ":1\r\n");
    c.expect(
        "ZRANGE dst 0 -1 WITHSCORES",
        "*2\r\n$1\r\nc\r\n$2\r\n20\r\n",
    );
    c.expect("ZRANGESTORE dst nokey 0 -1", ":0\r\n");
    c.expect("EXISTS dst", ":0\r\n");
    c.expect(
        "ZUNION 2 z1 z2 WEIGHTS 2 inf",
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
    );
    c.expect(
        "ZUNION 2 z1 z2 WEIGHTS nan 1",
        "-ERR weight value is not a float\r\n",
    );
    c.expect(
        "ZUNION 2 z1 z2 WEIGHTS inf -inf WITHSCORES",
        "*6\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n0\r\n$1\r\na\r\n$3\r\ninf\r\n",
    );
    c.expect("SET str v", "+OK\r\n");
    c.expect(
        "ZUNION 2 z1 str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect(
        "ZINTER 2 str nokey",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.expect("ZUNIONSTORE str 1 z1", ":2\r\n");
    c.expect("TYPE str", "+zset\r\n");
    c.expect("ZDIFFSTORE d 1 nokey", ":0\r\n");
    c.expect("ZUNIONSTORE d 1 z1 WEIGHTS 2 AGGREGATE min", ":2\r\n");
    c.expect(
        "ZRANGE d 0 -1 WITHSCORES",
        "*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n4\r\n",
    );
    c.expect("ZUNIONSTORE d 1 s1", ":2\r\n");
    c.expect(
        "ZRANGE d 0 -1 WITHSCORES",
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n1\r\n",
    );
    let _ = c.call("HELLO 3");
    c.expect(
        "ZUNION 2 z1 z2 WITHSCORES",
        "*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,20\r\n",
    );
    c.expect(
        "ZDIFF 1 z1 WITHSCORES",
        "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n",
    );
    c.expect(
        "ZRANDMEMBER z1 5 WITHSCORES",
        "*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,1\r\n",
    );
}
