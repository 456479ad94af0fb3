//! The append-only file with real processes: locks survive `kill -9` and a restart with their
//! token, lease and fencing token; acknowledged writes are never lost under `appendfsync
//! always`; `redis-check-aof` accepts the files; `BGREWRITEAOF` compacts; a full disk refuses
//! writes with `MISCONF` and loses nothing; `--restart-grace` answers `LOADING` until it ends.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Raw;

/// A `latchkey` process with its data directory.
struct Latchkey {
    child: Child,
    addr: SocketAddr,
}

impl Latchkey {
    /// Starts the binary with `--port 0` and `args`; panics unless it prints its start line.
    fn start(args: &[&str]) -> Latchkey {
        Self::try_start(args).unwrap_or_else(|error| panic!("latchkey did not start: {error}"))
    }

    /// Starts the binary; the error is what it wrote on stderr when it did not start.
    fn try_start(args: &[&str]) -> Result<Latchkey, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn latchkey");
        let Ok(addr) = common::start_line_addr(&mut child) else {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            let _ = child.wait();
            return Err(stderr);
        };
        Ok(Latchkey { child, addr })
    }

    fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// `kill -9`: no shutdown, nothing flushed.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Latchkey {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the target directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("persistence-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn aof_args(dir: &Path, fsync: &str) -> Vec<String> {
    vec![
        "--appendonly".into(),
        "yes".into(),
        "--appendfsync".into(),
        fsync.into(),
        "--dir".into(),
        dir.display().to_string(),
    ]
}

fn start_aof(dir: &Path, fsync: &str, extra: &[&str]) -> Latchkey {
    let mut args = aof_args(dir, fsync);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Latchkey::start(&args)
}

/// An integer reply's value.
fn integer(reply: &str) -> i64 {
    reply
        .strip_prefix(':')
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {reply:?}"))
}

/// `LOCK.INFO key` as (token, ttl_ms, fencing_token, hold_count).
fn lock_info(client: &mut Raw, key: &str) -> (String, i64, i64, i64) {
    let reply = client.call(&format!("LOCK.INFO {key}"));
    let lines: Vec<&str> = reply.split("\r\n").collect();
    // *10, then name/value pairs: $5 token $n <token> $6 ttl_ms :<ttl> ...
    assert_eq!(lines[0], "*10", "{reply:?}");
    let token = lines[4].to_string();
    let ttl = integer(lines[7]);
    let fencing = integer(lines[10]);
    let holds = integer(lines[13]);
    (token, ttl, fencing, holds)
}

/// The `INFO persistence` field `name`.
fn info_field(client: &mut Raw, name: &str) -> String {
    let info = client.call("INFO persistence");
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

/// Runs `redis-check-aof` (Debian's redis-tools) on the manifest; `None` when not installed.
fn redis_check_aof(dir: &Path) -> Option<(bool, String)> {
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let output = Command::new("redis-check-aof")
        .arg(&manifest)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    Some((output.status.success(), text))
}

fn assert_valid_aof(dir: &Path) {
    match redis_check_aof(dir) {
        Some((ok, text)) => assert!(
            ok && text.contains("All AOF files and manifest are valid"),
            "{text}"
        ),
        None => eprintln!("redis-check-aof not installed: file check skipped"),
    }
}

/// Total size of the log's files.
fn aof_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".aof"))
        .map(|entry| entry.metadata().unwrap().len())
        .sum()
}

