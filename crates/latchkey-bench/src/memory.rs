//! Memory workloads: bytes per lock (fill N locks) and bytes per idle connection (open N
//! connections and hold them), read from the server's `/proc/<pid>/status` (`VmRSS`) and from
//! `INFO memory` (`used_memory`).

use std::io;
use std::time::{Duration, Instant};

use crate::resp::{encode_command, Conn, Owned};
use crate::stats::{self, Line, Target};

#[derive(clap::Args, Debug)]
pub struct FillArgs {
    #[arg(long, default_value = "memory")]
    pub name: String,
    /// Locks to create: `lock:<i>` → a 36-byte token, with `PX`.
    #[arg(long, short = 'n', default_value_t = 1_000_000)]
    pub locks: u64,
    /// Server process id, for its resident set size.
    #[arg(long)]
    pub pid: Option<u32>,
    #[arg(long, default_value_t = 8)]
    pub clients: u64,
    #[arg(long, short = 'P', default_value_t = 64)]
    pub pipeline: u64,
    /// Time-to-live of the locks (long enough that none expires during the measurement).
    #[arg(long, default_value_t = 3_600_000)]
    pub ttl_ms: u64,
    /// Seconds to let the server settle before the second reading.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
}

#[derive(clap::Args, Debug)]
pub struct IdleArgs {
    #[arg(long, default_value = "idle")]
    pub name: String,
    /// Connections to open and hold.
    #[arg(long, short = 'n', default_value_t = 10_000)]
    pub connections: usize,
    #[arg(long)]
    pub pid: Option<u32>,
    /// Seconds to hold the connections open once the server counts them all.
    #[arg(long, default_value_t = 1.0)]
    pub hold: f64,
    /// Send one `PING` on each connection (by default they never send a byte, like
    /// redis-benchmark's idle mode, so no query buffer is ever allocated for them).
    #[arg(long)]
    pub ping: bool,
}

/// The resident set size of `pid` in bytes, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `used_memory` from `INFO memory`.
pub async fn used_memory(conn: &mut Conn) -> io::Result<Option<u64>> {
    info_field(conn, "memory", "used_memory").await
}

/// A numeric field of one `INFO` section.
async fn info_field(conn: &mut Conn, section: &str, field: &str) -> io::Result<Option<u64>> {
    let Owned::Bulk(Some(text)) = conn.call(&["INFO", section]).await? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&text);
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| *name == field)
        .and_then(|(_, value)| value.trim().parse().ok()))
}

fn per_item(before: Option<u64>, after: Option<u64>, items: u64) -> Option<f64> {
    Some((after? as f64 - before? as f64) / items.max(1) as f64)
}

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "na".to_string(), |v| v.to_string())
}

fn opt_f(value: Option<f64>) -> String {
    value.map_or_else(|| "na".to_string(), |v| format!("{v:.1}"))
}

