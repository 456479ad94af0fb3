//! Hash commands. Redisson's reentrant lock keeps `owner → hold count` in a hash (`HSET`,
//! `HGET`, `HEXISTS`, `HINCRBY`); the rest of the family is here for general clients.

use bytes::Bytes;

use super::aggregate::{self, bulks, modify, read, scan_reply, ScanArgs, SCAN_WHOLE_BELOW};
use super::args;
use super::Ctx;
use crate::db::dict::Hash;
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;

/// Stores the field/value pairs of `args[2..]`; the number of new fields.
fn set_pairs(ctx: &mut Ctx, args: &[Bytes], name: &str) -> Result<usize, Error> {
    if !args.len().is_multiple_of(2) {
        return Err(errors::wrong_arity(name));
    }
    let now = ctx.now;
    let added = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        true,
        |hash: &mut Hash| {
            args[2..]
                .chunks(2)
                .filter(|pair| hash.insert(pair[0].clone(), pair[1].clone()).is_none())
                .count()
        },
    )?;
    ctx.notify_aggregate(class::HASH, "hset", &args[1]);
    Ok(added.unwrap_or(0))
}

pub(super) fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(set_pairs(ctx, args, "hset")? as i64))
}

pub(super) fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_pairs(ctx, args, "hmset")?;
    Ok(Reply::OK)
}

pub(super) fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let added = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        true,
        |hash: &mut Hash| {
            if hash.contains(&args[2]) {
                return false;
            }
            hash.insert(args[2].clone(), args[3].clone());
            true
        },
    )?;
    let added = added.unwrap_or(false);
    if added {
        ctx.notify_aggregate(class::HASH, "hset", &args[1]);
    }
    Ok(Reply::Integer(added as i64))
}

pub(super) fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::bulk_or_nil(
        hash.and_then(|h| h.get(&args[2])).cloned(),
    ))
}

pub(super) fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    let values = args[2..]
        .iter()
        .map(|field| Reply::bulk_or_nil(hash.and_then(|h| h.get(field)).cloned()))
        .collect();
    Ok(Reply::Array(values))
}

pub(super) fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    aggregate::remove_members(
        ctx,
        args,
        (class::HASH, "hdel"),
        |hash: &mut Hash, field| hash.remove(field).is_some(),
    )
}

pub(super) fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Integer(
        hash.is_some_and(|h| h.contains(&args[2])) as i64
    ))
}

pub(super) fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let delta = args::int(&args[3])?;
    let now = ctx.now;
    let updated = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        true,
        |hash: &mut Hash| {
            let current = match hash.get(&args[2]) {
                None => 0,
                Some(value) => args::parse_i64(value)
                    .ok_or(Error::fixed("ERR hash value is not an integer"))?,
            };
            let updated = current.checked_add(delta).ok_or(errors::OVERFLOW)?;
            let mut digits = itoa::Buffer::new();
            let text = Bytes::copy_from_slice(digits.format(updated).as_bytes());
            hash.insert(args[2].clone(), text);
            Ok(updated)
        },
    )?;
    let updated = updated.unwrap_or(Ok(0))?;
    ctx.notify_aggregate(class::HASH, "hincrby", &args[1]);
    Ok(Reply::Integer(updated))
}

/// A float as `HINCRBYFLOAT` writes it: plain decimal notation, no exponent. Redis computes in
/// `long double` and prints 17 digits; with `f64` the shortest exact text is used, cut to 15
/// significant digits when longer so that sums like `0.1 + 0.2` read `0.3` as in Redis.
pub fn format_float(value: f64) -> String {
    let shortest = format!("{value}");
    let digits = shortest
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|&d| d == b'0')
        .count();
    if digits <= 15 {
        return shortest;
    }
    let rounded: f64 = format!("{value:.14e}").parse().unwrap_or(value);
    format!("{rounded}")
}

