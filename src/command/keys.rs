//! Key commands: deletion, existence, type, TTLs (`EXPIRE`, `PEXPIRE`, `TTL`, `EXPIRETIME`, …),
//! renaming and copying keys within and across databases (`RENAME`, `COPY`, `MOVE`, `SWAPDB`),
//! and `OBJECT`. Enumerating keys (`KEYS`, `SCAN`, `RANDOMKEY`) is in `scan.rs`.

use crate::clock::MonoTime;
use bytes::Bytes;

use super::args;
use super::strings::{expire_deadline, TtlUnit};
use super::Ctx;
use crate::db::{Entry, Shard, Value, NO_DEADLINE};
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;

pub(super) fn del(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let mut removed = 0;
    for key in &args[1..] {
        if ctx.shard(key)?.remove(key, now).is_some() {
            removed += 1;
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Ok(Reply::Integer(removed))
}

pub(super) fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let mut found = 0;
    for key in &args[1..] {
        found += ctx.shard(key)?.contains(key, now) as i64;
    }
    Ok(Reply::Integer(found))
}

pub(super) fn type_(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let name = ctx
        .shard(&args[1])?
        .get(&args[1], now)
        .map_or("none", |e| e.value.type_name());
    Ok(Reply::simple(name))
}

/// `NX`, `XX`, `GT`, `LT` of the `EXPIRE` family.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(options: &[Bytes]) -> Result<ExpireFlags, errors::Error> {
    let mut flags = ExpireFlags::default();
    for option in options {
        match args::upper(option).as_str() {
            "NX" => flags.nx = true,
            "XX" => flags.xx = true,
            "GT" => flags.gt = true,
            "LT" => flags.lt = true,
            other => {
                return Err(errors::Error::err(format_args!(
                    "Unsupported option {}",
                    errors::printable(other.as_bytes(), 128)
                )))
            }
        }
    }
    if flags.nx && (flags.xx || flags.gt || flags.lt) {
        return Err(errors::Error::fixed(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if flags.gt && flags.lt {
        return Err(errors::Error::fixed(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(flags)
}

/// The `EXPIRE` family: sets a deadline under the `NX|XX|GT|LT` rules (a key without a TTL
/// counts as an infinite TTL for `GT`/`LT`). A deadline in the past deletes the key.
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], unit: TtlUnit, name: &str) -> CommandResult {
    let flags = parse_expire_flags(&args[3..])?;
    // Unlike SET, zero and negative times are allowed: they delete the key.
    let deadline = expire_deadline(ctx, args::int(&args[2])?, unit, name)?;
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let Some(entry) = shard.get(&args[1], now) else {
        return Ok(Reply::Integer(0));
    };
    let current = entry.deadline();
    let allowed = (!flags.nx || current == NO_DEADLINE)
        && (!flags.xx || current != NO_DEADLINE)
        && (!flags.gt || (current != NO_DEADLINE && deadline > current))
        && (!flags.lt || current == NO_DEADLINE || deadline < current);
    if !allowed {
        return Ok(Reply::Integer(0));
    }
    shard.set_deadline(&args[1], deadline, now);
    let event = if deadline > now { "expire" } else { "del" };
    ctx.notify(class::GENERIC, event, &args[1]);
    Ok(Reply::Integer(1))
}

pub(super) fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::Seconds, "expire")
}

pub(super) fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::Millis, "pexpire")
}

pub(super) fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::UnixSeconds, "expireat")
}

pub(super) fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::UnixMillis, "pexpireat")
}

/// Remaining TTL in milliseconds: -2 absent, -1 no TTL.
fn remaining_ms(ctx: &mut Ctx, key: &[u8]) -> Result<i64, errors::Error> {
    let now = ctx.now;
    Ok(match ctx.shard(key)?.get(key, now) {
        None => -2,
        Some(entry) if !entry.has_deadline() => -1,
        Some(entry) => now.ms_until(entry.deadline()) as i64,
    })
}

pub(super) fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let ms = remaining_ms(ctx, &args[1])?;
    // Redis rounds to the nearest second.
    Ok(Reply::Integer(if ms < 0 { ms } else { (ms + 500) / 1000 }))
}

pub(super) fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(remaining_ms(ctx, &args[1])?))
}

pub(super) fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let had_ttl = shard.get(&args[1], now).is_some_and(|e| e.has_deadline());
    if had_ttl {
        shard.set_deadline(&args[1], NO_DEADLINE, now);
        ctx.notify(class::GENERIC, "persist", &args[1]);
    }
    Ok(Reply::Integer(had_ttl as i64))
}

