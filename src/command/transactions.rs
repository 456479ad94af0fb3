//! Transactions: `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`.
//!
//! After `MULTI` the dispatcher queues every command (replying `+QUEUED`) except the ones
//! flagged `NO_MULTI` (`EXEC`, `DISCARD`, `MULTI`, `WATCH`) and `QUIT`/`RESET`, which run at
//! once. A command refused at queueing time (unknown, wrong arity, …) marks the transaction
//! failed, and `EXEC` then discards it with `EXECABORT`.
//!
//! `EXEC` is atomic with respect to other clients: it locks the shards of every queued
//! command's keys and of every watched key up front, in ascending order (the one lock order,
//! see [`crate::db::locks`]), then runs the commands one by one with those locks held. A queued
//! command that names no keys but reads or writes the keyspace as a whole (`FLUSHALL`,
//! `DBSIZE`, …) makes `EXEC` lock every shard. Blocking commands do not block inside a
//! transaction: they reply as if their timeout had passed.
//!
//! `WATCH` records a per-key version kept by the shard ([`crate::db::Shard::watch`]), bumped by
//! every change to the key — writes, deletes, expiry, flushes — whoever makes it. `EXEC`
//! expires the watched keys that are due (a key that lapsed is a change), compares versions
//! under the locks, and replies with a null array if any moved.

use bytes::Bytes;

use super::flags::*;
use super::sync_spec as spec;
use super::{lookup, CommandSpec, Ctx};
use crate::client::Client;
use crate::db::KeyLocks;
use crate::errors::{CommandResult, Error};
use crate::protocol::Reply;
use crate::server::Shared;

const EXEC_WITHOUT_MULTI: Error = Error::fixed("ERR EXEC without MULTI");
const DISCARD_WITHOUT_MULTI: Error = Error::fixed("ERR DISCARD without MULTI");
const NESTED_MULTI: Error = Error::fixed("ERR MULTI calls can not be nested");
const WATCH_INSIDE_MULTI: Error = Error::fixed("ERR WATCH inside MULTI is not allowed");
const EXECABORT: Error =
    Error::fixed("EXECABORT Transaction discarded because of previous errors.");

const FAST_TX: &[&str] = &["fast", "transaction"];
const NO_KEYS: (i32, i32, i32) = (0, 0, 0);
const CONTROL: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

pub const COMMANDS: &[CommandSpec] = &[
    spec("multi", 1, CONTROL | NO_MULTI, NO_KEYS, FAST_TX, multi),
    spec(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | NO_MULTI,
        NO_KEYS,
        &["slow", "transaction"],
        exec,
    ),
    spec("discard", 1, CONTROL | NO_MULTI, NO_KEYS, FAST_TX, discard),
    spec("watch", -2, CONTROL | NO_MULTI, (1, -1, 1), FAST_TX, watch),
    spec("unwatch", 1, CONTROL, NO_KEYS, FAST_TX, unwatch),
];

/// The commands queued since `MULTI`.
#[derive(Default)]
pub struct Transaction {
    pub queued: Vec<Vec<Bytes>>,
    /// A command was refused while queueing: `EXEC` must abort.
    pub failed: bool,
}

/// A key under `WATCH`: where it is and the version it had.
pub struct WatchedKey {
    pub db: usize,
    pub key: Bytes,
    pub version: u64,
}

/// Whether the dispatcher queues `spec` instead of running it: inside `MULTI`, everything but
/// the transaction commands themselves, `QUIT` and `RESET`.
pub fn queues(client: &Client, spec: &CommandSpec) -> bool {
    client.multi.is_some() && !spec.has(NO_MULTI) && !matches!(spec.name, "quit" | "reset")
}

/// Queues a command; `+QUEUED`.
pub fn queue(client: &mut Client, args: &[Bytes]) -> Reply {
    if let Some(transaction) = client.multi.as_mut() {
        // Copied: slices of the request would pin the connection's read buffer.
        let args = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        transaction.queued.push(args);
    }
    Reply::simple("QUEUED")
}

/// A command was refused: inside `MULTI` that dooms the transaction.
pub fn note_error(client: &mut Client) {
    if let Some(transaction) = client.multi.as_mut() {
        transaction.failed = true;
    }
}

fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    if ctx.client.multi.is_some() {
        return Err(NESTED_MULTI);
    }
    ctx.client.multi = Some(Box::default());
    Ok(Reply::OK)
}

fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    if ctx.client.multi.take().is_none() {
        return Err(DISCARD_WITHOUT_MULTI);
    }
    unwatch_all(ctx)?;
    Ok(Reply::OK)
}

fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let Some(transaction) = ctx.client.multi.take() else {
        return Err(EXEC_WITHOUT_MULTI);
    };
    if transaction.failed {
        unwatch_all(ctx)?;
        return Err(EXECABORT);
    }
    lock_for_exec(ctx, &transaction.queued)?;
    let intact = watches_intact(ctx)?;
    unwatch_all(ctx)?;
    if !intact {
        return Ok(Reply::NilArray);
    }
    ctx.client.in_exec = true;
    let replies = transaction
        .queued
        .iter()
        .map(|args| super::execute_queued(ctx, args))
        .collect();
    ctx.client.in_exec = false;
    Ok(Reply::Array(replies))
}

/// Locks, in ascending order, the shards `EXEC` needs: those of the queued commands' keys and
/// of the watched keys, or every shard when a queued command works on the keyspace as a whole.
fn lock_for_exec(ctx: &mut Ctx, queued: &[Vec<Bytes>]) -> Result<(), Error> {
    let keyspace = &ctx.shared.keyspace;
    let db = ctx.client.db;
    let mut indexes: Vec<usize> = ctx
        .client
        .watched
        .iter()
        .map(|w| keyspace.shard_index(w.db, &w.key))
        .collect();
    for args in queued {
        let Some(spec) = lookup(&args[0]) else {
            continue;
        };
        if let Some(keys) = script_keys(spec, args) {
            indexes.extend(keys.iter().map(|key| keyspace.shard_index(db, key)));
        } else if spec.keys.0 == 0 {
            if spec.has(WRITE | READONLY) {
                return ctx.locks.lock_all();
            }
        } else {
            let positions = spec.key_positions(args.len());
            indexes.extend(positions.map(|i| keyspace.shard_index(db, &args[i])));
        }
    }
    indexes.sort_unstable();
    indexes.dedup();
    for index in indexes {
        ctx.locks.shard_at(index)?;
    }
    Ok(())
}

/// The `KEYS` of a queued script call (`EVAL script numkeys key…`), whose keys the table
/// cannot describe.
fn script_keys<'a>(spec: &CommandSpec, args: &'a [Bytes]) -> Option<&'a [Bytes]> {
    if !matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    ) {
        return None;
    }
    let numkeys = args.get(2).and_then(|n| super::args::parse_i64(n))?;
    let numkeys = usize::try_from(numkeys).ok()?;
    args.get(3..3usize.checked_add(numkeys)?)
}

/// Whether no watched key changed since `WATCH`. Due keys are expired first: a watched key
/// whose deadline passed counts as changed even if nobody touched it.
fn watches_intact(ctx: &mut Ctx) -> Result<bool, Error> {
    let now = ctx.now;
    for watched in &ctx.client.watched {
        let shard = ctx.locks.shard(watched.db, &watched.key)?;
        shard.get(&watched.key, now);
        if shard.watch_version(&watched.key) != watched.version {
            return Ok(false);
        }
    }
    Ok(true)
}

fn watch(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if ctx.client.multi.is_some() {
        return Err(WATCH_INSIDE_MULTI);
    }
    let db = ctx.client.db;
    let now = ctx.now;
    for key in &args[1..] {
        if ctx
            .client
            .watched
            .iter()
            .any(|w| w.db == db && w.key == key)
        {
            continue;
        }
        let shard = ctx.shard(key)?;
        // A key already past its deadline is gone now, not changed later.
        shard.get(key, now);
        let version = shard.watch(key);
        ctx.client.watched.push(WatchedKey {
            db,
            key: Bytes::copy_from_slice(key),
            version,
        });
    }
    Ok(Reply::OK)
}

fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    unwatch_all(ctx)?;
    Ok(Reply::OK)
}

/// Forgets the client's watched keys, through the command's locks.
fn unwatch_all(ctx: &mut Ctx) -> Result<(), Error> {
    let watched = std::mem::take(&mut ctx.client.watched);
    release_watches(ctx.locks, watched)
}

/// Ends the watches in `watched`, locking their shards in ascending order (those already held
/// stay held).
fn release_watches(locks: &mut KeyLocks, mut watched: Vec<WatchedKey>) -> Result<(), Error> {
    let keyspace = locks.keyspace();
    watched.sort_by_key(|w| keyspace.shard_index(w.db, &w.key));
    for w in watched {
        locks.shard(w.db, &w.key)?.unwatch(&w.key);
    }
    Ok(())
}

/// Drops the transaction and the watches of the client (`RESET`).
pub fn reset(ctx: &mut Ctx) {
    ctx.client.multi = None;
    let _ = unwatch_all(ctx);
}

/// Releases the watches of a client that is going away. Holds no shard when called.
pub fn forget(shared: &Shared, client: &mut Client) {
    client.multi = None;
    let watched = std::mem::take(&mut client.watched);
    if watched.is_empty() {
        return;
    }
    let mut locks = KeyLocks::new(&shared.keyspace);
    let _ = release_watches(&mut locks, watched);
}
