//! Lists: exact replies of every list command, WRONGTYPE both ways, and the blocking pops
//! across connections (wake-up, FIFO order, timeout, a waiter that disconnects).

mod common;

use common::{encode, Raw};

/// Sends `args` after an `ECHO` in one write and waits for the echo: the server executes a
/// connection's requests in order and registers a blocking command before it writes anything
/// queued before it, so once the echo is back the command is queued as a waiter.
fn send_blocking(c: &mut Raw, args: &[&[u8]]) {
    let mut request = encode(&[b"ECHO", b"queued"]);
    request.extend_from_slice(&encode(args));
    c.send(&request);
    assert_eq!(c.read_reply(), b"$6\r\nqueued\r\n");
}

#[test]
fn push_pop_and_ranges() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("LPUSH l a b c", ":3\r\n");
    c.expect("RPUSH l d", ":4\r\n");
    c.expect(
        "LRANGE l 0 -1",
        "*4\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nd\r\n",
    );
    c.expect("LRANGE l -2 100", "*2\r\n$1\r\na\r\n$1\r\nd\r\n");
    c.expect("LRANGE l 3 1", "*0\r\n");
    c.expect("LRANGE nokey 0 -1", "*0\r\n");
    c.expect("LLEN l", ":4\r\n");
    c.expect("LLEN nokey", ":0\r\n");
    c.expect("LINDEX l -1", "$1\r\nd\r\n");
    c.expect("LINDEX l 9", "$-1\r\n");
    c.expect(
        "LINDEX l x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect("LPOP l", "$1\r\nc\r\n");
    c.expect("RPOP l", "$1\r\nd\r\n");
    c.expect("LPUSHX nokey a", ":0\r\n");
    c.expect("RPUSHX l z", ":3\r\n");
    c.expect("EXISTS nokey", ":0\r\n");
    c.expect("TYPE l", "+list\r\n");
    c.expect(
        "LPUSH",
        "-ERR wrong number of arguments for 'lpush' command\r\n",
    );
}

#[test]
fn pop_counts() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("RPUSH l a b c", ":3\r\n");
    c.expect("LPOP l 0", "*0\r\n");
    c.expect(
        "LPOP l -1",
        "-ERR value is out of range, must be positive\r\n",
    );
    c.expect(
        "LPOP l x",
        "-ERR value is out of range, must be positive\r\n",
    );
    c.expect("RPOP l 2", "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
    c.expect("LPOP l 5", "*1\r\n$1\r\na\r\n");
    // The emptied list is gone.
    c.expect("EXISTS l", ":0\r\n");
    c.expect("LPOP l 2", "*-1\r\n");
    c.expect("LPOP l", "$-1\r\n");
    c.expect(
        "LPOP l 1 2",
        "-ERR wrong number of arguments for 'lpop' command\r\n",
    );
    let _ = c.call("HELLO 3");
    c.expect("LPOP l 2", "_\r\n");
}

#[test]
fn set_rem_trim_pos_insert() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("RPUSH l a b a c a", ":5\r\n");
    c.expect("LSET l 1 B", "+OK\r\n");
    c.expect("LSET l -1 Z", "+OK\r\n");
    c.expect("LSET l 5 x", "-ERR index out of range\r\n");
    c.expect("LSET nokey 0 x", "-ERR no such key\r\n");
    c.expect(
        "LRANGE l 0 -1",
        "*5\r\n$1\r\na\r\n$1\r\nB\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nZ\r\n",
    );
    c.expect("RPUSH l a", ":6\r\n");
    c.expect("LREM l -1 a", ":1\r\n");
    c.expect(
        "LRANGE l 0 -1",
        "*5\r\n$1\r\na\r\n$1\r\nB\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nZ\r\n",
    );
    c.expect("LREM l 1 a", ":1\r\n");
    c.expect("LREM l 0 zz", ":0\r\n");
    c.expect("LREM nokey 0 a", ":0\r\n");
    c.expect("LPOS l a", ":1\r\n");
    c.expect("LPOS l q", "$-1\r\n");
    c.expect("RPUSH l a a", ":6\r\n");
    c.expect("LPOS l a COUNT 0", "*3\r\n:1\r\n:4\r\n:5\r\n");
    c.expect("LPOS l a RANK -1 COUNT 2", "*2\r\n:5\r\n:4\r\n");
    c.expect("LPOS l a RANK 2", ":4\r\n");
    c.expect("LPOS l a MAXLEN 2 COUNT 0", "*1\r\n:1\r\n");
    c.expect("LPOS nokey a COUNT 0", "*0\r\n");
    c.expect(
        "LPOS l a RANK 0",
        "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n",
    );
    c.expect("LPOS l a COUNT -1", "-ERR COUNT can't be negative\r\n");
    c.expect("LPOS l a MAXLEN -1", "-ERR MAXLEN can't be negative\r\n");
    c.expect("LPOS l a FOO", "-ERR syntax error\r\n");
    c.expect("LINSERT l BEFORE B x", ":7\r\n");
    c.expect("LINSERT l after B y", ":8\r\n");
    c.expect("LINSERT l AFTER nothere y", ":-1\r\n");
    c.expect("LINSERT nokey AFTER a y", ":0\r\n");
    c.expect("LINSERT l middle a x", "-ERR syntax error\r\n");
    c.expect("LRANGE l 0 2", "*3\r\n$1\r\nx\r\n$1\r\nB\r\n$1\r\ny\r\n");
    c.expect("LTRIM l 1 2", "+OK\r\n");
    c.expect("LRANGE l 0 -1", "*2\r\n$1\r\nB\r\n$1\r\ny\r\n");
    c.expect("LTRIM l 5 10", "+OK\r\n");
    c.expect("EXISTS l", ":0\r\n");
    c.expect(
        "LTRIM l a 1",
        "-ERR value is not an integer or out of range\r\n",
    );
}

