//! Transactions: `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`.
//!
//! After `MULTI` the dispatcher queues every command (replying `+QUEUED`) except the ones the
//! table marks `immediate` (`EXEC`, `DISCARD`, `MULTI`, `WATCH`, `QUIT`, `RESET`), which run at
//! once. A command refused at queueing time (unknown, wrong arity, ACL, `no_multi` like `SAVE`,
//! over `maxmemory`, …) marks the transaction failed, and `EXEC` then discards it with
//! `EXECABORT`. The queued commands run through the same dispatch as a client's, as
//! [`Caller::Exec`](super::Caller).
//!
//! `EXEC` is atomic with respect to other clients: it locks the shards of every queued
//! command's keys and of every watched key up front, in ascending order (the one lock order,
//! see [`crate::db::guards`]), then runs the commands one by one with those locks held. A queued
//! command that names no keys but reads or writes the keyspace as a whole (`FLUSHALL`,
//! `DBSIZE`, …) makes `EXEC` lock every shard. Blocking commands do not block inside a
//! transaction: they reply as if their timeout had passed.
//!
//! `WATCH` records a per-key version kept by the shard ([`crate::db::Shard::watch`]), bumped by
//! every change to the key — writes, deletes, expiry, flushes — whoever makes it. `EXEC`
//! expires the watched keys that are due (a key that lapsed is a change), compares versions
//! under the locks, and replies with a null array if any moved.

use bytes::Bytes;

use super::spec::{self, flags, internal};
use super::{CommandSpec, Ctx};
use crate::client::Client;
use crate::db::ShardGuards;
use crate::errors::{CommandResult, Error};
use crate::protocol::Reply;
use crate::server::Shared;

const EXEC_WITHOUT_MULTI: Error = Error::fixed("ERR EXEC without MULTI");
const DISCARD_WITHOUT_MULTI: Error = Error::fixed("ERR DISCARD without MULTI");
const NESTED_MULTI: Error = Error::fixed("ERR MULTI calls can not be nested");
const WATCH_INSIDE_MULTI: Error = Error::fixed("ERR WATCH inside MULTI is not allowed");
const EXECABORT_OOM: Error = Error::fixed(
    "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.",
);
const EXECABORT: Error =
    Error::fixed("EXECABORT Transaction discarded because of previous errors.");

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
/// the commands the table marks `immediate`.
pub fn queues(client: &Client, spec: &CommandSpec) -> bool {
    client.multi.is_some() && !spec.has_internal(internal::IMMEDIATE)
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

pub(super) fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    if ctx.client.multi.is_some() {
        return Err(NESTED_MULTI);
    }
    ctx.client.multi = Some(Box::default());
    Ok(Reply::OK)
}

pub(super) fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    if ctx.client.multi.take().is_none() {
        return Err(DISCARD_WITHOUT_MULTI);
    }
    unwatch_all(ctx)?;
    Ok(Reply::OK)
}

pub(super) fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let Some(transaction) = ctx.client.multi.take() else {
        return Err(EXEC_WITHOUT_MULTI);
    };
    if over_memory(ctx, &transaction.queued) {
        unwatch_all(ctx)?;
        return Err(EXECABORT_OOM);
    }
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
        .map(|args| super::execute_nested(ctx, super::Caller::Exec, args))
        .collect();
    ctx.client.in_exec = false;
    Ok(Reply::Array(replies))
}

/// Whether the server is over `maxmemory` and the transaction would add to it (a queued
/// command is `denyoom`): then `EXEC` discards it, as Redis does.
fn over_memory(ctx: &Ctx, queued: &[Vec<Bytes>]) -> bool {
    ctx.shared.limits.maxmemory.exceeded()
        && queued
            .iter()
            .any(|args| spec::resolve(args).is_ok_and(|spec| spec.has(flags::DENYOOM)))
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
        let Ok(spec) = spec::resolve(args) else {
            continue;
        };
        if spec.has_keys() {
            let positions = spec.key_positions(args);
            indexes.extend(positions.map(|i| keyspace.shard_index(db, &args[i])));
        } else if spec.has(flags::WRITE | flags::READONLY) {
            return ctx.guards.lock_all();
        }
    }
    indexes.sort_unstable();
    indexes.dedup();
    for index in indexes {
        ctx.guards.shard_at(index)?;
    }
    Ok(())
}

/// Whether no watched key changed since `WATCH`. Due keys are expired first: a watched key
/// whose deadline passed counts as changed even if nobody touched it.
fn watches_intact(ctx: &mut Ctx) -> Result<bool, Error> {
    let now = ctx.now;
    for watched in &ctx.client.watched {
        let shard = ctx.guards.shard(watched.db, &watched.key)?;
        shard.get(&watched.key, now);
        if shard.watch_version(&watched.key) != watched.version {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) fn watch(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
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

pub(super) fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    unwatch_all(ctx)?;
    Ok(Reply::OK)
}

/// Forgets the client's watched keys, through the command's locks.
fn unwatch_all(ctx: &mut Ctx) -> Result<(), Error> {
    let watched = std::mem::take(&mut ctx.client.watched);
    release_watches(ctx.guards, watched)
}

/// Ends the watches in `watched`, locking their shards in ascending order (those already held
/// stay held).
fn release_watches(guards: &mut ShardGuards, mut watched: Vec<WatchedKey>) -> Result<(), Error> {
    let keyspace = guards.keyspace();
    watched.sort_by_key(|w| keyspace.shard_index(w.db, &w.key));
    for w in watched {
        guards.shard(w.db, &w.key)?.unwatch(&w.key);
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
    let mut guards = ShardGuards::new(&shared.keyspace);
    let _ = release_watches(&mut guards, watched);
}
