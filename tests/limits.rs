//! Limits and graceful shutdown: `maxmemory` refusing writes (never evicting), client output
//! buffer back-pressure and limits, the query buffer limit, TCP keepalive, and SIGTERM waking
//! blocked clients. The `maxmemory` and shutdown tests run the `latchkey` binary, which counts
//! its memory with its own allocator.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Raw;

const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

/// A running `latchkey` process and the address its start line named.
struct Binary {
    child: Child,
    addr: SocketAddr,
}

impl Binary {
    fn start(args: &[&str]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn latchkey");
        let addr = common::start_line_addr(&mut child).expect("start line");
        Binary { child, addr }
    }

    fn terminate(&self) {
        common::signal(&self.child, "TERM");
    }

    /// Waits (bounded) for the exit; returns the exit code and how long it took.
    fn wait_exit(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let status = common::wait_exit(&mut self.child);
        (status.code(), started.elapsed())
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn used_memory(c: &mut Raw) -> u64 {
    let info = c.call("INFO memory");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

/// Sends `line` as an inline command (Redis's quoting: `"…"` keeps spaces) and returns the
/// reply as text.
#[cfg(feature = "lua")]
fn inline(c: &mut Raw, line: &str) -> String {
    c.send(format!("{line}\r\n").as_bytes());
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

#[test]
fn maxmemory_refuses_writes_but_not_reads_or_deletes() {
    let server = Binary::start(&[]);
    let mut c = Raw::connect(server.addr);
    c.expect("SET lock token PX 100000", "+OK\r\n");
    c.expect("SET other x", "+OK\r\n");
    let used = used_memory(&mut c);
    assert!(used > 0 && used < 1 << 30, "used_memory {used}");
    // One byte: every process is over it.
    c.expect("CONFIG SET maxmemory 1", "+OK\r\n");
    c.expect("SET k v", OOM);
    c.expect("SET lock token2 NX PX 1000", OOM);
    c.expect("LOCK.ACQUIRE l2 t PX 1000", OOM);
    c.expect("INCR n", OOM);
    c.expect("GET lock", "$5\r\ntoken\r\n");
    c.expect("EXISTS other", ":1\r\n");
    c.expect("PEXPIRE other 100000", ":1\r\n");
    c.expect("DELIFEQ lock token", ":1\r\n");
    c.expect("DEL other", ":1\r\n");
    c.expect("PING", "+PONG\r\n");
    // Inside MULTI the refusal is a queueing error, so EXEC aborts.
    c.expect("MULTI", "+OK\r\n");
    c.expect("SET k v", OOM);
    c.expect(
        "EXEC",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    // Over the limit, queueing anything is refused (queueing takes memory), as in Redis.
    c.expect("MULTI", "+OK\r\n");
    c.expect("GET lock", OOM);
    c.expect(
        "EXEC",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    // A transaction queued under the limit that would write is discarded by EXEC over it.
    c.expect("CONFIG SET maxmemory 0", "+OK\r\n");
    c.expect("MULTI", "+OK\r\n");
    c.expect("SET k v", "+QUEUED\r\n");
    let mut admin = Raw::connect(server.addr);
    admin.expect("CONFIG SET maxmemory 1", "+OK\r\n");
    c.expect(
        "EXEC",
        "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n",
    );
    c.expect("EXEC", "-ERR EXEC without MULTI\r\n");
    c.expect("EXISTS k", ":0\r\n");
    // A limit well above use lets writes through again.
    c.expect("CONFIG SET maxmemory 10gb", "+OK\r\n");
    c.expect("SET k v", "+OK\r\n");
    c.expect("CONFIG SET maxmemory 0", "+OK\r\n");
    c.expect("SET k v", "+OK\r\n");
}

#[test]
fn used_memory_follows_the_keyspace() {
    let server = Binary::start(&["--maxmemory", "0"]);
    let mut c = Raw::connect(server.addr);
    let before = used_memory(&mut c);
    let value = vec![b'x'; 1 << 20];
    for i in 0..20 {
        let key = format!("big{i}");
        assert_eq!(c.cmd(&[b"SET", key.as_bytes(), &value]), b"+OK\r\n");
    }
    // Read twice: the first reading can still include the read buffer of the last 1 MiB
    // request, which the connection lets go of once idle.
    used_memory(&mut c);
    let after = used_memory(&mut c);
    assert!(
        after >= before + 20 * (1 << 20),
        "before {before} after {after}"
    );
    // The limit is read from the counted memory: just under what is used refuses writes.
    let limit = after - (1 << 19);
    c.expect(&format!("CONFIG SET maxmemory {limit}"), "+OK\r\n");
    c.expect("SET k v", OOM);
    c.expect("FLUSHALL", "+OK\r\n");
    c.expect("SET k v", "+OK\r\n");
}

#[test]
fn maxmemory_in_process_falls_back_to_resident_memory() {
    let server = common::start_with(|config| config.maxmemory = 1);
    let mut c = server.raw();
    c.expect("SET k v", OOM);
    c.expect("GET k", "$-1\r\n");
    c.expect("CONFIG SET maxmemory 0", "+OK\r\n");
    c.expect("SET k v", "+OK\r\n");
}

#[test]
fn limit_settings_under_config() {
    let server = common::start();
    let mut c = server.raw();
    c.expect(
        "CONFIG GET client-output-buffer-limit",
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$67\r\n\
         normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n",
    );
    c.expect(
        "CONFIG GET client-query-buffer-limit",
        "*2\r\n$25\r\nclient-query-buffer-limit\r\n$10\r\n1073741824\r\n",
    );
    c.expect(
        "CONFIG GET tcp-keepalive",
        "*2\r\n$13\r\ntcp-keepalive\r\n$3\r\n300\r\n",
    );
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal 1mb 2kb 3"
        ]),
        b"+OK\r\n"
    );
    c.expect(
        "CONFIG GET client-output-buffer-limit",
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$76\r\n\
         normal 1048576 2048 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n",
    );
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal 1 2"
        ]),
        b"-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') \
          - Wrong number of arguments in buffer limit configuration.\r\n"
    );
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"foo 1 2 3"
        ]),
        b"-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') \
          - Invalid client class specified in buffer limit configuration.\r\n"
    );
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal x 2 3"
        ]),
        b"-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') \
          - Error in hard, soft or soft_seconds setting in buffer limit configuration.\r\n"
    );
    c.expect(
        "CONFIG SET client-query-buffer-limit 10",
        "-ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') \
         - argument must be between 1048576 and 9223372036854775807 inclusive\r\n",
    );
    c.expect("CONFIG SET client-query-buffer-limit 2mb", "+OK\r\n");
    c.expect(
        "CONFIG GET client-query-buffer-limit",
        "*2\r\n$25\r\nclient-query-buffer-limit\r\n$7\r\n2097152\r\n",
    );
    c.expect("CONFIG SET tcp-keepalive 60", "+OK\r\n");
    assert_eq!(server.server.shared().limits.tcp_keepalive(), 60);
    // The pub/sub class's hard limit is what subscribers' mailboxes enforce.
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"pubsub 1000 0 0"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(server.server.shared().pubsub.output_limit(), 1000);
}

