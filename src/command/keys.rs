//! Key commands: deletion, existence, type, and TTLs (`EXPIRE`, `PEXPIRE`, `TTL`, `PTTL`, …).

use bytes::Bytes;

use super::args;
use super::flags::*;
use super::strings::{deadline_from, TtlUnit};
use super::{CommandSpec, Ctx, Handler};
use crate::db::NO_DEADLINE;
use crate::errors::{self, CommandResult};
use crate::notify::{self, class};
use crate::protocol::Reply;

const KEYSPACE_WRITE: &[&str] = &["keyspace", "write", "fast"];
const KEYSPACE_READ: &[&str] = &["keyspace", "read", "fast"];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "del",
        -2,
        WRITE,
        (1, -1, 1),
        &["keyspace", "write", "slow"],
        del,
    ),
    spec("unlink", -2, WRITE | FAST, (1, -1, 1), KEYSPACE_WRITE, del),
    spec(
        "exists",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        KEYSPACE_READ,
        exists,
    ),
    spec("type", 2, READONLY | FAST, (1, 1, 1), KEYSPACE_READ, type_),
    spec(
        "expire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        KEYSPACE_WRITE,
        expire,
    ),
    spec(
        "pexpire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        KEYSPACE_WRITE,
        pexpire,
    ),
    spec(
        "expireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        KEYSPACE_WRITE,
        expireat,
    ),
    spec(
        "pexpireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        KEYSPACE_WRITE,
        pexpireat,
    ),
    spec("ttl", 2, READONLY | FAST, (1, 1, 1), KEYSPACE_READ, ttl),
    spec("pttl", 2, READONLY | FAST, (1, 1, 1), KEYSPACE_READ, pttl),
    spec(
        "persist",
        2,
        WRITE | FAST,
        (1, 1, 1),
        KEYSPACE_WRITE,
        persist,
    ),
];

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    categories: &'static [&'static str],
    handler: fn(&mut Ctx, &[Bytes]) -> CommandResult,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        categories,
        handler: Handler::Sync(handler),
    }
}

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now_ms;
    let mut removed = 0;
    for key in &args[1..] {
        if ctx.shard(key)?.remove(key, now).is_some() {
            removed += 1;
            notify::key_event(ctx, class::GENERIC, "del", key);
        }
    }
    Ok(Reply::Integer(removed))
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now_ms;
    let mut found = 0;
    for key in &args[1..] {
        found += ctx.shard(key)?.contains(key, now) as i64;
    }
    Ok(Reply::Integer(found))
}

fn type_(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now_ms;
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
    let value = args::int(&args[2])?;
    // Unlike SET, zero and negative times are allowed: they delete the key.
    let deadline = if value <= 0 && matches!(unit, TtlUnit::Seconds | TtlUnit::Millis) {
        ctx.now_ms
    } else if value <= 0 {
        0
    } else {
        deadline_from(ctx, &args[2], unit, name)?
    };
    let now = ctx.now_ms;
    let shard = ctx.shard(&args[1])?;
    let Some(entry) = shard.get(&args[1], now) else {
        return Ok(Reply::Integer(0));
    };
    let current = entry.deadline_ms();
    let allowed = (!flags.nx || current == NO_DEADLINE)
        && (!flags.xx || current != NO_DEADLINE)
        && (!flags.gt || (current != NO_DEADLINE && deadline > current))
        && (!flags.lt || current == NO_DEADLINE || deadline < current);
    if !allowed {
        return Ok(Reply::Integer(0));
    }
    shard.set_deadline(&args[1], deadline, now);
    let event = if deadline > now { "expire" } else { "del" };
    notify::key_event(ctx, class::GENERIC, event, &args[1]);
    Ok(Reply::Integer(1))
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::Seconds, "expire")
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::Millis, "pexpire")
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::UnixSeconds, "expireat")
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    expire_generic(ctx, args, TtlUnit::UnixMillis, "pexpireat")
}

/// Remaining TTL in milliseconds: -2 absent, -1 no TTL.
fn remaining_ms(ctx: &mut Ctx, key: &[u8]) -> Result<i64, errors::Error> {
    let now = ctx.now_ms;
    Ok(match ctx.shard(key)?.get(key, now) {
        None => -2,
        Some(entry) if !entry.has_deadline() => -1,
        Some(entry) => (entry.deadline_ms() - now) as i64,
    })
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let ms = remaining_ms(ctx, &args[1])?;
    // Redis rounds to the nearest second.
    Ok(Reply::Integer(if ms < 0 { ms } else { (ms + 500) / 1000 }))
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(remaining_ms(ctx, &args[1])?))
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now_ms;
    let shard = ctx.shard(&args[1])?;
    let had_ttl = shard.get(&args[1], now).is_some_and(|e| e.has_deadline());
    if had_ttl {
        shard.set_deadline(&args[1], NO_DEADLINE, now);
        notify::key_event(ctx, class::GENERIC, "persist", &args[1]);
    }
    Ok(Reply::Integer(had_ttl as i64))
}
