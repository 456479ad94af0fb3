//! The `latchkey` binary as CI runs it: `--port 0` and the start line, `LATCHKEY_*` variables,
//! and graceful shutdown on SIGTERM/SIGINT (in-flight commands reply, exit status 0).

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `latchkey` process and the address its start line named.
struct Binary {
    child: Child,
    addr: SocketAddr,
}

impl Binary {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Binary {
        let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn latchkey");
        let addr = common::start_line_addr(&mut child).expect("start line");
        Binary { child, addr }
    }

    fn signal(&self, name: &str) {
        common::signal(&self.child, name);
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "latchkey did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigterm_lets_in_flight_commands_reply_and_exits_zero() {
    let mut server = Binary::start(&["--port", "0"], &[]);
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(server.addr.port(), 0);
    let mut client = common::Raw::connect(server.addr);
    client.expect("SET k v", "+OK\r\n");
    client.send(&common::encode(&[b"DEBUG", b"SLEEP", b"0.3"]));
    std::thread::sleep(Duration::from_millis(100));
    server.signal("TERM");
    assert_eq!(client.read_reply(), b"+OK\r\n");
    assert_eq!(server.wait_exit(), Some(0));
    assert!(client.is_closed());
}

#[test]
fn sigint_exits_zero() {
    let mut server = Binary::start(&["--port", "0"], &[]);
    common::Raw::connect(server.addr).expect("PING", "+PONG\r\n");
    server.signal("INT");
    assert_eq!(server.wait_exit(), Some(0));
}

#[test]
fn settings_from_environment_variables() {
    let server = Binary::start(
        &[],
        &[
            ("LATCHKEY_PORT", "0"),
            ("LATCHKEY_REQUIREPASS", "from-env"),
            ("LATCHKEY_DATABASES", "2"),
            ("LATCHKEY_MAXCLIENTS", "5"),
            ("LATCHKEY_HZ", "7"),
            ("LATCHKEY_TIMEOUT", "30"),
            ("LATCHKEY_NOTIFY_KEYSPACE_EVENTS", "Ex"),
        ],
    );
    let mut c = common::Raw::connect(server.addr);
    c.expect("PING", "-NOAUTH Authentication required.\r\n");
    c.expect("AUTH from-env", "+OK\r\n");
    c.expect("SELECT 1", "+OK\r\n");
    c.expect("SELECT 2", "-ERR DB index is out of range\r\n");
    c.expect(
        "CONFIG GET maxclients",
        "*2\r\n$10\r\nmaxclients\r\n$1\r\n5\r\n",
    );
    c.expect("CONFIG GET hz", "*2\r\n$2\r\nhz\r\n$1\r\n7\r\n");
    c.expect("CONFIG GET timeout", "*2\r\n$7\r\ntimeout\r\n$2\r\n30\r\n");
    c.expect(
        "CONFIG GET notify-keyspace-events",
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$2\r\nxE\r\n",
    );
}

#[test]
fn bad_flags_fail_with_status_two() {
    let status = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["--port", "notaport"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("spawn");
    assert_eq!(status.code(), Some(2));
}