/// Writes `request` repeatedly without reading, until the socket stays blocked for a while
/// (the server stopped reading); returns how many whole requests went out.
fn pipeline_until_blocked(stream: &mut TcpStream, request: &[u8], max: usize) -> usize {
    stream
        .set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut batch = Vec::new();
    for _ in 0..64 {
        batch.extend_from_slice(request);
    }
    let mut sent_bytes = 0;
    while sent_bytes < max * request.len() {
        match stream.write(&batch[sent_bytes % batch.len()..]) {
            Ok(n) => sent_bytes += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Finish the request in flight so every counted request is whole.
    stream.set_write_timeout(None).unwrap();
    let partial = sent_bytes % request.len();
    if partial != 0 {
        // The server may not read these bytes until the client reads; write from a thread.
        let rest = request[partial..].to_vec();
        let mut writer = stream.try_clone().unwrap();
        std::thread::spawn(move || writer.write_all(&rest));
    }
    sent_bytes.div_ceil(request.len())
}

#[test]
fn a_client_that_does_not_read_is_paused_not_buffered() {
    let server = common::start();
    let mut setup = server.raw();
    let value = vec![b'v'; 4000];
    assert_eq!(setup.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    let mut greedy = server.raw();
    let request = common::encode(&[b"GET", b"big"]);
    let sent = pipeline_until_blocked(&mut greedy.stream, &request, 1_000_000);
    // Every reply is 4 KB for a 22-byte request. The server stopped executing (and reading)
    // once the replies piled up unread: what it executed is a small part of what was sent
    // (the rest waits in kernel buffers), and it makes no progress while the client is stuck.
    let executed = commands_processed(&mut setup);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(commands_processed(&mut setup), executed + 1);
    assert!(
        (executed as usize) < sent / 10,
        "executed {executed} of {sent}"
    );
    // Other clients are served meanwhile.
    setup.expect("PING", "+PONG\r\n");
    // Once the client reads, every reply arrives, in full.
    let reply_len = "$4000\r\n".len() + 4000 + 2;
    let mut received = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    greedy
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while received < sent * reply_len {
        let n = greedy.stream.read(&mut chunk).expect("read");
        assert!(n > 0);
        received += n;
    }
    assert_eq!(received, sent * reply_len);
    greedy.expect("PING", "+PONG\r\n");
}

#[test]
fn output_hard_limit_disconnects() {
    let server = common::start();
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal 100kb 0 0"
        ]),
        b"+OK\r\n"
    );
    let value = vec![b'v'; 50_000];
    assert_eq!(c.cmd(&[b"SET", b"half", &value]), b"+OK\r\n");
    let big = vec![b'v'; 200_000];
    assert_eq!(c.cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    // A reply under the limit is delivered.
    assert_eq!(c.cmd(&[b"GET", b"half"]).len(), 50_000 + 10);
    // One over it closes the connection without a reply, as in Redis.
    c.send(&common::encode(&[b"GET", b"big"]));
    assert!(c.is_closed());
    server.raw().expect("PING", "+PONG\r\n");
}

#[test]
fn output_soft_limit_disconnects_a_client_stuck_above_it() {
    let server = common::start();
    let mut setup = server.raw();
    assert_eq!(
        setup.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal 0 32kb 1"
        ]),
        b"+OK\r\n"
    );
    let value = vec![b'v'; 60_000];
    assert_eq!(setup.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    let mut stuck = server.raw();
    let request = common::encode(&[b"GET", b"big"]);
    // The client never reads: once the kernel buffers fill, the write above the soft limit
    // stays stuck, and one second later the client is closed.
    let started = Instant::now();
    stuck
        .stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(10) {
        match stuck.stream.write(&request) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if client_count(&mut setup) == 1 {
            closed = true;
            break;
        }
    }
    assert!(closed, "the stuck client was not closed");
}

