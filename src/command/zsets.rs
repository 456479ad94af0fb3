//! Sorted-set commands. redis-semaphore keeps semaphores in sorted sets (`ZADD`, `ZCARD`,
//! `ZREMRANGEBYSCORE key -inf max`, `ZSCORE`, `ZREM`); Redisson's fair lock adds `ZRANGE` and
//! `ZINCRBY`. Ranges by rank, score (`-inf`, `+inf`, exclusive `(`) and lex, in both
//! directions, with Redis's option rules and error texts.

use bytes::Bytes;

use super::aggregate::{self, index_range, modify, read, scan_reply, ScanArgs, SCAN_WHOLE_BELOW};
use super::args::{self, is};
use super::Ctx;
use crate::db::zset::ZSet;
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::reply::format_double;
use crate::protocol::Reply;

const NAN_RESULT: Error = Error::fixed("ERR resulting score is not a number (NaN)");
const NOT_FLOAT_RANGE: Error = Error::fixed("ERR min or max is not a float");
const NOT_LEX_RANGE: Error = Error::fixed("ERR min or max not valid string range item");

/// `ZADD`'s flags.
#[derive(Default)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Parses `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member …` into flags and pairs, with
/// Redis's order of checks.
fn parse_zadd(args: &[Bytes]) -> Result<(ZaddFlags, Vec<(f64, Bytes)>), Error> {
    let mut flags = ZaddFlags::default();
    let mut at = 2;
    while let Some(option) = args.get(at) {
        let flag = match args::upper(option).as_str() {
            "NX" => &mut flags.nx,
            "XX" => &mut flags.xx,
            "GT" => &mut flags.gt,
            "LT" => &mut flags.lt,
            "CH" => &mut flags.ch,
            "INCR" => &mut flags.incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let rest = &args[at..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(errors::SYNTAX);
    }
    if flags.nx && flags.xx {
        return Err(Error::fixed(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(Error::fixed(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && rest.len() > 2 {
        return Err(Error::fixed(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks(2)
        .map(|pair| Ok((args::float(&pair[0])?, pair[1].clone())))
        .collect::<Result<_, Error>>()?;
    Ok((flags, pairs))
}

/// What `ZADD` did: counts, and for `INCR` the new score (`None` when not applied).
#[derive(Default)]
struct ZaddOutcome {
    added: usize,
    updated: usize,
    score: Option<f64>,
}

/// Applies one `score member` pair under the `ZADD` flags.
fn zadd_pair(
    zset: &mut ZSet,
    flags: &ZaddFlags,
    score: f64,
    member: &Bytes,
    outcome: &mut ZaddOutcome,
) -> Result<(), Error> {
    match zset.score(member) {
        Some(current) => {
            if flags.nx {
                return Ok(());
            }
            let new = if flags.incr { current + score } else { score };
            if new.is_nan() {
                return Err(NAN_RESULT);
            }
            if (flags.lt && new >= current) || (flags.gt && new <= current) {
                return Ok(());
            }
            if new != current {
                zset.insert(member.clone(), new);
                outcome.updated += 1;
            }
            outcome.score = Some(new);
        }
        None if !flags.xx => {
            zset.insert(member.clone(), score);
            outcome.added += 1;
            outcome.score = Some(score);
        }
        None => {}
    }
    Ok(())
}

pub(super) fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (flags, pairs) = parse_zadd(args)?;
    apply_zadd(ctx, &args[1], &flags, &pairs)
}

/// `ZINCRBY key increment member` is `ZADD key INCR increment member`, parsed the same way
/// (an option word in the increment's place is a syntax error, as in Redis).
pub(super) fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (mut flags, pairs) = parse_zadd(args)?;
    flags.incr = true;
    apply_zadd(ctx, &args[1], &flags, &pairs)
}

fn apply_zadd(
    ctx: &mut Ctx,
    key: &[u8],
    flags: &ZaddFlags,
    pairs: &[(f64, Bytes)],
) -> CommandResult {
    let now = ctx.now;
    let shard = ctx.shard(key)?;
    let outcome = modify(shard, key, now, !flags.xx, |zset: &mut ZSet| {
        let mut outcome = ZaddOutcome::default();
        for (score, member) in pairs {
            zadd_pair(zset, flags, *score, member, &mut outcome)?;
        }
        Ok(outcome)
    })?
    .unwrap_or_else(|| Ok(ZaddOutcome::default()))?;
    if outcome.added + outcome.updated > 0 {
        let event = if flags.incr { "zincr" } else { "zadd" };
        ctx.notify_aggregate(class::ZSET, event, key);
    }
    Ok(if flags.incr {
        outcome.score.map_or(Reply::Nil, Reply::Double)
    } else if flags.ch {
        Reply::Integer((outcome.added + outcome.updated) as i64)
    } else {
        Reply::Integer(outcome.added as i64)
    })
}

pub(super) fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    aggregate::remove_members(
        ctx,
        args,
        (class::ZSET, "zrem"),
        |zset: &mut ZSet, member| zset.remove(member).is_some(),
    )
}

pub(super) fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let zset = read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(Reply::Integer(zset.map_or(0, ZSet::len) as i64))
}

pub(super) fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let zset = read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)?;
    let score = zset.and_then(|z| z.score(&args[2]));
    Ok(score.map_or(Reply::Nil, Reply::Double))
}

pub(super) fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let zset = read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)?;
    let scores = args[2..]
        .iter()
        .map(|m| {
            zset.and_then(|z| z.score(m))
                .map_or(Reply::Nil, Reply::Double)
        })
        .collect();
    Ok(Reply::Array(scores))
}

fn rank(ctx: &mut Ctx, args: &[Bytes], reverse: bool) -> CommandResult {
    let now = ctx.now;
    let zset = read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)?;
    let rank = zset.and_then(|z| {
        let rank = z.rank(&args[2])?;
        Some(if reverse { z.len() - 1 - rank } else { rank })
    });
    Ok(rank.map_or(Reply::Nil, |r| Reply::Integer(r as i64)))
}

pub(super) fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    rank(ctx, args, false)
}

