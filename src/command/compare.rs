//! Compare-and-delete without a script: `DELIFEQ` (Valkey 9.0), `DELEX` and `DIGEST`
//! (Redis 8.4). The release of a lock in one command. `SET … IFEQ` lives with `SET` in
//! `strings.rs` and uses [`digest_of`] from here.

use bytes::Bytes;

use super::strings::Condition;
use super::{args::is, Ctx};
use crate::db::read_string;
use crate::errors::{self, CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;

/// The digest of a value: XXH3-64, as `DIGEST` and `IFDEQ`/`IFDNE` use it.
pub fn digest_of(value: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value)
}

/// The digest as `DIGEST` shows it: 16 lowercase hex digits.
pub fn digest_hex(digest: u64) -> String {
    format!("{digest:016x}")
}

/// A digest argument: 1 to 16 hex digits, either case.
pub fn parse_digest(arg: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 16)
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or(errors::SYNTAX)
}

/// Deletes `key` if it holds a string for which `condition` holds; 1 if deleted.
fn delete_if(ctx: &mut Ctx, key: &[u8], condition: &Condition) -> CommandResult {
    let now = ctx.now;
    let shard = ctx.shard(key)?;
    let Some(current) = read_string(shard, key, now)? else {
        return Ok(Reply::Integer(0));
    };
    if !condition.holds(Some(current)) {
        return Ok(Reply::Integer(0));
    }
    shard.remove(key, now);
    ctx.notify(class::GENERIC, "del", key);
    Ok(Reply::Integer(1))
}

pub(super) fn delifeq(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    delete_if(ctx, &args[1], &Condition::IfEqual(args[2].clone()))
}

pub(super) fn delex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let condition = match &args[2..] {
        [] => {
            let now = ctx.now;
            let removed = ctx.shard(&args[1])?.remove(&args[1], now).is_some();
            if removed {
                ctx.notify(class::GENERIC, "del", &args[1]);
            }
            return Ok(Reply::Integer(removed as i64));
        }
        [option, value] if is(option, "IFEQ") => Condition::IfEqual(value.clone()),
        [option, value] if is(option, "IFNE") => Condition::IfNotEqual(value.clone()),
        [option, value] if is(option, "IFDEQ") => Condition::IfDigestEqual(parse_digest(value)?),
        [option, value] if is(option, "IFDNE") => Condition::IfDigestNotEqual(parse_digest(value)?),
        _ => return Err(errors::SYNTAX),
    };
    delete_if(ctx, &args[1], &condition)
}

pub(super) fn digest(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let value = read_string(ctx.shard(&args[1])?, &args[1], now)?;
    Ok(value.map_or(Reply::Nil, |v| Reply::bulk(digest_hex(digest_of(v)))))
}
