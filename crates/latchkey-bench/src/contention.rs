//! Contention on one key: `contenders` clients each loop "acquire, hold, release" on the same
//! lock, either polling `SET NX PX` with a retry interval (what lock libraries do against
//! Redis) or blocking server-side in `LOCK.ACQUIRE … WAIT`.
//!
//! Reported: grants per second, handoffs per second (grants to a different client than the
//! previous holder), the wait from starting to try until the grant, grants per contender with
//! the max/min fairness ratio, and overlaps (two holders at once: must be 0).
//!
//! By default a contender waits for its release's reply before it asks again. With
//! `--pipeline-release` it sends the release and its next acquire in one write, as a pipelining
//! client that wants the lock again would: one request and one wake-up fewer per cycle. The
//! same applies to both modes, but it means something only for `wait`: there the server queues
//! the new acquire behind the clients already waiting, so the lock still passes to the next in
//! line; a polling client's `SET NX` arriving with its own release simply takes the lock back
//! (Redis runs a client's pipelined commands back to back), so polling handoffs collapse and
//! the figure no longer describes a handoff. Compare polling without it.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::cycle::{granted, Acquire, LockCommands, Release};
use crate::resp::Conn;
use crate::stats::{self, Line, Target};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, default_value = "contend")]
    pub name: String,
    /// Clients competing for the one key.
    #[arg(long, default_value_t = 16)]
    pub contenders: usize,
    /// `poll`: `SET NX PX`, sleeping `--retry-ms` after a refusal; `wait`:
    /// `LOCK.ACQUIRE … WAIT`.
    #[arg(long, value_enum, default_value_t = Mode::Poll)]
    pub mode: Mode,
    /// Sleep between polling attempts.
    #[arg(long, default_value_t = 10)]
    pub retry_ms: u64,
    /// How the holder releases (polling mode; `wait` mode uses `LOCK.RELEASE`).
    #[arg(long, value_enum, default_value_t = Release::Del)]
    pub release: Release,
    /// How long a holder keeps the lock before releasing it.
    #[arg(long, default_value_t = 0)]
    pub hold_ms: u64,
    /// Lock time-to-live (a safety net: holders always release).
    #[arg(long, default_value_t = 30_000)]
    pub ttl_ms: u64,
    /// Length of the run in seconds.
    #[arg(long, short = 'd', default_value_t = 5.0)]
    pub duration: f64,
    /// The contended key.
    #[arg(long, default_value = "contended:lock")]
    pub key: String,
    /// Send each release together with the next acquire, in one write (see the module docs).
    #[arg(long)]
    pub pipeline_release: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Poll,
    Wait,
}

/// What the contenders share.
struct Board {
    /// Index of the last contender granted (`usize::MAX`: none yet).
    last_holder: AtomicUsize,
    holders: AtomicUsize,
    overlaps: AtomicU64,
    handoffs: AtomicU64,
    grants: Vec<AtomicU64>,
    deadline: Instant,
}

pub async fn run(target: &Target, args: Args) -> io::Result<()> {
    let (acquire, release) = match args.mode {
        Mode::Poll => (Acquire::Set, args.release),
        Mode::Wait => (Acquire::Lock, Release::Lock),
    };
    let mut probe = Conn::connect(target.addr).await?;
    let commands = match LockCommands::prepare(&mut probe, acquire, release, args.ttl_ms).await? {
        Ok(commands) => Arc::new(commands),
        Err(error) => {
            stats::unsupported(&args.name, target, &error);
            return Ok(());
        }
    };
    // Start from a free key.
    probe.call(&["DEL", args.key.as_str()]).await?;
    drop(probe);
    let contenders = args.contenders.max(1);
    let mut conns = Vec::new();
    for _ in 0..contenders {
        conns.push(Conn::connect(target.addr).await?);
    }
    let started = Instant::now();
    let board = Arc::new(Board {
        last_holder: AtomicUsize::new(usize::MAX),
        holders: AtomicUsize::new(0),
        overlaps: AtomicU64::new(0),
        handoffs: AtomicU64::new(0),
        grants: (0..contenders).map(|_| AtomicU64::new(0)).collect(),
        deadline: started + Duration::from_secs_f64(args.duration.clamp(0.01, 3600.0)),
    });
    let mut tasks = Vec::new();
    for (index, conn) in conns.into_iter().enumerate() {
        let board = board.clone();
        let commands = commands.clone();
        let key = args.key.clone().into_bytes();
        let behaviour = Behaviour {
            mode: args.mode,
            retry_ms: args.retry_ms,
            hold_ms: args.hold_ms,
            pipeline_release: args.pipeline_release,
        };
        tasks.push(tokio::spawn(async move {
            contender(conn, index, &board, &commands, &key, behaviour).await
        }));
    }
    // Bounded: waits end by the deadline; a contender stuck longer than that is abandoned.
    let limit = board.deadline + Duration::from_secs(10);
    let mut histogram = stats::histogram();
    let mut errors = 0u64;
    let mut abandoned = 0u64;
    for task in tasks {
        match tokio::time::timeout_at(limit.into(), task).await {
            Ok(joined) => {
                let (part, task_errors) = joined.map_err(io::Error::other)??;
                histogram.add(&part).map_err(io::Error::other)?;
                errors += task_errors;
            }
            Err(_) => abandoned += 1,
        }
    }
    let seconds = args.duration;
    let grants: Vec<u64> = board
        .grants
        .iter()
        .map(|g| g.load(Ordering::Relaxed))
        .collect();
    let total: u64 = grants.iter().sum();
    let max = grants.iter().copied().max().unwrap_or(0);
    let min = grants.iter().copied().min().unwrap_or(0);
    let fairness = if min == 0 {
        f64::INFINITY
    } else {
        max as f64 / min as f64
    };
    let per_contender: Vec<String> = grants.iter().map(u64::to_string).collect();
    Line::new(&args.name, target)
        .field("status", "ok")
        .num(
            "handoffs_per_s",
            board.handoffs.load(Ordering::Relaxed) as f64 / seconds,
            1,
        )
        .num("grants_per_s", total as f64 / seconds, 1)
        .latency("wait_", &histogram)
        .num("fairness_max_min", fairness, 3)
        .field("grants_min", min)
        .field("grants_max", max)
        .field("overlaps", board.overlaps.load(Ordering::Relaxed))
        .field("errors", errors)
        .field("abandoned", abandoned)
        .field("contenders", contenders)
        .field("mode", format!("{:?}", args.mode).to_lowercase())
        .field("retry_ms", args.retry_ms)
        .field("pipeline_release", args.pipeline_release)
        .field("grants", per_contender.join(","))
        .print();
    Ok(())
}

