//! Lock cycles: each client acquires a lock on a random key and releases it at once, the two
//! round trips a lock user pays per critical section. The latency is the whole cycle.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::resp::{encode_command, Conn, Frame};
use crate::stats::{self, Line, Target};
use crate::throughput::{load_compare_delete, Budget};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, default_value = "lock_cycle")]
    pub name: String,
    /// How the lock is taken.
    #[arg(long, value_enum, default_value_t = Acquire::Set)]
    pub acquire: Acquire,
    /// How the lock is released.
    #[arg(long, value_enum, default_value_t = Release::Evalsha)]
    pub release: Release,
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Stop after this many cycles…
    #[arg(long, short = 'n')]
    pub cycles: Option<u64>,
    /// …or after this many seconds (default 5).
    #[arg(long, short = 'd')]
    pub duration: Option<f64>,
    /// Lock keys are `lock:<n>` with `n` below this.
    #[arg(long, short = 'r', default_value_t = 1_000_000)]
    pub keyspace: u64,
    /// Lock time-to-live.
    #[arg(long, default_value_t = 30_000)]
    pub ttl_ms: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Acquire {
    /// `SET key token NX PX ttl`.
    Set,
    /// `LOCK.ACQUIRE key token PX ttl`.
    Lock,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Release {
    /// `EVALSHA` of the compare-delete script (loaded with `SCRIPT LOAD` first).
    Evalsha,
    /// `DELIFEQ key token`.
    Delifeq,
    /// `LOCK.RELEASE key token`.
    Lock,
    /// Plain `DEL key` (no ownership check).
    Del,
}

/// Encodes lock requests into a reused buffer.
pub struct LockCommands {
    pub acquire: Acquire,
    pub release: Release,
    pub sha: String,
    pub ttl: String,
}

impl LockCommands {
    /// Prepares the commands, loading the script when the release needs it. `Err(text)` when
    /// the server cannot run them.
    pub async fn prepare(
        conn: &mut Conn,
        acquire: Acquire,
        release: Release,
        ttl_ms: u64,
    ) -> io::Result<Result<LockCommands, String>> {
        let sha = if release == Release::Evalsha {
            match load_compare_delete(conn).await? {
                Ok(sha) => sha,
                Err(error) => return Ok(Err(error)),
            }
        } else {
            String::new()
        };
        let commands = LockCommands {
            acquire,
            release,
            sha,
            ttl: ttl_ms.to_string(),
        };
        // One full cycle on a probe key shows whether both commands exist.
        let key = b"latchkey-bench:probe";
        let mut out = Vec::new();
        commands.acquire(&mut out, key, b"probe", None);
        conn.send(&out).await?;
        if let Some(error) = conn.recv(|f| f.error_text()).await? {
            return Ok(Err(error));
        }
        out.clear();
        commands.release(&mut out, key, b"probe");
        conn.send(&out).await?;
        if let Some(error) = conn.recv(|f| f.error_text()).await? {
            return Ok(Err(error));
        }
        Ok(Ok(commands))
    }

    /// Appends the acquire request; `wait_ms` adds `WAIT` to `LOCK.ACQUIRE`.
    pub fn acquire(&self, out: &mut Vec<u8>, key: &[u8], token: &[u8], wait_ms: Option<u64>) {
        match (self.acquire, wait_ms) {
            (Acquire::Set, _) => encode_command(
                out,
                &[b"SET", key, token, b"NX", b"PX", self.ttl.as_bytes()],
            ),
            (Acquire::Lock, None) => encode_command(
                out,
                &[b"LOCK.ACQUIRE", key, token, b"PX", self.ttl.as_bytes()],
            ),
            (Acquire::Lock, Some(wait)) => {
                let wait = wait.to_string();
                encode_command(
                    out,
                    &[
                        b"LOCK.ACQUIRE",
                        key,
                        token,
                        b"PX",
                        self.ttl.as_bytes(),
                        b"WAIT",
                        wait.as_bytes(),
                    ],
                )
            }
        }
    }

    /// Appends the release request.
    pub fn release(&self, out: &mut Vec<u8>, key: &[u8], token: &[u8]) {
        match self.release {
            Release::Evalsha => {
                encode_command(out, &[b"EVALSHA", self.sha.as_bytes(), b"1", key, token])
            }
            Release::Delifeq => encode_command(out, &[b"DELIFEQ", key, token]),
            Release::Lock => encode_command(out, &[b"LOCK.RELEASE", key, token]),
            Release::Del => encode_command(out, &[b"DEL", key]),
        }
    }
}

/// Whether an acquire reply grants the lock: `+OK` for `SET`, an integer (the fencing token)
/// for `LOCK.ACQUIRE`.
pub fn granted(frame: &Frame<'_>) -> bool {
    matches!(frame, Frame::Simple(b"OK") | Frame::Integer(_))
}

pub async fn run(target: &Target, args: Args) -> io::Result<()> {
    let mut probe = Conn::connect(target.addr).await?;
    let commands =
        match LockCommands::prepare(&mut probe, args.acquire, args.release, args.ttl_ms).await? {
            Ok(commands) => Arc::new(commands),
            Err(error) => {
                stats::unsupported(&args.name, target, &error);
                return Ok(());
            }
        };
    drop(probe);
    let mut conns = Vec::new();
    for _ in 0..args.clients.max(1) {
        conns.push(Conn::connect(target.addr).await?);
    }
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let budget = Budget::new(args.cycles, args.duration);
    let mut tasks = Vec::new();
    for (index, conn) in conns.into_iter().enumerate() {
        let commands = commands.clone();
        let issued = issued.clone();
        let keyspace = args.keyspace;
        tasks.push(tokio::spawn(async move {
            cycle_loop(conn, &commands, keyspace, budget, &issued, index as u64).await
        }));
    }
    let mut histogram = stats::histogram();
    let mut totals = Totals::default();
    let mut last = started;
    for task in tasks {
        let (part, counts, finished) = task.await.map_err(io::Error::other)??;
        histogram.add(&part).map_err(io::Error::other)?;
        totals.add(&counts);
        last = last.max(finished);
    }
    let elapsed = last.duration_since(started).as_secs_f64().max(1e-9);
    Line::new(&args.name, target)
        .field("status", "ok")
        .num("ops_per_s", totals.cycles as f64 / elapsed, 0)
        .latency("", &histogram)
        .field("cycles", totals.cycles)
        .field("busy", totals.busy)
        .field("release_failed", totals.release_failed)
        .field("errors", totals.errors)
        .field("clients", args.clients)
        .num("seconds", elapsed, 2)
        .print();
    Ok(())
}

#[derive(Default)]
struct Totals {
    cycles: u64,
    /// Acquires refused because another client held that key.
    busy: u64,
    /// Releases that deleted nothing (the lock had expired or was not ours).
    release_failed: u64,
    errors: u64,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.cycles += other.cycles;
        self.busy += other.busy;
        self.release_failed += other.release_failed;
        self.errors += other.errors;
    }
}

