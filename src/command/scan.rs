//! Enumerating keys: `KEYS`, `SCAN`, `RANDOMKEY`.
//!
//! `SCAN`'s cursor has to survive changes to the keyspace between calls without server-side
//! state, like Redis's: every key present for the whole scan is returned at least once. The
//! shards' hash maps give no stable bucket order, so the cursor orders keys by a fixed hash
//! instead: it names a shard of the database and a position in the hash space (the high bits
//! of `xxh3(key)`), and a call returns the keys of that shard from that position up, in hash
//! order, then moves on to the next shard. A key that stays in the database keeps its hash,
//! so it is reached whatever was added or removed meanwhile.
//!
//! Finding "the next keys by hash" needs the shard's keys sorted, so the first call that
//! reaches a shard takes a sorted snapshot of its keys (cheap clones of the stored key bytes)
//! and keeps it on the connection; the calls that continue from the cursor it handed out
//! resume from the snapshot, doing work proportional to `COUNT`. A snapshot is used only by
//! the call that continues exactly where it left off; any other cursor (another connection's,
//! a restarted scan) takes a fresh one, so keys written since the snapshot are not missed by a
//! scan that started after them.

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use super::args;
use super::Ctx;
use crate::errors::{CommandResult, Error};
use crate::glob;
use crate::protocol::Reply;

/// `KEYS pattern`: every live key of the selected database matching the glob. Takes the
/// database's shards in ascending order and holds them, so the answer is one consistent view.
pub(super) fn keys(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let pattern = &args[1][..];
    let everything = pattern == b"*";
    let now = ctx.now;
    let mut found = Vec::new();
    for index in ctx.shared.keyspace.db_shards(ctx.db()) {
        let shard = ctx.guards.shard_at(index)?;
        found.extend(
            shard
                .iter_live(now)
                .filter(|(key, _)| everything || glob::matches(pattern, key))
                .map(|(key, _)| Reply::Bulk(Bytes::copy_from_slice(key))),
        );
    }
    Ok(Reply::Array(found))
}

