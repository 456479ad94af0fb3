//! Lock-native commands (`LOCK.*`): acquire with a fencing token, wait in line without polling,
//! reentrancy, release, extend, and introspection.
//!
//! A lock is an ordinary string key whose value is the holder's token, so `GET`, `PTTL`, `DEL`,
//! `DELIFEQ` and library scripts see `LOCK.ACQUIRE`'s locks, and `LOCK.ACQUIRE` waits on a lock
//! taken with plain `SET NX PX`. The behaviour lives in [`crate::locks`]; this module parses and
//! replies.
//!
//! ```text
//! LOCK.ACQUIRE key token PX ms [WAIT ms] [REENTRANT]  -> fencing token | null
//! LOCK.RELEASE key token                              -> 1 | 0
//! LOCK.EXTEND key token PX ms                         -> 1 | 0
//! LOCK.INFO key                                       -> map | null
//! LOCK.LIST [pattern]                                 -> array of keys
//! ```

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::args::{self, is};
use super::strings::{deadline_from, TtlUnit};
use super::{Ctx, Outcome};
use crate::db::read_string;
use crate::db::{Str, NO_DEADLINE};
use crate::errors::{self, CommandResult, Error};
use crate::glob;
use crate::locks::grant::{self, acquire_in_turn};
use crate::locks::wait::LockWait;
use crate::locks::{AcquireRequest, Acquired, Grant};
use crate::protocol::Reply;

/// The longest wait honoured; longer ones are cut to it (about thirty years: forever).
const MAX_WAIT: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `LOCK.ACQUIRE`'s options after the key and token.
#[derive(Debug, PartialEq)]
struct AcquireOptions {
    ttl_ms: u64,
    /// `WAIT ms`; 0 or absent: do not wait.
    wait_ms: u64,
    reentrant: bool,
}

/// Parses `PX ms [WAIT ms] [REENTRANT]` in any order and case; `PX` is required and any option
/// given twice is a syntax error, as `SET` treats its options.
fn parse_acquire_options(ctx: &Ctx, options: &[Bytes]) -> Result<AcquireOptions, Error> {
    let (mut ttl_ms, mut wait_ms, mut reentrant) = (None, None, false);
    let mut i = 0;
    while i < options.len() {
        let option = &options[i];
        if is(option, "REENTRANT") && !reentrant {
            reentrant = true;
            i += 1;
            continue;
        }
        match options.get(i + 1) {
            Some(value) if is(option, "PX") && ttl_ms.is_none() => {
                ttl_ms = Some(parse_lease(ctx, value, "lock.acquire")?);
            }
            Some(value) if is(option, "WAIT") && wait_ms.is_none() => {
                wait_ms = Some(parse_wait(value)?);
            }
            _ => return Err(errors::SYNTAX),
        }
        i += 2;
    }
    Ok(AcquireOptions {
        ttl_ms: ttl_ms.ok_or(errors::SYNTAX)?,
        wait_ms: wait_ms.unwrap_or(0),
        reentrant,
    })
}

/// A lease in milliseconds, checked as `SET … PX` checks it (`invalid expire time in '<cmd>'
/// command` for zero, negative or overflowing values).
fn parse_lease(ctx: &Ctx, arg: &[u8], command: &str) -> Result<u64, Error> {
    let deadline = deadline_from(ctx, arg, TtlUnit::Millis, command)?;
    Ok(ctx.now.ms_until(deadline))
}

/// A wait in milliseconds, with Redis's texts for millisecond timeouts.
fn parse_wait(arg: &[u8]) -> Result<u64, Error> {
    match args::parse_i64(arg) {
        None => Err(errors::TIMEOUT_NOT_INTEGER),
        Some(ms) if ms < 0 => Err(errors::TIMEOUT_NEGATIVE),
        Some(ms) => Ok(ms as u64),
    }
}

/// A grant as the client sees it: its fencing token.
fn fencing_reply(grant: Grant) -> Reply {
    Reply::Integer(i64::try_from(grant.fencing).unwrap_or(i64::MAX))
}

/// `LOCK.ACQUIRE key token PX ms [WAIT ms] [REENTRANT]`: the fencing token when granted, null
/// when busy (after the wait, with `WAIT`). Inside a script or transaction it never blocks.
pub(super) fn acquire(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    let options = parse_acquire_options(ctx, &args[3..])?;
    let request = AcquireRequest {
        token: args[2].clone(),
        ttl_ms: options.ttl_ms,
        reentrant: options.reentrant,
    };
    let (shared, now) = (ctx.shared, ctx.now);
    let key = &args[1];
    match acquire_in_turn(ctx.shard(key)?, key, &request, now, &shared.fencing)? {
        Acquired::Granted(grant) => return Ok(Outcome::Reply(fencing_reply(grant))),
        Acquired::Busy { .. } if options.wait_ms == 0 || !ctx.may_block() => {
            return Ok(Outcome::Reply(Reply::Nil));
        }
        Acquired::Busy { .. } => {}
    }
    let wait_for = Duration::from_millis(options.wait_ms).min(MAX_WAIT);
    let wait = LockWait {
        keyspace: shared.keyspace.clone(),
        fencing: shared.fencing.clone(),
        db: ctx.db(),
        key: key.clone(),
        request,
        give_up_at: Instant::now() + wait_for,
    };
    Ok(Outcome::Block(Box::pin(async move {
        match wait.run().await {
            Ok(Some(grant)) => fencing_reply(grant),
            Ok(None) => Reply::Nil,
            Err(error) => error.into(),
        }
    })))
}

