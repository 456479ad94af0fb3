//! The lock order of the keyspace, enforced in one place.
//!
//! **The rule:** a thread holds shard mutexes only through a [`ShardGuards`] set, and takes them
//! in ascending global shard index (database, then shard). A command locks the shards of all
//! its keys up front, sorted, so two multi-key commands can never wait on each other in a
//! cycle. A script locks the shards of its declared `KEYS` the same way and keeps them for its
//! whole run, so its effects are atomic; when it touches a key it did not declare, a shard
//! above every held one is simply locked (still ascending), and one below is only *tried*
//! (`try_lock`, retried for a bounded time) because blocking there could close a cycle.
//! Nothing ever awaits while a `ShardGuards` holds a shard.
//!
//! A script may hold shards for a long time (up to the script time limit and beyond, until
//! `SCRIPT KILL`). So an in-order wait is taken in slices: between slices it checks whether a
//! script has run past its limit, and if so gives up with `BUSY`, so that no worker thread stays
//! parked behind a runaway script and `SCRIPT KILL` always finds a thread to run on.

use std::time::Duration;

use parking_lot::MutexGuard;
use smallvec::SmallVec;

use super::{Keyspace, Shard};
use crate::errors::{self, Error};

/// How long an out-of-order shard is retried before the access fails.
const OUT_OF_ORDER_PATIENCE: Duration = Duration::from_millis(500);
/// How long an in-order wait lasts before checking again whether a script is past its limit.
const BUSY_CHECK_SLICE: Duration = Duration::from_millis(10);

/// Shards currently held by one command or script, sorted by global index.
pub struct ShardGuards<'k> {
    keyspace: &'k Keyspace,
    /// Inline for the usual one or two shards: no allocation per command. Each with the
    /// shard's change count when it was locked.
    held: SmallVec<[(usize, MutexGuard<'k, Shard>, u64); 2]>,
}

impl<'k> ShardGuards<'k> {
    pub fn new(keyspace: &'k Keyspace) -> Self {
        ShardGuards {
            keyspace,
            held: SmallVec::new(),
        }
    }

    pub fn keyspace(&self) -> &'k Keyspace {
        self.keyspace
    }

    /// Locks the shards of `keys` in database `db`, in ascending order, on top of what is held.
    /// Shards below the highest held one go through the out-of-order path.
    pub fn lock_keys<'a>(
        &mut self,
        db: usize,
        keys: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), Error> {
        let mut indexes: SmallVec<[usize; 4]> = keys
            .into_iter()
            .map(|key| self.keyspace.shard_index(db, key))
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        for index in indexes {
            self.lock_index(index)?;
        }
        Ok(())
    }

    /// Locks every shard of every database: the whole keyspace, atomically (`FLUSHALL`, scripts
    /// that declare no keys).
    pub fn lock_all(&mut self) -> Result<(), Error> {
        for index in 0..self.keyspace.shard_count() {
            self.lock_index(index)?;
        }
        Ok(())
    }

    /// The shard holding `key` in `db`, locking it if needed.
    pub fn shard(&mut self, db: usize, key: &[u8]) -> Result<&mut Shard, Error> {
        let index = self.keyspace.shard_index(db, key);
        self.shard_at(index)
    }

    /// The shard at a global index, locking it if needed.
    pub fn shard_at(&mut self, index: usize) -> Result<&mut Shard, Error> {
        let position = self.lock_index(index)?;
        Ok(&mut self.held[position].1)
    }

    /// Changes made to the held shards since each was locked: a command that leaves this
    /// unchanged changed nothing.
    pub fn changes(&self) -> u64 {
        self.held
            .iter()
            .map(|(_, shard, base)| shard.changes() - base)
            .sum()
    }

    /// Where each held shard's list of expired keys ends now, for [`ShardGuards::expired_since`].
    pub fn expired_marks(&self) -> SmallVec<[(usize, usize); 2]> {
        self.held
            .iter()
            .map(|(index, shard, _)| (*index, shard.expired_keys_from(0).len()))
            .collect()
    }

    /// The keys the held shards expired since `marks` (all of them for a shard locked since),
    /// with their shard's global index.
    pub fn expired_since(&self, marks: &[(usize, usize)]) -> Vec<(usize, bytes::Bytes)> {
        let mut keys = Vec::new();
        for (index, shard, _) in &self.held {
            let from = marks
                .iter()
                .find(|(i, _)| i == index)
                .map_or(0, |(_, mark)| *mark);
            keys.extend(
                shard
                    .expired_keys_from(from)
                    .iter()
                    .map(|key| (*index, key.clone())),
            );
        }
        keys
    }

    /// Serves the waiters of keys changed under the held shards, then releases them.
    pub fn release_all(&mut self) {
        if self.held.is_empty() {
            return;
        }
        // The clock is read only when some waiter has something to be offered.
        let mut now = None;
        let mut expired = Vec::new();
        for (index, shard, _) in &mut self.held {
            if shard.has_ready() {
                let now = *now.get_or_insert_with(|| self.keyspace.now());
                shard.serve_ready(now);
            }
            if shard.has_effects() {
                // Logged before the shard is released, so the log keeps the order of changes.
                self.keyspace.journal_effects(*index, shard);
            }
            if shard.has_expired_keys() {
                expired.push((*index, shard.take_expired_keys()));
            }
        }
        self.held.clear();
        // Expired keys are announced once no shard is held.
        for (index, keys) in expired {
            self.keyspace.keys_expired(index, &keys);
        }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Makes sure shard `index` is held; returns its position in `held`.
    fn lock_index(&mut self, index: usize) -> Result<usize, Error> {
        let position = match self.held.binary_search_by_key(&index, |(i, _, _)| *i) {
            Ok(position) => return Ok(position),
            Err(position) => position,
        };
        let mutex = self.keyspace.shard_mutex(index);
        let guard = if position == self.held.len() {
            // Above everything held: ascending order, safe to wait (in slices, see above).
            loop {
                if let Some(guard) = mutex.try_lock_for(BUSY_CHECK_SLICE) {
                    break guard;
                }
                if self.keyspace.script_busy() {
                    return Err(errors::BUSY);
                }
            }
        } else {
            mutex.try_lock_for(OUT_OF_ORDER_PATIENCE).ok_or_else(|| {
                Error::fixed(
                    "ERR a script touched an undeclared key whose shard stayed busy; declare it in KEYS",
                )
            })?
        };
        let base = guard.changes();
        self.held.insert(position, (index, guard, base));
        Ok(position)
    }
}

impl Drop for ShardGuards<'_> {
    fn drop(&mut self) {
        self.release_all();
    }
}