#[test]
fn locks_survive_kill_9_with_token_lease_and_fencing_token() {
    let dir = fresh_dir("locks");
    let server = start_aof(&dir, "always", &[]);
    let mut c = server.raw();
    c.expect("SET plain tok1 NX PX 60000", "+OK\r\n");
    let fencing = integer(&c.call("LOCK.ACQUIRE L t PX 60000 REENTRANT"));
    assert_eq!(
        integer(&c.call("LOCK.ACQUIRE L t PX 30000 REENTRANT")),
        fencing
    );
    // A lease that runs out while the server is down.
    integer(&c.call("LOCK.ACQUIRE short s PX 300"));
    // A lock handed to a waiting client when its holder releases it.
    integer(&c.call("LOCK.ACQUIRE handed a PX 60000"));
    let mut waiter = server.raw();
    waiter.send(&common::encode(&[
        b"LOCK.ACQUIRE",
        b"handed",
        b"b",
        b"PX",
        b"60000",
        b"WAIT",
        b"10000",
    ]));
    // The waiter is queued once LOCK.INFO counts it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.call("LOCK.INFO handed").contains(":1\r\n$7\r\nwaiters") {
        assert!(Instant::now() < deadline, "waiter never queued");
        std::thread::sleep(Duration::from_millis(5));
    }
    c.expect("LOCK.RELEASE handed a", ":1\r\n");
    let handed_fencing = integer(&waiter.read_text());
    assert!(handed_fencing > fencing);
    // A script's writes are logged as their effects (a build with Lua runs this script).
    if cfg!(feature = "lua") {
        c.expect(
            "EVAL redis.call('set',KEYS[1],ARGV[1],'NX','PX','60000') 1 scripted v",
            "$-1\r\n",
        );
    }
    c.expect("LOCK.RELEASE nothing x", ":0\r\n");
    server.kill9();
    std::thread::sleep(Duration::from_millis(400));
    assert_valid_aof(&dir);

    let server = start_aof(&dir, "always", &[]);
    let mut c = server.raw();
    c.expect("GET plain", "$4\r\ntok1\r\n");
    let ttl = integer(&c.call("PTTL plain"));
    assert!((58_000..=60_000).contains(&ttl), "{ttl}");
    let (token, ttl, restored, holds) = lock_info(&mut c, "L");
    assert_eq!((token.as_str(), restored, holds), ("t", fencing, 2));
    assert!((58_000..=60_000).contains(&ttl), "{ttl}");
    let (token, _, restored, holds) = lock_info(&mut c, "handed");
    assert_eq!((token.as_str(), restored, holds), ("b", handed_fencing, 1));
    if cfg!(feature = "lua") {
        c.expect("GET scripted", "$1\r\nv\r\n");
    }
    c.expect("EXISTS short", ":0\r\n");
    // Every new token is above every earlier one; releases still count holds.
    let next = integer(&c.call("LOCK.ACQUIRE fresh f PX 1000"));
    assert!(next > handed_fencing, "{next} <= {handed_fencing}");
    c.expect("LOCK.RELEASE L t", ":1\r\n");
    c.expect("LOCK.RELEASE L t", ":1\r\n");
    c.expect("EXISTS L", ":0\r\n");
    // The internal restore form is not a client command.
    assert!(c
        .call("LOCK.RESTORE x t 1 1")
        .starts_with("-ERR unknown command"));
    // DEBUG LOADAOF and DEBUG RELOAD load the same keyspace back.
    c.expect("DEBUG LOADAOF", "+OK\r\n");
    c.expect("GET plain", "$4\r\ntok1\r\n");
    c.expect("EXISTS L", ":0\r\n");
    c.expect("DEBUG RELOAD", "+OK\r\n");
    let (token, _, restored, _) = lock_info(&mut c, "handed");
    assert_eq!((token.as_str(), restored), ("b", handed_fencing));
    drop(server);
    assert_valid_aof(&dir);
}

