//! Shared helpers for the integration tests: an in-process server on an ephemeral port with a
//! hand-driven clock, and a raw RESP client that sends bytes and returns exact reply bytes.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use latchkey::{BackgroundServer, Config, ManualClock, Server};

/// A server started in-process, with its clock.
pub struct TestServer {
    pub server: BackgroundServer,
    pub clock: Arc<ManualClock>,
}

impl TestServer {
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.server.local_addr())
    }

    /// Moves the server's clock forward.
    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance(ms);
    }

    /// Moves the clock `ms` milliseconds and one microsecond on: a key whose deadline was `ms`
    /// away is then expired (at the deadline itself it is still there, as in Redis).
    pub fn advance_past_ms(&self, ms: u64) {
        self.clock.advance(ms);
        self.clock.advance_micros(1);
    }
}

/// Starts a server with default settings and a manual clock.
pub fn start() -> TestServer {
    start_with(|_| {})
}

/// Starts a server after `configure` adjusts the default settings.
pub fn start_with(configure: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config {
        port: 0,
        bind: "127.0.0.1".into(),
        ..Config::default()
    };
    configure(&mut config);
    let clock = ManualClock::new();
    let server = Server::new(config)
        .clock(clock.clone())
        .start_background()
        .expect("server starts");
    TestServer { server, clock }
}

/// A client that speaks raw bytes.
pub struct Raw {
    pub stream: TcpStream,
    pending: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: std::net::SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            pending: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads exactly one complete reply and returns its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if let Some(len) = frame_len(&self.pending) {
                return self.pending.drain(..len).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(
                n > 0,
                "connection closed; pending {:?}",
                String::from_utf8_lossy(&self.pending)
            );
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one command as a multibulk request and returns the reply bytes.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        self.read_reply()
    }

    /// Sends a command given as space-separated words and returns the reply as text.
    pub fn call(&mut self, line: &str) -> String {
        let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        String::from_utf8_lossy(&self.cmd(&args)).into_owned()
    }

    /// Asserts the exact reply to a command given as space-separated words.
    pub fn expect(&mut self, line: &str, reply: &str) {
        assert_eq!(self.call(line), reply, "reply to {line:?}");
    }

    /// Whether the server has closed the connection (reads until EOF or timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(self.stream.read(&mut chunk), Ok(0) | Err(_))
    }
}

/// Encodes a request as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The length of the first complete RESP2/RESP3 frame in `buf`, if complete.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let header = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let after = line_end + 2;
    match buf.first()? {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let len: i64 = header.parse().ok()?;
            if len < 0 {
                return Some(after);
            }
            let end = after + len as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count: i64 = header.parse().ok()?;
            if count < 0 {
                return Some(after);
            }
            let items = if matches!(buf[0], b'%' | b'|') {
                2 * count
            } else {
                count
            };
            let mut at = after;
            for _ in 0..items {
                at += frame_len(&buf[at..])?;
            }
            Some(at)
        }
        _ => None,
    }
}

impl Raw {
    /// Asserts that nothing arrives within `ms` milliseconds (no reply, no pushed message).
    pub fn expect_silence(&mut self, ms: u64) {
        assert!(
            self.pending.is_empty(),
            "unexpected {:?}",
            String::from_utf8_lossy(&self.pending)
        );
        self.stream
            .set_read_timeout(Some(Duration::from_millis(ms)))
            .unwrap();
        let mut chunk = [0u8; 1024];
        let read = self.stream.read(&mut chunk);
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        match read {
            Ok(n) => panic!("unexpected {:?}", String::from_utf8_lossy(&chunk[..n])),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
        }
    }

    /// Reads one reply and returns it as text.
    pub fn read_text(&mut self) -> String {
        String::from_utf8_lossy(&self.read_reply()).into_owned()
    }
}

/// Reads a `*SCAN` reply (`*2`, the cursor, then an array of bulk strings): the next cursor and
/// the items, flat (a field and its value, a member and its score, are two items).
pub fn parse_scan(reply: &[u8]) -> (u64, Vec<String>) {
    let text = String::from_utf8_lossy(reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let cursor = lines[2].parse().unwrap();
    let count: usize = lines[3][1..].parse().unwrap();
    let items = (0..count).map(|i| lines[5 + 2 * i].to_string()).collect();
    (cursor, items)
}

/// The address a spawned `latchkey` names in its start line (`latchkey listening on ADDR`),
/// read from its piped stdout; the line itself when it is something else (the process failed
/// to start).
pub fn start_line_addr(child: &mut std::process::Child) -> Result<std::net::SocketAddr, String> {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    line.trim()
        .strip_prefix("latchkey listening on ")
        .and_then(|addr| addr.parse().ok())
        .ok_or(line)
}

/// Sends the signal `name` (`TERM`, `INT`, `HUP`, …) to a process.
pub fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

/// Waits for a process to exit, at most 10 seconds (then kills it and panics).
pub fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("latchkey did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A server on the real clock (for tests of real time: leases watched from other
/// connections, scripts that must be stopped while they run).
pub fn start_real(configure: impl FnOnce(&mut Config)) -> BackgroundServer {
    let mut config = Config {
        port: 0,
        bind: "127.0.0.1".into(),
        ..Config::default()
    };
    configure(&mut config);
    Server::new(config)
        .start_background()
        .expect("server starts")
}

/// Where `redis-server` is, if on `PATH` (tests that compare with it skip without it).
pub fn find_redis_server() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// A `redis-server` child process on a free loopback port, without persistence, killed on
/// drop.
pub struct RedisServer {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl RedisServer {
    /// Starts `binary` with `extra` arguments and waits (at most 10 s) until it accepts.
    pub fn start(binary: &std::path::Path, extra: &[&str]) -> RedisServer {
        use std::process::{Command, Stdio};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, addr }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
