//! Transactions over raw RESP: queued replies, `EXECABORT`, `DISCARD`, the misuse errors,
//! `WATCH` aborting on another client's write, on expiry and on a flush, and `EXEC` being
//! atomic for other clients.

mod common;

#[test]
fn multi_exec_runs_the_queue_in_order() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("MULTI", "+OK\r\n");
    c.expect("SET lock tok", "+QUEUED\r\n");
    c.expect("GET lock", "+QUEUED\r\n");
    c.expect("INCR lock", "+QUEUED\r\n");
    c.expect("PEXPIRE lock 5000", "+QUEUED\r\n");
    c.expect(
        "EXEC",
        "*4\r\n+OK\r\n$3\r\ntok\r\n-ERR value is not an integer or out of range\r\n:1\r\n",
    );
    c.expect("PTTL lock", ":5000\r\n");
    // An empty transaction.
    c.expect("MULTI", "+OK\r\n");
    c.expect("EXEC", "*0\r\n");
}

#[test]
fn misuse_errors() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("EXEC", "-ERR EXEC without MULTI\r\n");
    c.expect("DISCARD", "-ERR DISCARD without MULTI\r\n");
    c.expect("MULTI", "+OK\r\n");
    // These errors do not doom the transaction.
    c.expect("MULTI", "-ERR MULTI calls can not be nested\r\n");
    c.expect("WATCH k", "-ERR WATCH inside MULTI is not allowed\r\n");
    c.expect("SET k v", "+QUEUED\r\n");
    c.expect("EXEC", "*1\r\n+OK\r\n");
}

#[test]
fn queueing_errors_abort_exec() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("MULTI", "+OK\r\n");
    c.expect(
        "SET k",
        "-ERR wrong number of arguments for 'set' command\r\n",
    );
    c.expect(
        "NOSUCH x",
        "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
    );
    c.expect("SET k v", "+QUEUED\r\n");
    c.expect(
        "EXEC",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    c.expect("EXEC", "-ERR EXEC without MULTI\r\n");
    c.expect("GET k", "$-1\r\n");
}

#[test]
fn discard_drops_the_queue() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("MULTI", "+OK\r\n");
    c.expect("SET k v", "+QUEUED\r\n");
    c.expect("DISCARD", "+OK\r\n");
    c.expect("GET k", "$-1\r\n");
    // RESET drops a transaction too.
    c.expect("MULTI", "+OK\r\n");
    c.expect("SET k v", "+QUEUED\r\n");
    c.expect("RESET", "+RESET\r\n");
    c.expect("EXEC", "-ERR EXEC without MULTI\r\n");
    c.expect("GET k", "$-1\r\n");
}

