//! `INFO [section …]`: Redis's sections and field names, so that clients and tools that parse
//! them (ioredis's ready check, redis-cli, monitoring agents) find what they look for.
//!
//! Fields latchkey has no counterpart for carry the value Redis shows for an idle server
//! without persistence or replicas (`loading:0`, `role:master`, `aof_enabled:0`).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::connection::REDIS_VERSION;
use super::Ctx;
use crate::db::{Shard, ShardGuards};
use crate::errors::CommandResult;
use crate::protocol::Reply;
use crate::server::Shared;

/// The sections `INFO` and `INFO default` show, in Redis's order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

pub(super) fn info(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let every = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "everything" | "default"));
    let mut text = String::new();
    for section in DEFAULT_SECTIONS {
        if !every && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        write_section(ctx.shared, ctx.guards, section, &mut text);
    }
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

/// Appends one section, its `# Title` line first.
fn write_section(shared: &Shared, guards: &mut ShardGuards, section: &str, out: &mut String) {
    match section {
        "server" => server(shared, out),
        "clients" => clients(shared, out),
        "memory" => memory(shared, guards, out),
        "persistence" => persistence(shared, out),
        "stats" => stats(shared, guards, out),
        "replication" => replication(shared, out),
        "cpu" => cpu(out),
        "modules" => out.push_str("# Modules\r\n"),
        "errorstats" => out.push_str("# Errorstats\r\n"),
        "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => keyspace(shared, guards, out),
        _ => {}
    }
}

/// Appends `name:value\r\n` lines.
fn fields(out: &mut String, title: &str, lines: &[(&str, String)]) {
    let _ = write!(out, "# {title}\r\n");
    for (name, value) in lines {
        let _ = write!(out, "{name}:{value}\r\n");
    }
}

fn server(shared: &Shared, out: &mut String) {
    let uptime = shared.started.elapsed().as_secs();
    let unix_us = shared.keyspace.clock.unix_us();
    let hz = shared.expiry.hz.load(Ordering::Relaxed);
    let executable = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    fields(
        out,
        "Server",
        &[
            ("redis_version", REDIS_VERSION.into()),
            ("redis_git_sha1", "00000000".into()),
            ("redis_git_dirty", "0".into()),
            ("redis_build_id", "0".into()),
            ("latchkey_version", env!("CARGO_PKG_VERSION").into()),
            ("redis_mode", "standalone".into()),
            (
                "os",
                format!(
                    "{} {}",
                    capitalised(std::env::consts::OS),
                    std::env::consts::ARCH
                ),
            ),
            ("arch_bits", (usize::BITS).to_string()),
            ("monotonic_clock", "POSIX clock_gettime".into()),
            ("multiplexing_api", "epoll".into()),
            ("atomicvar_api", "c11-builtin".into()),
            ("process_id", std::process::id().to_string()),
            ("process_supervised", "no".into()),
            ("run_id", shared.run_id.clone()),
            ("tcp_port", shared.port.to_string()),
            ("server_time_usec", unix_us.to_string()),
            ("uptime_in_seconds", uptime.to_string()),
            ("uptime_in_days", (uptime / 86400).to_string()),
            ("hz", hz.to_string()),
            ("configured_hz", shared.config.read().hz.to_string()),
            ("lru_clock", ((unix_us / 1_000_000) & 0xFF_FFFF).to_string()),
            ("executable", executable),
            ("config_file", String::new()),
            ("io_threads_active", "0".into()),
        ],
    );
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

fn clients(shared: &Shared, out: &mut String) {
    fields(
        out,
        "Clients",
        &[
            ("connected_clients", shared.clients.lock().len().to_string()),
            ("cluster_connections", "0".into()),
            ("maxclients", shared.config.read().maxclients.to_string()),
            ("client_recent_max_input_buffer", "0".into()),
            ("client_recent_max_output_buffer", "0".into()),
            ("blocked_clients", "0".into()),
            ("tracking_clients", "0".into()),
            ("clients_in_timeout_table", "0".into()),
        ],
    );
}

/// Bytes as Redis's `bytesToHuman` shows them: `512B`, `1.50K`, `2.00M`, `1.00G`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (1 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for &(size, unit) in UNITS {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

fn memory(shared: &Shared, guards: &mut ShardGuards, out: &mut String) {
    let used = if crate::memory::counting() {
        crate::memory::used()
    } else {
        sum_shards(guards, 0..shared.keyspace.shard_count(), |shard| {
            shard.approximate_memory() as u64
        }) + BASELINE_MEMORY
    };
    let rss = resident_memory().unwrap_or(used);
    let peak = shared
        .memory_peak
        .fetch_max(used, Ordering::Relaxed)
        .max(used);
    let maxmemory = shared.config.read().maxmemory;
    fields(
        out,
        "Memory",
        &[
            ("used_memory", used.to_string()),
            ("used_memory_human", human_bytes(used)),
            ("used_memory_rss", rss.to_string()),
            ("used_memory_rss_human", human_bytes(rss)),
            ("used_memory_peak", peak.to_string()),
            ("used_memory_peak_human", human_bytes(peak)),
            (
                "total_system_memory",
                system_memory().unwrap_or(0).to_string(),
            ),
            (
                "total_system_memory_human",
                human_bytes(system_memory().unwrap_or(0)),
            ),
            ("maxmemory", maxmemory.to_string()),
            ("maxmemory_human", human_bytes(maxmemory)),
            ("maxmemory_policy", "noeviction".into()),
            (
                "mem_fragmentation_ratio",
                format!("{:.2}", rss as f64 / used.max(1) as f64),
            ),
            ("mem_allocator", "libc".into()),
        ],
    );
}

/// What an empty server reports as used memory (buffers, tables), so `used_memory` is never 0.
const BASELINE_MEMORY: u64 = 900 * 1024;

/// The process's resident memory in bytes, from `/proc/self/statm` (Linux).
pub fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The machine's memory in bytes, from `/proc/meminfo` (Linux).
fn system_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn persistence(shared: &Shared, out: &mut String) {
    let last_save = shared.last_save_unix.load(Ordering::Relaxed);
    // The log's fields: the status ones before the fork fields, the sizes after, as in Redis.
    let aof = shared.aof.info_fields();
    let aof_head = aof
        .iter()
        .position(|(name, _)| *name == "aof_current_size")
        .unwrap_or(aof.len());
    fields(
        out,
        "Persistence",
        &[
            ("loading", "0".into()),
            ("async_loading", "0".into()),
            ("current_cow_peak", "0".into()),
            ("current_cow_size", "0".into()),
            ("current_fork_perc", "0.00".into()),
            ("current_save_keys_processed", "0".into()),
            ("current_save_keys_total", "0".into()),
            ("rdb_changes_since_last_save", "0".into()),
            ("rdb_bgsave_in_progress", "0".into()),
            ("rdb_last_save_time", last_save.to_string()),
            ("rdb_last_bgsave_status", "ok".into()),
            ("rdb_last_bgsave_time_sec", "-1".into()),
            ("rdb_current_bgsave_time_sec", "-1".into()),
        ]
        .into_iter()
        .chain(aof.iter().take(aof_head).cloned())
        .chain([
            ("module_fork_in_progress", "0".into()),
            ("module_fork_last_cow_size", "0".into()),
        ])
        .chain(aof.iter().skip(aof_head).cloned())
        .collect::<Vec<_>>(),
    );
}

fn stats(shared: &Shared, guards: &mut ShardGuards, out: &mut String) {
    let counters = &shared.stats;
    let expired = sum_shards(guards, 0..shared.keyspace.shard_count(), |shard| {
        shard.expired_count
    });
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed).to_string();
    fields(
        out,
        "Stats",
        &[
            (
                "total_connections_received",
                load(&counters.connections_received),
            ),
            (
                "total_commands_processed",
                load(&counters.commands_processed),
            ),
            ("instantaneous_ops_per_sec", "0".into()),
            ("total_net_input_bytes", "0".into()),
            ("total_net_output_bytes", "0".into()),
            ("rejected_connections", load(&counters.rejected_connections)),
            ("sync_full", "0".into()),
            ("sync_partial_ok", "0".into()),
            ("sync_partial_err", "0".into()),
            ("expired_keys", expired.to_string()),
            ("expired_stale_perc", "0.00".into()),
            ("expired_time_cap_reached_count", "0".into()),
            ("evicted_keys", "0".into()),
            ("evicted_clients", "0".into()),
            ("keyspace_hits", "0".into()),
            ("keyspace_misses", "0".into()),
            ("pubsub_channels", "0".into()),
            ("pubsub_patterns", "0".into()),
            ("latest_fork_usec", "0".into()),
            ("total_forks", "0".into()),
            ("migrate_cached_sockets", "0".into()),
            ("total_error_replies", "0".into()),
        ],
    );
}

