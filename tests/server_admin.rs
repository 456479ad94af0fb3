//! Server administration over raw RESP: CONFIG, INFO, COMMAND, DEBUG, SAVE/BGSAVE/LASTSAVE,
//! ROLE, MEMORY USAGE, with Redis's exact replies and errors.

mod common;

use std::time::{Duration, Instant};

#[test]
fn config_get_patterns_and_defaults() {
    let server = common::start();
    let mut c = server.raw();
    c.expect(
        "CONFIG GET save appendonly",
        "*4\r\n$10\r\nappendonly\r\n$2\r\nno\r\n$4\r\nsave\r\n$0\r\n\r\n",
    );
    c.expect(
        "CONFIG GET databases",
        "*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n",
    );
    c.expect(
        "CONFIG GET MAXMEMORY",
        "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
    );
    c.expect("CONFIG GET nothing*", "*0\r\n");
    // A parameter matched by two patterns appears once.
    c.expect("CONFIG GET hz h?", "*2\r\n$2\r\nhz\r\n$2\r\n10\r\n");
    let all = c.call("CONFIG GET *");
    for name in [
        "maxclients",
        "timeout",
        "proto-max-bulk-len",
        "lua-time-limit",
        "requirepass",
        "notify-keyspace-events",
        "maxmemory-policy",
    ] {
        assert!(all.contains(&format!("\r\n{name}\r\n")), "{name} missing");
    }
    c.expect(
        "CONFIG GET",
        "-ERR wrong number of arguments for 'config|get' command\r\n",
    );
    c.call("HELLO 3");
    c.expect("CONFIG GET timeout", "%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n");
}

#[test]
fn config_set_applies_live_and_is_atomic() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("CONFIG SET maxmemory 1gb hz 20", "+OK\r\n");
    c.expect(
        "CONFIG GET maxmemory",
        "*2\r\n$9\r\nmaxmemory\r\n$10\r\n1073741824\r\n",
    );
    assert!(c.call("INFO server").contains("\r\nhz:20\r\n"));
    c.expect("CONFIG SET hz 1000", "+OK\r\n");
    c.expect("CONFIG GET hz", "*2\r\n$2\r\nhz\r\n$3\r\n500\r\n");
    c.expect(
        "CONFIG SET hz 5 databases 3",
        "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n",
    );
    c.expect("CONFIG GET hz", "*2\r\n$2\r\nhz\r\n$3\r\n500\r\n");
    c.expect(
        "CONFIG SET hz 5 hz 6",
        "-ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter\r\n",
    );
    c.expect(
        "CONFIG SET foo bar",
        "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n",
    );
    c.expect("CONFIG SET maxclients 10 hz", "-ERR syntax error\r\n");
    c.expect(
        "CONFIG SET maxclients abc",
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer\r\n",
    );
    c.expect(
        "CONFIG SET maxclients 0",
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive\r\n",
    );
    c.expect(
        "CONFIG SET proto-max-bulk-len 10",
        "-ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive\r\n",
    );
    c.expect("CONFIG SET proto-max-bulk-len 2mb", "+OK\r\n");
    c.expect(
        "CONFIG GET proto-max-bulk-len",
        "*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n2097152\r\n",
    );
    c.expect("CONFIG SET notify-keyspace-events KEA", "+OK\r\n");
    c.expect(
        "CONFIG GET notify-keyspace-events",
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n",
    );
    assert_eq!(
        server.server.shared().config.read().notify_keyspace_events,
        "AKE"
    );
    c.expect(
        "CONFIG SET notify-keyspace-events q",
        "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n",
    );
    c.expect("CONFIG SET lua-time-limit 100", "+OK\r\n");
    c.expect(
        "CONFIG GET lua-time-limit",
        "*2\r\n$14\r\nlua-time-limit\r\n$3\r\n100\r\n",
    );
    c.expect("CONFIG SET appendonly no", "+OK\r\n");
    c.expect(
        "CONFIG SET appendonly maybe",
        "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'\r\n",
    );
    c.cmd(&[b"CONFIG", b"SET", b"save", b""]);
    c.expect("CONFIG SET maxmemory-policy noeviction", "+OK\r\n");
    c.expect(
        "CONFIG REWRITE",
        "-ERR The server is running without a config file\r\n",
    );
    assert!(c
        .call("CONFIG HELP")
        .starts_with("*11\r\n+CONFIG <subcommand>"));
    c.expect(
        "CONFIG foo",
        "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n",
    );
}

