//! String commands: `SET` and its options (the lock acquire), `GET`, the `INCR` family (fencing
//! counters), `MSET`/`MGET` and the rest of the string surface locks use.

use crate::clock::MonoTime;
use bytes::Bytes;

use super::args::{self, is};
use super::compare::{digest_of, parse_digest};
use super::Ctx;
use crate::db::{read_string, Shard, Str, Value, NO_DEADLINE};
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;

/// What `SET` does to the TTL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expiry {
    /// Remove any TTL (plain `SET`).
    Clear,
    /// Keep the current TTL (`KEEPTTL`).
    Keep,
    /// A deadline on the monotonic clock.
    At(MonoTime),
}

/// The condition of a `SET`: `NX`, `XX`, or a compare (Redis 8.4).
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Always,
    IfAbsent,
    IfPresent,
    IfEqual(Bytes),
    IfNotEqual(Bytes),
    IfDigestEqual(u64),
    IfDigestNotEqual(u64),
}

impl Condition {
    /// Whether the condition holds for the current value (`None`: key absent).
    pub fn holds(&self, current: Option<&[u8]>) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::IfAbsent, current) => current.is_none(),
            (Condition::IfPresent, current) => current.is_some(),
            (Condition::IfEqual(v), Some(c)) => c == v,
            (Condition::IfNotEqual(v), Some(c)) => c != v,
            (Condition::IfDigestEqual(d), Some(c)) => digest_of(c) == *d,
            (Condition::IfDigestNotEqual(d), Some(c)) => digest_of(c) != *d,
            (Condition::IfEqual(_) | Condition::IfDigestEqual(_), None) => false,
            (Condition::IfNotEqual(_) | Condition::IfDigestNotEqual(_), None) => true,
        }
    }
}

/// `SET`'s options, parsed.
#[derive(Debug, PartialEq)]
pub struct SetOptions {
    pub condition: Condition,
    pub get: bool,
    pub expiry: Expiry,
}

/// A TTL unit, for converting `EX`/`PX`/`EXAT`/`PXAT` arguments to a deadline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TtlUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// Converts a `SET`-style expire argument (`EX`/`PX`/`EXAT`/`PXAT`, `SETEX`, `GETEX`, a lock's
/// lease) to a monotonic deadline, with Redis's checks: an integer, positive, no overflow when
/// converted to milliseconds and added to the current Unix time (`invalid expire time in
/// '<cmd>' command` otherwise).
pub fn deadline_from(
    ctx: &Ctx,
    arg: &[u8],
    unit: TtlUnit,
    command: &str,
) -> Result<MonoTime, Error> {
    let value = args::int(arg)?;
    if value <= 0 {
        return Err(errors::invalid_expire(command));
    }
    expire_deadline(ctx, value, unit, command)
}

/// A bound on the Unix time in milliseconds (2^45 ms is past the year 3000).
const UNIX_MS_BOUND: i64 = 1 << 45;

/// Converts an `EXPIRE`-family time to a monotonic deadline with Redis 7.0's overflow checks
/// (in seconds, within `i64` once multiplied by 1000; relative times, within `i64` once the
/// current Unix time in milliseconds is added). Zero and negative times are allowed: they give
/// a deadline already due. A relative time counts from this command's clock reading, to the
/// microsecond; an absolute one from the wall clock read now.
pub fn expire_deadline(
    ctx: &Ctx,
    value: i64,
    unit: TtlUnit,
    command: &str,
) -> Result<MonoTime, Error> {
    let invalid = || errors::invalid_expire(command);
    let millis = match unit {
        TtlUnit::Seconds | TtlUnit::UnixSeconds => value.checked_mul(1000).ok_or_else(invalid)?,
        TtlUnit::Millis | TtlUnit::UnixMillis => value,
    };
    match unit {
        TtlUnit::Seconds | TtlUnit::Millis => {
            // Only a time within a Unix time of `i64::MAX` can overflow; the wall clock is read
            // for those alone, not for every `SET … PX` and lock lease.
            if millis > i64::MAX - UNIX_MS_BOUND && millis > i64::MAX - ctx.unix_ms() as i64 {
                return Err(invalid());
            }
            Ok(match u64::try_from(millis) {
                Ok(millis) if millis > 0 => ctx.now.after_ms(millis),
                _ => ctx.now,
            })
        }
        TtlUnit::UnixSeconds | TtlUnit::UnixMillis => {
            // A time past the end of the clock saturates (a deadline that never comes in
            // practice); a time not after now is due.
            let from_now_us = i128::from(millis) * 1000 - i128::from(ctx.unix_us());
            Ok(if from_now_us > 0 {
                ctx.now
                    .after_micros(u64::try_from(from_now_us).unwrap_or(u64::MAX))
            } else {
                ctx.now
            })
        }
    }
}