fn replication(shared: &Shared, out: &mut String) {
    fields(
        out,
        "Replication",
        &[
            ("role", "master".into()),
            ("connected_slaves", "0".into()),
            ("master_failover_state", "no-failover".into()),
            ("master_replid", shared.run_id.clone()),
            ("master_replid2", "0".repeat(40)),
            ("master_repl_offset", "0".into()),
            ("second_repl_offset", "-1".into()),
            ("repl_backlog_active", "0".into()),
            ("repl_backlog_size", "1048576".into()),
            ("repl_backlog_first_byte_offset", "0".into()),
            ("repl_backlog_histlen", "0".into()),
        ],
    );
}

/// User and system CPU seconds of the process, from `/proc/self/stat` (Linux, 100 ticks/s).
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user / 100.0, system / 100.0))
}

fn cpu(out: &mut String) {
    let (user, system) = cpu_seconds().unwrap_or((0.0, 0.0));
    fields(
        out,
        "CPU",
        &[
            ("used_cpu_sys", format!("{system:.6}")),
            ("used_cpu_user", format!("{user:.6}")),
            ("used_cpu_sys_children", "0.000000".into()),
            ("used_cpu_user_children", "0.000000".into()),
        ],
    );
}

fn keyspace(shared: &Shared, guards: &mut ShardGuards, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for db in 0..shared.keyspace.databases() {
        let shards = shared.keyspace.db_shards(db);
        let keys = sum_shards(guards, shards.clone(), |shard| shard.len() as u64);
        let expires = sum_shards(guards, shards, |shard| shard.volatile_len() as u64);
        if keys > 0 {
            let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}

/// Sums `measure` over the shards in `range`, taken through the command's `ShardGuards`: inside
/// `EXEC` some shards are already held by this very command, and locking them again directly
/// would deadlock.
fn sum_shards(
    guards: &mut ShardGuards,
    range: std::ops::Range<usize>,
    measure: impl Fn(&Shard) -> u64,
) -> u64 {
    range
        .filter_map(|index| guards.shard_at(index).ok().map(|shard| measure(shard)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_like_redis() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(2 * 1024 * 1024), "2.00M");
        assert_eq!(human_bytes(1 << 30), "1.00G");
    }
}
