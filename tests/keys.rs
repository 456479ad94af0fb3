//! Key commands over raw RESP: TOUCH, EXPIRETIME, KEYS, SCAN, RENAME, MOVE, SWAPDB, COPY,
//! RANDOMKEY and OBJECT, with Redis's exact replies and errors.

mod common;

use std::collections::HashSet;

/// Runs a full SCAN with `options` appended, returning every key seen and the number of calls.
fn scan_all(c: &mut common::Raw, options: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for calls in 1..100_000 {
        let mut args: Vec<&[u8]> = vec![b"SCAN", cursor.as_bytes()];
        args.extend(options.iter().map(|o| o.as_bytes()));
        let reply = String::from_utf8(c.cmd(&args)).unwrap();
        let (next, keys) = parse_scan_reply(&reply);
        seen.extend(keys);
        if next == "0" {
            return (seen, calls);
        }
        cursor = next;
    }
    panic!("scan did not finish");
}

/// Splits `*2\r\n$n\r\ncursor\r\n*k\r\n$..\r\nkey\r\n…` into the cursor and the keys.
fn parse_scan_reply(reply: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    assert_eq!(lines[0], "*2", "{reply}");
    let cursor = lines[2].to_string();
    let count: usize = lines[3][1..].parse().unwrap();
    let keys = (0..count).map(|i| lines[5 + 2 * i].to_string()).collect();
    (cursor, keys)
}

#[test]
fn touch_and_expiretime() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET a 1", "+OK\r\n");
    c.expect("SET b 2 EX 100", "+OK\r\n");
    c.expect("TOUCH a b nope", ":2\r\n");
    c.expect("EXPIRETIME a", ":-1\r\n");
    c.expect("EXPIRETIME nope", ":-2\r\n");
    c.expect("PEXPIRETIME nope", ":-2\r\n");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let reply = c.call("PEXPIRETIME b");
    let at: i64 = reply.trim_start_matches(':').trim().parse().unwrap();
    assert!((at - (now_ms + 100_000)).abs() < 5_000, "{at} vs {now_ms}");
    let reply = c.call("EXPIRETIME b");
    let secs: i64 = reply.trim_start_matches(':').trim().parse().unwrap();
    assert_eq!(secs, (at + 500) / 1000);
}

#[test]
fn keys_matches_globs_and_skips_expired() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("MSET lock:a 1 lock:b 2 other 3", "+OK\r\n");
    c.expect("SET lock:c 3 PX 10", "+OK\r\n");
    server.advance_past_ms(10);
    let reply = c.call("KEYS lock:*");
    assert!(reply.starts_with("*2\r\n"), "{reply}");
    assert!(reply.contains("lock:a") && reply.contains("lock:b"));
    c.expect("KEYS nothing*", "*0\r\n");
    c.expect("KEYS oth?r", "*1\r\n$5\r\nother\r\n");
    c.expect(
        "KEYS",
        "-ERR wrong number of arguments for 'keys' command\r\n",
    );
}

#[test]
fn scan_visits_every_key_once_when_nothing_changes() {
    let server = common::start();
    let mut c = server.raw();
    for i in 0..500 {
        c.expect(&format!("SET key:{i} v"), "+OK\r\n");
    }
    let (seen, calls) = scan_all(&mut c, &["COUNT", "7"]);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 500);
    assert_eq!(seen.len(), 500, "no duplicates without changes");
    assert!(calls >= 500 / 7, "COUNT bounds each call: {calls} calls");
    let (seen, _) = scan_all(&mut c, &["MATCH", "key:1?", "COUNT", "1000"]);
    assert_eq!(seen.len(), 10);
    let (seen, _) = scan_all(&mut c, &["TYPE", "string"]);
    assert_eq!(seen.len(), 500);
    let (seen, _) = scan_all(&mut c, &["TYPE", "list"]);
    assert!(seen.is_empty());
}