#[test]
fn config_set_requirepass_and_maxclients_apply_to_new_clients() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect("CONFIG SET requirepass pw", "+OK\r\n");
    admin.expect("PING", "+PONG\r\n");
    let mut newcomer = server.raw();
    newcomer.expect("PING", "-NOAUTH Authentication required.\r\n");
    newcomer.expect("AUTH pw", "+OK\r\n");
    admin.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]);
    server.raw().expect("PING", "+PONG\r\n");

    admin.expect("CONFIG SET maxclients 2", "+OK\r\n");
    let mut rejected = server.raw();
    assert_eq!(
        rejected.read_reply(),
        b"-ERR max number of clients reached\r\n"
    );
    assert!(rejected.is_closed());
    admin.expect("CONFIG SET maxclients 100", "+OK\r\n");
    server.raw().expect("PING", "+PONG\r\n");
    assert!(admin
        .call("INFO stats")
        .contains("\r\nrejected_connections:1\r\n"));
    admin.expect("CONFIG RESETSTAT", "+OK\r\n");
    assert!(admin
        .call("INFO stats")
        .contains("\r\nrejected_connections:0\r\n"));
}

#[test]
fn maxclients_flag_rejects_with_redis_text() {
    let server = common::start_with(|config| config.maxclients = 1);
    let mut first = server.raw();
    first.expect("PING", "+PONG\r\n");
    let mut second = server.raw();
    assert_eq!(
        second.read_reply(),
        b"-ERR max number of clients reached\r\n"
    );
    first.expect("PING", "+PONG\r\n");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect("CONFIG SET timeout 1", "+OK\r\n");
    let mut idle = server.raw();
    idle.expect("PING", "+PONG\r\n");
    // The idle check runs every second on the real clock; wait for it, bounded.
    idle.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    assert!(idle.is_closed());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn info_sections_and_fields() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET k v EX 100", "+OK\r\n");
    let all = c.call("INFO");
    for section in [
        "# Server\r\n",
        "# Clients\r\n",
        "# Memory\r\n",
        "# Persistence\r\n",
        "# Stats\r\n",
        "# Replication\r\n",
        "# CPU\r\n",
        "# Keyspace\r\n",
    ] {
        assert!(all.contains(section), "{section} missing");
    }
    let port = server.server.local_addr().port();
    for field in [
        "redis_version:".to_string(),
        format!("tcp_port:{port}\r\n"),
        "uptime_in_seconds:".into(),
        "connected_clients:1\r\n".into(),
        "used_memory:".into(),
        "used_memory_human:".into(),
        "used_memory_rss:".into(),
        "maxmemory:0\r\n".into(),
        "maxmemory_human:0B\r\n".into(),
        "loading:0\r\n".into(),
        "role:master\r\n".into(),
        "used_cpu_sys:".into(),
        "db0:keys=1,expires=1,avg_ttl=0\r\n".into(),
    ] {
        assert!(all.contains(&field), "{field} missing");
    }
    let run_id = all.split("run_id:").nth(1).unwrap();
    assert!(run_id[..40].bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(run_id[40..].starts_with("\r\n"));
    let memory = c.call("INFO memory");
    assert!(memory.contains("# Memory\r\n") && !memory.contains("# Server"));
    let two = c.call("INFO server keyspace");
    assert!(two.contains("# Server") && two.contains("# Keyspace") && !two.contains("# Stats"));
    let headers = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(headers(&c.call("INFO everything")), headers(&all));
    assert_eq!(headers(&c.call("INFO all")), headers(&all));
    c.expect("INFO nosuchsection", "$0\r\n\r\n");
}

#[test]
fn command_introspection() {
    let server = common::start();
    let mut c = server.raw();
    let count: usize = c.call("COMMAND COUNT")[1..].trim().parse().unwrap();
    assert!(count > 60, "{count}");
    let list = c.call("COMMAND LIST");
    assert!(list.starts_with(&format!("*{count}\r\n")));
    let get_categories = categories(&mut c, "get");
    c.expect(
        "COMMAND INFO get",
        &format!("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n{get_categories}\r\n*0\r\n*0\r\n*0\r\n"),
    );
    c.expect("COMMAND INFO nosuch", "*1\r\n$-1\r\n");
    c.expect("COMMAND GETKEYS SET a b", "*1\r\n$1\r\na\r\n");
    c.expect(
        "COMMAND GETKEYS MSET a 1 b 2",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.expect(
        "COMMAND GETKEYS nosuch a",
        "-ERR Invalid command specified\r\n",
    );
    c.expect(
        "COMMAND GETKEYS PING x",
        "-ERR The command has no key arguments\r\n",
    );
    c.expect(
        "COMMAND GETKEYS GET a b",
        "-ERR Invalid number of arguments specified for command\r\n",
    );
    c.expect(
        "COMMAND GETKEYS GET",
        "-ERR wrong number of arguments for 'command|getkeys' command\r\n",
    );
    let filtered = c.call("COMMAND LIST FILTERBY PATTERN getr*");
    assert_eq!(filtered, "*1\r\n$8\r\ngetrange\r\n");
    c.expect("COMMAND LIST FILTERBY foo x", "-ERR syntax error\r\n");
    assert!(c
        .call("COMMAND DOCS get")
        .starts_with("*2\r\n$3\r\nget\r\n*6\r\n$7\r\nsummary\r\n"));
    assert!(c
        .call("COMMAND HELP")
        .starts_with("*19\r\n+COMMAND <subcommand>"));
    c.expect(
        "COMMAND foo",
        "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n",
    );
}

/// The categories part of `COMMAND INFO name`, as the table lists them.
fn categories(c: &mut common::Raw, name: &str) -> String {
    let reply = c.call(&format!("COMMAND INFO {name}"));
    let start = reply.find("+@").unwrap();
    let end = reply[start..].find("\r\n*0").unwrap() + start;
    reply[start..end].to_string()
}

#[test]
fn debug_hooks() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("SET k hello", "+OK\r\n");
    let line = c.call("DEBUG OBJECT k");
    assert!(line.starts_with("+Value at:0x"), "{line}");
    assert!(
        line.contains(" refcount:1 encoding:embstr serializedlength:"),
        "{line}"
    );
    assert!(line.ends_with(" lru_seconds_idle:0\r\n"), "{line}");
    c.expect("DEBUG OBJECT nope", "-ERR no such key\r\n");
    c.expect(
        "DEBUG JMAP",
        "-ERR unknown subcommand or wrong number of arguments for 'JMAP'. Try DEBUG HELP.\r\n",
    );
    c.expect(
        "DEBUG SLEEP",
        "-ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.\r\n",
    );
    c.expect("DEBUG SLEEP 0", "+OK\r\n");
    let started = Instant::now();
    c.expect("DEBUG SLEEP 0.2", "+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // With active expiry off, a due key stays stored until touched.
    c.expect("DEBUG SET-ACTIVE-EXPIRE 0", "+OK\r\n");
    c.expect("SET gone v PX 10", "+OK\r\n");
    server.advance_past_ms(10);
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.call("INFO keyspace").contains("db0:keys=2,"));
    c.expect("DEBUG SET-ACTIVE-EXPIRE 1", "+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.call("INFO keyspace").contains("db0:keys=2,") {
        assert!(Instant::now() < deadline, "active expiry did not resume");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn save_role_memory() {
    let server = common::start();
    let mut c = server.raw();
    let before: i64 = c.call("LASTSAVE")[1..].trim().parse().unwrap();
    c.expect("SAVE", "+OK\r\n");
    c.expect("BGSAVE", "+Background saving started\r\n");
    c.expect("BGSAVE SCHEDULE", "+Background saving started\r\n");
    c.expect("BGSAVE foo", "-ERR syntax error\r\n");
    let after: i64 = c.call("LASTSAVE")[1..].trim().parse().unwrap();
    assert!(after >= before);
    c.expect("ROLE", "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    c.expect("SET k v", "+OK\r\n");
    let usage = c.call("MEMORY USAGE k");
    assert!(usage.starts_with(':'), "{usage}");
    c.expect("MEMORY USAGE nope", "$-1\r\n");
    c.expect(
        "MEMORY USAGE k SAMPLES x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect(
        "MEMORY USAGE",
        "-ERR wrong number of arguments for 'memory|usage' command\r\n",
    );
    c.expect(
        "MEMORY foo",
        "-ERR unknown subcommand 'foo'. Try MEMORY HELP.\r\n",
    );
}
