//! The keyspace: `databases` independent databases, each split into `shards` shards.
//!
//! A shard is a `parking_lot` mutex over a [`Shard`], not a tokio one, because no `.await`
//! happens while it is held and the critical sections are tiny. Shards are taken only through a
//! [`ShardGuards`] set, which enforces the one lock order of the server (see [`locks`]).
//!
//! A shard stores each key as one [`node`] allocation. Values ([`entry`]) are strings (short
//! ones inline, [`string`]) or one of the aggregates: [`list`], hashes and sets as a
//! [`dict`] (an insertion-ordered map with stable scan cursors), and sorted sets ([`zset`],
//! ordered by a [`ranktree`]).

pub mod dict;
pub mod entry;
pub mod expiry;
pub mod guards;
pub mod list;
pub mod lock_meta;
pub mod node;
pub mod ranktree;
pub mod shard;
pub mod string;
pub mod zset;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

pub use entry::{Entry, Value, NO_DEADLINE};
pub use guards::ShardGuards;
pub use lock_meta::LockMeta;
pub use shard::{ExpiryWalk, KeyWaiter, Shard};
pub use string::{read_string, Str};

use crate::clock::{MonoTime, SharedClock};

/// All databases' shards, in one array: shard `s` of database `d` is at `d * shards_per_db + s`.
/// That global index is the lock order.
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    shards_per_db: usize,
    databases: usize,
    hasher: hashbrown::DefaultHashBuilder,
    pub clock: SharedClock,
    /// Where keys removed by expiry are reported (`expired` keyspace notifications); set once
    /// by the server at start. Unset, expired keys are simply forgotten.
    pub notifier: OnceLock<Arc<crate::notify::Notifier>>,
    /// Where changes made outside a command's dispatch (waiters served when a key changes) are
    /// logged: the append-only file, set once by the server at start.
    pub journal: OnceLock<Arc<dyn Journal>>,
    /// Scripts running past the script time limit. While it is above zero, commands (other than
    /// those allowed while busy) get `BUSY`, and a command waiting for a shard gives up with
    /// `BUSY` instead of parking its worker thread behind the script (see [`locks`]).
    scripts_past_limit: AtomicUsize,
    /// How far `DEBUG ADVANCE` has moved the clock in all. Waits on real-time timers (lock
    /// waits, blocking pops) follow it to bring their timers forward by as much.
    clock_moves: watch::Sender<Duration>,
}

/// Where the keyspace reports changes that no command's dispatch saw: a waiter served under
/// the shard lock (a lock granted to a waiting client). The append-only file implements it.
pub trait Journal: Send + Sync {
    /// `keys` of database `db` changed in `shard` (held by the caller) at `now`.
    fn keys_changed(&self, db: usize, shard: &mut Shard, keys: &[bytes::Bytes], now: MonoTime);
}

/// A cheap-to-clone handle to the keyspace.
pub type Db = Arc<Keyspace>;

impl Keyspace {
    /// `shards_per_db` is rounded up to a power of two.
    pub fn new(databases: usize, shards_per_db: usize, clock: SharedClock) -> Keyspace {
        let shards_per_db = shards_per_db.max(1).next_power_of_two();
        let databases = databases.max(1);
        Keyspace {
            shards: (0..databases * shards_per_db)
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            shards_per_db,
            databases,
            hasher: hashbrown::DefaultHashBuilder::default(),
            clock,
            scripts_past_limit: AtomicUsize::new(0),
            notifier: OnceLock::new(),
            journal: OnceLock::new(),
            clock_moves: watch::channel(Duration::ZERO).0,
        }
    }

    /// Moves the clock `ms` milliseconds forward (`DEBUG ADVANCE`) and tells every wait, so that
    /// keys expire, lock waiters are granted or give up, and blocking pops time out as if the
    /// time had passed.
    pub fn advance_clock(&self, ms: u64) {
        self.clock.advance(ms);
        self.clock_moves
            .send_modify(|total| *total = total.saturating_add(Duration::from_millis(ms)));
    }

    /// Follows [`Keyspace::advance_clock`]: `changed()` wakes at each move, and the value is
    /// the total moved since the start. A wait subscribes before it reads its deadlines.
    pub fn clock_moves(&self) -> watch::Receiver<Duration> {
        self.clock_moves.subscribe()
    }

    /// Reports keys that shard `index` expired. Call with no shard held.
    pub fn keys_expired(&self, index: usize, keys: &[bytes::Bytes]) {
        if let Some(notifier) = self.notifier.get() {
            notifier.expired(index / self.shards_per_db, keys);
        }
    }

    /// Logs the keys shard `index` changed outside a command (see [`Shard::take_effects`]).
    /// Called with the shard held, before it is released.
    pub fn journal_effects(&self, index: usize, shard: &mut Shard) {
        let keys = shard.take_effects();
        if let Some(journal) = self.journal.get() {
            journal.keys_changed(index / self.shards_per_db, shard, &keys, self.now());
        }
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn shards_per_db(&self) -> usize {
        self.shards_per_db
    }

    /// The global index of the shard holding `key` in database `db`.
    pub fn shard_index(&self, db: usize, key: &[u8]) -> usize {
        let hash = self.hasher.hash_one(key) as usize;
        db * self.shards_per_db + (hash & (self.shards_per_db - 1))
    }

    /// The global indexes of database `db`'s shards.
    pub fn db_shards(&self, db: usize) -> std::ops::Range<usize> {
        db * self.shards_per_db..(db + 1) * self.shards_per_db
    }

    pub(crate) fn shard_mutex(&self, index: usize) -> &Mutex<Shard> {
        &self.shards[index]
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Whether a script is running past the script time limit (Redis's "busy" state).
    pub fn script_busy(&self) -> bool {
        self.scripts_past_limit.load(Ordering::Acquire) > 0
    }

    /// A script passed the time limit (`true`) or one that had passed it ended (`false`).
    pub fn note_script_past_limit(&self, past: bool) {
        if past {
            self.scripts_past_limit.fetch_add(1, Ordering::AcqRel);
        } else {
            self.scripts_past_limit.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The current monotonic time in milliseconds.
    pub fn now(&self) -> MonoTime {
        self.clock.now()
    }

    /// Live keys and keys with a deadline in database `db`, for `INFO keyspace` and `DBSIZE`.
    /// Takes the shards one at a time.
    pub fn db_counts(&self, db: usize) -> (usize, usize) {
        self.db_shards(db)
            .map(|i| {
                let shard = self.shards[i].lock();
                (shard.len(), shard.volatile_len())
            })
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    }
}
