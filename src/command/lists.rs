//! List commands: pushes and pops at both ends, ranges, `LREM`/`LTRIM`/`LPOS`, and `LMOVE`.
//! The blocking pops (`BLPOP`, `BRPOP`, `BLMOVE`) are in `pop_waits.rs`; lock libraries use
//! lists as wake-up channels (python-redis-lock) and FIFO queues (Redisson's fair lock).

use bytes::Bytes;

use super::aggregate::{self, bulks, index_range, modify, read};
use super::args::{self, is};
use super::Ctx;
use crate::db::list::{End, List};
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;

/// `LEFT` or `RIGHT`, any case.
pub fn parse_end(arg: &[u8]) -> Result<End, Error> {
    if is(arg, "LEFT") {
        Ok(End::Left)
    } else if is(arg, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(errors::SYNTAX)
    }
}

/// Pushes `items` at `end` of the list at `key` (created unless `only_existing`); the new
/// length, 0 when `only_existing` and the key is absent.
fn push(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CommandResult {
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let len = modify(shard, &args[1], now, !only_existing, |list: &mut List| {
        for item in &args[2..] {
            list.push(end, item.clone());
        }
        list.len()
    })?;
    if len.is_some() {
        ctx.notify_aggregate(class::LIST, push_event(end), &args[1]);
    }
    Ok(Reply::Integer(len.unwrap_or(0) as i64))
}

/// The event of a push or a pop at `end`, as Redis names them.
pub fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

pub fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

pub(super) fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Left, false)
}

pub(super) fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Right, false)
}

pub(super) fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Left, true)
}

pub(super) fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Right, true)
}

/// `LPOP`/`RPOP key [count]`: one element (bulk or nil), or with a count an array of up to
/// `count` (the null array when the key is absent).
fn pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CommandResult {
    let count = match args.len() {
        2 => None,
        3 => Some(aggregate::positive_count(&args[2])?),
        _ => {
            let name = if end == End::Left { "lpop" } else { "rpop" };
            return Err(errors::wrong_arity(name));
        }
    };
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let popped = modify(shard, &args[1], now, false, |list: &mut List| {
        let wanted = count.unwrap_or(1).min(list.len());
        (0..wanted)
            .filter_map(|_| list.pop(end))
            .collect::<Vec<_>>()
    })?;
    if popped.as_ref().is_some_and(|items| !items.is_empty()) {
        ctx.notify_aggregate(class::LIST, pop_event(end), &args[1]);
    }
    Ok(match (popped, count) {
        (None, Some(_)) => Reply::NilArray,
        (None, None) => Reply::Nil,
        (Some(items), Some(_)) => Reply::Array(bulks(&items)),
        (Some(mut items), None) => Reply::bulk_or_nil(items.pop()),
    })
}

pub(super) fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    pop(ctx, args, End::Left)
}

pub(super) fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    pop(ctx, args, End::Right)
}

pub(super) fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let list = read::<List>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Integer(list.map_or(0, List::len) as i64))
}

pub(super) fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (start, stop) = (args::int(&args[2])?, args::int(&args[3])?);
    let now = ctx.now;
    let Some(list) = read::<List>(ctx.shard(&args[1])?, &args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::Array(match index_range(start, stop, list.len()) {
        Some((from, to)) => bulks(list.range(from, to)),
        None => Vec::new(),
    }))
}

/// A list index (negative counts from the end) as a position, if in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&index).then_some(index as usize)
}

/// `LINDEX` looks the key up before it reads the index, as Redis does (an absent key answers
/// nil whatever the index).
pub(super) fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let Some(list) = read::<List>(ctx.shard(&args[1])?, &args[1], now)? else {
        return Ok(Reply::Nil);
    };
    let index = args::int(&args[2])?;
    let item = position(index, list.len()).and_then(|i| list.get(i));
    Ok(Reply::bulk_or_nil(item.cloned()))
}

/// `LSET` too checks the key (`no such key`, `WRONGTYPE`) before the index.
pub(super) fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    if read::<List>(shard, &args[1], now)?.is_none() {
        return Err(errors::NO_SUCH_KEY);
    }
    let index = args::int(&args[2])?;
    let stored = modify(shard, &args[1], now, false, |list: &mut List| {
        position(index, list.len()).is_some_and(|i| list.set(i, args[3].clone()))
    })?;
    match stored {
        None => Err(errors::NO_SUCH_KEY),
        Some(false) => Err(Error::fixed("ERR index out of range")),
        Some(true) => {
            ctx.notify_aggregate(class::LIST, "lset", &args[1]);
            Ok(Reply::OK)
        }
    }
}