pub(super) fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    rank(ctx, args, true)
}

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy, Debug)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

impl ScoreBound {
    fn parse(arg: &[u8]) -> Result<ScoreBound, Error> {
        let (exclusive, text) = match arg.first() {
            Some(b'(') => (true, &arg[1..]),
            _ => (false, arg),
        };
        let value = args::parse_f64(text).ok_or(NOT_FLOAT_RANGE)?;
        Ok(ScoreBound { value, exclusive })
    }
}

/// One end of a lex range: `[a` (inclusive), `(a` (exclusive), `-`, `+`.
#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

impl LexBound {
    fn parse(arg: &Bytes) -> Result<LexBound, Error> {
        match arg.first() {
            Some(b'-') if arg.len() == 1 => Ok(LexBound::Min),
            Some(b'+') if arg.len() == 1 => Ok(LexBound::Max),
            Some(b'[') => Ok(LexBound::Inclusive(arg.slice(1..))),
            Some(b'(') => Ok(LexBound::Exclusive(arg.slice(1..))),
            _ => Err(NOT_LEX_RANGE),
        }
    }
}

/// A range of a sorted set in ascending order, by score or by member.
enum Range {
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

impl Range {
    /// The ascending ranks `[start, end)` the range covers.
    fn ranks(&self, zset: &ZSet) -> (usize, usize) {
        let (start, end) = match self {
            Range::Score(min, max) => (
                zset.count_before(|s, _| s < min.value || (min.exclusive && s == min.value)),
                zset.count_before(|s, _| s < max.value || (!max.exclusive && s == max.value)),
            ),
            Range::Lex(min, max) => (
                zset.count_before(|_, m| match min {
                    LexBound::Min => false,
                    LexBound::Max => true,
                    LexBound::Inclusive(v) => m < &v[..],
                    LexBound::Exclusive(v) => m <= &v[..],
                }),
                zset.count_before(|_, m| match max {
                    LexBound::Min => false,
                    LexBound::Max => true,
                    LexBound::Inclusive(v) => m <= &v[..],
                    LexBound::Exclusive(v) => m < &v[..],
                }),
            ),
        };
        (start, end.max(start))
    }
}

/// What a `ZRANGE`-family command selects.
enum Selection {
    /// `start`/`stop` indexes (inclusive, negative from the end) in the direction's order.
    Rank(i64, i64),
    Range(Range),
}

/// A parsed `ZRANGE`-family request.
struct RangeQuery {
    selection: Selection,
    reverse: bool,
    with_scores: bool,
    /// `LIMIT offset count`; a negative count means all.
    limit: Option<(i64, i64)>,
}

#[derive(Clone, Copy, PartialEq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// Parses the arguments after the key of a `ZRANGE`-family command. `kind`/`reverse` are
/// preset by the older commands (`ZRANGEBYSCORE`, `ZREVRANGE`, …), in which case the
/// `BYSCORE`/`BYLEX`/`REV` options are syntax errors, as in Redis; `store` (`ZRANGESTORE`)
/// refuses `WITHSCORES`.
fn parse_range_query(
    args: &[Bytes],
    preset_kind: Option<RangeKind>,
    preset_reverse: Option<bool>,
    store: bool,
) -> Result<RangeQuery, Error> {
    let (mut kind, mut reverse) = (preset_kind, preset_reverse);
    let mut with_scores = false;
    let mut limit = None;
    let mut at = 2;
    while at < args.len() {
        let option = &args[at];
        let left = args.len() - at - 1;
        if !store && is(option, "WITHSCORES") {
            with_scores = true;
        } else if is(option, "LIMIT") && left >= 2 {
            limit = Some((args::int(&args[at + 1])?, args::int(&args[at + 2])?));
            at += 2;
        } else if reverse.is_none() && is(option, "REV") {
            reverse = Some(true);
        } else if kind.is_none() && is(option, "BYLEX") {
            kind = Some(RangeKind::Lex);
        } else if kind.is_none() && is(option, "BYSCORE") {
            kind = Some(RangeKind::Score);
        } else {
            return Err(errors::SYNTAX);
        }
        at += 1;
    }
    let kind = kind.unwrap_or(RangeKind::Rank);
    let reverse = reverse.unwrap_or(false);
    if limit.is_some_and(|(_, count)| count != -1) && kind == RangeKind::Rank {
        return Err(Error::fixed(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if kind == RangeKind::Rank {
        // `LIMIT offset -1` slips through Redis's check above and is ignored.
        limit = None;
    }
    if with_scores && kind == RangeKind::Lex {
        return Err(Error::fixed(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reversed score and lex ranges are written max first.
    let (low, high) = if reverse && kind != RangeKind::Rank {
        (&args[1], &args[0])
    } else {
        (&args[0], &args[1])
    };
    let selection = match kind {
        RangeKind::Rank => Selection::Rank(args::int(low)?, args::int(high)?),
        RangeKind::Score => Selection::Range(Range::Score(
            ScoreBound::parse(low)?,
            ScoreBound::parse(high)?,
        )),
        RangeKind::Lex => {
            Selection::Range(Range::Lex(LexBound::parse(low)?, LexBound::parse(high)?))
        }
    };
    Ok(RangeQuery {
        selection,
        reverse,
        with_scores,
        limit,
    })
}

/// The members (and scores) a query selects, in the query's direction.
fn select(zset: &ZSet, query: &RangeQuery) -> Vec<(f64, Bytes)> {
    let len = zset.len();
    // Ranks in the direction of the query.
    let (mut start, mut end) = match &query.selection {
        Selection::Rank(from, to) => index_range(*from, *to, len).unwrap_or((0, 0)),
        Selection::Range(range) => {
            let (start, end) = range.ranks(zset);
            if query.reverse {
                (len - end, len - start)
            } else {
                (start, end)
            }
        }
    };
    if let Some((offset, count)) = query.limit {
        if offset < 0 {
            return Vec::new();
        }
        start = start.saturating_add(offset as usize).min(end);
        if count >= 0 {
            end = end.min(start.saturating_add(count as usize));
        }
    }
    zset.iter_from(start, query.reverse)
        .take(end - start)
        .map(|(score, member)| (score, member.clone()))
        .collect()
}

/// Members, or members with scores: flat in RESP2, `[member, score]` pairs in RESP3.
fn members_reply(items: Vec<(f64, Bytes)>, with_scores: bool, resp3: bool) -> Reply {
    Reply::Array(if !with_scores {
        items.into_iter().map(|(_, m)| Reply::Bulk(m)).collect()
    } else if resp3 {
        items
            .into_iter()
            .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
            .collect()
    } else {
        items
            .into_iter()
            .flat_map(|(s, m)| [Reply::Bulk(m), Reply::Double(s)])
            .collect()
    })
}

fn range_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    kind: Option<RangeKind>,
    reverse: Option<bool>,
) -> CommandResult {
    let query = parse_range_query(&args[2..], kind, reverse, false)?;
    let (now, resp3) = (ctx.now, ctx.client.resp3);
    let items = match read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)? {
        Some(zset) => select(zset, &query),
        None => Vec::new(),
    };
    Ok(members_reply(items, query.with_scores, resp3))
}

pub(super) fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, None, None)
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: the selection
/// stored with its scores (an empty one deletes `dst`); its size.
pub(super) fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let query = parse_range_query(&args[3..], None, None, true)?;
    let now = ctx.now;
    let items = match read::<ZSet>(ctx.shard(&args[2])?, &args[2], now)? {
        Some(zset) => select(zset, &query),
        None => Vec::new(),
    };
    let mut result = ZSet::default();
    for (score, member) in items {
        result.insert(member, score);
    }
    let count = result.len();
    aggregate::store_reporting(ctx, (class::ZSET, "zrangestore"), &args[1], result)?;
    Ok(Reply::Integer(count as i64))
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`: a negative count may repeat members.
pub(super) fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (count, with_scores) = match args.len() {
        2 => (None, false),
        3 => (Some(aggregate::random_count(&args[2])?), false),
        4 if is(&args[3], "WITHSCORES") => (Some(aggregate::random_count(&args[2])?), true),
        _ => return Err(errors::SYNTAX),
    };
    let (now, resp3) = (ctx.now, ctx.client.resp3);
    let zset = read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)?;
    let Some((count, repeat)) = count else {
        let member = zset.and_then(|z| z.random()).map(|(m, _)| m.clone());
        return Ok(Reply::bulk_or_nil(member));
    };
    let Some(zset) = zset else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picked: Vec<(f64, Bytes)> = if repeat {
        (0..count)
            .filter_map(|_| zset.random().map(|(m, s)| (s, m.clone())))
            .collect()
    } else if count >= zset.len() {
        // The whole set, highest first, as Redis 7.0 answers.
        zset.iter_from(0, true)
            .map(|(s, m)| (s, m.clone()))
            .collect()
    } else {
        zset.random_distinct(count)
            .into_iter()
            .filter_map(|m| zset.score(m).map(|s| (s, m.clone())))
            .collect()
    };
    Ok(members_reply(picked, with_scores, resp3))
}

pub(super) fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, Some(RangeKind::Score), Some(false))
}

pub(super) fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, Some(RangeKind::Rank), Some(true))
}

pub(super) fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, Some(RangeKind::Score), Some(true))
}

pub(super) fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, Some(RangeKind::Lex), Some(false))
}

pub(super) fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, Some(RangeKind::Lex), Some(true))
}

fn count_range(ctx: &mut Ctx, args: &[Bytes], range: Range) -> CommandResult {
    let now = ctx.now;
    let count = read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)?.map_or(0, |zset| {
        let (start, end) = range.ranks(zset);
        end - start
    });
    Ok(Reply::Integer(count as i64))
}

pub(super) fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let range = Range::Score(ScoreBound::parse(&args[2])?, ScoreBound::parse(&args[3])?);
    count_range(ctx, args, range)
}

pub(super) fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let range = Range::Lex(LexBound::parse(&args[2])?, LexBound::parse(&args[3])?);
    count_range(ctx, args, range)
}

/// Removes the members a query selects; how many.
fn remove_selected(ctx: &mut Ctx, event: &str, key: &[u8], query: RangeQuery) -> CommandResult {
    let now = ctx.now;
    let removed = modify(ctx.shard(key)?, key, now, false, |zset: &mut ZSet| {
        let selected = select(zset, &query);
        for (_, member) in &selected {
            zset.remove(member);
        }
        selected.len()
    })?
    .unwrap_or(0);
    if removed > 0 {
        ctx.notify_aggregate(class::ZSET, event, key);
    }
    Ok(Reply::Integer(removed as i64))
}

fn removal(selection: Selection) -> RangeQuery {
    RangeQuery {
        selection,
        reverse: false,
        with_scores: false,
        limit: None,
    }
}

pub(super) fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let range = Range::Score(ScoreBound::parse(&args[2])?, ScoreBound::parse(&args[3])?);
    let query = removal(Selection::Range(range));
    remove_selected(ctx, "zremrangebyscore", &args[1], query)
}

pub(super) fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let range = Range::Lex(LexBound::parse(&args[2])?, LexBound::parse(&args[3])?);
    let query = removal(Selection::Range(range));
    remove_selected(ctx, "zremrangebylex", &args[1], query)
}

pub(super) fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let selection = Selection::Rank(args::int(&args[2])?, args::int(&args[3])?);
    remove_selected(ctx, "zremrangebyrank", &args[1], removal(selection))
}

/// `ZPOPMIN`/`ZPOPMAX key [count]`: without a count a flat `[member, score]`; with one, pairs
/// (nested in RESP3).
fn pop(ctx: &mut Ctx, args: &[Bytes], reverse: bool) -> CommandResult {
    let count = match args.len() {
        2 => None,
        3 => Some(aggregate::positive_count(&args[2])?),
        _ => return Err(errors::SYNTAX),
    };
    let (now, resp3) = (ctx.now, ctx.client.resp3);
    let popped = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        false,
        |zset: &mut ZSet| {
            let items: Vec<(f64, Bytes)> = zset
                .iter_from(0, reverse)
                .take(count.unwrap_or(1))
                .map(|(s, m)| (s, m.clone()))
                .collect();
            for (_, member) in &items {
                zset.remove(member);
            }
            items
        },
    )?
    .unwrap_or_default();
    if !popped.is_empty() {
        let event = if reverse { "zpopmax" } else { "zpopmin" };
        ctx.notify_aggregate(class::ZSET, event, &args[1]);
    }
    Ok(members_reply(popped, true, resp3 && count.is_some()))
}

pub(super) fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    pop(ctx, args, false)
}

pub(super) fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    pop(ctx, args, true)
}

/// `ZSCAN`: members and scores, flat, scores as bulk strings (in RESP3 too).
pub(super) fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    ScanArgs::cursor(&args[2])?;
    let now = ctx.now;
    let Some(zset) = read::<ZSet>(ctx.shard(&args[1])?, &args[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let scan = ScanArgs::parse(&args[2..])?;
    let (next, page): (u64, Vec<(f64, Bytes)>) = if zset.len() <= SCAN_WHOLE_BELOW {
        // Small sorted sets come whole and in order, as from Redis's listpack encoding.
        let all = zset
            .iter_from(0, false)
            .map(|(s, m)| (s, m.clone()))
            .collect();
        (0, all)
    } else {
        let (next, page) = zset.scan(scan.cursor, scan.count);
        (
            next,
            page.into_iter().map(|(m, s)| (*s, m.clone())).collect(),
        )
    };
    let items = page
        .into_iter()
        .filter(|(_, m)| scan.matches(m))
        .flat_map(|(s, m)| [Reply::Bulk(m), Reply::Bulk(Bytes::from(format_double(s)))])
        .collect();
    Ok(scan_reply(next, items))
}