/// Parses `[NX|XX|IFEQ v|IFNE v|IFDEQ d|IFDNE d] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]` in any
/// order; any second condition or second expiry is a syntax error, as in Redis.
pub fn parse_set_options(ctx: &Ctx, options: &[Bytes]) -> Result<SetOptions, Error> {
    let mut parsed = SetOptions {
        condition: Condition::Always,
        get: false,
        expiry: Expiry::Clear,
    };
    let mut expiry_given = false;
    let mut i = 0;
    while i < options.len() {
        let option = &options[i];
        let next = options.get(i + 1);
        let mut set_condition = |c: Condition| {
            if parsed.condition != Condition::Always {
                return Err(errors::SYNTAX);
            }
            parsed.condition = c;
            Ok(())
        };
        if is(option, "NX") {
            set_condition(Condition::IfAbsent)?;
        } else if is(option, "XX") {
            set_condition(Condition::IfPresent)?;
        } else if is(option, "GET") {
            parsed.get = true;
        } else if is(option, "KEEPTTL") {
            if expiry_given {
                return Err(errors::SYNTAX);
            }
            expiry_given = true;
            parsed.expiry = Expiry::Keep;
        } else if let (Some(unit), Some(value)) = (ttl_unit(option), next) {
            if expiry_given {
                return Err(errors::SYNTAX);
            }
            expiry_given = true;
            parsed.expiry = Expiry::At(deadline_from(ctx, value, unit, "set")?);
            i += 1;
        } else if let (Some(kind), Some(value)) = (compare_kind(option), next) {
            set_condition(match kind {
                "IFEQ" => Condition::IfEqual(value.clone()),
                "IFNE" => Condition::IfNotEqual(value.clone()),
                "IFDEQ" => Condition::IfDigestEqual(parse_digest(value)?),
                _ => Condition::IfDigestNotEqual(parse_digest(value)?),
            })?;
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    Ok(parsed)
}

fn ttl_unit(option: &[u8]) -> Option<TtlUnit> {
    [
        ("EX", TtlUnit::Seconds),
        ("PX", TtlUnit::Millis),
        ("EXAT", TtlUnit::UnixSeconds),
        ("PXAT", TtlUnit::UnixMillis),
    ]
    .into_iter()
    .find(|(name, _)| is(option, name))
    .map(|(_, unit)| unit)
}

fn compare_kind(option: &[u8]) -> Option<&'static str> {
    ["IFEQ", "IFNE", "IFDEQ", "IFDNE"]
        .into_iter()
        .find(|name| is(option, name))
}

/// Stores a string under `key` if `condition` holds. Returns `(stored, previous value)`; the
/// previous value is `WRONGTYPE` when it is not a string and `get` or a compare needs it.
pub fn set_string(
    shard: &mut Shard,
    key: &[u8],
    value: Bytes,
    options: &SetOptions,
    now: MonoTime,
) -> Result<(bool, Option<Str>), Error> {
    let needs_value = options.get
        || !matches!(
            options.condition,
            Condition::Always | Condition::IfAbsent | Condition::IfPresent
        );
    let (present, previous, old_deadline) = match shard.get(key, now) {
        None => (false, None, NO_DEADLINE),
        Some(entry) => match &entry.value {
            Value::Str(bytes) => (true, Some(bytes.clone()), entry.deadline()),
            #[allow(unreachable_patterns)]
            _ if needs_value => return Err(errors::WRONGTYPE),
            #[allow(unreachable_patterns)]
            _ => (true, None, entry.deadline()),
        },
    };
    let holds = match &options.condition {
        Condition::IfAbsent => !present,
        Condition::IfPresent => present,
        other => other.holds(previous.as_deref()),
    };
    if !holds {
        return Ok((false, previous));
    }
    let deadline = match options.expiry {
        Expiry::Clear => NO_DEADLINE,
        Expiry::Keep => old_deadline,
        Expiry::At(deadline) => deadline,
    };
    if deadline <= now {
        // An absolute time already due (Redis's `checkAlreadyExpired`: `when <= now`): the key
        // is set and at once expired, as in Redis.
        shard.remove(key, now);
    } else {
        shard.insert(key, Value::Str(Str::from(value)), deadline, now);
    }
    Ok((true, previous))
}

pub(super) fn set(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let options = parse_set_options(ctx, &args[3..])?;
    let now = ctx.now;
    let (stored, previous) = set_string(
        ctx.shard(&args[1])?,
        &args[1],
        args[2].clone(),
        &options,
        now,
    )?;
    if stored {
        notify_set(ctx, &args[1], options.expiry);
    }
    Ok(match (options.get, stored) {
        (true, _) => Reply::bulk_or_nil(previous.as_ref().map(Str::to_bytes)),
        (false, true) => Reply::OK,
        (false, false) => Reply::Nil,
    })
}

pub(super) fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let options = SetOptions {
        condition: Condition::IfAbsent,
        get: false,
        expiry: Expiry::Clear,
    };
    let now = ctx.now;
    let (stored, _) = set_string(
        ctx.shard(&args[1])?,
        &args[1],
        args[2].clone(),
        &options,
        now,
    )?;
    if stored {
        notify_set(ctx, &args[1], options.expiry);
    }
    Ok(Reply::Integer(stored as i64))
}

