//! Sorted-set algebra: `ZUNION`, `ZINTER`, `ZDIFF`, their `STORE` forms, and `ZINTERCARD`.
//! Plain sets count as sorted sets whose scores are all 1, as in Redis.
//!
//! Their keys follow `numkeys`, so the table gives no key positions and each handler locks
//! its keys itself (all at once, in the keyspace's order).

use crate::clock::MonoTime;
use bytes::Bytes;

use super::aggregate::{read, store_reporting};
use super::args::{self, is};
use super::Ctx;
use crate::db::dict::Set;
use crate::db::zset::ZSet;
use crate::db::Shard;
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;

#[derive(Clone, Copy, PartialEq)]
enum Operation {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Combines two scores; a NaN (`inf + -inf`) becomes 0, as in Redis.
    fn combine(self, a: f64, b: f64) -> f64 {
        let combined = match self {
            Aggregate::Sum => a + b,
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        };
        if combined.is_nan() {
            0.0
        } else {
            combined
        }
    }
}

/// A parsed request: weights, how to combine, what to reply.
struct Request {
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
    limit: usize,
}

/// One input read out of the keyspace: members and scores (1 for a plain set).
type Input = Vec<(Bytes, f64)>;

/// The input keys after `numkeys` at `args[at]`, with Redis's checks.
fn input_keys<'a>(args: &'a [Bytes], at: usize, name: &str) -> Result<&'a [Bytes], Error> {
    let numkeys = args::int(&args[at])?;
    if numkeys < 1 {
        return Err(Error::err(format_args!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let first = at + 1;
    if numkeys as usize > args.len() - first {
        return Err(errors::SYNTAX);
    }
    Ok(&args[first..first + numkeys as usize])
}

/// Reads each input as a sorted set or a set (`WRONGTYPE` for anything else); an absent key
/// is an empty input.
fn read_inputs(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<Option<Input>>, Error> {
    let now = ctx.now;
    let mut inputs = Vec::with_capacity(keys.len());
    for key in keys {
        inputs.push(read_input(ctx.shard(key)?, key, now)?);
    }
    Ok(inputs)
}

fn read_input(shard: &mut Shard, key: &[u8], now: MonoTime) -> Result<Option<Input>, Error> {
    if let Ok(Some(set)) = read::<Set>(shard, key, now) {
        return Ok(Some(set.keys().map(|m| (m.clone(), 1.0)).collect()));
    }
    Ok(read::<ZSet>(shard, key, now)?.map(|zset| {
        zset.iter_from(0, false)
            .map(|(score, member)| (member.clone(), score))
            .collect()
    }))
}

/// Parses the options after the keys: `WEIGHTS`, `AGGREGATE` (not for `ZDIFF`), `WITHSCORES`
/// (not for the `STORE` forms), `LIMIT` (only `ZINTERCARD`).
fn parse_options(
    keys: &[Bytes],
    options: &[Bytes],
    operation: Operation,
    store: bool,
    cardinality: bool,
) -> Result<Request, Error> {
    let mut request = Request {
        weights: vec![1.0; keys.len()],
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    let combining = operation != Operation::Diff && !cardinality;
    let mut at = 0;
    while at < options.len() {
        let option = &options[at];
        let remaining = options.len() - at;
        if combining && remaining > keys.len() && is(option, "WEIGHTS") {
            for (i, weight) in options[at + 1..=at + keys.len()].iter().enumerate() {
                request.weights[i] = args::parse_f64(weight)
                    .ok_or(Error::fixed("ERR weight value is not a float"))?;
            }
            at += keys.len() + 1;
        } else if combining && remaining >= 2 && is(option, "AGGREGATE") {
            request.aggregate = match args::upper(&options[at + 1]).as_str() {
                "SUM" => Aggregate::Sum,
                "MIN" => Aggregate::Min,
                "MAX" => Aggregate::Max,
                _ => return Err(errors::SYNTAX),
            };
            at += 2;
        } else if !store && !cardinality && is(option, "WITHSCORES") {
            request.with_scores = true;
            at += 1;
        } else if cardinality && remaining >= 2 && is(option, "LIMIT") {
            request.limit = match args::parse_i64(&options[at + 1]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(Error::fixed("ERR LIMIT can't be negative")),
            };
            at += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(request)
}

/// Computes the result as a sorted set.
fn compute(inputs: Vec<Option<Input>>, request: &Request, operation: Operation) -> ZSet {
    let mut result = ZSet::default();
    let weighted = |score: f64, weight: f64| {
        let value = score * weight;
        if value.is_nan() {
            0.0
        } else {
            value
        }
    };
    match operation {
        Operation::Union => {
            for (input, weight) in inputs.into_iter().zip(&request.weights) {
                for (member, score) in input.unwrap_or_default() {
                    let value = weighted(score, *weight);
                    let combined = match result.score(&member) {
                        Some(current) => request.aggregate.combine(current, value),
                        None => value,
                    };
                    result.insert(member, combined);
                }
            }
        }
        Operation::Inter => {
            // An absent input makes the intersection empty.
            let Some(inputs) = inputs.into_iter().collect::<Option<Vec<Input>>>() else {
                return result;
            };
            let Some((first, others)) = inputs.split_first() else {
                return result;
            };
            let lookups: Vec<hashbrown::HashMap<&Bytes, f64>> = others
                .iter()
                .map(|input| input.iter().map(|(m, s)| (m, *s)).collect())
                .collect();
            'members: for (member, score) in first {
                let mut combined = weighted(*score, request.weights[0]);
                for (lookup, weight) in lookups.iter().zip(&request.weights[1..]) {
                    let Some(other) = lookup.get(member) else {
                        continue 'members;
                    };
                    combined = request
                        .aggregate
                        .combine(combined, weighted(*other, *weight));
                }
                result.insert(member.clone(), combined);
            }
        }
        Operation::Diff => {
            let mut inputs = inputs.into_iter();
            for (member, score) in inputs.next().flatten().unwrap_or_default() {
                result.insert(member, score);
            }
            for input in inputs.flatten() {
                for (member, _) in input {
                    result.remove(&member);
                }
            }
        }
    }
    result
}

/// The reply of `ZUNION`/`ZINTER`/`ZDIFF`: members in order, with scores if asked.
fn reply(result: &ZSet, with_scores: bool, resp3: bool) -> Reply {
    let items = result.iter_from(0, false);
    Reply::Array(if !with_scores {
        items.map(|(_, m)| Reply::Bulk(m.clone())).collect()
    } else if resp3 {
        items
            .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m.clone()), Reply::Double(s)]))
            .collect()
    } else {
        items
            .flat_map(|(s, m)| [Reply::Bulk(m.clone()), Reply::Double(s)])
            .collect()
    })
}

/// `ZUNION`/`ZINTER`/`ZDIFF numkeys key … [options]`.
fn combine(ctx: &mut Ctx, args: &[Bytes], operation: Operation, name: &str) -> CommandResult {
    let keys = input_keys(args, 1, name)?;
    let db = ctx.db();
    ctx.guards.lock_keys(db, keys.iter().map(|k| &k[..]))?;
    let inputs = read_inputs(ctx, keys)?;
    let request = parse_options(keys, &args[2 + keys.len()..], operation, false, false)?;
    let result = compute(inputs, &request, operation);
    Ok(reply(&result, request.with_scores, ctx.client.resp3))
}

/// The `STORE` forms: `destination numkeys key … [options]`; the result's size.
fn combine_store(ctx: &mut Ctx, args: &[Bytes], operation: Operation, name: &str) -> CommandResult {
    let keys = input_keys(args, 2, name)?;
    let db = ctx.db();
    let all = std::iter::once(&args[1]).chain(keys).map(|k| &k[..]);
    ctx.guards.lock_keys(db, all)?;
    let inputs = read_inputs(ctx, keys)?;
    let request = parse_options(keys, &args[3 + keys.len()..], operation, true, false)?;
    let result = compute(inputs, &request, operation);
    let count = result.len();
    store_reporting(ctx, (class::ZSET, name), &args[1], result)?;
    Ok(Reply::Integer(count as i64))
}

pub(super) fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    combine(ctx, args, Operation::Union, "zunion")
}

pub(super) fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    combine(ctx, args, Operation::Inter, "zinter")
}

pub(super) fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    combine(ctx, args, Operation::Diff, "zdiff")
}

pub(super) fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    combine_store(ctx, args, Operation::Union, "zunionstore")
}

pub(super) fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    combine_store(ctx, args, Operation::Inter, "zinterstore")
}

pub(super) fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    combine_store(ctx, args, Operation::Diff, "zdiffstore")
}

/// `ZINTERCARD numkeys key … [LIMIT limit]`.
pub(super) fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let keys = input_keys(args, 1, "zintercard")?;
    let db = ctx.db();
    ctx.guards.lock_keys(db, keys.iter().map(|k| &k[..]))?;
    let inputs = read_inputs(ctx, keys)?;
    let request = parse_options(keys, &args[2 + keys.len()..], Operation::Inter, false, true)?;
    let count = compute(inputs, &request, Operation::Inter).len();
    let count = if request.limit > 0 {
        count.min(request.limit)
    } else {
        count
    };
    Ok(Reply::Integer(count as i64))
}