pub async fn fill(target: &Target, args: FillArgs) -> io::Result<()> {
    let mut conn = Conn::connect(target.addr).await?;
    let rss_before = rss_bytes(args.pid);
    let used_before = used_memory(&mut conn).await?;
    let started = Instant::now();
    let clients = args.clients.clamp(1, 1024);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let addr = target.addr;
        let (locks, pipeline, ttl) = (args.locks, args.pipeline.max(1), args.ttl_ms.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut out = Vec::with_capacity(pipeline as usize * 96);
            let mut errors = 0u64;
            let mut index = client;
            while index < locks {
                out.clear();
                let mut batch = 0;
                while batch < pipeline && index < locks {
                    let key = format!("lock:{index}");
                    let token = stats::token(client, index);
                    encode_command(
                        &mut out,
                        &[
                            b"SET",
                            key.as_bytes(),
                            token.as_bytes(),
                            b"PX",
                            ttl.as_bytes(),
                        ],
                    );
                    index += clients;
                    batch += 1;
                }
                conn.send(&out).await?;
                for _ in 0..batch {
                    if conn.recv(|f| f.error_text().is_some()).await? {
                        errors += 1;
                    }
                }
            }
            io::Result::Ok(errors)
        }));
    }
    let mut errors = 0;
    for task in tasks {
        errors += task.await.map_err(io::Error::other)??;
    }
    let fill_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.settle.clamp(0.0, 60.0))).await;
    let rss_after = rss_bytes(args.pid);
    let used_after = used_memory(&mut conn).await?;
    let keys = match conn.call(&["DBSIZE"]).await? {
        Owned::Integer(n) => n.to_string(),
        _ => "na".to_string(),
    };
    Line::new(&args.name, target)
        .field("status", "ok")
        .field(
            "rss_per_lock_b",
            opt_f(per_item(rss_before, rss_after, args.locks)),
        )
        .field(
            "used_per_lock_b",
            opt_f(per_item(used_before, used_after, args.locks)),
        )
        .field("locks", args.locks)
        .field("dbsize", keys)
        .field("rss_before_b", opt(rss_before))
        .field("rss_after_b", opt(rss_after))
        .field("used_before_b", opt(used_before))
        .field("used_after_b", opt(used_after))
        .num("ops_per_s", args.locks as f64 / fill_seconds.max(1e-9), 0)
        .field("errors", errors)
        .print();
    Ok(())
}

pub async fn idle(target: &Target, args: IdleArgs) -> io::Result<()> {
    let mut control = Conn::connect(target.addr).await?;
    let rss_before = rss_bytes(args.pid);
    let used_before = used_memory(&mut control).await?;
    let mut held = Vec::with_capacity(args.connections);
    let mut failed = 0u64;
    let mut first_error = None;
    // Open in waves smaller than the smallest usual listen backlog (128), so no SYN is dropped
    // and retried a second later: the workload measures memory, not the accept queue.
    let wave = 64;
    let mut opened = 0;
    while opened < args.connections {
        let count = wave.min(args.connections - opened);
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let addr = target.addr;
            let ping = args.ping;
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::connect(addr).await?;
                if !ping {
                    return Ok(conn);
                }
                match conn.call(&["PING"]).await? {
                    Owned::Simple(_) => Ok(conn),
                    other => Err(io::Error::other(format!("PING got {other:?}"))),
                }
            }));
        }
        for task in tasks {
            match task.await.map_err(io::Error::other)? {
                Ok(conn) => held.push(conn),
                Err(error) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| error.to_string());
                }
            }
        }
        opened += count;
    }
    // Wait (bounded) until the server has accepted every connection.
    let open = held.len() as u64;
    let counted_by = Instant::now() + Duration::from_secs(20);
    let mut counted = info_field(&mut control, "clients", "connected_clients").await?;
    while counted.is_some_and(|n| n < open + 1) && Instant::now() < counted_by {
        tokio::time::sleep(Duration::from_millis(100)).await;
        counted = info_field(&mut control, "clients", "connected_clients").await?;
    }
    tokio::time::sleep(Duration::from_secs_f64(args.hold.clamp(0.0, 60.0))).await;
    let rss_after = rss_bytes(args.pid);
    let used_after = used_memory(&mut control).await?;
    let mut line = Line::new(&args.name, target)
        .field("status", if failed == 0 { "ok" } else { "partial" })
        .field(
            "rss_per_conn_b",
            opt_f(per_item(rss_before, rss_after, open)),
        )
        .field(
            "used_per_conn_b",
            opt_f(per_item(used_before, used_after, open)),
        )
        .field("connections", open)
        .field("server_counted", opt(counted))
        .field("failed", failed)
        .field("rss_before_b", opt(rss_before))
        .field("rss_after_b", opt(rss_after));
    if let Some(error) = first_error {
        line = line.field("first_error", error);
    }
    line.print();
    drop(held);
    Ok(())
}