async fn cycle_loop(
    mut conn: Conn,
    commands: &LockCommands,
    keyspace: u64,
    budget: Budget,
    issued: &AtomicU64,
    owner: u64,
) -> io::Result<(Histogram<u64>, Totals, Instant)> {
    let mut histogram = stats::histogram();
    let mut totals = Totals::default();
    let mut rng = fastrand::Rng::with_seed(0xc7c1e ^ owner.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut out = Vec::with_capacity(256);
    let mut finished = Instant::now();
    let mut key = Vec::with_capacity(32);
    let mut sequence = 0u64;
    while budget.claim(issued, 1) == 1 {
        key.clear();
        key.extend_from_slice(b"lock:");
        key.extend_from_slice(
            itoa::Buffer::new()
                .format(rng.u64(..keyspace.max(1)))
                .as_bytes(),
        );
        sequence += 1;
        let token = stats::token(owner, sequence);
        let started = Instant::now();
        out.clear();
        commands.acquire(&mut out, &key, token.as_bytes(), None);
        conn.send(&out).await?;
        let (ok, error) = conn
            .recv(|f| (granted(&f), f.error_text().is_some()))
            .await?;
        if error {
            totals.errors += 1;
            continue;
        }
        if !ok {
            totals.busy += 1;
            continue;
        }
        out.clear();
        commands.release(&mut out, &key, token.as_bytes());
        conn.send(&out).await?;
        let (deleted, error) = conn
            .recv(|f| (matches!(f, Frame::Integer(1)), f.error_text().is_some()))
            .await?;
        if error {
            totals.errors += 1;
        } else if !deleted {
            totals.release_failed += 1;
        }
        finished = Instant::now();
        stats::record(&mut histogram, finished - started);
        totals.cycles += 1;
    }
    Ok((histogram, totals, finished))
}