fn commands_processed(c: &mut Raw) -> u64 {
    c.call("INFO stats")
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_commands_processed")
}

fn client_count(c: &mut Raw) -> usize {
    c.call("CLIENT LIST").lines().count()
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("CONFIG SET client-query-buffer-limit 1mb", "+OK\r\n");
    // A bulk the parser accepts (under proto-max-bulk-len) but whose bytes pass the limit.
    c.send(b"*2\r\n$3\r\nGET\r\n$4000000\r\n");
    let filler = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..64 {
        if c.stream.write_all(&filler).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed || c.is_closed());
    let mut other = server.raw();
    other.expect("PING", "+PONG\r\n");
    // Under the limit, the same request completes.
    other.expect("CONFIG SET client-query-buffer-limit 8mb", "+OK\r\n");
    let value = vec![b'x'; 4_000_000];
    assert_eq!(other.cmd(&[b"SET", b"k", &value]), b"+OK\r\n");
}

#[test]
fn accepted_sockets_have_tcp_keepalive() {
    let server = common::start_with(|config| config.tcp_keepalive = 120);
    let mut c = server.raw();
    c.expect("PING", "+PONG\r\n");
    let port = server.server.local_addr().port();
    let Ok(output) = Command::new("ss")
        .args(["-tnoH", "state", "established", &format!("sport = :{port}")])
        .output()
    else {
        eprintln!("ss not available; keepalive not checked");
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("keepalive"), "ss shows {text:?}");
}

#[test]
fn sigterm_wakes_blocked_clients_and_exits_zero_within_a_bound() {
    let mut server = Binary::start(&[]);
    let mut holder = Raw::connect(server.addr);
    holder.expect("SET lock owner PX 100000", "+OK\r\n");
    let mut waiter = Raw::connect(server.addr);
    waiter.send(&common::encode(&[
        b"LOCK.ACQUIRE",
        b"lock",
        b"me",
        b"PX",
        b"1000",
        b"WAIT",
        b"60000",
    ]));
    let mut busy = Raw::connect(server.addr);
    // Let the waiter block, and a slow command start.
    waiter.expect_silence(200);
    busy.send(&common::encode(&[b"DEBUG", b"SLEEP", b"0.5"]));
    std::thread::sleep(Duration::from_millis(100));
    server.terminate();
    assert_eq!(
        waiter.read_text(),
        "-UNBLOCKED the server is shutting down\r\n"
    );
    assert!(waiter.is_closed());
    // The in-flight command still replies.
    assert_eq!(busy.read_text(), "+OK\r\n");
    let (code, took) = server.wait_exit();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(6), "shutdown took {took:?}");
    assert!(TcpStream::connect(server.addr).is_err());
}