#[test]
fn move_between_lists() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("RPUSH src a b c", ":3\r\n");
    c.expect("LMOVE src dst LEFT RIGHT", "$1\r\na\r\n");
    c.expect("LMOVE src dst right left", "$1\r\nc\r\n");
    c.expect("LRANGE dst 0 -1", "*2\r\n$1\r\nc\r\n$1\r\na\r\n");
    c.expect("RPOPLPUSH src src", "$1\r\nb\r\n");
    c.expect("RPOPLPUSH src dst", "$1\r\nb\r\n");
    c.expect("EXISTS src", ":0\r\n");
    c.expect("RPOPLPUSH src dst", "$-1\r\n");
    c.expect("LMOVE src dst up LEFT", "-ERR syntax error\r\n");
    c.expect("SET str v", "+OK\r\n");
    c.expect(
        "LMOVE dst str LEFT LEFT",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    // Nothing moved.
    c.expect("LLEN dst", ":3\r\n");
    // An absent source answers nil before the destination's type is looked at.
    c.expect("LMOVE nokey str LEFT LEFT", "$-1\r\n");
}

#[test]
fn wrongtype_both_ways() {
    let server = common::start();
    let mut c = server.raw();
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    c.expect("SET s v", "+OK\r\n");
    for cmd in [
        "LPUSH s a",
        "RPUSH s a",
        "LPUSHX s a",
        "LPOP s",
        "RPOP s 2",
        "LLEN s",
        "LRANGE s 0 -1",
        "LINDEX s 0",
        "LSET s 0 a",
        "LREM s 0 a",
        "LTRIM s 0 1",
        "LPOS s a",
        "LINSERT s BEFORE a b",
        "BLPOP s 0",
        "BRPOP nokey s 0",
        "BLMOVE s d LEFT LEFT 0",
    ] {
        c.expect(cmd, wrong);
    }
    c.expect("RPUSH l a", ":1\r\n");
    for cmd in [
        "GET l",
        "INCR l",
        "STRLEN l",
        "GETRANGE l 0 1",
        "SET l v GET",
    ] {
        c.expect(cmd, wrong);
    }
    c.expect("MGET l s", "*2\r\n$-1\r\n$1\r\nv\r\n");
    c.expect("SET l v", "+OK\r\n");
    c.expect("TYPE l", "+string\r\n");
}

#[test]
fn blpop_returns_at_once_when_an_element_is_there() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("RPUSH b x", ":1\r\n");
    c.expect("BLPOP a b 0", "*2\r\n$1\r\nb\r\n$1\r\nx\r\n");
    c.expect("RPUSH b x y", ":2\r\n");
    c.expect("BRPOP b 1", "*2\r\n$1\r\nb\r\n$1\r\ny\r\n");
    c.expect(
        "BLPOP b x",
        "-ERR timeout is not a float or out of range\r\n",
    );
    c.expect("BLPOP b -1", "-ERR timeout is negative\r\n");
    c.expect("BLPOP b inf", "-ERR timeout is negative\r\n");
    c.expect(
        "BLPOP b",
        "-ERR wrong number of arguments for 'blpop' command\r\n",
    );
    c.expect("BLMOVE b d LEFT RIGHT 0", "$1\r\nx\r\n");
    c.expect("BLMOVE b d LEFT UP 0", "-ERR syntax error\r\n");
}

