//! Set commands. Test suites of lock libraries put sets under lock keys to provoke
//! `WRONGTYPE` (node `redlock`); the rest of the family is here for general clients.
//!
//! Order of members in replies: a small set of integers comes back in numeric order (Redis
//! keeps such sets as a sorted "intset"); any other set in insertion order (Redis's order for
//! those is arbitrary).

use bytes::Bytes;

use super::aggregate::{self, modify, read, scan_reply, ScanArgs, SCAN_WHOLE_BELOW};
use super::args;
use super::Ctx;
use crate::db::dict::Set;
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;

/// Sets of at most this many integers are kept sorted by Redis (`set-max-intset-entries`).
const INTSET_ENTRIES: usize = 512;

/// Puts `members` in the order Redis would reply with: numeric when they are few integers.
fn redis_order(members: &mut [Bytes]) {
    if members.len() > INTSET_ENTRIES {
        return;
    }
    let numbers: Option<Vec<i64>> = members.iter().map(|m| args::parse_i64(m)).collect();
    if let Some(numbers) = numbers {
        let mut pairs: Vec<(i64, Bytes)> =
            numbers.into_iter().zip(members.iter().cloned()).collect();
        pairs.sort_unstable_by_key(|(n, _)| *n);
        for (slot, (_, member)) in members.iter_mut().zip(pairs) {
            *slot = member;
        }
    }
}

/// A set's members in reply order.
fn ordered_members(set: &Set) -> Vec<Bytes> {
    let mut members: Vec<Bytes> = set.keys().cloned().collect();
    redis_order(&mut members);
    members
}

fn bulk_set(members: Vec<Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

pub(super) fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let added = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        true,
        |set: &mut Set| {
            args[2..]
                .iter()
                .filter(|m| set.insert((*m).clone(), ()).is_none())
                .count()
        },
    )?;
    if added.unwrap_or(0) > 0 {
        ctx.notify_aggregate(class::SET, "sadd", &args[1]);
    }
    Ok(Reply::Integer(added.unwrap_or(0) as i64))
}

pub(super) fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    aggregate::remove_members(ctx, args, (class::SET, "srem"), |set: &mut Set, member| {
        set.remove(member).is_some()
    })
}

pub(super) fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let set = read::<Set>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(bulk_set(set.map_or_else(Vec::new, ordered_members)))
}

pub(super) fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let set = read::<Set>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Integer(
        set.is_some_and(|s| s.contains(&args[2])) as i64
    ))
}

pub(super) fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let set = read::<Set>(ctx.shard(&args[1])?, &args[1], now)?;
    let found = args[2..]
        .iter()
        .map(|m| Reply::Integer(set.is_some_and(|s| s.contains(m)) as i64))
        .collect();
    Ok(Reply::Array(found))
}

pub(super) fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let set = read::<Set>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Integer(set.map_or(0, Set::len) as i64))
}

/// `SPOP key [count]`.
pub(super) fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let count = match args.len() {
        2 => None,
        3 => Some(aggregate::positive_count(&args[2])?),
        _ => return Err(errors::SYNTAX),
    };
    let now = ctx.now;
    let popped = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        false,
        |set: &mut Set| {
            let mut picked: Vec<Bytes> = match count {
                Some(n) if n >= set.len() => ordered_members(set),
                _ => set
                    .random_distinct(count.unwrap_or(1))
                    .into_iter()
                    .cloned()
                    .collect(),
            };
            for member in &picked {
                set.remove(member);
            }
            if count.is_some() {
                redis_order(&mut picked);
            }
            picked
        },
    )?;
    if popped.as_ref().is_some_and(|members| !members.is_empty()) {
        ctx.notify_aggregate(class::SET, "spop", &args[1]);
    }
    Ok(match (popped, count) {
        (None, None) => Reply::Nil,
        (None, Some(_)) => Reply::Set(Vec::new()),
        (Some(mut members), None) => Reply::bulk_or_nil(members.pop()),
        (Some(members), Some(_)) => bulk_set(members),
    })
}

/// `SRANDMEMBER key [count]`: a negative count may repeat members.
pub(super) fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let count = match args.len() {
        2 => None,
        3 => Some(aggregate::random_count(&args[2])?),
        _ => return Err(errors::SYNTAX),
    };
    let now = ctx.now;
    let set = read::<Set>(ctx.shard(&args[1])?, &args[1], now)?;
    let Some((count, repeat)) = count else {
        let member = set.and_then(|s| s.random()).map(|(m, _)| m.clone());
        return Ok(Reply::bulk_or_nil(member));
    };
    let Some(set) = set else {
        return Ok(Reply::Array(Vec::new()));
    };
    let members: Vec<Bytes> = if repeat {
        (0..count)
            .filter_map(|_| set.random().map(|(m, _)| m.clone()))
            .collect()
    } else if count >= set.len() {
        ordered_members(set)
    } else {
        set.random_distinct(count).into_iter().cloned().collect()
    };
    Ok(Reply::Array(members.into_iter().map(Reply::Bulk).collect()))
}

pub(super) fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (source, destination, member) = (&args[1], &args[2], &args[3]);
    let now = ctx.now;
    let Some(source_set) = read::<Set>(ctx.shard(source)?, source, now)? else {
        return Ok(Reply::Integer(0));
    };
    let present = source_set.contains(member);
    aggregate::check_type::<Set>(ctx.shard(destination)?, destination, now)?;
    if !present || source == destination {
        return Ok(Reply::Integer(present as i64));
    }
    modify(ctx.shard(source)?, source, now, false, |set: &mut Set| {
        set.remove(member)
    })?;
    ctx.notify_aggregate(class::SET, "srem", source);
    let added = modify(
        ctx.shard(destination)?,
        destination,
        now,
        true,
        |set: &mut Set| set.insert(member.clone(), ()).is_none(),
    )?;
    if added == Some(true) {
        ctx.notify_aggregate(class::SET, "sadd", destination);
    }
    Ok(Reply::Integer(1))
}

