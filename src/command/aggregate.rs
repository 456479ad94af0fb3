//! What the list, hash, set and sorted-set commands share: typed access to a key that answers
//! `WRONGTYPE` for another type and deletes an aggregate its command emptied (none is ever
//! stored empty), the `*SCAN` options, and the count rules of `SRANDMEMBER`/`HRANDFIELD`.

use crate::clock::MonoTime;
use bytes::Bytes;

use super::{args, Ctx};
use crate::db::dict::{Hash, Set};
use crate::db::list::List;
use crate::db::zset::ZSet;
use crate::db::{Shard, Value, NO_DEADLINE};
use crate::errors::{self, CommandResult, Error};
use crate::glob;
use crate::protocol::Reply;

/// One of the aggregate types stored in a [`Value`].
pub trait Kind: Default {
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn wrap(self) -> Value;
    fn is_empty(&self) -> bool;
}

macro_rules! kind {
    ($type:ty, $variant:ident) => {
        impl Kind for $type {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(inner) => Some(inner.as_ref()),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(inner) => Some(inner.as_mut()),
                    _ => None,
                }
            }
            fn wrap(self) -> Value {
                Value::$variant(Box::new(self))
            }
            fn is_empty(&self) -> bool {
                <$type>::is_empty(self)
            }
        }
    };
}

kind!(List, List);
kind!(Hash, Hash);
kind!(Set, Set);
kind!(ZSet, ZSet);

/// The value of `key` as a `K`: `Ok(None)` when absent, `WRONGTYPE` for another type.
pub fn read<'s, K: Kind>(
    shard: &'s mut Shard,
    key: &[u8],
    now: MonoTime,
) -> Result<Option<&'s K>, Error> {
    match shard.get(key, now) {
        None => Ok(None),
        Some(entry) => K::of(&entry.value).map(Some).ok_or(errors::WRONGTYPE),
    }
}

/// Runs `change` on the value of `key` as a `K`, creating an empty one first when the key is
/// absent and `create` is set (`Ok(None)` when absent and not created). Deletes the key if
/// `change` left it empty: the one place that keeps empty aggregates out of the keyspace.
pub fn modify<K: Kind, R>(
    shard: &mut Shard,
    key: &[u8],
    now: MonoTime,
    create: bool,
    change: impl FnOnce(&mut K) -> R,
) -> Result<Option<R>, Error> {
    match shard.get(key, now) {
        Some(entry) if K::of(&entry.value).is_none() => return Err(errors::WRONGTYPE),
        Some(_) => {}
        None if create => {
            shard.insert(key, K::default().wrap(), NO_DEADLINE, now);
        }
        None => return Ok(None),
    }
    let Some(value) = shard
        .get_mut(key, now)
        .and_then(|e| K::of_mut(&mut e.value))
    else {
        return Ok(None);
    };
    let result = change(value);
    if value.is_empty() {
        shard.remove(key, now);
    }
    Ok(Some(result))
}

/// `HDEL`, `SREM`, `ZREM`: removes each member named after the key from the key's `K` with
/// `remove` (true when the member was there), and replies how many went (0 for an absent key).
/// When some went, the keyspace event `event` of class `event_class` is reported.
pub fn remove_members<K: Kind>(
    ctx: &mut Ctx,
    args: &[Bytes],
    (event_class, event): (u32, &str),
    remove: impl Fn(&mut K, &Bytes) -> bool,
) -> CommandResult {
    let now = ctx.now;
    let removed = modify(
        ctx.shard(&args[1])?,
        &args[1],
        now,
        false,
        |value: &mut K| {
            args[2..]
                .iter()
                .filter(|member| remove(value, member))
                .count()
        },
    )?;
    if removed.unwrap_or(0) > 0 {
        ctx.notify_aggregate(event_class, event, &args[1]);
    }
    Ok(Reply::Integer(removed.unwrap_or(0) as i64))
}

/// Checks that `key` is absent or a `K`, without touching it.
pub fn check_type<K: Kind>(shard: &mut Shard, key: &[u8], now: MonoTime) -> Result<(), Error> {
    read::<K>(shard, key, now).map(|_| ())
}

/// Stores `value` under `key` (replacing whatever was there), or deletes the key when `value`
/// is empty: the `*STORE` commands.
pub fn store<K: Kind>(shard: &mut Shard, key: &[u8], value: K, now: MonoTime) {
    if value.is_empty() {
        shard.remove(key, now);
    } else {
        shard.insert(key, value.wrap(), NO_DEADLINE, now);
    }
}