pub(super) fn touch(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    exists(ctx, args)
}

/// The absolute Unix time in milliseconds at which `key` expires: -2 absent, -1 no TTL. The
/// monotonic deadline is converted with this command's wall-clock reading.
fn expire_at_unix_ms(ctx: &mut Ctx, key: &[u8]) -> Result<i64, Error> {
    let ms = remaining_ms(ctx, key)?;
    Ok(if ms < 0 {
        ms
    } else {
        ctx.unix_ms() as i64 + ms
    })
}

pub(super) fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let ms = expire_at_unix_ms(ctx, &args[1])?;
    Ok(Reply::Integer(if ms < 0 { ms } else { (ms + 500) / 1000 }))
}

pub(super) fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(expire_at_unix_ms(ctx, &args[1])?))
}

/// `RENAME` and `RENAMENX`: moves the value and its TTL from `src` to `dst` (both in the
/// dispatcher's locked shards). Returns false when `only_if_absent` and `dst` exists.
fn rename_key(ctx: &mut Ctx, src: &[u8], dst: &[u8], only_if_absent: bool) -> Result<bool, Error> {
    let now = ctx.now;
    let Some(entry) = ctx.shard(src)?.get(src, now).cloned() else {
        return Err(errors::NO_SUCH_KEY);
    };
    if src == dst {
        return Ok(!only_if_absent);
    }
    if only_if_absent && ctx.shard(dst)?.contains(dst, now) {
        return Ok(false);
    }
    ctx.shard(src)?.remove(src, now);
    store(ctx.shard(dst)?, dst, entry, now);
    Ok(true)
}

pub(super) fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    rename_key(ctx, &args[1], &args[2], false)?;
    Ok(Reply::OK)
}

pub(super) fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let renamed = rename_key(ctx, &args[1], &args[2], true)?;
    Ok(Reply::Integer(renamed as i64))
}

/// A database index argument: an integer (`value is not an integer…` otherwise) naming an
/// existing database (`DB index is out of range` otherwise).
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, Error> {
    let db = args::int(arg)?;
    if db < 0 || db as usize >= ctx.shared.keyspace.databases() {
        return Err(errors::INVALID_DB_INDEX);
    }
    Ok(db as usize)
}

const SAME_OBJECT: Error = Error::fixed("ERR source and destination objects are the same");

/// `MOVE key db`: moves a key (value and TTL) to another database unless it exists there.
/// The destination shard is locked after the source one; when it sits below it in the lock
/// order the lock goes through `ShardGuards`'s bounded out-of-order path.
pub(super) fn move_(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let dst_db = db_index(ctx, &args[2])?;
    if dst_db == ctx.db() {
        return Err(SAME_OBJECT);
    }
    let now = ctx.now;
    let Some(entry) = ctx.shard(key)?.get(key, now).cloned() else {
        return Ok(Reply::Integer(0));
    };
    let dst = ctx.guards.shard(dst_db, key)?;
    if dst.contains(key, now) {
        return Ok(Reply::Integer(0));
    }
    store(dst, key, entry, now);
    ctx.shard(key)?.remove(key, now);
    Ok(Reply::Integer(1))
}

/// `COPY src dst [DB n] [REPLACE]`, parsed.
struct CopyOptions {
    db: Option<usize>,
    replace: bool,
}