#[test]
fn sigterm_does_not_wait_forever_for_a_client_that_does_not_read() {
    let mut server = Binary::start(&[]);
    let mut setup = Raw::connect(server.addr);
    let value = vec![b'v'; 4000];
    assert_eq!(setup.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    let mut greedy = Raw::connect(server.addr);
    let request = common::encode(&[b"GET", b"big"]);
    pipeline_until_blocked(&mut greedy.stream, &request, 1_000_000);
    server.terminate();
    let (code, took) = server.wait_exit();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(6), "shutdown took {took:?}");
}

#[test]
fn the_command_layer_runs_without_a_listener() {
    use latchkey::client::{Client, ClientInfo};
    use latchkey::command::{self, Outcome};
    use std::sync::Arc;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let shared = latchkey::Server::new(latchkey::Config::default())
        .shared_without_listener()
        .expect("no ACL file to load");
    let addr = "127.0.0.1:1".parse().unwrap();
    let info = Arc::new(ClientInfo::new(shared.next_client_id(), addr, addr));
    let mut client = Client::new(info, true);
    let run = |client: &mut Client, line: &str| {
        let args: Vec<bytes::Bytes> = line
            .split(' ')
            .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        match command::execute(&shared, client, &args) {
            Outcome::Reply(reply) => {
                let mut out = bytes::BytesMut::new();
                reply.encode(&mut out, false);
                String::from_utf8_lossy(&out).into_owned()
            }
            Outcome::Block(_) => "blocked".into(),
        }
    };
    assert_eq!(run(&mut client, "SET k v NX PX 1000"), "+OK\r\n");
    assert_eq!(run(&mut client, "GET k"), "$1\r\nv\r\n");
    assert_eq!(
        run(&mut client, "LOCK.ACQUIRE k t PX 100 WAIT 1000"),
        "blocked"
    );
    assert_eq!(run(&mut client, "CONFIG SET maxmemory 1"), "+OK\r\n");
    assert_eq!(run(&mut client, "SET k2 v"), OOM);
}

/// Found by the `commands` fuzz target: whole-keyspace readers inside `EXEC` (which already
/// holds the shards of its queued keys) locked those shards a second time and hung the
/// connection, and with it every client of those shards.
#[test]
fn whole_keyspace_readers_inside_exec_do_not_deadlock() {
    let server = common::start();
    let mut c = server.raw();
    for reader in [
        "INFO keyspace",
        "INFO stats",
        "INFO memory",
        "CONFIG RESETSTAT",
    ] {
        c.expect("MULTI", "+OK\r\n");
        c.expect("SET k v", "+QUEUED\r\n");
        c.expect(reader, "+QUEUED\r\n");
        c.expect("GET k", "+QUEUED\r\n");
        let exec = c.call("EXEC");
        assert!(exec.starts_with("*3\r\n+OK\r\n"), "{reader}: {exec:?}");
        assert!(exec.ends_with("$1\r\nv\r\n"), "{reader}: {exec:?}");
    }
    c.expect("DBSIZE", ":1\r\n");
    server.raw().expect("GET k", "$1\r\nv\r\n");
}

/// A script's write is refused over `maxmemory` as a client's is (Redis 7); its reads and
/// deletes still run.
#[cfg(feature = "lua")]
#[test]
fn maxmemory_refuses_writes_from_scripts() {
    let server = Binary::start(&[]);
    let mut c = Raw::connect(server.addr);
    c.expect("SET lock token", "+OK\r\n");
    c.expect("CONFIG SET maxmemory 1", "+OK\r\n");
    let reply = inline(&mut c, "EVAL \"return redis.call('set','k','v')\" 1 k");
    assert!(
        reply.starts_with("-OOM command not allowed when used memory > 'maxmemory'. script: ")
            && reply.ends_with(", on @user_script:1.\r\n"),
        "{reply:?}"
    );
    assert_eq!(
        inline(&mut c, "EVAL \"return redis.pcall('set','k','v')\" 1 k"),
        OOM
    );
    assert_eq!(
        inline(&mut c, "EVAL \"return redis.call('get','lock')\" 1 lock"),
        "$5\r\ntoken\r\n"
    );
    assert_eq!(
        inline(&mut c, "EVAL \"return redis.call('del','lock')\" 1 lock"),
        ":1\r\n"
    );
    c.expect("EXISTS k", ":0\r\n");
    // Once a script has written, its later writes are not cut off (Redis's rule).
    assert_eq!(
        inline(
            &mut c,
            "EVAL \"redis.call('del','x'); return redis.call('set','k','v')\" 2 x k"
        ),
        "+OK\r\n"
    );
    c.expect("CONFIG SET maxmemory 0", "+OK\r\n");
    server.terminate();
}
