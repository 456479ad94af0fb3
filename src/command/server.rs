//! Server commands: `COMMAND`, `DBSIZE`, `FLUSHDB`, `FLUSHALL`, `TIME`, `LASTSAVE`, `SAVE`,
//! `BGSAVE`, `BGREWRITEAOF`, `ROLE`, `MEMORY`. (`INFO` is in `info.rs`, `CONFIG` in `config.rs`.)
//!
//! latchkey writes no RDB snapshot: `SAVE` and `BGSAVE` are refused with an error that points
//! to the append-only file; `BGREWRITEAOF` rewrites it (see [`crate::persist`]).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{is, Cursor};
use super::connection::subcommand;
use super::keys::help_reply;
use super::spec::{self, all_commands, all_entries, flag_names, lookup_full, KeySearch, KeySpec};
use super::{CommandSpec, Ctx};
use crate::errors::{self, CommandResult, Error};
use crate::glob;
use crate::protocol::Reply;

pub(super) fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let db = ctx.db();
    let now = ctx.now;
    let mut count = 0;
    for index in ctx.shared.keyspace.db_shards(db) {
        count += ctx.guards.shard_at(index)?.iter_live(now).count();
    }
    Ok(Reply::Integer(count as i64))
}

/// `[ASYNC|SYNC]`: both mean "now" here.
fn check_flush_args(args: &[Bytes]) -> Result<(), errors::Error> {
    let mut cursor = Cursor::new(args, 1);
    let _ = cursor.next_is("ASYNC") || cursor.next_is("SYNC");
    cursor.finish()
}

pub(super) fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    check_flush_args(args)?;
    let db = ctx.db();
    for index in ctx.shared.keyspace.db_shards(db) {
        ctx.guards.shard_at(index)?.clear();
    }
    Ok(Reply::OK)
}

pub(super) fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    check_flush_args(args)?;
    for index in 0..ctx.shared.keyspace.shard_count() {
        ctx.guards.shard_at(index)?.clear();
    }
    Ok(Reply::OK)
}

pub(super) fn time(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let micros = ctx.shared.keyspace.clock.unix_us();
    Ok(Reply::Array(vec![
        Reply::bulk((micros / 1_000_000).to_string()),
        Reply::bulk((micros % 1_000_000).to_string()),
    ]))
}

/// One command's `COMMAND INFO` entry, as Redis 7 shapes it, with its key specs and its
/// subcommands' entries.
fn command_entry(spec: &CommandSpec) -> Reply {
    let (first, last, step) = spec.legacy_keys;
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Integer(spec.arity as i64),
        Reply::Set(flag_names(spec.flags).map(Reply::simple).collect()),
        Reply::Integer(first as i64),
        Reply::Integer(last as i64),
        Reply::Integer(step as i64),
        Reply::Set(
            spec.categories
                .iter()
                .map(|c| Reply::Simple(format!("@{c}").into()))
                .collect(),
        ),
        Reply::Array(vec![]),
        Reply::Array(spec.key_specs.iter().map(key_spec_entry).collect()),
        Reply::Array(spec.subcommands.iter().map(command_entry).collect()),
    ])
}

/// A key spec as `COMMAND INFO` shows it: flags, `begin_search`, `find_keys`.
fn key_spec_entry(key_spec: &KeySpec) -> Reply {
    let map = |pairs: Vec<(&'static str, Reply)>| {
        Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Reply::bulk(k), v))
                .collect(),
        )
    };
    let int = |n: i32| Reply::Integer(n as i64);
    let (index, find_keys) = match key_spec.search {
        KeySearch::Range { index, last, step } => (
            index,
            map(vec![
                ("type", Reply::bulk("range")),
                (
                    "spec",
                    map(vec![
                        ("lastkey", int(last)),
                        ("keystep", int(step)),
                        ("limit", int(0)),
                    ]),
                ),
            ]),
        ),
        KeySearch::Keynum { index } => (
            index,
            map(vec![
                ("type", Reply::bulk("keynum")),
                (
                    "spec",
                    map(vec![
                        ("keynumidx", int(0)),
                        ("firstkey", int(1)),
                        ("keystep", int(1)),
                    ]),
                ),
            ]),
        ),
    };
    map(vec![
        (
            "flags",
            Reply::Set(key_spec.flags.iter().map(|f| Reply::simple(f)).collect()),
        ),
        (
            "begin_search",
            map(vec![
                ("type", Reply::bulk("index")),
                ("spec", map(vec![("index", int(index))])),
            ]),
        ),
        ("find_keys", find_keys),
    ])
}

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
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// `COMMAND` and its subcommands, all generated from the command table.
pub(super) fn command(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() == 1 {
        return Ok(Reply::Array(all_commands().map(command_entry).collect()));
    }
    match subcommand("command", args)? {
        "count" => Ok(Reply::Integer(all_commands().count() as i64)),
        "info" if args.len() == 2 => Ok(Reply::Array(all_commands().map(command_entry).collect())),
        "info" => Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|name| lookup_full(name).map_or(Reply::Nil, command_entry))
                .collect(),
        )),
        "docs" if args.len() == 2 => Ok(Reply::Map(all_commands().map(command_docs).collect())),
        "docs" => Ok(Reply::Map(
            args[2..]
                .iter()
                .filter_map(|name| lookup_full(name))
                .map(command_docs)
                .collect(),
        )),
        "list" => command_list(&args[2..]),
        "getkeys" => command_getkeys(&args[2..], false),
        "getkeysandflags" => command_getkeys(&args[2..], true),
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
fn command_docs(spec: &CommandSpec) -> (Reply, Reply) {
    (
        Reply::bulk(spec.name),
        Reply::Map(vec![
            (Reply::bulk("summary"), Reply::bulk("")),
            (Reply::bulk("since"), Reply::bulk("1.0.0")),
            (Reply::bulk("group"), Reply::bulk(doc_group(spec))),
        ]),
    )
}

