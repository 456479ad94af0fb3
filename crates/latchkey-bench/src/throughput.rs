//! Command throughput: `clients` connections each send batches of `pipeline` requests made from
//! one command template and wait for all their replies before the next batch. The latency of a
//! request is the time from its batch's write to its reply.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::resp::{Conn, Frame};
use crate::stats::{self, Line, Target};
use crate::template::{Template, COMPARE_DELETE};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Workload name for the output line.
    #[arg(long, default_value = "run")]
    pub name: String,
    /// The command, e.g. `SET lock:__rand_int__ tok NX PX 30000` (`__rand_int__` and
    /// `__cmpdel_sha__` are substituted).
    #[arg(long, short = 'c')]
    pub command: String,
    /// Requests per batch.
    #[arg(long, short = 'P', default_value_t = 1)]
    pub pipeline: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Stop after this many requests…
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// …or after this many seconds (default 5 when neither is given).
    #[arg(long, short = 'd')]
    pub duration: Option<f64>,
    /// `__rand_int__` takes values below this.
    #[arg(long, short = 'r', default_value_t = 1_000_000)]
    pub keyspace: u64,
}

/// Bounds shared by workloads: a request budget and/or a deadline.
#[derive(Clone, Copy)]
pub struct Budget {
    pub requests: Option<u64>,
    pub deadline: Instant,
}

impl Budget {
    pub fn new(requests: Option<u64>, duration: Option<f64>) -> Budget {
        let seconds = match (requests, duration) {
            (_, Some(seconds)) => seconds,
            (Some(_), None) => 600.0,
            (None, None) => 5.0,
        };
        Budget {
            requests,
            deadline: Instant::now() + Duration::from_secs_f64(seconds.clamp(0.001, 3600.0)),
        }
    }

    /// Claims up to `want` requests from the shared counter; 0 when the run is over.
    pub fn claim(&self, issued: &AtomicU64, want: u64) -> u64 {
        if Instant::now() >= self.deadline {
            return 0;
        }
        let Some(limit) = self.requests else {
            issued.fetch_add(want, Ordering::Relaxed);
            return want;
        };
        let before = issued.fetch_add(want, Ordering::Relaxed);
        limit.saturating_sub(before).min(want)
    }
}

/// Loads the compare-delete script with `SCRIPT LOAD`; `Err(reply)` when the server cannot.
pub async fn load_compare_delete(conn: &mut Conn) -> io::Result<Result<String, String>> {
    let reply = conn.call(&["SCRIPT", "LOAD", COMPARE_DELETE]).await?;
    Ok(match reply {
        crate::resp::Owned::Bulk(Some(sha)) => Ok(String::from_utf8_lossy(&sha).into_owned()),
        crate::resp::Owned::Error(error) => Err(error),
        other => Err(format!("unexpected SCRIPT LOAD reply {other:?}")),
    })
}

pub async fn run(target: &Target, args: Args) -> io::Result<()> {
    let mut probe = Conn::connect(target.addr).await?;
    let sha = if Template::needs_script(&args.command) {
        match load_compare_delete(&mut probe).await? {
            Ok(sha) => Some(sha),
            Err(error) => {
                stats::unsupported(&args.name, target, &error);
                return Ok(());
            }
        }
    } else {
        None
    };
    let template = Template::new(&args.command, sha.as_deref());
    probe.send(template.probe()).await?;
    if let Some(error) = probe.recv(|frame| frame.error_text()).await? {
        if stats::is_unsupported(&error) {
            stats::unsupported(&args.name, target, &error);
            return Ok(());
        }
    }
    drop(probe);

    let mut conns = Vec::with_capacity(args.clients);
    for _ in 0..args.clients.max(1) {
        conns.push(Conn::connect(target.addr).await?);
    }
    let pipeline = args.pipeline.max(1);
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(parking_lot::Mutex::new(None::<String>));
    let started = Instant::now();
    let budget = Budget::new(args.requests, args.duration);
    let mut tasks = Vec::new();
    for (index, conn) in conns.into_iter().enumerate() {
        let template = template.clone();
        let issued = issued.clone();
        let errors = errors.clone();
        let first_error = first_error.clone();
        let keyspace = args.keyspace;
        tasks.push(tokio::spawn(async move {
            client_loop(
                conn,
                template,
                pipeline,
                keyspace,
                budget,
                issued,
                errors,
                first_error,
                index as u64,
            )
            .await
        }));
    }
    let mut histogram = stats::histogram();
    let mut done = 0u64;
    let mut last = started;
    for task in tasks {
        let (part, completed, finished) = task.await.map_err(io::Error::other)??;
        histogram.add(&part).map_err(io::Error::other)?;
        done += completed;
        last = last.max(finished);
    }
    let elapsed = last.duration_since(started).as_secs_f64().max(1e-9);
    let mut line = Line::new(&args.name, target)
        .field("status", "ok")
        .num("ops_per_s", done as f64 / elapsed, 0)
        .latency("", &histogram)
        .field("requests", done)
        .field("errors", errors.load(Ordering::Relaxed))
        .field("clients", args.clients)
        .field("pipeline", pipeline)
        .num("seconds", elapsed, 2);
    if let Some(error) = first_error.lock().take() {
        line = line.field("first_error", error);
    }
    line.print();
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn client_loop(
    mut conn: Conn,
    template: Template,
    pipeline: usize,
    keyspace: u64,
    budget: Budget,
    issued: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    first_error: Arc<parking_lot::Mutex<Option<String>>>,
    seed: u64,
) -> io::Result<(Histogram<u64>, u64, Instant)> {
    let mut histogram = stats::histogram();
    let mut rng = fastrand::Rng::with_seed(0x5eed ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut out = Vec::with_capacity(pipeline * 64);
    let mut completed = 0u64;
    let mut finished = Instant::now();
    loop {
        let batch = budget.claim(&issued, pipeline as u64);
        if batch == 0 {
            break;
        }
        out.clear();
        for _ in 0..batch {
            template.write(&mut out, keyspace, &mut rng);
        }
        let sent = Instant::now();
        conn.send(&out).await?;
        for _ in 0..batch {
            let error = conn
                .recv(|frame| match frame {
                    Frame::Error(text) => Some(String::from_utf8_lossy(text).into_owned()),
                    _ => None,
                })
                .await?;
            if let Some(error) = error {
                if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    *first_error.lock() = Some(error);
                }
            }
            finished = Instant::now();
            stats::record(&mut histogram, finished - sent);
        }
        completed += batch;
    }
    Ok((histogram, completed, finished))
}
