//! Server commands: `INFO`, `COMMAND`, `CONFIG`, `DBSIZE`, `FLUSHDB`, `FLUSHALL`, `TIME`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::is;
use super::connection::REDIS_VERSION;
use super::flags::*;
use super::{all_commands, flag_names, CommandSpec, Ctx, Handler};
use crate::errors::{self, CommandResult};
use crate::protocol::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    spec("info", -1, LOADING | STALE, &["slow", "dangerous"], info),
    spec(
        "command",
        -1,
        LOADING | STALE,
        &["slow", "connection"],
        command,
    ),
    spec(
        "dbsize",
        1,
        READONLY | FAST,
        &["keyspace", "read", "fast"],
        dbsize,
    ),
    spec(
        "flushdb",
        -1,
        WRITE,
        &["keyspace", "write", "slow", "dangerous"],
        flushdb,
    ),
    spec(
        "flushall",
        -1,
        WRITE,
        &["keyspace", "write", "slow", "dangerous"],
        flushall,
    ),
    spec("time", 1, FAST | LOADING | STALE, &["fast"], time),
];

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    categories: &'static [&'static str],
    handler: fn(&mut Ctx, &[Bytes]) -> CommandResult,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys: (0, 0, 0),
        categories,
        handler: Handler::Sync(handler),
    }
}

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let db = ctx.db();
    let now = ctx.now_ms;
    let mut count = 0;
    for index in ctx.shared.keyspace.db_shards(db) {
        count += ctx.locks.shard_at(index)?.iter_live(now).count();
    }
    Ok(Reply::Integer(count as i64))
}

fn check_flush_args(args: &[Bytes]) -> Result<(), errors::Error> {
    match &args[1..] {
        [] => Ok(()),
        [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => Ok(()),
        _ => Err(errors::SYNTAX),
    }
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    check_flush_args(args)?;
    let db = ctx.db();
    for index in ctx.shared.keyspace.db_shards(db) {
        ctx.locks.shard_at(index)?.clear();
    }
    Ok(Reply::OK)
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    check_flush_args(args)?;
    for index in 0..ctx.shared.keyspace.shard_count() {
        ctx.locks.shard_at(index)?.clear();
    }
    Ok(Reply::OK)
}

fn time(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let micros = ctx.shared.keyspace.clock.unix_us();
    Ok(Reply::Array(vec![
        Reply::bulk((micros / 1_000_000).to_string()),
        Reply::bulk((micros % 1_000_000).to_string()),
    ]))
}

/// The `INFO` sections, in Redis's order.
const SECTIONS: &[&str] = &["server", "clients", "memory", "stats", "keyspace"];

fn info(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "everything" || w == "default");
    let mut text = String::new();
    for section in SECTIONS {
        if !all && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        info_section(ctx, section, &mut text);
    }
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

fn info_section(ctx: &Ctx, section: &str, out: &mut String) {
    let shared = ctx.shared;
    let uptime = shared.started.elapsed().as_secs();
    match section {
        "server" => {
            let _ = write!(
                out,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nlatchkey_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nexecutable:latchkey\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::process::id(),
                shared.port,
                uptime / 86400,
                shared.expiry.hz.load(Ordering::Relaxed),
            );
        }
        "clients" => {
            let _ = write!(
                out,
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:0\r\n",
                shared.clients.lock().len(),
                shared.config.read().maxclients,
            );
        }
        "memory" => {
            let used: usize = (0..shared.keyspace.shard_count())
                .map(|i| shared.keyspace.shard_mutex(i).lock().approximate_memory())
                .sum();
            let _ = write!(
                out,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{:.2}K\r\nused_memory_rss:{}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n",
                used as f64 / 1024.0,
                resident_memory().unwrap_or(0),
            );
        }
        "stats" => {
            let stats = &shared.stats;
            let expired: u64 = (0..shared.keyspace.shard_count())
                .map(|i| shared.keyspace.shard_mutex(i).lock().expired_count)
                .sum();
            let _ = write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{expired}\r\nevicted_keys:0\r\n",
                stats.connections_received.load(Ordering::Relaxed),
                stats.commands_processed.load(Ordering::Relaxed),
                stats.rejected_connections.load(Ordering::Relaxed),
            );
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for db in 0..shared.keyspace.databases() {
                let (keys, expires) = shared.keyspace.db_counts(db);
                if keys > 0 {
                    let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        _ => {}
    }
}

/// The process's resident memory in bytes, from `/proc/self/statm` (Linux).
pub fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// One command's `COMMAND INFO` entry, as Redis 7 shapes it.
fn command_entry(spec: &CommandSpec) -> Reply {
    let names =
        |items: Vec<&'static str>| Reply::Set(items.into_iter().map(Reply::simple).collect());
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Integer(spec.arity as i64),
        names(flag_names(spec.flags)),
        Reply::Integer(spec.keys.0 as i64),
        Reply::Integer(spec.keys.1 as i64),
        Reply::Integer(spec.keys.2 as i64),
        Reply::Set(
            spec.categories
                .iter()
                .map(|c| Reply::Simple(format!("@{c}").into()))
                .collect(),
        ),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
    ])
}

fn command(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(sub) = args.get(1) else {
        return Ok(Reply::Array(all_commands().map(command_entry).collect()));
    };
    if is(sub, "COUNT") && args.len() == 2 {
        Ok(Reply::Integer(all_commands().count() as i64))
    } else if is(sub, "INFO") {
        if args.len() == 2 {
            return Ok(Reply::Array(all_commands().map(command_entry).collect()));
        }
        Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|name| super::lookup(name).map_or(Reply::NilArray, command_entry))
                .collect(),
        ))
    } else if is(sub, "LIST") && args.len() == 2 {
        Ok(Reply::Array(
            all_commands().map(|s| Reply::bulk(s.name)).collect(),
        ))
    } else if is(sub, "DOCS") {
        Ok(Reply::Map(vec![]))
    } else {
        Err(errors::unknown_subcommand("command", sub))
    }
}