/// How each contender behaves (the same for all).
#[derive(Clone, Copy)]
struct Behaviour {
    mode: Mode,
    retry_ms: u64,
    hold_ms: u64,
    pipeline_release: bool,
}

async fn contender(
    mut conn: Conn,
    index: usize,
    board: &Board,
    commands: &LockCommands,
    key: &[u8],
    behaviour: Behaviour,
) -> io::Result<(Histogram<u64>, u64)> {
    let Behaviour {
        mode,
        retry_ms,
        hold_ms,
        pipeline_release,
    } = behaviour;
    let mut histogram = stats::histogram();
    let mut errors = 0u64;
    let token = stats::token(index as u64, 0);
    let mut out = Vec::with_capacity(128);
    // A release not yet sent: it goes out with the next acquire (`--pipeline-release`).
    let mut release_pending = false;
    'outer: while Instant::now() < board.deadline {
        let trying = Instant::now();
        // Acquire, retrying until granted or the run is over.
        loop {
            let now = Instant::now();
            if now >= board.deadline {
                break 'outer;
            }
            let wait_ms = match mode {
                Mode::Poll => None,
                // A wait never outlasts the run.
                Mode::Wait => Some(((board.deadline - now).as_millis() as u64).clamp(1, 2000)),
            };
            out.clear();
            if release_pending {
                commands.release(&mut out, key, token.as_bytes());
            }
            commands.acquire(&mut out, key, token.as_bytes(), wait_ms);
            conn.send(&out).await?;
            if std::mem::take(&mut release_pending)
                && conn.recv(|f| f.error_text().is_some()).await?
            {
                errors += 1;
            }
            let (ok, error) = conn
                .recv(|f| (granted(&f), f.error_text().is_some()))
                .await?;
            if ok {
                break;
            }
            if error {
                errors += 1;
            }
            if mode == Mode::Poll || error {
                tokio::time::sleep(Duration::from_millis(retry_ms.max(1))).await;
            }
        }
        let granted_at = Instant::now();
        if board.holders.fetch_add(1, Ordering::SeqCst) > 0 {
            board.overlaps.fetch_add(1, Ordering::Relaxed);
        }
        if granted_at < board.deadline {
            stats::record(&mut histogram, granted_at - trying);
            board.grants[index].fetch_add(1, Ordering::Relaxed);
            if board.last_holder.swap(index, Ordering::SeqCst) != index {
                board.handoffs.fetch_add(1, Ordering::Relaxed);
            }
        }
        if hold_ms > 0 {
            tokio::time::sleep(Duration::from_millis(hold_ms)).await;
        }
        board.holders.fetch_sub(1, Ordering::SeqCst);
        if pipeline_release {
            release_pending = true;
            continue;
        }
        out.clear();
        commands.release(&mut out, key, token.as_bytes());
        conn.send(&out).await?;
        if conn.recv(|f| f.error_text().is_some()).await? {
            errors += 1;
        }
    }
    if release_pending {
        // The run is over while holding: release alone, so nobody waits for the lock in vain.
        out.clear();
        commands.release(&mut out, key, token.as_bytes());
        conn.send(&out).await?;
        if conn.recv(|f| f.error_text().is_some()).await? {
            errors += 1;
        }
    }
    Ok((histogram, errors))
}