pub(super) fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let delta = args::float(&args[3])?;
    if delta.is_infinite() {
        return Err(Error::fixed("ERR value is NaN or Infinity"));
    }
    let now = ctx.now;
    let updated = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        true,
        |hash: &mut Hash| {
            let current = match hash.get(&args[2]) {
                None => 0.0,
                Some(value) => args::parse_f64(value)
                    .filter(|v| v.is_finite())
                    .ok_or(Error::fixed("ERR hash value is not a float"))?,
            };
            let updated = current + delta;
            if !updated.is_finite() {
                return Err(Error::fixed("ERR increment would produce NaN or Infinity"));
            }
            let text = Bytes::from(format_float(updated));
            hash.insert(args[2].clone(), text.clone());
            Ok(text)
        },
    )?;
    let updated = updated.unwrap_or(Ok(Bytes::new()))?;
    ctx.notify_aggregate(class::HASH, "hincrbyfloat", &args[1]);
    Ok(Reply::Bulk(updated))
}

pub(super) fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    let pairs = hash.map_or_else(Vec::new, |h| {
        h.iter()
            .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
            .collect()
    });
    Ok(Reply::Map(pairs))
}

pub(super) fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Integer(hash.map_or(0, Hash::len) as i64))
}

pub(super) fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Array(
        hash.map_or_else(Vec::new, |h| bulks(h.keys())),
    ))
}

pub(super) fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Array(hash.map_or_else(Vec::new, |h| {
        bulks(h.iter().map(|(_, v)| v))
    })))
}

pub(super) fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    let len = hash.and_then(|h| h.get(&args[2])).map_or(0, Bytes::len);
    Ok(Reply::Integer(len as i64))
}

/// `HRANDFIELD key [count [WITHVALUES]]`.
pub(super) fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (count, with_values) = match args.len() {
        2 => (None, false),
        3 => (Some(aggregate::random_count(&args[2])?), false),
        4 if args::is(&args[3], "WITHVALUES") => (Some(aggregate::random_count(&args[2])?), true),
        _ => return Err(errors::SYNTAX),
    };
    let (now, resp3) = (ctx.now, ctx.client.resp3);
    let hash = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)?;
    let Some((count, repeat)) = count else {
        let field = hash.and_then(|h| h.random()).map(|(f, _)| f.clone());
        return Ok(Reply::bulk_or_nil(field));
    };
    let Some(hash) = hash else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picked: Vec<(&Bytes, &Bytes)> = if repeat {
        (0..count).filter_map(|_| hash.random()).collect()
    } else {
        hash.random_distinct(count)
            .into_iter()
            .filter_map(|f| hash.get(f).map(|v| (f, v)))
            .collect()
    };
    Ok(Reply::Array(if !with_values {
        picked
            .iter()
            .map(|(f, _)| Reply::Bulk((*f).clone()))
            .collect()
    } else if resp3 {
        picked
            .iter()
            .map(|(f, v)| Reply::Array(vec![Reply::Bulk((*f).clone()), Reply::Bulk((*v).clone())]))
            .collect()
    } else {
        picked
            .iter()
            .flat_map(|(f, v)| [Reply::Bulk((*f).clone()), Reply::Bulk((*v).clone())])
            .collect()
    }))
}

pub(super) fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    ScanArgs::cursor(&args[2])?;
    let now = ctx.now;
    let Some(hash) = read::<Hash>(ctx.shard(&args[1])?, &args[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let scan = ScanArgs::parse(&args[2..])?;
    let (next, page) = if hash.len() <= SCAN_WHOLE_BELOW {
        (0, hash.iter().collect())
    } else {
        hash.scan(scan.cursor, scan.count)
    };
    let items = page
        .into_iter()
        .filter(|(field, _)| scan.matches(field))
        .flat_map(|(f, v)| [Reply::Bulk(f.clone()), Reply::Bulk(v.clone())])
        .collect();
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn floats_read_like_redis() {
        assert_eq!(format_float(0.1 + 0.2), "0.3");
        assert_eq!(format_float(1e20), "100000000000000000000");
        assert_eq!(format_float(10.5), "10.5");
        assert_eq!(format_float(-3.0), "-3");
        assert_eq!(format_float(1.5e-5), "0.000015");
    }
}