/// `COMMAND LIST [FILTERBY MODULE m|ACLCAT c|PATTERN p]`: commands and subcommands.
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
        all_entries()
            .filter(|spec| keep(spec))
            .map(|spec| Reply::bulk(spec.name))
            .collect(),
    ))
}

/// `COMMAND GETKEYS cmd arg…` (and `GETKEYSANDFLAGS`, which adds each key's flags): the keys
/// the table's key specs find in a full command line, with Redis's errors.
fn command_getkeys(line: &[Bytes], with_flags: bool) -> CommandResult {
    let spec = spec::resolve(line).map_err(|_| Error::fixed("ERR Invalid command specified"))?;
    if !spec.has_keys() {
        return Err(Error::fixed("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(line.len()) {
        return Err(Error::fixed(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut keys = Vec::new();
    for key_spec in spec.key_specs {
        for position in key_spec.positions(line) {
            let key = Reply::Bulk(line[position].clone());
            keys.push(if with_flags {
                let flags = key_spec.flags.iter().map(|f| Reply::simple(f)).collect();
                Reply::Array(vec![key, Reply::Set(flags)])
            } else {
                key
            });
        }
    }
    if keys.is_empty() && !spec.has(super::flags::NO_MANDATORY_KEYS) {
        return Err(Error::fixed("ERR Invalid arguments specified for command"));
    }
    Ok(Reply::Array(keys))
}

pub(super) fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(
        ctx.shared.last_save_unix.load(Ordering::Relaxed) as i64,
    ))
}

fn mark_saved(ctx: &Ctx) {
    let now = ctx.unix_ms() / 1000;
    ctx.shared.last_save_unix.store(now, Ordering::Relaxed);
}

/// latchkey writes no RDB snapshot: `SAVE` and `BGSAVE` say so rather than answer a false `OK`.
const NO_RDB: errors::Error = errors::Error::fixed(
    "ERR latchkey does not write RDB snapshots; use the append only file (CONFIG SET appendonly yes, BGREWRITEAOF)",
);

pub(super) fn save(_ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Err(NO_RDB)
}

pub(super) fn bgsave(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut cursor = Cursor::new(args, 1);
    cursor.next_is("SCHEDULE");
    cursor.finish()?;
    Err(NO_RDB)
}

/// `BGREWRITEAOF`: rewrites the append-only file from the keyspace on a thread of its own.
pub(super) fn bgrewriteaof(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    match crate::persist::spawn_rewrite(ctx.shared.clone()) {
        Ok(()) => {
            mark_saved(ctx);
            Ok(Reply::simple(
                "Background append only file rewriting started",
            ))
        }
        Err(error) => Err(errors::Error::err(error)),
    }
}

pub(super) fn role(_ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Array(vec![
        Reply::bulk("master"),
        Reply::Integer(0),
        Reply::Array(vec![]),
    ]))
}

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
pub(super) fn memory(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if subcommand("memory", args)? == "help" {
        return Ok(help_reply(MEMORY_HELP));
    }
    let mut cursor = Cursor::new(args, 3);
    if cursor.next_is("SAMPLES") {
        cursor.next_int()?;
    }
    cursor.finish()?;
    let key = &args[2];
    let now = ctx.now;
    let db = ctx.db();
    let shard = ctx.guards.shard(db, key)?;
    Ok(shard.get(key, now).map_or(Reply::Nil, |entry| {
        Reply::Integer((KEY_OVERHEAD + key.len() + entry.value.heap_size()) as i64)
    }))
}
