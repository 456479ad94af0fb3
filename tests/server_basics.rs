//! The server end to end over raw RESP: exact reply bytes, pipelining, inline commands,
//! protocol errors, and expiry driven by the test clock.

mod common;

#[test]
fn ping_echo_and_unknown_command() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("PING", "+PONG\r\n");
    c.expect("ping hello", "$5\r\nhello\r\n");
    c.expect("ECHO x", "$1\r\nx\r\n");
    c.expect(
        "FOO a b",
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    );
    c.expect(
        "GET",
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
}

#[test]
fn lock_acquire_contend_release_and_expire() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    a.expect("SET lock tok-a NX PX 30000", "+OK\r\n");
    b.expect("SET lock tok-b NX PX 30000", "$-1\r\n");
    b.expect("DELIFEQ lock tok-b", ":0\r\n");
    a.expect("PTTL lock", ":30000\r\n");
    server.advance_ms(10_000);
    a.expect("PTTL lock", ":20000\r\n");
    a.expect("PEXPIRE lock 30000", ":1\r\n");
    a.expect("SET lock tok-a XX PX 5000", "+OK\r\n");
    server.advance_past_ms(5_000);
    b.expect("GET lock", "$-1\r\n");
    b.expect("SET lock tok-b NX PX 1000", "+OK\r\n");
    b.expect("DELEX lock IFEQ tok-a", ":0\r\n");
    b.expect("DELEX lock IFEQ tok-b", ":1\r\n");
    b.expect("EXISTS lock", ":0\r\n");
}

#[test]
fn pipelined_thousand_commands_in_one_write() {
    let server = common::start();
    let mut c = server.raw();
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend(common::encode(&[b"INCR", b"counter"]));
        let _ = i;
    }
    c.send(&batch);
    for i in 1..=1000 {
        assert_eq!(c.read_reply(), format!(":{i}\r\n").into_bytes());
    }
}

#[test]
fn inline_commands_and_protocol_errors_close() {
    let server = common::start();
    let mut c = server.raw();
    c.send(b"SET k \"a b\"\r\nGET k\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"$3\r\na b\r\n");
    c.send(b"*1\r\n$-7\r\n");
    assert_eq!(
        c.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    assert!(c.is_closed());
    // The server is still there for others.
    server.raw().expect("PING", "+PONG\r\n");
}