/// The keyspace notifications of a string stored by the `SET` family: `set`, then `expire`
/// for a new TTL (`del` when that TTL had already passed).
fn notify_set(ctx: &mut Ctx, key: &[u8], expiry: Expiry) {
    ctx.notify(class::STRING, "set", key);
    if let Expiry::At(deadline) = expiry {
        let event = if deadline > ctx.now { "expire" } else { "del" };
        ctx.notify(class::GENERIC, event, key);
    }
}

pub(super) fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_with_ttl(ctx, args, TtlUnit::Seconds, "setex")
}

pub(super) fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_with_ttl(ctx, args, TtlUnit::Millis, "psetex")
}

fn set_with_ttl(ctx: &mut Ctx, args: &[Bytes], unit: TtlUnit, name: &str) -> CommandResult {
    let deadline = deadline_from(ctx, &args[2], unit, name)?;
    let now = ctx.now;
    ctx.shard(&args[1])?
        .insert(&args[1], Value::Str(Str::from(&args[3])), deadline, now);
    notify_set(ctx, &args[1], Expiry::At(deadline));
    Ok(Reply::OK)
}

pub(super) fn get(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let value = read_string(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::bulk_or_nil(value.map(Str::to_bytes)))
}

pub(super) fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let value = read_string(shard, &args[1], now)?.map(Str::to_bytes);
    if value.is_some() {
        shard.remove(&args[1], now);
        ctx.notify(class::GENERIC, "del", &args[1]);
    }
    Ok(Reply::bulk_or_nil(value))
}