pub(super) fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let count = args::int(&args[2])?;
    let (limit, from) = if count < 0 {
        (count.unsigned_abs() as usize, End::Right)
    } else {
        (count as usize, End::Left)
    };
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let removed = modify(shard, &args[1], now, false, |list: &mut List| {
        list.remove_equal(&args[3], limit, from)
    })?;
    if removed.unwrap_or(0) > 0 {
        ctx.notify_aggregate(class::LIST, "lrem", &args[1]);
    }
    Ok(Reply::Integer(removed.unwrap_or(0) as i64))
}

pub(super) fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (start, stop) = (args::int(&args[2])?, args::int(&args[3])?);
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let trimmed = modify(
        shard,
        &args[1],
        now,
        false,
        |list: &mut List| match index_range(start, stop, list.len()) {
            Some((from, to)) => list.keep_range(from, to),
            None => list.keep_range(0, 0),
        },
    )?;
    if trimmed.is_some() {
        ctx.notify_aggregate(class::LIST, "ltrim", &args[1]);
    }
    Ok(Reply::OK)
}

/// `LPOS`'s options.
struct LposOptions {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

fn parse_lpos_options(options: &[Bytes]) -> Result<LposOptions, Error> {
    let mut parsed = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let value = rest.next().ok_or(errors::SYNTAX)?;
        if is(option, "RANK") {
            parsed.rank = args::int(value)?;
            if parsed.rank == 0 {
                return Err(Error::fixed(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(option, "COUNT") {
            // Redis gives this one text for a negative count and for a non-integer.
            parsed.count = Some(match args::parse_i64(value) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(Error::fixed("ERR COUNT can't be negative")),
            });
        } else if is(option, "MAXLEN") {
            parsed.maxlen = match args::parse_i64(value) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(Error::fixed("ERR MAXLEN can't be negative")),
            };
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(parsed)
}

pub(super) fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let options = parse_lpos_options(&args[3..])?;
    let now = ctx.now;
    let list = read::<List>(ctx.shard(&args[1])?, &args[1], now)?;
    let mut found = Vec::new();
    if let Some(list) = list {
        let len = list.len();
        let compared = if options.maxlen == 0 {
            len
        } else {
            options.maxlen.min(len)
        };
        // COUNT 0 means every match.
        let wanted = match options.count {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let mut skip = options.rank.unsigned_abs() - 1;
        let indexes: Box<dyn Iterator<Item = usize>> = if options.rank > 0 {
            Box::new(0..compared)
        } else {
            Box::new((len - compared..len).rev())
        };
        for index in indexes {
            if found.len() == wanted {
                break;
            }
            if list.get(index).is_some_and(|item| *item == args[2]) {
                if skip > 0 {
                    skip -= 1;
                } else {
                    found.push(Reply::Integer(index as i64));
                }
            }
        }
    }
    Ok(match options.count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    })
}

pub(super) fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let after = if is(&args[2], "AFTER") {
        true
    } else if is(&args[2], "BEFORE") {
        false
    } else {
        return Err(errors::SYNTAX);
    };
    let now = ctx.now;
    let shard = ctx.shard(&args[1])?;
    let len = modify(shard, &args[1], now, false, |list: &mut List| {
        let Some(pivot) = list.iter().position(|item| *item == args[3]) else {
            return -1;
        };
        list.insert(pivot + after as usize, args[4].clone());
        list.len() as i64
    })?;
    if len.unwrap_or(0) > 0 {
        ctx.notify_aggregate(class::LIST, "linsert", &args[1]);
    }
    Ok(Reply::Integer(len.unwrap_or(0)))
}

/// Moves one element from the `from` end of `source` to the `to` end of `destination`,
/// atomically (the dispatcher holds both keys' shards). `None` when `source` is absent.
/// `WRONGTYPE` when either key holds another type, checked before anything moves.
pub fn move_element(
    ctx: &mut Ctx,
    source: &[u8],
    destination: &[u8],
    from: End,
    to: End,
) -> Result<Option<Bytes>, Error> {
    let now = ctx.now;
    if read::<List>(ctx.shard(source)?, source, now)?.is_none() {
        return Ok(None);
    }
    aggregate::check_type::<List>(ctx.shard(destination)?, destination, now)?;
    let item = modify(ctx.shard(source)?, source, now, false, |list: &mut List| {
        list.pop(from)
    })?
    .flatten();
    if let Some(item) = &item {
        modify(
            ctx.shard(destination)?,
            destination,
            now,
            true,
            |list: &mut List| list.push(to, item.clone()),
        )?;
        // Redis reports the push on the destination first, then the pop on the source.
        ctx.notify_aggregate(class::LIST, push_event(to), destination);
        ctx.notify_aggregate(class::LIST, pop_event(from), source);
    }
    Ok(item)
}

pub(super) fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (from, to) = (parse_end(&args[3])?, parse_end(&args[4])?);
    Ok(Reply::bulk_or_nil(move_element(
        ctx, &args[1], &args[2], from, to,
    )?))
}

pub(super) fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::bulk_or_nil(move_element(
        ctx,
        &args[1],
        &args[2],
        End::Right,
        End::Left,
    )?))
}