fn parse_copy_options(ctx: &Ctx, options: &[Bytes]) -> Result<CopyOptions, Error> {
    let mut parsed = CopyOptions {
        db: None,
        replace: false,
    };
    let mut rest = options;
    while let Some(option) = rest.first() {
        if args::is(option, "REPLACE") {
            parsed.replace = true;
            rest = &rest[1..];
        } else if args::is(option, "DB") && rest.len() >= 2 {
            parsed.db = Some(db_index(ctx, &rest[1])?);
            rest = &rest[2..];
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(parsed)
}

/// `COPY`: the value (cloned) and TTL of `src` to `dst`, in this or another database.
pub(super) fn copy(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (src, dst) = (&args[1], &args[2]);
    let options = parse_copy_options(ctx, &args[3..])?;
    let dst_db = options.db.unwrap_or(ctx.db());
    if dst_db == ctx.db() && src == dst {
        return Err(SAME_OBJECT);
    }
    let now = ctx.now;
    let Some(entry) = ctx.shard(src)?.get(src, now).cloned() else {
        return Ok(Reply::Integer(0));
    };
    let target = ctx.guards.shard(dst_db, dst)?;
    if !options.replace && target.contains(dst, now) {
        return Ok(Reply::Integer(0));
    }
    store(target, dst, entry, now);
    Ok(Reply::Integer(1))
}

/// `SWAPDB a b`: the two databases exchange their keys; clients stay on their index, so each
/// sees the other's data, as in Redis. Both databases' shards are locked in ascending order
/// (shard `i` of one pairs with shard `i` of the other: a key hashes to the same position in
/// every database), and their entries are exchanged through the shards' own methods, so
/// waiters and the expiry index follow.
pub(super) fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let parse = |arg: &[u8], which: &str| {
        let db = args::parse_i64(arg)
            .ok_or_else(|| Error::err(format_args!("invalid {which} DB index")))?;
        if db < 0 || db as usize >= ctx.shared.keyspace.databases() {
            return Err(errors::INVALID_DB_INDEX);
        }
        Ok(db as usize)
    };
    let a = parse(&args[1], "first")?;
    let b = parse(&args[2], "second")?;
    if a == b {
        return Ok(Reply::OK);
    }
    let keyspace = ctx.shared.keyspace.clone();
    let (low, high) = (a.min(b), a.max(b));
    for index in keyspace.db_shards(low).chain(keyspace.db_shards(high)) {
        ctx.guards.shard_at(index)?;
    }
    let now = ctx.now;
    for (low_index, high_index) in keyspace.db_shards(low).zip(keyspace.db_shards(high)) {
        let low_entries = take_entries(ctx.guards.shard_at(low_index)?, now);
        let high_entries = take_entries(ctx.guards.shard_at(high_index)?, now);
        put_entries(ctx.guards.shard_at(low_index)?, high_entries, now);
        put_entries(ctx.guards.shard_at(high_index)?, low_entries, now);
        // A transaction watching any key of either database must abort, as in Redis.
        ctx.guards.shard_at(low_index)?.touch_all_watched();
        ctx.guards.shard_at(high_index)?.touch_all_watched();
    }
    Ok(Reply::OK)
}

/// Stores a whole entry (value and deadline) under `key`.
fn store(shard: &mut Shard, key: &[u8], entry: Entry, now: MonoTime) {
    let deadline = entry.deadline();
    shard.insert(key, entry.value, deadline, now);
}

/// Empties a shard, returning its live entries.
fn take_entries(shard: &mut Shard, now: MonoTime) -> Vec<(Bytes, Entry)> {
    let entries = shard
        .iter_live(now)
        .map(|(key, entry)| (Bytes::copy_from_slice(key), entry.clone()))
        .collect();
    shard.clear();
    entries
}

fn put_entries(shard: &mut Shard, entries: Vec<(Bytes, Entry)>, now: MonoTime) {
    for (key, entry) in entries {
        store(shard, &key, entry, now);
    }
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// A help reply: one status line per line of text, as Redis's `… HELP` subcommands reply.
pub fn help_reply(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::simple(line)).collect())
}

/// Integers Redis keeps as shared objects (`OBJECT REFCOUNT` shows them as immortal).
const SHARED_INTEGERS: i64 = 10_000;

/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key` and `OBJECT HELP`. latchkey keeps no access
/// statistics, so the answers are plausible rather than measured: the encoding Redis would pick
/// for the value's type and size, idle time 0, and `FREQ`'s error under the
/// `noeviction` policy.
pub(super) fn object(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = args::upper(&args[1]);
    if sub == "HELP" {
        if args.len() != 2 {
            return Err(errors::wrong_subcommand_arity("object", "help"));
        }
        return Ok(help_reply(OBJECT_HELP));
    }
    if !matches!(sub.as_str(), "ENCODING" | "FREQ" | "IDLETIME" | "REFCOUNT") {
        return Err(errors::unknown_subcommand("object", &args[1]));
    }
    if args.len() != 3 {
        return Err(errors::wrong_subcommand_arity(
            "object",
            &sub.to_ascii_lowercase(),
        ));
    }
    let now = ctx.now;
    let Some(entry) = ctx.shard(&args[2])?.get(&args[2], now) else {
        return Ok(Reply::Nil);
    };
    match sub.as_str() {
        "ENCODING" => Ok(Reply::bulk(entry.value.encoding())),
        "REFCOUNT" => {
            let shared = string_integer(&entry.value)
                .is_some_and(|n| (0..SHARED_INTEGERS).contains(&n));
            Ok(Reply::Integer(if shared { i32::MAX as i64 } else { 1 }))
        }
        "IDLETIME" => Ok(Reply::Integer(0)),
        _ => Err(Error::fixed("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")),
    }
}

/// The value as an integer, if it is a string Redis would store as one.
fn string_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Str(bytes) if bytes.len() <= 20 => args::parse_i64(bytes),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}