/// A client that reports failures instead of panicking (the server gets killed under it).
struct Writer {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Writer {
    fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        self.stream.write_all(&common::encode(args))?;
        loop {
            if let Some(len) = common::frame_len(&self.pending) {
                let reply = self.pending[..len].to_vec();
                self.pending.drain(..len);
                return Ok(reply);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn every_write_acknowledged_under_appendfsync_always_survives_kill_9() {
    const CLIENTS: usize = 8;
    const MAX_WRITES: u64 = 100_000;
    let dir = fresh_dir("always");
    let server = start_aof(&dir, "always", &[]);
    let total = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (addr, total) = (server.addr, total.clone());
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut writer = Writer {
                    stream,
                    pending: Vec::new(),
                };
                let key = format!("list{n}");
                let mut acked = 0u64;
                while acked < MAX_WRITES {
                    let value = acked.to_string();
                    match writer.call(&[b"RPUSH", key.as_bytes(), value.as_bytes()]) {
                        Ok(reply) => {
                            assert_eq!(reply, format!(":{}\r\n", acked + 1).into_bytes());
                            acked += 1;
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while total.load(Ordering::Relaxed) < 3_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    let acked: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(acked.iter().sum::<u64>() > 0);

    let server = start_aof(&dir, "always", &[]);
    let mut c = server.raw();
    for (n, acked) in acked.iter().enumerate() {
        let len = integer(&c.call(&format!("LLEN list{n}"))) as u64;
        // Every acknowledged write is there; at most the one in flight at the kill besides.
        assert!(
            len == *acked || len == *acked + 1,
            "list{n}: {len} elements, {acked} acknowledged"
        );
        if *acked > 0 {
            let last = c.call(&format!("LINDEX list{n} {}", acked - 1));
            assert_eq!(
                last,
                format!("${}\r\n{}\r\n", (acked - 1).to_string().len(), acked - 1)
            );
        }
    }
    drop(server);
    assert_valid_aof(&dir);
}

#[test]
fn bgrewriteaof_compacts_twenty_thousand_writes_and_reloads() {
    let dir = fresh_dir("rewrite");
    let server = start_aof(&dir, "everysec", &[]);
    let mut c = server.raw();
    let mut batch = Vec::new();
    for i in 0..20_000u32 {
        let key = format!("key{}", i % 10);
        let value = format!("value-{i}");
        batch.extend(common::encode(&[b"SET", key.as_bytes(), value.as_bytes()]));
        if batch.len() > 64 * 1024 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    for _ in 0..20_000 {
        assert_eq!(c.read_text(), "+OK\r\n");
    }
    integer(&c.call("LOCK.ACQUIRE lock t PX 600000"));
    let before = aof_size(&dir);
    c.expect(
        "BGREWRITEAOF",
        "+Background append only file rewriting started\r\n",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    let after = aof_size(&dir);
    assert!(after * 10 < before, "{after} bytes after, {before} before");
    c.expect("SET after rewrite", "+OK\r\n");
    server.kill9();
    assert_valid_aof(&dir);

    let server = start_aof(&dir, "everysec", &[]);
    let mut c = server.raw();
    for k in 0..10 {
        let value = format!("value-{}", 19_990 + k);
        c.expect(
            &format!("GET key{k}"),
            &format!("${}\r\n{value}\r\n", value.len()),
        );
    }
    c.expect("GET after", "$7\r\nrewrite\r\n");
    c.expect("GET lock", "$1\r\nt\r\n");
}

#[test]
fn a_cut_off_last_command_is_dropped_and_corruption_stops_the_start() {
    let dir = fresh_dir("truncated");
    let server = start_aof(&dir, "always", &[]);
    let mut c = server.raw();
    c.expect("SET a 1", "+OK\r\n");
    c.expect("SET b 2", "+OK\r\n");
    server.kill9();
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    let complete = std::fs::read(&incr).unwrap();
    // A crash in the middle of a write: half a command at the end.
    let mut cut = complete.clone();
    cut.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nz\r\n$5\r\nhel");
    std::fs::write(&incr, &cut).unwrap();
    let server = start_aof(&dir, "always", &[]);
    let mut c = server.raw();
    c.expect("GET b", "$1\r\n2\r\n");
    c.expect("EXISTS z", ":0\r\n");
    c.expect("SET c 3", "+OK\r\n");
    server.kill9();
    assert_valid_aof(&dir);
    let server = start_aof(&dir, "always", &[]);
    server.raw().expect(
        "MGET a b c z",
        "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$-1\r\n",
    );
    server.kill9();

    // Garbage in the middle of the file: the start fails and names the offset.
    let mut corrupt = complete.clone();
    corrupt.extend_from_slice(b"*2\r\n$3\r\nGETX\r\n");
    corrupt.extend_from_slice(&complete);
    std::fs::write(&incr, &corrupt).unwrap();
    let args = aof_args(&dir, "always");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let error = Latchkey::try_start(&args).err().expect("start refused");
    assert!(
        error.contains(
            "Bad file format reading the append only file appendonly.aof.1.incr.aof at offset"
        ),
        "{error}"
    );
}

#[test]
fn appendonly_switched_on_at_runtime_keeps_what_was_there() {
    let dir = fresh_dir("runtime");
    let dir_arg = dir.display().to_string();
    let server = Latchkey::start(&["--dir", &dir_arg]);
    let mut c = server.raw();
    c.expect("SET before on", "+OK\r\n");
    c.expect(
        "CONFIG GET appendonly",
        "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
    );
    c.expect("CONFIG SET appendonly yes", "+OK\r\n");
    c.expect(
        "CONFIG GET appendonly",
        "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n",
    );
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    c.expect("CONFIG SET appendfsync always", "+OK\r\n");
    c.expect("SET after on", "+OK\r\n");
    server.kill9();
    assert_valid_aof(&dir);
    let server = start_aof(&dir, "everysec", &[]);
    server
        .raw()
        .expect("MGET before after", "*2\r\n$2\r\non\r\n$2\r\non\r\n");
}

#[test]
fn restart_grace_answers_loading_then_grants() {
    let server = Latchkey::start(&["--restart-grace", "1500"]);
    let mut c = server.raw();
    let loading = "-LOADING Redis is loading the dataset in memory\r\n";
    c.expect("SET k v NX PX 1000", loading);
    c.expect("LOCK.ACQUIRE k v PX 1000", loading);
    c.expect("SETNX k v", loading);
    c.expect("EVAL return 1 0", loading);
    // Reads, plain writes and releases go on.
    c.expect("SET plain v", "+OK\r\n");
    c.expect("GET plain", "$1\r\nv\r\n");
    c.expect("DEL k", ":0\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = c.call("SET k v NX PX 1000");
        if reply == "+OK\r\n" {
            break;
        }
        assert_eq!(reply, loading);
        assert!(Instant::now() < deadline, "grace never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    integer(&c.call("LOCK.ACQUIRE other v PX 1000"));

    // A server that loaded its log knows its locks: no grace.
    let dir = fresh_dir("grace");
    let first = start_aof(&dir, "always", &[]);
    first.raw().expect("SET held v NX PX 60000", "+OK\r\n");
    first.kill9();
    let server = start_aof(&dir, "always", &["--restart-grace", "60000"]);
    let mut c = server.raw();
    c.expect("SET held w NX PX 60000", "$-1\r\n");
    c.expect("SET free w NX PX 60000", "+OK\r\n");
}

/// Unmounts the test's filesystem when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_writes_with_misconf_and_loses_nothing() {
    let mountpoint = fresh_dir("full-disk");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mountpoint)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!("skipped: mounting a 1 MB tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    }
    let _mount = Mount(mountpoint.clone());
    // Room for the log, less a filler that is deleted to free the disk again.
    let filler = mountpoint.join("filler");
    std::fs::write(&filler, vec![0u8; 700 * 1024]).unwrap();
    let server = start_aof(&mountpoint, "always", &[]);
    let value = vec![b'x'; 1024];
    let addr = server.addr;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_writing = stop.clone();
    let writer = std::thread::spawn(move || {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut writer = Writer {
            stream,
            pending: Vec::new(),
        };
        let mut acked = 0u32;
        let mut refused = None;
        // Writes until refused: the write that met the full disk waits (unacknowledged)
        // until the disk has room again.
        for i in 0..2_000u32 {
            if stop_writing.load(Ordering::SeqCst) {
                break;
            }
            let key = format!("big{i}");
            let reply = writer.call(&[b"SET", key.as_bytes(), &value]).unwrap();
            if reply == b"+OK\r\n" {
                acked = i + 1;
            } else {
                refused = Some(String::from_utf8_lossy(&reply).into_owned());
                break;
            }
        }
        (acked, refused)
    });
    let mut c = server.raw();
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut c, "aof_last_write_status") != "err" {
        assert!(Instant::now() < deadline, "the disk never filled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = c.call("SET other v");
    assert!(
        refused.starts_with("-MISCONF Errors writing to the AOF file: No space left on device"),
        "{refused}"
    );
    // Reads keep working.
    c.expect("EXISTS nothing", ":0\r\n");
    stop.store(true, Ordering::SeqCst);
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut c, "aof_last_write_status") != "ok" {
        assert!(Instant::now() < deadline, "writes never recovered");
        std::thread::sleep(Duration::from_millis(10));
    }
    c.expect("SET other v", "+OK\r\n");
    let (acked, _) = writer.join().unwrap();
    assert!(acked > 0);
    server.kill9();

    let server = start_aof(&mountpoint, "always", &[]);
    let mut c = server.raw();
    for i in 0..acked {
        c.expect(&format!("STRLEN big{i}"), ":1024\r\n");
    }
    c.expect("GET other", "$1\r\nv\r\n");
}

#[test]
fn a_key_found_expired_by_a_write_is_logged_deleted_first() {
    let dir = fresh_dir("lazy-expiry");
    let configure = |config: &mut latchkey::Config| {
        config.appendonly = true;
        config.appendfsync = "always".into();
        config.dir = dir.clone();
    };
    let server = common::start_with(configure);
    let mut c = server.raw();
    c.expect("SET counter 5 PX 100", "+OK\r\n");
    c.expect("RPUSH list a", ":1\r\n");
    c.expect("PEXPIRE list 100", ":1\r\n");
    server.advance_ms(200);
    // Both keys lapsed: the writes start them afresh, without a lease.
    c.expect("INCR counter", ":1\r\n");
    c.expect("RPUSH list b", ":1\r\n");
    drop(c);
    drop(server);
    let server = common::start_with(configure);
    let mut c = server.raw();
    c.expect("GET counter", "$1\r\n1\r\n");
    c.expect("PTTL counter", ":-1\r\n");
    c.expect("LRANGE list 0 -1", "*1\r\n$1\r\nb\r\n");
}

#[test]
fn the_log_is_rewritten_automatically_once_it_doubles() {
    let dir = fresh_dir("auto-rewrite");
    let server = start_aof(
        &dir,
        "always",
        &[
            "--auto-aof-rewrite-min-size",
            "4096",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let mut c = server.raw();
    c.expect(
        "CONFIG GET auto-aof-rewrite-min-size",
        "*2\r\n$25\r\nauto-aof-rewrite-min-size\r\n$4\r\n4096\r\n",
    );
    for i in 0..200 {
        c.expect(&format!("SET key{} value-{i}", i % 5), "+OK\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "aof_rewrites") == "0"
        || info_field(&mut c, "aof_rewrite_in_progress") != "0"
    {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        c.expect("SET key0 value-199", "+OK\r\n");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(aof_size(&dir) < 4096, "{}", aof_size(&dir));
    server.kill9();
    assert_valid_aof(&dir);
    let server = start_aof(&dir, "always", &[]);
    server.raw().expect("GET key4", "$9\r\nvalue-199\r\n");
}

#[test]
fn chance_and_relative_times_replay_as_what_they_did() {
    let dir = fresh_dir("forms");
    let configure = |config: &mut latchkey::Config| {
        config.appendonly = true;
        config.dir = dir.clone();
    };
    let server = common::start_with(configure);
    let mut c = server.raw();
    c.expect("SADD s a b c", ":3\r\n");
    let popped = c.call("SPOP s");
    c.expect("SET lease v PX 60000", "+OK\r\n");
    c.expect("RPUSH big a b c", ":3\r\n");
    c.expect("EXPIRE big 60", ":1\r\n");
    c.expect("MULTI", "+OK\r\n");
    c.expect("INCR n", "+QUEUED\r\n");
    c.expect("SET m 1 NX", "+QUEUED\r\n");
    c.expect("EXEC", "*2\r\n:1\r\n+OK\r\n");
    drop(c);
    drop(server);
    let server = common::start_with(configure);
    let mut c = server.raw();
    c.expect("SCARD s", ":2\r\n");
    let member = popped.lines().nth(1).unwrap();
    c.expect(&format!("SISMEMBER s {member}"), ":0\r\n");
    let ttl = integer(&c.call("PTTL lease"));
    assert!((58_000..=60_000).contains(&ttl), "{ttl}");
    let ttl = integer(&c.call("TTL big"));
    assert!((58..=60).contains(&ttl), "{ttl}");
    c.expect("MGET n m", "*2\r\n$1\r\n1\r\n$1\r\n1\r\n");
    let log = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let log = String::from_utf8_lossy(&log);
    assert!(
        log.contains("SREM") && log.contains("PEXPIREAT") && log.contains("MULTI"),
        "{log}"
    );
    assert!(
        !log.contains("SPOP") && !log.contains("EXPIRE\r\n"),
        "{log}"
    );
}

#[test]
fn an_element_handed_to_a_blocked_pop_stays_popped() {
    let dir = fresh_dir("blocked-pop");
    let configure = |config: &mut latchkey::Config| {
        config.appendonly = true;
        config.dir = dir.clone();
    };
    let server = common::start_with(configure);
    let mut waiter = server.raw();
    waiter.send(&common::encode(&[b"BLPOP", b"queue", b"10"]));
    let mut c = server.raw();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.call("CLIENT LIST").contains("cmd=blpop") {
        assert!(Instant::now() < deadline, "BLPOP never blocked");
        std::thread::sleep(Duration::from_millis(5));
    }
    c.expect("RPUSH queue x y", ":2\r\n");
    assert_eq!(waiter.read_text(), "*2\r\n$5\r\nqueue\r\n$1\r\nx\r\n");
    drop((waiter, c));
    drop(server);
    let server = common::start_with(configure);
    server
        .raw()
        .expect("LRANGE queue 0 -1", "*1\r\n$1\r\ny\r\n");
}