/// `LOCK.RELEASE key token`: 1 when `token` held the lock (one hold released; the key deleted,
/// and the next waiter granted, at the last), else 0.
pub(super) fn release(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let released = grant::release(ctx.shard(&args[1])?, &args[1], &args[2], now)?;
    Ok(Reply::Integer(released as i64))
}

/// `LOCK.EXTEND key token PX ms`: sets the lease to `ms` from now if `token` holds the lock.
pub(super) fn extend(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if !is(&args[3], "PX") {
        return Err(errors::SYNTAX);
    }
    let ttl_ms = parse_lease(ctx, &args[4], "lock.extend")?;
    let now = ctx.now;
    let extended = grant::extend(ctx.shard(&args[1])?, &args[1], &args[2], ttl_ms, now)?;
    Ok(Reply::Integer(extended as i64))
}

/// `LOCK.INFO key`: null when the key is absent, else a map (a flat array in RESP2) of the
/// holder's `token`, `ttl_ms` (-1 without a TTL), `fencing_token` (null for a lock not taken by
/// `LOCK.ACQUIRE`), `hold_count` and `waiters`.
pub(super) fn info(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (now, key) = (ctx.now, &args[1]);
    let shard = ctx.shard(key)?;
    let Some(token) = read_string(shard, key, now)?.map(Str::to_bytes) else {
        return Ok(Reply::Nil);
    };
    let ttl_ms = match shard.peek_deadline(key, now) {
        Some(NO_DEADLINE) | None => -1,
        Some(deadline) => now.ms_until(deadline) as i64,
    };
    let (fencing, holds) = match shard.lock_meta(key, now) {
        Some(meta) => (
            Reply::Integer(i64::try_from(meta.fencing).unwrap_or(i64::MAX)),
            i64::try_from(meta.holds).unwrap_or(i64::MAX),
        ),
        // A lock taken by plain `SET NX PX`: held once, no fencing token.
        None => (Reply::Nil, 1),
    };
    let field = |name: &'static str| Reply::bulk(name);
    Ok(Reply::Map(vec![
        (field("token"), Reply::Bulk(token)),
        (field("ttl_ms"), Reply::Integer(ttl_ms)),
        (field("fencing_token"), fencing),
        (field("hold_count"), Reply::Integer(holds)),
        (
            field("waiters"),
            Reply::Integer(shard.waiter_count(key) as i64),
        ),
    ]))
}

/// `LOCK.LIST [pattern]`: the locks of the selected database, sorted: keys granted by
/// `LOCK.ACQUIRE` that are still held, and held keys that clients are waiting on (however they
/// were taken). A plain `SET NX PX` key nobody waits on is just a string to latchkey. Only keys
/// within the user's ACL key patterns are listed.
pub(super) fn list(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let pattern = match &args[1..] {
        [] => None,
        [pattern] => Some(pattern.clone()),
        _ => return Err(errors::SYNTAX),
    };
    let (shared, now, db) = (ctx.shared, ctx.now, ctx.db());
    let user = ctx.client.user.clone();
    let mut keys = Vec::new();
    for index in shared.keyspace.db_shards(db) {
        let shard = ctx.guards.shard_at(index)?;
        let granted = shard
            .lock_meta_keys()
            .filter(|key| shard.lock_meta(key, now).is_some());
        let waited = shard.waited_keys().filter(|key| {
            shard.lock_meta(key, now).is_none()
                && shard.waiter_count(key) > 0
                && shard.peek_deadline(key, now).is_some()
        });
        keys.extend(
            granted
                .chain(waited)
                .filter(|key| pattern.as_ref().is_none_or(|p| glob::matches(p, key)))
                .filter(|key| user.may_access_key(key))
                .cloned(),
        );
    }
    keys.sort_unstable();
    Ok(Reply::Array(keys.into_iter().map(Reply::Bulk).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_parsing_uses_redis_timeout_texts() {
        assert_eq!(parse_wait(b"0"), Ok(0));
        assert_eq!(parse_wait(b"250"), Ok(250));
        assert_eq!(parse_wait(b"-1"), Err(errors::TIMEOUT_NEGATIVE));
        assert_eq!(parse_wait(b"1.5"), Err(errors::TIMEOUT_NOT_INTEGER));
    }
}