#[test]
fn scan_returns_keys_present_throughout_despite_changes() {
    let server = common::start();
    let mut c = server.raw();
    let mut other = server.raw();
    for i in 0..300 {
        c.expect(&format!("SET stable:{i} v"), "+OK\r\n");
        c.expect(&format!("SET doomed:{i} v"), "+OK\r\n");
    }
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    for round in 0..10_000 {
        let reply = c.call(&format!("SCAN {cursor} COUNT 5"));
        let (next, keys) = parse_scan_reply(&reply);
        seen.extend(keys);
        // Churn between calls, from another connection: deletions and new keys.
        other.call(&format!("DEL doomed:{round}"));
        other.call(&format!("SET new:{round} v"));
        if next == "0" {
            break;
        }
        // Every few calls, continue on the other connection (no snapshot there).
        if round % 7 == 3 {
            let reply = other.call(&format!("SCAN {next} COUNT 5"));
            let (after, keys) = parse_scan_reply(&reply);
            seen.extend(keys);
            if after == "0" {
                break;
            }
            cursor = after;
        } else {
            cursor = next;
        }
    }
    for i in 0..300 {
        assert!(seen.contains(&format!("stable:{i}")), "stable:{i} missed");
    }
}

#[test]
fn scan_errors_like_redis() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SCAN x", "-ERR invalid cursor\r\n");
    c.expect("SCAN -1", "-ERR invalid cursor\r\n");
    c.expect("SCAN 0 COUNT 0", "-ERR syntax error\r\n");
    c.expect(
        "SCAN 0 COUNT x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("SCAN 0 MATCH", "-ERR syntax error\r\n");
    c.expect("SCAN 0 FOO bar", "-ERR syntax error\r\n");
    c.expect("SCAN 0", "*2\r\n$1\r\n0\r\n*0\r\n");
}

#[test]
fn rename_and_renamenx() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("RENAME nope b", "-ERR no such key\r\n");
    c.expect("RENAMENX nope b", "-ERR no such key\r\n");
    c.expect("SET a 1 PX 5000", "+OK\r\n");
    c.expect("RENAME a a", "+OK\r\n");
    c.expect("RENAMENX a a", ":0\r\n");
    c.expect("RENAME a b", "+OK\r\n");
    c.expect("EXISTS a", ":0\r\n");
    c.expect("PTTL b", ":5000\r\n");
    c.expect("SET c 3", "+OK\r\n");
    c.expect("RENAMENX b c", ":0\r\n");
    c.expect("RENAMENX b d", ":1\r\n");
    c.expect("RENAME d c", "+OK\r\n");
    c.expect("GET c", "$1\r\n1\r\n");
    c.expect("PTTL c", ":5000\r\n");
}

#[test]
fn move_between_databases() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET k v PX 9000", "+OK\r\n");
    c.expect(
        "MOVE k 0",
        "-ERR source and destination objects are the same\r\n",
    );
    c.expect("MOVE k 16", "-ERR DB index is out of range\r\n");
    c.expect(
        "MOVE k x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("MOVE nope 1", ":0\r\n");
    c.expect("MOVE k 1", ":1\r\n");
    c.expect("EXISTS k", ":0\r\n");
    c.expect("SET k other", "+OK\r\n");
    c.expect("SELECT 1", "+OK\r\n");
    c.expect("PTTL k", ":9000\r\n");
    c.expect("MOVE k 0", ":0\r\n");
    c.expect("GET k", "$1\r\nv\r\n");
}

#[test]
fn swapdb_exchanges_databases() {
    let server = common::start();
    let mut c = server.raw();
    let mut in_db1 = server.raw();
    in_db1.expect("SELECT 1", "+OK\r\n");
    c.expect("SET a zero", "+OK\r\n");
    c.expect("SET t zero PX 100", "+OK\r\n");
    in_db1.expect("SET b one", "+OK\r\n");
    c.expect("SWAPDB 0 1", "+OK\r\n");
    c.expect("GET a", "$-1\r\n");
    c.expect("GET b", "$3\r\none\r\n");
    in_db1.expect("GET a", "$4\r\nzero\r\n");
    in_db1.expect("PTTL t", ":100\r\n");
    server.advance_past_ms(100);
    in_db1.expect("EXISTS t", ":0\r\n");
    c.expect("SWAPDB 1 1", "+OK\r\n");
    c.expect("SWAPDB 0 16", "-ERR DB index is out of range\r\n");
    c.expect("SWAPDB x 1", "-ERR invalid first DB index\r\n");
    c.expect("SWAPDB 1 x", "-ERR invalid second DB index\r\n");
    c.expect("DBSIZE", ":1\r\n");
    in_db1.expect("DBSIZE", ":1\r\n");
}

