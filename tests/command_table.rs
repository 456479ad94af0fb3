//! The command table against the real thing: `COMMAND INFO` facts (arity, flags, first/last/
//! step, ACL categories, and each subcommand's) compared with a running redis-server 7.0 for
//! every command and subcommand both know; and the table's answers to `COMMAND GETKEYS`,
//! `COMMAND LIST` and `COMMAND COUNT`.
//!
//! The comparison runs when `redis-server` is on `PATH`; otherwise it prints a skip message
//! and passes.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

/// Facts that differ from redis-server 7.0 on purpose, with the reason. Each must really
/// differ (the test checks), so the list cannot go stale.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// At least this share of the commands and subcommands both servers know have equal facts.
const REQUIRED_SHARE: f64 = 0.95;

/// What `COMMAND INFO` says of one command or subcommand.
#[derive(Debug, PartialEq)]
struct Facts {
    arity: i64,
    flags: BTreeSet<String>,
    keys: (i64, i64, i64),
    categories: BTreeSet<String>,
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

/// Every command and subcommand of a `COMMAND` reply, by full name.
fn collect(entries: &[Value], into: &mut BTreeMap<String, Facts>) {
    for entry in entries {
        let fields = items(entry);
        let facts = Facts {
            arity: int(&fields[1]),
            flags: items(&fields[2]).iter().map(text).collect(),
            keys: (int(&fields[3]), int(&fields[4]), int(&fields[5])),
            categories: items(&fields[6]).iter().map(text).collect(),
        };
        into.insert(text(&fields[0]), facts);
        if let Some(subcommands) = fields.get(9) {
            collect(items(subcommands), into);
        }
    }
}

fn command_facts(url: &str) -> BTreeMap<String, Facts> {
    let mut connection = redis::Client::open(url)
        .expect("client")
        .get_connection()
        .expect("connect");
    let reply: Value = redis::cmd("COMMAND")
        .query(&mut connection)
        .expect("COMMAND");
    let mut facts = BTreeMap::new();
    collect(items(&reply), &mut facts);
    facts
}

#[test]
fn command_facts_match_redis() {
    let Some(binary) = common::find_redis_server() else {
        eprintln!("command table comparison skipped: redis-server is not on PATH");
        return;
    };
    let redis = common::RedisServer::start(&binary, &[]);
    let theirs = command_facts(&format!("redis://{}", redis.addr));
    let server = common::start();
    let ours = command_facts(&server.url());
    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES.iter().copied().collect();
    let mut compared = 0;
    let mut equal = 0;
    let mut unexplained = Vec::new();
    for (name, facts) in &ours {
        let Some(expected) = theirs.get(name) else {
            continue;
        };
        compared += 1;
        if facts == expected {
            equal += 1;
            assert!(
                !known.contains_key(name.as_str()),
                "{name} is listed as a known difference but matches redis-server"
            );
        } else if !known.contains_key(name.as_str()) {
            unexplained.push(format!("{name}: ours {facts:?}, redis {expected:?}"));
        }
    }
    assert!(
        unexplained.is_empty(),
        "facts differ from redis-server:\n{}",
        unexplained.join("\n")
    );
    assert!(compared >= 150, "only {compared} commands in common");
    let share = equal as f64 / compared as f64;
    assert!(
        share >= REQUIRED_SHARE,
        "{equal} of {compared} equal ({share:.3})"
    );
    eprintln!(
        "command table: {equal} of {compared} commands and subcommands equal to redis-server"
    );
}

#[test]
fn getkeys_follows_key_specs() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("COMMAND GETKEYS EVAL script 1 a b", "*1\r\n$1\r\na\r\n");
    c.expect("COMMAND GETKEYS EVALSHA abc 0 x", "*0\r\n");
    c.expect(
        "COMMAND GETKEYS ZUNIONSTORE dst 2 a b WEIGHTS 1 2",
        "*3\r\n$3\r\ndst\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.expect(
        "COMMAND GETKEYS SINTERCARD 2 a b LIMIT 1",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.expect(
        "COMMAND GETKEYS ZUNION 0 a",
        "-ERR Invalid arguments specified for command\r\n",
    );
    c.expect(
        "COMMAND GETKEYS CONFIG GET a",
        "-ERR The command has no key arguments\r\n",
    );
    c.expect(
        "COMMAND GETKEYSANDFLAGS LMOVE a b LEFT LEFT",
        "*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$1\r\nb\r\n*2\r\n+RW\r\n+insert\r\n",
    );
}

#[test]
fn list_has_subcommands_and_count_does_not() {
    let server = common::start();
    let mut c = server.raw();
    let list = c.call("COMMAND LIST");
    for name in [
        "config|get",
        "client|list",
        "script|load",
        "object|encoding",
        "pubsub|channels",
    ] {
        assert!(
            list.contains(&format!("${}\r\n{name}\r\n", name.len())),
            "{name} missing"
        );
    }
    c.expect(
        "COMMAND LIST FILTERBY PATTERN config|s*",
        "*1\r\n$10\r\nconfig|set\r\n",
    );
    let count = c.call("COMMAND COUNT");
    let count: usize = count.trim_start_matches(':').trim().parse().unwrap();
    let entries = list.lines().filter(|line| line.starts_with('$')).count();
    assert!(entries > count, "{entries} entries, {count} commands");
    c.expect(
        "COMMAND INFO config|get",
        "*1\r\n*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n",
    );
    c.expect(
        "CONFIG NOSUCH",
        "-ERR unknown subcommand 'NOSUCH'. Try CONFIG HELP.\r\n",
    );
    c.expect(
        "CONFIG GET",
        "-ERR wrong number of arguments for 'config|get' command\r\n",
    );
    c.expect(
        "CONFIG",
        "-ERR wrong number of arguments for 'config' command\r\n",
    );
}