pub(super) fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let options = &args[2..];
    let expiry = match options {
        [] => None,
        [persist] if is(persist, "PERSIST") => Some(NO_DEADLINE),
        [option, value] => match ttl_unit(option) {
            Some(unit) => Some(deadline_from(ctx, value, unit, "getex")?),
            None => return Err(errors::SYNTAX),
        },
        _ => return Err(errors::SYNTAX),
    };
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let value = read_string(shard, &args[1], now)?.map(Str::to_bytes);
    if let (Some(_), Some(deadline)) = (&value, expiry) {
        let had_ttl = shard.get(&args[1], now).is_some_and(|e| e.has_deadline());
        shard.set_deadline(&args[1], deadline, now);
        let event = match deadline {
            NO_DEADLINE if had_ttl => Some("persist"),
            NO_DEADLINE => None,
            d if d <= now => Some("del"),
            _ => Some("expire"),
        };
        if let Some(event) = event {
            ctx.notify(class::GENERIC, event, &args[1]);
        }
    }
    Ok(Reply::bulk_or_nil(value))
}

pub(super) fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let mut values = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        // MGET answers nil for a key of another type rather than failing.
        let value = read_string(ctx.shard(key)?, key, now)
            .ok()
            .flatten()
            .map(Str::to_bytes);
        values.push(Reply::bulk_or_nil(value));
    }
    Ok(Reply::Array(values))
}

pub(super) fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len().is_multiple_of(2) {
        return Err(errors::wrong_arity("mset"));
    }
    let now = ctx.now;
    for pair in args[1..].chunks(2) {
        ctx.shard(&pair[0])?
            .insert(&pair[0], Value::Str(Str::from(&pair[1])), NO_DEADLINE, now);
        ctx.notify(class::STRING, "set", &pair[0]);
    }
    Ok(Reply::OK)
}

pub(super) fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len().is_multiple_of(2) {
        return Err(errors::wrong_arity("msetnx"));
    }
    let now = ctx.now;
    for pair in args[1..].chunks(2) {
        if ctx.shard(&pair[0])?.contains(&pair[0], now) {
            return Ok(Reply::Integer(0));
        }
    }
    mset(ctx, args)?;
    Ok(Reply::Integer(1))
}

pub(super) fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (start, end) = (args::int(&args[2])?, args::int(&args[3])?);
    let now = ctx.now;
    let Some(value) = read_string(ctx.shard(&args[1])?, &args[1], now)? else {
        return Ok(Reply::bulk(Bytes::new()));
    };
    let len = value.len() as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return Ok(Reply::bulk(Bytes::new()));
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        (len + end).max(0)
    } else {
        end.min(len - 1)
    };
    if start > end || start >= len {
        return Ok(Reply::bulk(Bytes::new()));
    }
    Ok(Reply::Bulk(Bytes::copy_from_slice(
        &value[start as usize..=end as usize],
    )))
}

pub(super) fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let len = read_string(ctx.shard(&args[1])?, &args[1], now)?.map_or(0, |v| v.len());
    Ok(Reply::Integer(len as i64))
}

/// Adds `delta` to the integer stored at `key` (absent = 0), keeping its TTL.
fn add(ctx: &mut Ctx, key: &[u8], delta: i64) -> CommandResult {
    let now = ctx.now;
    let shard = ctx.shard(key)?;
    let current = match read_string(shard, key, now)? {
        None => 0,
        Some(bytes) => args::parse_i64(bytes).ok_or(errors::NOT_INTEGER)?,
    };
    let updated = current.checked_add(delta).ok_or(errors::OVERFLOW)?;
    let mut digits = itoa::Buffer::new();
    let text = Str::copy_from_slice(digits.format(updated).as_bytes());
    match shard.get_mut(key, now) {
        Some(entry) => entry.value = Value::Str(text),
        None => {
            shard.insert(key, Value::Str(text), NO_DEADLINE, now);
        }
    }
    ctx.notify(class::STRING, "incrby", key);
    Ok(Reply::Integer(updated))
}

pub(super) fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    add(ctx, &args[1], 1)
}

pub(super) fn decr(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    add(ctx, &args[1], -1)
}

pub(super) fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let delta = args::int(&args[2])?;
    add(ctx, &args[1], delta)
}

pub(super) fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let delta = args::int(&args[2])?;
    if delta == i64::MIN {
        return Err(Error::fixed("ERR decrement would overflow"));
    }
    add(ctx, &args[1], -delta)
}