/// `RANDOMKEY`: a live key of the selected database, or nil. A shard is chosen with a weight
/// equal to its size, then a key in it.
pub(super) fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let now = ctx.now;
    let shards = ctx.shared.keyspace.db_shards(ctx.db());
    let mut sizes = Vec::with_capacity(shards.len());
    for index in shards.clone() {
        sizes.push(ctx.guards.shard_at(index)?.len());
    }
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return Ok(Reply::Nil);
    }
    let mut pick = fastrand::usize(..total);
    for (index, size) in shards.zip(sizes) {
        if pick >= size {
            pick -= size;
            continue;
        }
        if let Some(key) = ctx.guards.shard_at(index)?.random_key(now) {
            return Ok(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
        break;
    }
    // The chosen shard held only expired keys: fall back to the first live key anywhere.
    for index in ctx.shared.keyspace.db_shards(ctx.db()) {
        if let Some((key, _)) = ctx.guards.shard_at(index)?.iter_live(now).next() {
            return Ok(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
    }
    Ok(Reply::Nil)
}

/// A sorted snapshot of one shard's keys, kept on the connection between `SCAN` calls.
pub struct ScanSnapshot {
    db: usize,
    shard: usize,
    /// The cursor the call that made or last used this snapshot returned.
    next_cursor: u64,
    /// `(position, key)`, sorted by position.
    keys: Vec<(u64, Bytes)>,
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`, parsed.
struct ScanOptions<'a> {
    cursor: u64,
    pattern: Option<&'a [u8]>,
    count: usize,
    type_name: Option<String>,
}

fn parse_scan(args: &[Bytes]) -> Result<ScanOptions<'_>, Error> {
    let cursor = std::str::from_utf8(&args[1])
        .ok()
        .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or(Error::fixed("ERR invalid cursor"))?;
    let mut options = ScanOptions {
        cursor,
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut rest = args::Cursor::new(args, 2);
    while !rest.is_empty() {
        if rest.next_is("COUNT") {
            let count = rest.next_int()?;
            if count < 1 {
                return Err(crate::errors::SYNTAX);
            }
            options.count = count as usize;
        } else if rest.next_is("MATCH") {
            let pattern = rest.next_bytes()?;
            options.pattern = Some(&pattern[..]).filter(|p| *p != b"*");
        } else if rest.next_is("TYPE") {
            let name = rest.next_bytes()?;
            options.type_name = Some(String::from_utf8_lossy(name).to_ascii_lowercase());
        } else {
            return Err(crate::errors::SYNTAX);
        }
    }
    Ok(options)
}

/// How a cursor splits into a shard (high bits) and a position in the hash space (the rest).
struct CursorLayout {
    shard_bits: u32,
    shards: usize,
}

impl CursorLayout {
    fn position_of(&self, key: &[u8]) -> u64 {
        xxh3_64(key) >> self.shard_bits
    }

    fn encode(&self, shard: usize, position: u64) -> u64 {
        if shard >= self.shards {
            return 0;
        }
        ((shard as u128) << (64 - self.shard_bits)) as u64 | position
    }

    fn decode(&self, cursor: u64) -> (usize, u64) {
        let hash_bits = 64 - self.shard_bits;
        let shard = ((cursor as u128) >> hash_bits) as usize;
        let position = if hash_bits == 64 {
            cursor
        } else {
            cursor & ((1u64 << hash_bits) - 1)
        };
        (shard, position)
    }
}

pub(super) fn scan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let options = parse_scan(args)?;
    let db = ctx.db();
    let keyspace = ctx.shared.keyspace.clone();
    let layout = CursorLayout {
        shard_bits: keyspace.shards_per_db().trailing_zeros(),
        shards: keyspace.shards_per_db(),
    };
    let (mut shard, mut from) = layout.decode(options.cursor);
    let now = ctx.now;
    let mut found = Vec::new();
    let mut examined = 0;
    let mut next_cursor = 0;
    while shard < layout.shards && examined < options.count {
        let global = keyspace.db_shards(db).start + shard;
        let snapshot = match ctx.client.scan_snapshot.take() {
            Some(kept)
                if options.cursor != 0
                    && kept.db == db
                    && kept.shard == shard
                    && kept.next_cursor == options.cursor =>
            {
                kept
            }
            _ => {
                let mut keys: Vec<(u64, Bytes)> = ctx
                    .guards
                    .shard_at(global)?
                    .iter_live(now)
                    .map(|(key, _)| (layout.position_of(key), Bytes::copy_from_slice(key)))
                    .collect();
                keys.sort_unstable_by_key(|(position, _)| *position);
                Box::new(ScanSnapshot {
                    db,
                    shard,
                    next_cursor: 0,
                    keys,
                })
            }
        };
        let live = ctx.guards.shard_at(global)?;
        let mut at = snapshot
            .keys
            .partition_point(|(position, _)| *position < from);
        while at < snapshot.keys.len() && examined < options.count {
            // Never split keys of one position between calls: the cursor could not tell
            // them apart.
            let position = snapshot.keys[at].0;
            while at < snapshot.keys.len() && snapshot.keys[at].0 == position {
                let key = &snapshot.keys[at].1;
                at += 1;
                examined += 1;
                let Some(entry) = live.get(key, now) else {
                    continue;
                };
                let type_ok = options
                    .type_name
                    .as_ref()
                    .is_none_or(|t| t == entry.value.type_name());
                let match_ok = options.pattern.is_none_or(|p| glob::matches(p, key));
                if type_ok && match_ok {
                    found.push(Reply::Bulk(key.clone()));
                }
            }
        }
        if at < snapshot.keys.len() {
            next_cursor = layout.encode(shard, snapshot.keys[at].0);
            let mut snapshot = snapshot;
            snapshot.next_cursor = next_cursor;
            ctx.client.scan_snapshot = Some(snapshot);
            break;
        }
        shard += 1;
        from = 0;
        next_cursor = layout.encode(shard, 0);
    }
    Ok(Reply::Array(vec![
        Reply::bulk(next_cursor.to_string()),
        Reply::Array(found),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        for (shard_bits, shards) in [(0, 1), (3, 8), (6, 64)] {
            let layout = CursorLayout { shard_bits, shards };
            let position = layout.position_of(b"some key");
            for shard in 0..shards {
                let cursor = layout.encode(shard, position);
                assert_eq!(layout.decode(cursor), (shard, position));
            }
            assert_eq!(layout.encode(shards, 5), 0);
        }
    }
}
