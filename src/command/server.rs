//! Server commands: `COMMAND`, `DBSIZE`, `FLUSHDB`, `FLUSHALL`, `TIME`, `LASTSAVE`, `SAVE`,
//! `BGSAVE`, `ROLE`, `MEMORY`. (`INFO` is in `info.rs`, `CONFIG` in `config.rs`.)
//!
//! latchkey keeps data in memory only: `SAVE` and `BGSAVE` reply as Redis does after a
//! successful save, and move `LASTSAVE`, but write nothing.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{self, is};
use super::connection::subcommand;
use super::flags::*;
use super::keyless_spec as spec;
use super::keys::help_reply;
use super::{all_commands, flag_names, lookup, CommandSpec, Ctx, Handler};
use crate::errors::{self, CommandResult, Error};
use crate::glob;
use crate::protocol::Reply;

pub const COMMANDS: &[CommandSpec] = &[
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
    spec(
        "lastsave",
        1,
        FAST | LOADING | STALE,
        &["admin", "fast", "dangerous"],
        lastsave,
    ),
    spec(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_MULTI,
        &["admin", "slow", "dangerous"],
        save,
    ),
    spec(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT,
        &["admin", "slow", "dangerous"],
        bgsave,
    ),
    spec(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        &["admin", "fast", "dangerous"],
        role,
    ),
    CommandSpec {
        name: "memory",
        arity: -2,
        flags: READONLY,
        // `MEMORY USAGE key`: the key is the third argument.
        keys: (2, 2, 1),
        categories: &["slow"],
        handler: Handler::Sync(memory),
    },
];

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let db = ctx.db();
    let now = ctx.now;
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

const COMMAND_SUBCOMMANDS: &[(&str, i32)] = &[
    ("count", 2),
    ("info", -2),
    ("docs", -2),
    ("list", -2),
    ("getkeys", -4),
    ("help", 2),
];

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// `COMMAND` and its subcommands, all generated from the command table.
fn command(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() == 1 {
        return Ok(Reply::Array(all_commands().map(command_entry).collect()));
    }
    match subcommand("command", COMMAND_SUBCOMMANDS, args)? {
        "count" => Ok(Reply::Integer(all_commands().count() as i64)),
        "info" if args.len() == 2 => Ok(Reply::Array(all_commands().map(command_entry).collect())),
        "info" => Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|name| lookup(name).map_or(Reply::Nil, command_entry))
                .collect(),
        )),
        "docs" if args.len() == 2 => Ok(Reply::Map(all_commands().map(command_docs).collect())),
        "docs" => Ok(Reply::Map(
            args[2..]
                .iter()
                .filter_map(|name| lookup(name))
                .map(command_docs)
                .collect(),
        )),
        "list" => command_list(&args[2..]),
        "getkeys" => command_getkeys(&args[2..]),
        _ => Ok(help_reply(COMMAND_HELP)),
    }
}

/// The documentation group of a command, from its ACL categories.
fn doc_group(spec: &CommandSpec) -> &'static str {
    const GROUPS: &[(&str, &str)] = &[
        ("string", "string"),
        ("list", "list"),
        ("hash", "hash"),
        ("set", "set"),
        ("sortedset", "sorted-set"),
        ("pubsub", "pubsub"),
        ("transaction", "transactions"),
        ("scripting", "scripting"),
        ("connection", "connection"),
        ("keyspace", "generic"),
    ];
    GROUPS
        .iter()
        .find(|(category, _)| spec.categories.contains(category))
        .map_or("server", |(_, group)| group)
}

/// A `COMMAND DOCS` entry: the name and a map with what the table knows (its group and
/// arity); latchkey carries no prose summaries.
fn command_docs(spec: &'static CommandSpec) -> (Reply, Reply) {
    (
        Reply::bulk(spec.name),
        Reply::Map(vec![
            (Reply::bulk("summary"), Reply::bulk("")),
            (Reply::bulk("since"), Reply::bulk("1.0.0")),
            (Reply::bulk("group"), Reply::bulk(doc_group(spec))),
        ]),
    )
}

/// `COMMAND LIST [FILTERBY MODULE m|ACLCAT c|PATTERN p]`.
fn command_list(options: &[Bytes]) -> CommandResult {
    let keep: Box<dyn Fn(&CommandSpec) -> bool> = match options {
        [] => Box::new(|_| true),
        [filterby, kind, value] if is(filterby, "FILTERBY") => {
            let value = value.clone();
            if is(kind, "MODULE") {
                Box::new(|_| false)
            } else if is(kind, "ACLCAT") {
                Box::new(move |spec| {
                    spec.categories
                        .iter()
                        .any(|c| c.as_bytes().eq_ignore_ascii_case(&value))
                })
            } else if is(kind, "PATTERN") {
                Box::new(move |spec| glob::matches_nocase(&value, spec.name.as_bytes()))
            } else {
                return Err(errors::SYNTAX);
            }
        }
        _ => return Err(errors::SYNTAX),
    };
    Ok(Reply::Array(
        all_commands()
            .filter(|spec| keep(spec))
            .map(|spec| Reply::bulk(spec.name))
            .collect(),
    ))
}

/// `COMMAND GETKEYS cmd arg…`: the keys the table's key spec finds in a full command line.
fn command_getkeys(line: &[Bytes]) -> CommandResult {
    let spec = lookup(&line[0]).ok_or(Error::fixed("ERR Invalid command specified"))?;
    if spec.keys.0 == 0 {
        return Err(Error::fixed("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(line.len()) {
        return Err(Error::fixed(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    Ok(Reply::Array(
        spec.key_positions(line.len())
            .map(|i| Reply::Bulk(line[i].clone()))
            .collect(),
    ))
}

fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(
        ctx.shared.last_save_unix.load(Ordering::Relaxed) as i64,
    ))
}

fn mark_saved(ctx: &Ctx) {
    let now = ctx.unix_ms() / 1000;
    ctx.shared.last_save_unix.store(now, Ordering::Relaxed);
}

fn save(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    mark_saved(ctx);
    Ok(Reply::OK)
}

fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    match &args[1..] {
        [] => {}
        [option] if is(option, "SCHEDULE") => {}
        _ => return Err(errors::SYNTAX),
    }
    mark_saved(ctx);
    Ok(Reply::simple("Background saving started"))
}

fn role(_ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Array(vec![
        Reply::bulk("master"),
        Reply::Integer(0),
        Reply::Array(vec![]),
    ]))
}

const MEMORY_SUBCOMMANDS: &[(&str, i32)] = &[("usage", -3), ("help", 2)];

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Bytes Redis spends on a key beyond its key and value bytes (dict entry, object headers).
const KEY_OVERHEAD: usize = 48;

/// `MEMORY USAGE key [SAMPLES n]`: an estimate from the key and value sizes.
fn memory(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if subcommand("memory", MEMORY_SUBCOMMANDS, args)? == "help" {
        return Ok(help_reply(MEMORY_HELP));
    }
    match &args[3..] {
        [] => {}
        [option, count] if is(option, "SAMPLES") => {
            args::int(count)?;
        }
        _ => return Err(errors::SYNTAX),
    }
    let key = &args[2];
    let now = ctx.now;
    let db = ctx.db();
    let shard = ctx.locks.shard(db, key)?;
    Ok(shard.get(key, now).map_or(Reply::Nil, |entry| {
        Reply::Integer((KEY_OVERHEAD + key.len() + entry.value.heap_size()) as i64)
    }))
}