/// The intersection of the sets at `keys`, stopping at `limit` members (0: no limit).
fn intersection(ctx: &mut Ctx, keys: &[Bytes], limit: usize) -> Result<Vec<Bytes>, Error> {
    let now = ctx.now;
    let mut sizes = Vec::with_capacity(keys.len());
    for key in keys {
        match read::<Set>(ctx.shard(key)?, key, now)? {
            Some(set) => sizes.push(set.len()),
            None => sizes.push(0),
        }
    }
    if sizes.contains(&0) {
        return Ok(Vec::new());
    }
    // Walk the smallest set, probing the others.
    let smallest = (0..keys.len()).min_by_key(|&i| sizes[i]).unwrap_or(0);
    let mut candidates = match read::<Set>(ctx.shard(&keys[smallest])?, &keys[smallest], now)? {
        Some(set) => ordered_members(set),
        None => Vec::new(),
    };
    for (i, key) in keys.iter().enumerate() {
        if i == smallest {
            continue;
        }
        if let Some(set) = read::<Set>(ctx.shard(key)?, key, now)? {
            candidates.retain(|m| set.contains(m));
        }
    }
    if limit > 0 {
        candidates.truncate(limit);
    }
    Ok(candidates)
}

/// The union of the sets at `keys`.
fn union(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<Bytes>, Error> {
    let now = ctx.now;
    for key in keys {
        aggregate::check_type::<Set>(ctx.shard(key)?, key, now)?;
    }
    let mut result = Set::default();
    for key in keys {
        if let Some(set) = read::<Set>(ctx.shard(key)?, key, now)? {
            for member in set.keys() {
                result.insert(member.clone(), ());
            }
        }
    }
    let mut members: Vec<Bytes> = result.keys().cloned().collect();
    redis_order(&mut members);
    Ok(members)
}

/// The members of the first set that are in none of the others.
fn difference(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<Bytes>, Error> {
    let now = ctx.now;
    for key in keys {
        aggregate::check_type::<Set>(ctx.shard(key)?, key, now)?;
    }
    let mut members = match read::<Set>(ctx.shard(&keys[0])?, &keys[0], now)? {
        Some(set) => ordered_members(set),
        None => return Ok(Vec::new()),
    };
    for key in &keys[1..] {
        if let Some(set) = read::<Set>(ctx.shard(key)?, key, now)? {
            members.retain(|m| !set.contains(m));
        }
    }
    Ok(members)
}

pub(super) fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(bulk_set(intersection(ctx, &args[1..], 0)?))
}

pub(super) fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(bulk_set(union(ctx, &args[1..])?))
}

pub(super) fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(bulk_set(difference(ctx, &args[1..])?))
}

/// Stores `members` as the set at `destination` (deleting it when empty); their count.
fn store_members(
    ctx: &mut Ctx,
    event: &str,
    destination: &[u8],
    members: Vec<Bytes>,
) -> CommandResult {
    let count = members.len();
    let mut set = Set::default();
    for member in members {
        set.insert(member, ());
    }
    aggregate::store_reporting(ctx, (class::SET, event), destination, set)?;
    Ok(Reply::Integer(count as i64))
}

pub(super) fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let members = intersection(ctx, &args[2..], 0)?;
    store_members(ctx, "sinterstore", &args[1], members)
}

pub(super) fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let members = union(ctx, &args[2..])?;
    store_members(ctx, "sunionstore", &args[1], members)
}

pub(super) fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let members = difference(ctx, &args[2..])?;
    store_members(ctx, "sdiffstore", &args[1], members)
}

/// `SINTERCARD numkeys key [key …] [LIMIT limit]`.
pub(super) fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let numkeys = match args::parse_i64(&args[1]) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(Error::fixed("ERR numkeys should be greater than 0")),
    };
    if numkeys > args.len() - 2 {
        return Err(Error::fixed(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let keys = &args[2..2 + numkeys];
    let mut limit = 0;
    let mut rest = args[2 + numkeys..].iter();
    while let Some(option) = rest.next() {
        match rest.next() {
            Some(value) if args::is(option, "LIMIT") => {
                limit = match args::parse_i64(value) {
                    Some(n) if n >= 0 => n as usize,
                    _ => return Err(Error::fixed("ERR LIMIT can't be negative")),
                };
            }
            _ => return Err(errors::SYNTAX),
        }
    }
    let db = ctx.db();
    ctx.guards.lock_keys(db, keys.iter().map(|k| &k[..]))?;
    Ok(Reply::Integer(intersection(ctx, keys, limit)?.len() as i64))
}

pub(super) fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    ScanArgs::cursor(&args[2])?;
    let now = ctx.now;
    let Some(set) = read::<Set>(ctx.shard(&args[1])?, &args[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let scan = ScanArgs::parse(&args[2..])?;
    let whole = set.len() <= SCAN_WHOLE_BELOW
        || (set.len() <= INTSET_ENTRIES && set.keys().all(|m| args::parse_i64(m).is_some()));
    let (next, members) = if whole {
        (0, ordered_members(set))
    } else {
        let (next, page) = set.scan(scan.cursor, scan.count);
        (next, page.into_iter().map(|(m, _)| m.clone()).collect())
    };
    let items = members
        .into_iter()
        .filter(|m| scan.matches(m))
        .map(Reply::Bulk)
        .collect();
    Ok(scan_reply(next, items))
}