#[test]
fn blpop_woken_by_push_from_another_connection() {
    let server = common::start();
    let mut waiter = server.raw();
    let mut pusher = server.raw();
    send_blocking(&mut waiter, &[b"BLPOP", b"empty", b"queue", b"0"]);
    pusher.expect("LPUSH queue job", ":1\r\n");
    assert_eq!(waiter.read_reply(), b"*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n");
    // Popped for the waiter: nothing left behind.
    pusher.expect("EXISTS queue", ":0\r\n");
    // The connection works normally afterwards.
    waiter.expect("PING", "+PONG\r\n");
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let server = common::start();
    let mut first = server.raw();
    let mut second = server.raw();
    let mut pusher = server.raw();
    send_blocking(&mut first, &[b"BRPOP", b"q", b"0"]);
    send_blocking(&mut second, &[b"BRPOP", b"q", b"0"]);
    pusher.expect("RPUSH q one two three", ":3\r\n");
    // BRPOP pops from the tail; the first waiter is served first.
    assert_eq!(first.read_reply(), b"*2\r\n$1\r\nq\r\n$5\r\nthree\r\n");
    assert_eq!(second.read_reply(), b"*2\r\n$1\r\nq\r\n$3\r\ntwo\r\n");
    pusher.expect("LRANGE q 0 -1", "*1\r\n$3\r\none\r\n");
}

#[test]
fn a_waiter_on_several_keys_is_served_once() {
    let server = common::start();
    let mut waiter = server.raw();
    let mut pusher = server.raw();
    send_blocking(&mut waiter, &[b"BLPOP", b"a", b"b", b"0"]);
    pusher.expect("RPUSH b 1", ":1\r\n");
    assert_eq!(waiter.read_reply(), b"*2\r\n$1\r\nb\r\n$1\r\n1\r\n");
    pusher.expect("RPUSH a 2", ":1\r\n");
    pusher.expect("LLEN a", ":1\r\n");
}

#[test]
fn blpop_times_out_with_the_null_array() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("BLPOP nothing 0.05", "*-1\r\n");
    c.expect("BLMOVE nothing d LEFT LEFT 0.01", "*-1\r\n");
    let _ = c.call("HELLO 3");
    c.expect("BRPOP nothing 0.01", "_\r\n");
    // A push after the timeout stays in the list.
    c.expect("LPUSH nothing x", ":1\r\n");
    c.expect("LLEN nothing", ":1\r\n");
}

