//! The `LOCK.*` commands end to end over raw RESP: exact replies, FIFO waits, grants at expiry,
//! fencing tokens across grants and restarts, reentrancy, interop with plain `SET NX PX` locks,
//! and clients that leave while waiting.
//!
//! Time is the manual clock wherever the server's notion of time is what matters; real time
//! only for `WAIT` (which is real time by design) and for the waiter's deadline timer, with
//! small bounds.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{encode, Raw};
use latchkey::{BackgroundServer, Config, Server};

/// The integer of a `:n` reply.
fn integer(reply: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(reply);
    text.strip_prefix(':')
        .and_then(|t| t.strip_suffix("\r\n"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {text:?}"))
}

/// Sends a command given as space-separated words without reading its reply.
fn send(c: &mut Raw, line: &str) {
    let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    c.send(&encode(&args));
}

/// Acquires and returns the fencing token.
fn acquire(c: &mut Raw, line: &str) -> u64 {
    integer(c.call(line).as_bytes())
}

/// The number of waiters `LOCK.INFO` reports on `key` (0 when the key is absent).
fn waiters(c: &mut Raw, key: &str) -> u64 {
    let reply = c.call(&format!("LOCK.INFO {key}"));
    reply
        .split_once("$7\r\nwaiters\r\n")
        .map_or(0, |(_, rest)| integer(rest.as_bytes()))
}

/// Waits (bounded) until `key` has `count` live waiters: the server queues a waiter
/// asynchronously after reading its command.
fn until_waiters(c: &mut Raw, key: &str, count: u64) {
    for _ in 0..1000 {
        if waiters(c, key) == count {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("{key} never had {count} waiters");
}

/// A server on the real clock (for the waiter's deadline timer), with active expiry off so that
/// only the timer can grant at a deadline.
fn start_real_clock() -> BackgroundServer {
    let config = Config {
        port: 0,
        bind: "127.0.0.1".into(),
        ..Config::default()
    };
    let server = Server::new(config)
        .start_background()
        .expect("server starts");
    server
        .shared()
        .expiry
        .enabled
        .store(false, Ordering::SeqCst);
    server
}

#[test]
fn acquire_replies_and_the_lock_is_a_plain_key() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let first = acquire(&mut a, "LOCK.ACQUIRE lock tok-a PX 30000");
    a.expect("GET lock", "$5\r\ntok-a\r\n");
    a.expect("PTTL lock", ":30000\r\n");
    a.expect("TYPE lock", "+string\r\n");
    b.expect("LOCK.ACQUIRE lock tok-b PX 30000", "$-1\r\n");
    b.expect("LOCK.ACQUIRE lock tok-b PX 30000 WAIT 0", "$-1\r\n");
    assert!(b.call("HELLO 3").starts_with('%'));
    b.expect("LOCK.ACQUIRE lock tok-b PX 30000", "_\r\n");
    b.expect("LOCK.RELEASE lock tok-b", ":0\r\n");
    b.expect("LOCK.RELEASE missing tok-b", ":0\r\n");
    a.expect(
        "LOCK.INFO lock",
        &format!(
            "*10\r\n$5\r\ntoken\r\n$5\r\ntok-a\r\n$6\r\nttl_ms\r\n:30000\r\n\
             $13\r\nfencing_token\r\n:{first}\r\n$10\r\nhold_count\r\n:1\r\n\
             $7\r\nwaiters\r\n:0\r\n"
        ),
    );
    b.expect(
        "LOCK.INFO lock",
        &format!(
            "%5\r\n$5\r\ntoken\r\n$5\r\ntok-a\r\n$6\r\nttl_ms\r\n:30000\r\n\
             $13\r\nfencing_token\r\n:{first}\r\n$10\r\nhold_count\r\n:1\r\n\
             $7\r\nwaiters\r\n:0\r\n"
        ),
    );
    b.expect("LOCK.INFO missing", "_\r\n");
    server.advance_ms(10_000);
    a.expect("LOCK.EXTEND lock tok-b PX 30000", ":0\r\n");
    a.expect("LOCK.EXTEND lock tok-a PX 30000", ":1\r\n");
    a.expect("PTTL lock", ":30000\r\n");
    a.expect("LOCK.RELEASE lock tok-a", ":1\r\n");
    a.expect("EXISTS lock", ":0\r\n");
    a.expect("LOCK.RELEASE lock tok-a", ":0\r\n");
    let second = acquire(&mut b, "lock.acquire lock tok-b px 1000");
    assert!(second > first);
}

#[test]
fn errors_in_redis_style() {
    let server = common::start();
    let mut c = server.raw();
    for (line, reply) in [
        (
            "LOCK.ACQUIRE k t",
            "-ERR wrong number of arguments for 'lock.acquire' command\r\n",
        ),
        ("LOCK.ACQUIRE k t WAIT 10", "-ERR syntax error\r\n"),
        (
            "LOCK.ACQUIRE k t REENTRANT REENTRANT",
            "-ERR syntax error\r\n",
        ),
        ("LOCK.ACQUIRE k t PX 10 PX 10", "-ERR syntax error\r\n"),
        ("LOCK.ACQUIRE k t PX 10 WAIT", "-ERR syntax error\r\n"),
        (
            "LOCK.ACQUIRE k t PX 10 WAIT 1 WAIT 1",
            "-ERR syntax error\r\n",
        ),
        ("LOCK.ACQUIRE k t PX 10 NX", "-ERR syntax error\r\n"),
        ("LOCK.ACQUIRE k t EX 10 PX", "-ERR syntax error\r\n"),
        (
            "LOCK.ACQUIRE k t PX ten",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "LOCK.ACQUIRE k t PX 0",
            "-ERR invalid expire time in 'lock.acquire' command\r\n",
        ),
        (
            "LOCK.ACQUIRE k t PX -5",
            "-ERR invalid expire time in 'lock.acquire' command\r\n",
        ),
        (
            "LOCK.ACQUIRE k t PX 9223372036854775807",
            "-ERR invalid expire time in 'lock.acquire' command\r\n",
        ),
        (
            "LOCK.ACQUIRE k t PX 10 WAIT 1.5",
            "-ERR timeout is not an integer or out of range\r\n",
        ),
        (
            "LOCK.ACQUIRE k t PX 10 WAIT -1",
            "-ERR timeout is negative\r\n",
        ),
        (
            "LOCK.RELEASE k",
            "-ERR wrong number of arguments for 'lock.release' command\r\n",
        ),
        (
            "LOCK.EXTEND k t 100",
            "-ERR wrong number of arguments for 'lock.extend' command\r\n",
        ),
        ("LOCK.EXTEND k t EX 100", "-ERR syntax error\r\n"),
        (
            "LOCK.EXTEND k t PX 0",
            "-ERR invalid expire time in 'lock.extend' command\r\n",
        ),
        (
            "LOCK.INFO",
            "-ERR wrong number of arguments for 'lock.info' command\r\n",
        ),
        ("LOCK.LIST a b", "-ERR syntax error\r\n"),
    ] {
        c.expect(line, reply);
    }
    // None of them took the lock.
    c.expect("EXISTS k", ":0\r\n");
    // Options in any order and case.
    assert!(acquire(&mut c, "LOCK.ACQUIRE k t reentrant wait 10 Px 100") > 0);
}

#[test]
fn waiters_are_granted_in_arrival_order() {
    let server = common::start();
    let mut admin = server.raw();
    let mut holder = server.raw();
    let mut tokens = vec![acquire(&mut holder, "LOCK.ACQUIRE q w0 PX 60000")];
    let mut waiting: Vec<Raw> = Vec::new();
    for i in 1..=4 {
        let mut c = server.raw();
        send(&mut c, &format!("LOCK.ACQUIRE q w{i} PX 60000 WAIT 10000"));
        until_waiters(&mut admin, "q", i);
        waiting.push(c);
    }
    let mut current = holder;
    for (i, mut next) in waiting.into_iter().enumerate() {
        let i = i + 1;
        current.expect(&format!("LOCK.RELEASE q w{}", i - 1), ":1\r\n");
        tokens.push(integer(&next.read_reply()));
        admin.expect("GET q", &format!("$2\r\nw{i}\r\n"));
        assert_eq!(waiters(&mut admin, "q"), 4 - i as u64);
        current = next;
    }
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
}

#[test]
fn no_two_holders_at_once_under_many_waiters() {
    const CLIENTS: usize = 16;
    const ROUNDS: usize = 20;
    let server = common::start();
    let addr = server.server.local_addr();
    let inside = Arc::new(AtomicUsize::new(0));
    let grants = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (inside, grants) = (inside.clone(), grants.clone());
            std::thread::spawn(move || {
                let mut c = Raw::connect(addr);
                let token = format!("t{client}");
                for _ in 0..ROUNDS {
                    let fencing = acquire(
                        &mut c,
                        &format!("LOCK.ACQUIRE shared {token} PX 60000 WAIT 10000"),
                    );
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    c.expect("GET shared", &format!("${}\r\n{token}\r\n", token.len()));
                    grants.lock().unwrap().push(fencing);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    c.expect(&format!("LOCK.RELEASE shared {token}"), ":1\r\n");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client thread");
    }
    let grants = grants.lock().unwrap();
    assert_eq!(grants.len(), CLIENTS * ROUNDS);
    // Recorded while holding the lock, so in grant order: strictly increasing.
    assert!(grants.windows(2).all(|w| w[0] < w[1]));
    server.raw().expect("EXISTS shared", ":0\r\n");
}

#[test]
fn granted_exactly_at_the_holders_deadline() {
    let server = common::start();
    server
        .server
        .shared()
        .expiry
        .enabled
        .store(false, Ordering::SeqCst);
    let mut admin = server.raw();
    let mut holder = server.raw();
    let mut waiter = server.raw();
    let first = acquire(&mut holder, "LOCK.ACQUIRE e holder PX 100");
    send(&mut waiter, "LOCK.ACQUIRE e waiter PX 5000 WAIT 10000");
    until_waiters(&mut admin, "e", 1);
    server.advance_ms(99);
    admin.expect("GET e", "$6\r\nholder\r\n");
    server.advance_ms(1);
    admin.expect("GET e", "$6\r\nholder\r\n");
    server.advance_past_ms(0);
    // The first access after the deadline expires the key and grants the waiter at that
    // instant (the access itself saw the key gone): its lease is the full 5000 ms of the
    // manual clock.
    admin.expect("GET e", "$-1\r\n");
    admin.expect("GET e", "$6\r\nwaiter\r\n");
    assert!(integer(&waiter.read_reply()) > first);
    admin.expect("PTTL e", ":5000\r\n");
}

#[test]
fn the_waiters_timer_grants_at_the_deadline_without_any_access() {
    let server = start_real_clock();
    let mut admin = Raw::connect(server.local_addr());
    let mut holder = Raw::connect(server.local_addr());
    let mut waiter = Raw::connect(server.local_addr());
    let mut lateness = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        acquire(&mut holder, &format!("LOCK.ACQUIRE t h{round} PX 150"));
        send(
            &mut waiter,
            &format!("LOCK.ACQUIRE t w{round} PX 60000 WAIT 5000"),
        );
        let reply = waiter.read_reply();
        let elapsed = started.elapsed();
        assert!(reply.starts_with(b":"), "granted, not timed out: {reply:?}");
        // Never before the deadline (a millisecond of clock granularity aside).
        assert!(elapsed >= Duration::from_millis(148), "{elapsed:?}");
        // Active expiry is off: only the waiter's timer could grant before the wait ends.
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        lateness.push(elapsed.as_millis() as i64 - 150);
        admin.expect(&format!("LOCK.RELEASE t w{round}"), ":1\r\n");
    }
    eprintln!("grant after the holder's deadline, ms late: {lateness:?}");
}

#[test]
fn deadline_changes_move_the_waiters_timer() {
    let server = start_real_clock();
    let mut holder = Raw::connect(server.local_addr());
    let mut waiter = Raw::connect(server.local_addr());
    let mut admin = Raw::connect(server.local_addr());
    // Extended past the first deadline: no grant at the old one.
    let started = Instant::now();
    acquire(&mut holder, "LOCK.ACQUIRE d h PX 100");
    send(&mut waiter, "LOCK.ACQUIRE d w PX 60000 WAIT 5000");
    until_waiters(&mut admin, "d", 1);
    holder.expect("LOCK.EXTEND d h PX 400", ":1\r\n");
    let reply = waiter.read_reply();
    assert!(reply.starts_with(b":"), "{reply:?}");
    assert!(started.elapsed() >= Duration::from_millis(398));
    waiter.expect("LOCK.RELEASE d w", ":1\r\n");
    // Shortened with PEXPIRE: granted at the new, earlier deadline.
    let started = Instant::now();
    acquire(&mut holder, "LOCK.ACQUIRE d h PX 60000");
    send(&mut waiter, "LOCK.ACQUIRE d w PX 60000 WAIT 5000");
    until_waiters(&mut admin, "d", 1);
    holder.expect("PEXPIRE d 100", ":1\r\n");
    let reply = waiter.read_reply();
    assert!(reply.starts_with(b":"), "{reply:?}");
    assert!(started.elapsed() < Duration::from_millis(3000));
    admin.expect("GET d", "$1\r\nw\r\n");
}

#[test]
fn a_wait_that_runs_out_returns_null_and_leaves_the_queue() {
    let server = common::start();
    let mut admin = server.raw();
    let mut holder = server.raw();
    let mut quick = server.raw();
    let mut patient = server.raw();
    acquire(&mut holder, "LOCK.ACQUIRE w h PX 60000");
    let started = Instant::now();
    send(&mut quick, "LOCK.ACQUIRE w q PX 60000 WAIT 50");
    until_waiters(&mut admin, "w", 1);
    send(&mut patient, "LOCK.ACQUIRE w p PX 60000 WAIT 10000");
    assert_eq!(quick.read_reply(), b"$-1\r\n");
    assert!(started.elapsed() >= Duration::from_millis(50));
    until_waiters(&mut admin, "w", 1);
    holder.expect("LOCK.RELEASE w h", ":1\r\n");
    assert!(patient.read_reply().starts_with(b":"));
    admin.expect("GET w", "$1\r\np\r\n");
    // The client that gave up is usable at once.
    quick.expect("PING", "+PONG\r\n");
}

#[test]
fn a_waiter_that_disconnects_leaves_the_queue() {
    let server = common::start();
    let mut admin = server.raw();
    let mut holder = server.raw();
    acquire(&mut holder, "LOCK.ACQUIRE x h PX 60000");
    let mut gone = server.raw();
    send(&mut gone, "LOCK.ACQUIRE x gone PX 60000 WAIT 10000");
    until_waiters(&mut admin, "x", 1);
    let mut next = server.raw();
    send(&mut next, "LOCK.ACQUIRE x next PX 60000 WAIT 10000");
    until_waiters(&mut admin, "x", 2);
    drop(gone);
    until_waiters(&mut admin, "x", 1);
    holder.expect("LOCK.RELEASE x h", ":1\r\n");
    assert!(next.read_reply().starts_with(b":"));
    admin.expect("GET x", "$4\r\nnext\r\n");
}

#[test]
fn a_granted_waiter_whose_client_is_gone_does_not_strand_the_lock() {
    // The departed client's disconnect races the release. If the server learns of the
    // disconnect first, the departed waiter is skipped; if the grant was sent but not received,
    // it is taken back; either way the next waiter gets the lock at once. Only a grant whose
    // reply already left for the departed client stays with it, for its lease and no longer.
    let server = common::start();
    let mut admin = server.raw();
    let (mut handed_on, mut held_for_lease) = (0, 0);
    for round in 0..20 {
        let key = format!("g{round}");
        let mut holder = server.raw();
        acquire(&mut holder, &format!("LOCK.ACQUIRE {key} h PX 60000"));
        let mut gone = server.raw();
        send(
            &mut gone,
            &format!("LOCK.ACQUIRE {key} gone PX 1000 WAIT 10000"),
        );
        until_waiters(&mut admin, &key, 1);
        let mut next = server.raw();
        send(
            &mut next,
            &format!("LOCK.ACQUIRE {key} next PX 60000 WAIT 10000"),
        );
        until_waiters(&mut admin, &key, 2);
        let _ = gone.stream.shutdown(std::net::Shutdown::Both);
        holder.expect(&format!("LOCK.RELEASE {key} h"), ":1\r\n");
        let mut with_gone = true;
        for _ in 0..100 {
            with_gone = admin.call(&format!("GET {key}")) == "$4\r\ngone\r\n";
            if !with_gone {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if with_gone {
            held_for_lease += 1;
            server.advance_past_ms(1000);
            admin.call(&format!("EXISTS {key}"));
        } else {
            handed_on += 1;
        }
        assert!(next.read_reply().starts_with(b":"), "round {round}");
        admin.expect(&format!("GET {key}"), "$4\r\nnext\r\n");
    }
    eprintln!("handed on at once: {handed_on}, held for the departed lease: {held_for_lease}");
}

#[test]
fn fencing_tokens_increase_across_grants_and_restarts() {
    let mut last = 0;
    for _restart in 0..2 {
        let server = common::start();
        let mut c = server.raw();
        for i in 0..5 {
            let token = acquire(&mut c, &format!("LOCK.ACQUIRE f t{i} PX 1000"));
            assert!(token > last, "{token} after {last}");
            last = token;
            c.expect(&format!("LOCK.RELEASE f t{i}"), ":1\r\n");
        }
        // Expiry, DEL and waiters' grants all take new tokens too.
        let token = acquire(&mut c, "LOCK.ACQUIRE f x PX 10");
        assert!(token > last);
        server.advance_past_ms(10);
        let token2 = acquire(&mut c, "LOCK.ACQUIRE f y PX 10");
        assert!(token2 > token);
        c.expect("DEL f", ":1\r\n");
        last = acquire(&mut c, "LOCK.ACQUIRE f z PX 10");
        assert!(last > token2);
        drop(c);
        drop(server);
    }
}

#[test]
fn reentrant_acquires_are_counted() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let fencing = acquire(&mut a, "LOCK.ACQUIRE r owner PX 10000 REENTRANT");
    // Without REENTRANT the same owner is refused, like anyone else.
    a.expect("LOCK.ACQUIRE r owner PX 10000", "$-1\r\n");
    // With it: one more hold, the same fencing token, the lease never shortened.
    server.advance_ms(1000);
    assert_eq!(
        acquire(&mut a, "LOCK.ACQUIRE r owner PX 100 REENTRANT"),
        fencing
    );
    a.expect("PTTL r", ":9000\r\n");
    assert_eq!(
        acquire(&mut a, "LOCK.ACQUIRE r owner PX 20000 REENTRANT"),
        fencing
    );
    a.expect("PTTL r", ":20000\r\n");
    b.expect("LOCK.ACQUIRE r other PX 100 REENTRANT", "$-1\r\n");
    assert!(a
        .call("LOCK.INFO r")
        .contains("$10\r\nhold_count\r\n:3\r\n"));
    a.expect("LOCK.RELEASE r owner", ":1\r\n");
    a.expect("LOCK.RELEASE r owner", ":1\r\n");
    a.expect("GET r", "$5\r\nowner\r\n");
    assert!(a
        .call("LOCK.INFO r")
        .contains("$10\r\nhold_count\r\n:1\r\n"));
    a.expect("LOCK.RELEASE r owner", ":1\r\n");
    a.expect("EXISTS r", ":0\r\n");
    a.expect("LOCK.RELEASE r owner", ":0\r\n");
    // A reentrant acquire of a lock taken by SET NX counts the SET as the first hold.
    a.expect("SET r owner NX PX 10000", "+OK\r\n");
    let fencing = acquire(&mut a, "LOCK.ACQUIRE r owner PX 10000 REENTRANT");
    assert!(a
        .call("LOCK.INFO r")
        .contains(&format!(":{fencing}\r\n$10\r\nhold_count\r\n:2\r\n")));
}

#[test]
fn locks_taken_with_set_nx_are_the_same_locks() {
    let server = common::start();
    let mut admin = server.raw();
    let mut holder = server.raw();
    let mut waiter = server.raw();
    // Released by DELIFEQ, DEL, GETDEL, FLUSHDB, or its TTL running out: the waiter is granted.
    for release in [
        "DELIFEQ s tok",
        "DEL s",
        "GETDEL s",
        "DELEX s IFEQ tok",
        "FLUSHDB",
        "expiry",
    ] {
        holder.expect("SET s tok NX PX 1000", "+OK\r\n");
        admin.expect(
            "LOCK.INFO s",
            "*10\r\n$5\r\ntoken\r\n$3\r\ntok\r\n$6\r\nttl_ms\r\n:1000\r\n\
             $13\r\nfencing_token\r\n$-1\r\n$10\r\nhold_count\r\n:1\r\n\
             $7\r\nwaiters\r\n:0\r\n",
        );
        send(&mut waiter, "LOCK.ACQUIRE s w PX 60000 WAIT 10000");
        until_waiters(&mut admin, "s", 1);
        if release == "expiry" {
            server.advance_past_ms(1000);
            admin.call("EXISTS s");
        } else {
            holder.call(release);
        }
        assert!(waiter.read_reply().starts_with(b":"), "after {release}");
        admin.expect("GET s", "$1\r\nw\r\n");
        waiter.expect("LOCK.RELEASE s w", ":1\r\n");
    }
}

#[test]
fn lock_metadata_is_dropped_when_the_key_changes_hands() {
    let server = common::start();
    let mut c = server.raw();
    let fencing = acquire(&mut c, "LOCK.ACQUIRE m a PX 1000");
    // Extended by SET with the same token: the same holding.
    c.expect("SET m a XX PX 5000", "+OK\r\n");
    assert!(c.call("LOCK.INFO m").contains(&format!(":{fencing}\r\n")));
    // Overwritten by another value: a plain key now.
    c.expect("SET m b", "+OK\r\n");
    assert!(c.call("LOCK.INFO m").contains("fencing_token\r\n$-1\r\n"));
    // Deleted and taken again by SET NX: no metadata from the old grant.
    acquire(&mut c, "LOCK.ACQUIRE n a PX 1000");
    c.expect("DEL n", ":1\r\n");
    c.expect("SET n a NX PX 1000", "+OK\r\n");
    assert!(c.call("LOCK.INFO n").contains("fencing_token\r\n$-1\r\n"));
    // The release of a SET NX lock by LOCK.RELEASE works like DELIFEQ.
    c.expect("LOCK.RELEASE n a", ":1\r\n");
    c.expect("EXISTS n", ":0\r\n");
}

#[test]
fn lock_list_shows_held_and_waited_locks() {
    let server = common::start();
    let mut c = server.raw();
    let mut waiter = server.raw();
    acquire(&mut c, "LOCK.ACQUIRE job:1 a PX 1000");
    acquire(&mut c, "LOCK.ACQUIRE job:2 a PX 1000");
    acquire(&mut c, "LOCK.ACQUIRE other a PX 1000");
    c.expect("SET plain a NX PX 1000", "+OK\r\n");
    c.expect("SET waited a NX PX 1000", "+OK\r\n");
    send(&mut waiter, "LOCK.ACQUIRE waited b PX 1000 WAIT 10000");
    until_waiters(&mut c, "waited", 1);
    c.expect(
        "LOCK.LIST",
        "*4\r\n$5\r\njob:1\r\n$5\r\njob:2\r\n$5\r\nother\r\n$6\r\nwaited\r\n",
    );
    c.expect("LOCK.LIST job:*", "*2\r\n$5\r\njob:1\r\n$5\r\njob:2\r\n");
    c.expect("LOCK.RELEASE job:1 a", ":1\r\n");
    c.expect("SELECT 1", "+OK\r\n");
    c.expect("LOCK.LIST", "*0\r\n");
    c.expect("SELECT 0", "+OK\r\n");
    server.advance_past_ms(1000);
    c.expect("LOCK.LIST job:*", "*0\r\n");
    drop(waiter);
}

#[test]
fn lock_commands_are_in_the_command_table() {
    let server = common::start();
    let mut c = server.raw();
    c.expect(
        "COMMAND INFO lock.acquire",
        "*1\r\n*10\r\n$12\r\nlock.acquire\r\n:-5\r\n*3\r\n+write\r\n+denyoom\r\n+blocking\r\n\
         :1\r\n:1\r\n:1\r\n*4\r\n+@write\r\n+@string\r\n+@slow\r\n+@blocking\r\n*0\r\n*0\r\n*0\r\n",
    );
    let list = c.call("COMMAND LIST");
    for name in [
        "lock.acquire",
        "lock.release",
        "lock.extend",
        "lock.info",
        "lock.list",
    ] {
        assert!(list.contains(&format!("\r\n{name}\r\n")), "{name} listed");
    }
}

/// The release script of redis-py's `Lock`, byte for byte as redis-py sends it.
const REDIS_PY_RELEASE: &str = "
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    ";

/// Whether the server runs Lua scripts (`EVAL` is built separately; until it is present this
/// test only reports that it was skipped).
fn has_eval(c: &mut Raw) -> bool {
    let reply = c.cmd(&[b"EVAL", b"return 1", b"0"]);
    reply == b":1\r\n"
}

#[test]
fn a_redis_py_lock_holder_releasing_by_script_grants_the_waiter() {
    let server = common::start();
    let mut admin = server.raw();
    if !has_eval(&mut admin) {
        eprintln!("skipped: this build has no EVAL");
        return;
    }
    let mut holder = server.raw();
    let mut waiter = server.raw();
    // redis-py's acquire: SET name token NX PX timeout.
    holder.expect("SET pylock 0123456789abcdef NX PX 10000", "+OK\r\n");
    send(&mut waiter, "LOCK.ACQUIRE pylock w PX 10000 WAIT 10000");
    until_waiters(&mut admin, "pylock", 1);
    // A wrong token releases nothing.
    let reply = holder.cmd(&[
        b"EVAL",
        REDIS_PY_RELEASE.as_bytes(),
        b"1",
        b"pylock",
        b"fedcba9876543210",
    ]);
    assert_eq!(reply, b":0\r\n");
    let reply = holder.cmd(&[
        b"EVAL",
        REDIS_PY_RELEASE.as_bytes(),
        b"1",
        b"pylock",
        b"0123456789abcdef",
    ]);
    assert_eq!(reply, b":1\r\n");
    assert!(waiter.read_reply().starts_with(b":"));
    admin.expect("GET pylock", "$1\r\nw\r\n");
    // Inside a script LOCK.ACQUIRE never blocks: WAIT acts as zero.
    let reply = holder.cmd(&[
        b"EVAL",
        b"return redis.call('LOCK.ACQUIRE', KEYS[1], 'x', 'PX', '100', 'WAIT', '5000')",
        b"1",
        b"pylock",
    ]);
    assert_eq!(reply, b"$-1\r\n");
}

/// The README's Rust example, run: the `redis` crate over RESP2 and RESP3.
#[test]
fn the_redis_crate_example_from_the_readme() {
    let server = common::start();
    for protocol in ["resp2", "resp3"] {
        let url = format!("{}?protocol={protocol}", server.url());
        let client = redis::Client::open(url).expect("client");
        let mut con = client.get_connection().expect("connect");
        let key = format!("orders-{protocol}");
        let token = "worker-7f3a";
        // Take the lock for 30 s, waiting up to 5 s in line if it is held.
        let fencing: Option<u64> = redis::cmd("LOCK.ACQUIRE")
            .arg(&key)
            .arg(token)
            .arg("PX")
            .arg(30_000)
            .arg("WAIT")
            .arg(5_000)
            .query(&mut con)
            .expect("acquire");
        let fencing = fencing.expect("granted");
        let info: std::collections::HashMap<String, redis::Value> = redis::cmd("LOCK.INFO")
            .arg(&key)
            .query(&mut con)
            .expect("info");
        assert_eq!(
            info.get("fencing_token"),
            Some(&redis::Value::Int(fencing as i64))
        );
        assert_eq!(info.get("hold_count"), Some(&redis::Value::Int(1)));
        let busy: Option<u64> = redis::cmd("LOCK.ACQUIRE")
            .arg(&key)
            .arg("someone-else")
            .arg("PX")
            .arg(30_000)
            .query(&mut con)
            .expect("busy");
        assert_eq!(busy, None);
        let released: bool = redis::cmd("LOCK.RELEASE")
            .arg(&key)
            .arg(token)
            .query(&mut con)
            .expect("release");
        assert!(released);
    }
}

#[test]
fn a_release_pipelined_with_the_next_acquire_passes_the_lock_in_order() {
    let server = common::start();
    let mut admin = server.raw();
    let mut a = server.raw();
    let mut b = server.raw();
    acquire(&mut a, "LOCK.ACQUIRE p a PX 60000");
    send(&mut b, "LOCK.ACQUIRE p b PX 60000 WAIT 10000");
    until_waiters(&mut admin, "p", 1);
    for _ in 0..3 {
        // The holder releases and asks again in one write: the waiter gets the lock, and the
        // holder's new acquire queues behind it.
        let mut both = encode(&[&b"LOCK.RELEASE"[..], b"p", b"a"]);
        both.extend(encode(&[
            &b"LOCK.ACQUIRE"[..],
            b"p",
            b"a",
            b"PX",
            b"60000",
            b"WAIT",
            b"10000",
        ]));
        a.send(&both);
        assert_eq!(a.read_reply(), b":1\r\n");
        assert!(b.read_reply().starts_with(b":"));
        admin.expect("GET p", "$1\r\nb\r\n");
        until_waiters(&mut admin, "p", 1);
        // And back the other way.
        let mut both = encode(&[&b"LOCK.RELEASE"[..], b"p", b"b"]);
        both.extend(encode(&[
            &b"LOCK.ACQUIRE"[..],
            b"p",
            b"b",
            b"PX",
            b"60000",
            b"WAIT",
            b"10000",
        ]));
        b.send(&both);
        assert_eq!(b.read_reply(), b":1\r\n");
        assert!(a.read_reply().starts_with(b":"));
        admin.expect("GET p", "$1\r\na\r\n");
        until_waiters(&mut admin, "p", 1);
    }
}

#[test]
fn a_wait_on_a_lock_without_a_ttl_lasts_its_wait_time() {
    // The holder has no deadline: the waiter's one timer is its wait's end.
    let server = common::start();
    let mut admin = server.raw();
    let mut holder = server.raw();
    let mut waiter = server.raw();
    holder.expect("SET forever h", "+OK\r\n");
    let started = Instant::now();
    waiter.expect("LOCK.ACQUIRE forever w PX 1000 WAIT 60", "$-1\r\n");
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(waiters(&mut admin, "forever"), 0);
    send(&mut waiter, "LOCK.ACQUIRE forever w PX 1000 WAIT 10000");
    until_waiters(&mut admin, "forever", 1);
    holder.expect("DEL forever", ":1\r\n");
    assert!(waiter.read_reply().starts_with(b":"));
    admin.expect("GET forever", "$1\r\nw\r\n");
}