#[test]
fn watch_aborts_on_another_clients_write() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    a.expect("SET counter 1", "+OK\r\n");
    a.expect("WATCH counter", "+OK\r\n");
    b.expect("SET counter 2", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("SET counter 10", "+QUEUED\r\n");
    a.expect("EXEC", "*-1\r\n");
    a.expect("GET counter", "$1\r\n2\r\n");
    // Reads by others do not abort; EXEC ends the watch.
    a.expect("WATCH counter", "+OK\r\n");
    b.expect("GET counter", "$1\r\n2\r\n");
    b.expect("DEL missing", ":0\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("INCR counter", "+QUEUED\r\n");
    a.expect("EXEC", "*1\r\n:3\r\n");
    b.expect("SET counter 5", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("INCR counter", "+QUEUED\r\n");
    a.expect("EXEC", "*1\r\n:6\r\n");
    // UNWATCH forgets; a watched key created by another client aborts.
    a.expect("WATCH counter", "+OK\r\n");
    a.expect("UNWATCH", "+OK\r\n");
    b.expect("SET counter 7", "+OK\r\n");
    a.expect("WATCH fresh", "+OK\r\n");
    b.expect("SET fresh 1", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("GET fresh", "+QUEUED\r\n");
    a.expect("EXEC", "*-1\r\n");
}

#[test]
fn watched_lock_key_expiring_aborts_exec() {
    let server = common::start();
    let mut a = server.raw();
    a.expect("SET lock tok-a PX 1000", "+OK\r\n");
    a.expect("WATCH lock", "+OK\r\n");
    server.advance_past_ms(1000);
    a.expect("MULTI", "+OK\r\n");
    a.expect("SET lock tok-a PX 1000", "+QUEUED\r\n");
    a.expect("EXEC", "*-1\r\n");
    a.expect("GET lock", "$-1\r\n");
    // A key that had already expired when watched is not a change.
    a.expect("SET lock tok-a PX 1000", "+OK\r\n");
    server.advance_past_ms(1000);
    a.expect("WATCH lock", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("SET lock tok-b PX 1000", "+QUEUED\r\n");
    a.expect("EXEC", "*1\r\n+OK\r\n");
    // RESP3: the aborted EXEC is a null.
    a.send(b"HELLO 3\r\n");
    a.read_reply();
    a.expect("WATCH lock", "+OK\r\n");
    server.advance_past_ms(1000);
    a.expect("MULTI", "+OK\r\n");
    a.expect("GET lock", "+QUEUED\r\n");
    a.expect("EXEC", "_\r\n");
}

#[test]
fn flushall_touches_watched_keys_that_existed() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    a.expect("SET k v", "+OK\r\n");
    a.expect("WATCH k nothing", "+OK\r\n");
    b.expect("FLUSHALL", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("PING", "+QUEUED\r\n");
    a.expect("EXEC", "*-1\r\n");
    a.expect("WATCH nothing", "+OK\r\n");
    b.expect("FLUSHDB", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("PING", "+QUEUED\r\n");
    a.expect("EXEC", "*1\r\n+PONG\r\n");
}

#[test]
fn watch_in_another_database() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    a.expect("SELECT 2", "+OK\r\n");
    a.expect("WATCH k", "+OK\r\n");
    b.expect("SET k v", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("SET k mine", "+QUEUED\r\n");
    a.expect("EXEC", "*1\r\n+OK\r\n");
    a.expect("WATCH k", "+OK\r\n");
    b.expect("SELECT 2", "+OK\r\n");
    b.expect("SET k theirs", "+OK\r\n");
    a.expect("MULTI", "+OK\r\n");
    a.expect("SET k mine", "+QUEUED\r\n");
    a.expect("EXEC", "*-1\r\n");
}

#[test]
fn exec_is_atomic_for_other_clients() {
    let server = common::start();
    let addr = server.server.local_addr();
    let mut setup = server.raw();
    setup.expect("MSET x 0 y 0", "+OK\r\n");
    let writer = std::thread::spawn(move || {
        let mut c = common::Raw::connect(addr);
        for _ in 0..300 {
            c.send(b"MULTI\r\nINCR x\r\nINCR y\r\nEXEC\r\n");
            for _ in 0..4 {
                c.read_reply();
            }
        }
    });
    // Whatever moment a reader picks, it never sees one increment without the other.
    let mut reader = server.raw();
    for _ in 0..300 {
        let reply = reader.call("MGET x y");
        let values: Vec<&str> = reply
            .split("\r\n")
            .filter(|l| !l.starts_with(['*', '$']))
            .collect();
        assert_eq!(values[0], values[1], "{reply:?}");
    }
    writer.join().unwrap();
    reader.expect("MGET x y", "*2\r\n$3\r\n300\r\n$3\r\n300\r\n");
}

#[test]
fn watch_released_when_client_disconnects() {
    let server = common::start();
    let mut a = server.raw();
    a.expect("WATCH k", "+OK\r\n");
    a.expect("QUIT", "+OK\r\n");
    assert!(a.is_closed());
    // The key's shard forgets the watcher (nothing observable breaks; writes go on).
    let mut b = server.raw();
    b.expect("SET k v", "+OK\r\n");
    b.expect("WATCH k", "+OK\r\n");
    b.expect("MULTI", "+OK\r\n");
    b.expect("GET k", "+QUEUED\r\n");
    b.expect("EXEC", "*1\r\n$1\r\nv\r\n");
}

#[test]
fn redis_crate_pipelines_and_optimistic_transactions() {
    let server = common::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let (set, value): (String, String) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("lock")
        .arg("tok")
        .arg("PX")
        .arg(30000)
        .cmd("GET")
        .arg("lock")
        .query(&mut con)
        .unwrap();
    assert_eq!((set.as_str(), value.as_str()), ("OK", "tok"));
    // The classic WATCH/MULTI/EXEC retry loop: one retry after a competing write.
    let mut other = client.get_connection().unwrap();
    let mut attempts = 0;
    let (fence,): (i64,) = redis::transaction(&mut con, &["fence"], |con, pipe| {
        attempts += 1;
        let current: Option<i64> = redis::cmd("GET").arg("fence").query(con)?;
        if attempts == 1 {
            redis::cmd("SET")
                .arg("fence")
                .arg(100)
                .query::<()>(&mut other)?;
        }
        pipe.cmd("SET")
            .arg("fence")
            .arg(current.unwrap_or(0) + 1)
            .ignore()
            .cmd("GET")
            .arg("fence")
            .query(con)
    })
    .unwrap();
    assert_eq!((attempts, fence), (2, 101));
}