#[test]
fn a_disconnected_waiter_does_not_take_the_element() {
    let server = common::start();
    let mut gone = server.raw();
    let mut next = server.raw();
    let mut pusher = server.raw();
    pusher.expect("PING", "+PONG\r\n");
    send_blocking(&mut gone, &[b"BLPOP", b"q", b"0"]);
    send_blocking(&mut next, &[b"BLPOP", b"q", b"0"]);
    let clients = || server.server.shared().clients.lock().len();
    assert_eq!(clients(), 3);
    drop(gone);
    // Wait (bounded) until the server has seen the disconnection and ended that connection.
    for _ in 0..2000 {
        if clients() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(clients(), 2);
    pusher.expect("RPUSH q x", ":1\r\n");
    assert_eq!(next.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    pusher.expect("EXISTS q", ":0\r\n");
}

#[test]
fn blmove_waits_then_moves() {
    let server = common::start();
    let mut waiter = server.raw();
    let mut pusher = server.raw();
    send_blocking(
        &mut waiter,
        &[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"],
    );
    pusher.expect("RPUSH src a b", ":2\r\n");
    assert_eq!(waiter.read_reply(), b"$1\r\nb\r\n");
    pusher.expect("LRANGE src 0 -1", "*1\r\n$1\r\na\r\n");
    pusher.expect("LRANGE dst 0 -1", "*1\r\n$1\r\nb\r\n");
    send_blocking(&mut waiter, &[b"BRPOPLPUSH", b"empty", b"dst", b"0"]);
    pusher.expect("LPUSH empty c", ":1\r\n");
    assert_eq!(waiter.read_reply(), b"$1\r\nc\r\n");
    pusher.expect("LRANGE dst 0 -1", "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
}

#[test]
fn memory_accounts_for_lists() {
    let server = common::start();
    let mut c = server.raw();
    let used = |c: &mut Raw| -> usize {
        let info = c.call("INFO memory");
        let line = info
            .lines()
            .find(|l| l.starts_with("used_memory:"))
            .unwrap();
        line["used_memory:".len()..].trim().parse().unwrap()
    };
    let before = used(&mut c);
    let big = "x".repeat(10_000);
    for _ in 0..10 {
        c.cmd(&[b"RPUSH", b"l", big.as_bytes()]);
    }
    let after = used(&mut c);
    assert!(after >= before + 100_000, "{before} -> {after}");
    c.expect("DEL l", ":1\r\n");
    assert!(used(&mut c) < before + 1000);
}

/// Raw requests a raw client builds by hand still work (keys with spaces).
#[test]
fn binary_safe_elements() {
    let server = common::start();
    let mut c = server.raw();
    assert_eq!(c.cmd(&[b"RPUSH", b"k y", b"a\r\nb", b""]), b":2\r\n");
    assert_eq!(
        c.cmd(&[b"LRANGE", b"k y", b"0", b"-1"]),
        b"*2\r\n$4\r\na\r\nb\r\n$0\r\n\r\n"
    );
}

/// Inside a transaction a blocking pop never blocks: it pops what is there, or answers like an
/// expired timeout, and leaves no waiter behind. (Scripts may not run blocking pops at all:
/// they are `noscript`, as in Redis 7.)
#[test]
fn blocking_pops_inside_exec_do_not_block() {
    use std::sync::Arc;

    use bytes::Bytes;
    use latchkey::client::{Client, ClientInfo};
    use latchkey::command::{execute_nested, Ctx};
    use latchkey::db::ShardGuards;
    use latchkey::protocol::Reply;

    let server = common::start();
    let shared = server.server.shared().clone();
    let addr = server.server.local_addr();
    let mut client = Client::new(Arc::new(ClientInfo::new(999, addr, addr)), true);
    let run = |client: &mut Client, words: &[&str]| {
        let mut guards = ShardGuards::new(&shared.keyspace);
        let mut ctx = Ctx {
            shared: &shared,
            client,
            guards: &mut guards,
            now: shared.keyspace.now(),
            in_script: true,
            effects: Vec::new(),
        };
        let args: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        execute_nested(&mut ctx, latchkey::command::Caller::Exec, &args)
    };
    assert_eq!(run(&mut client, &["BLPOP", "q", "0"]), Reply::NilArray);
    assert_eq!(
        run(&mut client, &["BLMOVE", "q", "d", "LEFT", "LEFT", "0"]),
        Reply::NilArray
    );
    let mut c = server.raw();
    c.expect("RPUSH q a b", ":2\r\n");
    // Nobody was left waiting: the elements stay.
    c.expect("LLEN q", ":2\r\n");
    assert_eq!(
        run(&mut client, &["BRPOP", "q", "0"]),
        Reply::Array(vec![Reply::bulk("q"), Reply::bulk("b")])
    );
    c.expect("LRANGE q 0 -1", "*1\r\n$1\r\na\r\n");
}

/// Many pushers and many short-timeout waiters at once: every element is delivered exactly
/// once, including those served just as a waiter's timeout fires.
#[test]
fn concurrent_pushes_and_blocking_pops_lose_nothing() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let server = common::start();
    let addr = server.server.local_addr();
    let pushing = Arc::new(AtomicBool::new(true));
    let consumers: Vec<_> = (0..6)
        .map(|_| {
            let pushing = pushing.clone();
            std::thread::spawn(move || {
                let mut c = Raw::connect(addr);
                let mut got = Vec::new();
                for _ in 0..100_000 {
                    let still_pushing = pushing.load(Ordering::SeqCst);
                    let reply = c.cmd(&[b"BLPOP", b"q", b"0.01"]);
                    if reply == b"*-1\r\n" {
                        if !still_pushing {
                            break;
                        }
                        continue;
                    }
                    let text = String::from_utf8(reply).unwrap();
                    got.push(text.rsplit("\r\n").nth(1).unwrap().to_string());
                }
                got
            })
        })
        .collect();
    let pushers: Vec<_> = (0..4)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(addr);
                for i in 0..200 {
                    let item = format!("p{p}-{i}");
                    let reply = c.cmd(&[b"RPUSH", b"q", item.as_bytes()]);
                    assert!(reply.starts_with(b":"));
                }
            })
        })
        .collect();
    for pusher in pushers {
        pusher.join().unwrap();
    }
    pushing.store(false, Ordering::SeqCst);
    let mut all: Vec<String> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let mut c = server.raw();
    let rest = String::from_utf8(c.cmd(&[b"LRANGE", b"q", b"0", b"-1"])).unwrap();
    all.extend(
        rest.split("\r\n")
            .filter(|l| l.starts_with('p'))
            .map(str::to_string),
    );
    assert_eq!(all.len(), 800, "each element exactly once");
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 800);
}