#[test]
fn copy_within_and_across_databases() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET src v EX 100", "+OK\r\n");
    c.expect(
        "COPY src src",
        "-ERR source and destination objects are the same\r\n",
    );
    c.expect("COPY src dst FOO", "-ERR syntax error\r\n");
    c.expect("COPY src dst DB", "-ERR syntax error\r\n");
    c.expect("COPY src dst DB 99", "-ERR DB index is out of range\r\n");
    c.expect("COPY nope dst", ":0\r\n");
    c.expect("COPY src dst", ":1\r\n");
    c.expect("TTL dst", ":100\r\n");
    c.expect("COPY src dst", ":0\r\n");
    c.expect("SET src w", "+OK\r\n");
    c.expect("COPY src dst REPLACE", ":1\r\n");
    c.expect("GET dst", "$1\r\nw\r\n");
    c.expect("TTL dst", ":-1\r\n");
    c.expect("COPY src src DB 2", ":1\r\n");
    c.expect("SELECT 2", "+OK\r\n");
    c.expect("GET src", "$1\r\nw\r\n");
}

#[test]
fn randomkey_returns_a_live_key() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("RANDOMKEY", "$-1\r\n");
    c.expect("SET only v", "+OK\r\n");
    for _ in 0..5 {
        c.expect("RANDOMKEY", "$4\r\nonly\r\n");
    }
    c.expect("PEXPIRE only 5", ":1\r\n");
    server.advance_past_ms(5);
    c.expect("RANDOMKEY", "$-1\r\n");
}

#[test]
fn object_subcommands() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET n 123", "+OK\r\n");
    c.expect("SET big 12345", "+OK\r\n");
    c.expect("SET s abc", "+OK\r\n");
    c.expect(&format!("SET long {}", "x".repeat(45)), "+OK\r\n");
    c.expect("OBJECT ENCODING n", "$3\r\nint\r\n");
    c.expect("OBJECT ENCODING s", "$6\r\nembstr\r\n");
    c.expect("OBJECT ENCODING long", "$3\r\nraw\r\n");
    c.expect("OBJECT ENCODING nope", "$-1\r\n");
    c.expect("OBJECT REFCOUNT n", ":2147483647\r\n");
    c.expect("OBJECT REFCOUNT big", ":1\r\n");
    c.expect("OBJECT IDLETIME s", ":0\r\n");
    assert!(c
        .call("OBJECT FREQ s")
        .starts_with("-ERR An LFU maxmemory policy"));
    c.expect(
        "OBJECT ENCODING",
        "-ERR wrong number of arguments for 'object|encoding' command\r\n",
    );
    c.expect(
        "OBJECT foo",
        "-ERR unknown subcommand 'foo'. Try OBJECT HELP.\r\n",
    );
    let help = c.call("OBJECT HELP");
    assert!(help.starts_with(
        "*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
    ));
}

#[test]
fn expire_in_the_past_deletes_a_persistent_key_and_keeps_counts() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET p v", "+OK\r\n");
    c.expect("EXPIREAT p 1", ":1\r\n");
    c.expect("EXISTS p", ":0\r\n");
    c.expect("SET q v", "+OK\r\n");
    c.expect("PEXPIRE q -1", ":1\r\n");
    c.expect("SET r v EX 100", "+OK\r\n");
    assert!(c
        .call("INFO keyspace")
        .contains("db0:keys=1,expires=1,avg_ttl=0\r\n"));
}