/// [`store`] for a command, with its keyspace event as Redis reports it: `event` when
/// something was stored, `del` when an empty result removed an existing key.
pub fn store_reporting<K: Kind>(
    ctx: &mut Ctx,
    (event_class, event): (u32, &str),
    key: &[u8],
    value: K,
) -> Result<(), Error> {
    let now = ctx.now;
    let stored = !value.is_empty();
    let shard = ctx.shard(key)?;
    let existed = shard.contains(key, now);
    store(shard, key, value, now);
    if stored {
        ctx.notify(event_class, event, key);
    } else if existed {
        ctx.notify(crate::notify::class::GENERIC, "del", key);
    }
    Ok(())
}

/// Collections at most this long are scanned whole in one call, whatever the cursor, and
/// answer cursor 0, as Redis does for its small encodings. (A scan that finds a collection
/// shrunk below this mid-way sees members again: a scan promises "at least once".)
pub const SCAN_WHOLE_BELOW: usize = 128;

/// The arguments of `HSCAN`/`SSCAN`/`ZSCAN` after the key.
pub struct ScanArgs {
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: usize,
}

impl ScanArgs {
    /// Reads the cursor of `cursor [MATCH pattern] [COUNT count]`: Redis checks it before it
    /// looks the key up, and the options after (an absent key answers an empty scan whatever
    /// the options).
    pub fn cursor(arg: &[u8]) -> Result<u64, Error> {
        // Redis reads the cursor with `strtoull`, which also takes a negative number, wrapped.
        std::str::from_utf8(arg)
            .ok()
            .and_then(|text| {
                text.parse::<u64>()
                    .ok()
                    .or_else(|| text.parse::<i64>().ok().map(|n| n as u64))
            })
            .ok_or(Error::fixed("ERR invalid cursor"))
    }

    /// Parses `cursor [MATCH pattern] [COUNT count]`.
    pub fn parse(args: &[Bytes]) -> Result<ScanArgs, Error> {
        let cursor = Self::cursor(&args[0])?;
        let mut scan = ScanArgs {
            cursor,
            pattern: None,
            count: 10,
        };
        let mut rest = args::Cursor::new(args, 1);
        while !rest.is_empty() {
            if rest.next_is("MATCH") {
                let pattern = rest.next_bytes()?;
                // `*` matches everything: skip the matching.
                scan.pattern = (pattern[..] != *b"*").then(|| pattern.clone());
            } else if rest.next_is("COUNT") {
                scan.count = match rest.next_int()? {
                    n if n < 1 => return Err(errors::SYNTAX),
                    n => n as usize,
                };
            } else {
                return Err(errors::SYNTAX);
            }
        }
        Ok(scan)
    }

    pub fn matches(&self, member: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|pattern| glob::matches(pattern, member))
    }
}

/// The reply of a `*SCAN`: the next cursor as a bulk string, then the items.
pub fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    let mut digits = itoa::Buffer::new();
    Reply::Array(vec![
        Reply::bulk_copy(digits.format(next).as_bytes()),
        Reply::Array(items),
    ])
}

/// Largest answer of a negative `SRANDMEMBER`/`HRANDFIELD` count (elements may repeat, so the
/// reply is not bounded by the data): a reply is built whole in memory before it is written.
const MAX_REPEATED_PICKS: u64 = 1 << 24;

/// The count of `SRANDMEMBER`/`HRANDFIELD`: `(how many, repetition allowed)`.
pub fn random_count(arg: &[u8]) -> Result<(usize, bool), Error> {
    let count = args::int(arg)?;
    if count == i64::MIN {
        return Err(Error::fixed(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if count >= 0 {
        return Ok((count as usize, false));
    }
    let wanted = count.unsigned_abs();
    if wanted > MAX_REPEATED_PICKS {
        return Err(Error::fixed("ERR value is out of range"));
    }
    Ok((wanted as usize, true))
}

/// `ERR value is out of range, must be positive` (`LPOP`/`SPOP` counts).
pub const MUST_BE_POSITIVE: Error = Error::fixed("ERR value is out of range, must be positive");

/// A non-negative count argument, or [`MUST_BE_POSITIVE`].
pub fn positive_count(arg: &[u8]) -> Result<usize, Error> {
    match args::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(MUST_BE_POSITIVE),
    }
}

/// Bulk replies for a list of byte strings.
pub fn bulks<'a>(items: impl IntoIterator<Item = &'a Bytes>) -> Vec<Reply> {
    items.into_iter().map(|b| Reply::Bulk(b.clone())).collect()
}

/// Redis's inclusive `start`/`stop` indexes (negative ones count from the end) applied to a
/// length: the half-open range they select, or `None` when it is empty.
pub fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize + 1))
}
