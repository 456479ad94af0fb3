//! One shard of one database: a hash table of the keys' nodes, their waiters and lock metadata.
//!
//! Every change to a key goes through a method here, so that the count of keys with a TTL, and
//! whatever else has to follow a key's changes, stays in step in one place.

use crate::clock::MonoTime;
use std::collections::VecDeque;
use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::entry::{Entry, Value, NO_DEADLINE};
use super::lock_meta::LockMeta;
use super::node::Node;

/// Something waiting for a key to change: a `BLPOP` waiting for an element, a
/// `LOCK.ACQUIRE … WAIT` waiting for the lock to be free.
///
/// Waiters queue per key, first come first served. After a command (or the expiry task) changes
/// a key that has waiters, [`Shard::serve_ready`] offers the key to its waiters in order, under
/// the shard lock, until one cannot be served. A served waiter hands its result to its client
/// itself (through a channel it owns).
pub trait KeyWaiter: Send {
    /// Tries to serve this waiter from the current state of `key`; true when served (it leaves
    /// the queue). It may change the key (pop an element, grant the lock).
    fn try_serve(&mut self, shard: &mut Shard, key: &Bytes, now: MonoTime) -> bool;
    /// Whether the waiting client has gone (timed out, disconnected): dropped unserved.
    fn is_abandoned(&self) -> bool;
}

/// A shard: its keys, each a [`Node`] (key, value and deadline in one allocation) in a hash
/// table of thin pointers.
///
/// There is no separate expiry index: lookups treat a past deadline as absent and remove the
/// key (lazy expiry, authoritative), and [`Shard::expire_due`] walks the table from a cursor
/// that persists between calls, removing the keys it finds past their deadline (active expiry,
/// which reclaims memory). A key's deadline lives only in its node, so a TTL costs nothing
/// beyond the node's 8 bytes.
#[derive(Default)]
pub struct Shard {
    map: HashTable<Node>,
    hasher: DefaultHashBuilder,
    /// Where the next active-expiry walk starts (a bucket index).
    expiry_cursor: usize,
    /// Keys in `map` with a deadline.
    volatile: usize,
    /// Keys removed because their deadline passed, since start.
    pub expired_count: u64,
    /// Waiters per key, in arrival order.
    waiters: hashbrown::HashMap<Bytes, VecDeque<Box<dyn KeyWaiter>>>,
    /// Keys with waiters that changed since the waiters were last offered them.
    ready: Vec<Bytes>,
    /// Lock metadata (fencing token, hold count), only for keys granted by `LOCK.ACQUIRE`, so
    /// plain keys pay nothing but an emptiness check.
    lock_meta: HashMap<Bytes, LockMeta>,
    /// Keys under `WATCH` by some client: a version bumped on every change, and the number of
    /// watchers (the entry goes when the last one unwatches). Empty, and free, when nobody
    /// watches.
    watched: hashbrown::HashMap<Bytes, WatchedVersion>,
    /// Keys removed by expiry since the holder of the shard last took them, for the `expired`
    /// keyspace notification (published once the shard is released).
    expired_keys: Vec<Bytes>,
}

/// What one [`Shard::expire_due`] walk did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpiryWalk {
    /// Keys with a deadline looked at.
    pub sampled: usize,
    /// Keys among them removed because their deadline had passed.
    pub removed: usize,
}

/// The version of a watched key and how many clients watch it.
#[derive(Default)]
struct WatchedVersion {
    version: u64,
    watchers: u32,
}

impl Shard {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The bucket of `key`'s node, expired or not.
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.map
            .find_bucket_index(self.hash(key), |node| node.key() == key)
    }

    /// The bucket of `key`'s live node at `now`; an expired one is removed and reads as
    /// absent.
    fn find_live(&mut self, key: &[u8], now: MonoTime) -> Option<usize> {
        let index = self.find(key)?;
        if self.node_at(index)?.entry().is_expired(now) {
            self.expire_at(index);
            return None;
        }
        Some(index)
    }

    fn node_at(&self, index: usize) -> Option<&Node> {
        self.map.get_bucket(index)
    }

    /// The live entry of `key` at `now`; an expired one is removed and reads as absent.
    pub fn get(&mut self, key: &[u8], now: MonoTime) -> Option<&Entry> {
        let index = self.find_live(key, now)?;
        self.node_at(index).map(Node::entry)
    }

    /// The live entry of `key`, for changing its value in place. To change the deadline use
    /// [`Shard::set_deadline`].
    pub fn get_mut(&mut self, key: &[u8], now: MonoTime) -> Option<&mut Entry> {
        let index = self.find_live(key, now)?;
        self.key_changed(key);
        self.map.get_bucket_mut(index).map(Node::entry_mut)
    }

    /// Whether `key` is live at `now`.
    pub fn contains(&mut self, key: &[u8], now: MonoTime) -> bool {
        self.find_live(key, now).is_some()
    }

    /// Stores `value` under `key` with `deadline` ([`NO_DEADLINE`] for none), replacing any
    /// previous entry. Returns the previous live value.
    pub fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        deadline: MonoTime,
        now: MonoTime,
    ) -> Option<Value> {
        let kept_meta = self.lock_meta_kept_by(key, &value, now);
        let node = Node::new(key, Entry { value, deadline });
        if deadline != NO_DEADLINE {
            self.volatile += 1;
        }
        let hash = self.hash(key);
        let slot = self
            .map
            .find_bucket_index(hash, |node| node.key() == key)
            .and_then(|index| self.map.get_bucket_mut(index));
        let previous = match slot {
            // Replaced in place: one lookup, and the bucket stays where it is.
            Some(slot) => Some(std::mem::replace(slot, node).into_entry()),
            None => {
                let hasher = &self.hasher;
                self.map
                    .insert_unique(hash, node, |node| hasher.hash_one(node.key()));
                None
            }
        };
        // Metadata belongs to the holding just replaced, unless the new value keeps its token.
        match kept_meta {
            Some(meta) => {
                self.lock_meta.insert(Bytes::copy_from_slice(key), meta);
            }
            None if !self.lock_meta.is_empty() => {
                self.lock_meta.remove(key);
            }
            None => {}
        }
        self.key_changed(key);
        let previous = previous?;
        if previous.has_deadline() {
            self.volatile -= 1;
        }
        if previous.is_expired(now) {
            self.note_expired(key);
            return None;
        }
        Some(previous.value)
    }

    /// Removes `key`; returns its value if it was live.
    pub fn remove(&mut self, key: &[u8], now: MonoTime) -> Option<Value> {
        let index = self.find(key)?;
        let node = self.take_at(index)?;
        self.key_changed(key);
        if node.entry().is_expired(now) {
            self.note_expired(key);
            return None;
        }
        Some(node.into_entry().value)
    }

    /// Takes the node in bucket `index` out of the table, keeping the count of keys with a
    /// deadline right.
    fn take_at(&mut self, index: usize) -> Option<Node> {
        let (node, _) = self.map.get_bucket_entry(index).ok()?.remove();
        if node.entry().has_deadline() {
            self.volatile -= 1;
        }
        Some(node)
    }

    /// Sets the deadline of a live key ([`NO_DEADLINE`] removes it). Returns false if the key
    /// is absent. A deadline at or before `now` deletes the key, as Redis does.
    pub fn set_deadline(&mut self, key: &[u8], deadline: MonoTime, now: MonoTime) -> bool {
        if deadline <= now {
            // A deletion, not an expiry: removed with its old deadline, so the count of keys
            // with a TTL stays right and no `expired` event follows.
            return self.remove(key, now).is_some();
        }
        let Some(entry) = self.get_mut(key, now) else {
            return false;
        };
        let had = entry.has_deadline();
        entry.deadline = deadline;
        match (had, deadline != NO_DEADLINE) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        true
    }

    /// Counts `key` as removed by expiry and keeps it for the `expired` notification.
    fn note_expired(&mut self, key: &[u8]) {
        self.expired_count += 1;
        self.expired_keys.push(Bytes::copy_from_slice(key));
    }

    /// Removes the node in bucket `index`, whose deadline has passed.
    fn expire_at(&mut self, index: usize) {
        if let Some(node) = self.take_at(index) {
            self.key_changed(node.key());
            self.note_expired(node.key());
        }
    }

    /// Called on every change to `key` (write, delete, expiry, TTL change): the one place where
    /// whatever follows a key's changes hooks in. Drops the lock metadata of a key that is gone,
    /// and queues the key for its waiters.
    fn key_changed(&mut self, key: &[u8]) {
        if !self.lock_meta.is_empty()
            && self.lock_meta.contains_key(key)
            && self.find(key).is_none()
        {
            self.lock_meta.remove(key);
        }
        if !self.waiters.is_empty() && self.waiters.contains_key(key) {
            self.ready.push(Bytes::copy_from_slice(key));
        }
        if !self.watched.is_empty() {
            if let Some(watched) = self.watched.get_mut(key) {
                watched.version += 1;
            }
        }
    }

    /// Starts one client's `WATCH` of `key`; returns the key's current version. Expire the key
    /// first (a lookup does) so a key already past its deadline is not counted as a change.
    pub fn watch(&mut self, key: &[u8]) -> u64 {
        let watched = self.watched.entry(Bytes::copy_from_slice(key)).or_default();
        watched.watchers += 1;
        watched.version
    }

    /// The current version of a watched key (0 for a key nobody watches).
    pub fn watch_version(&self, key: &[u8]) -> u64 {
        self.watched.get(key).map_or(0, |w| w.version)
    }

    /// Ends one client's `WATCH` of `key`.
    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some(watched) = self.watched.get_mut(key) {
            watched.watchers = watched.watchers.saturating_sub(1);
            if watched.watchers == 0 {
                self.watched.remove(key);
            }
        }
    }

    /// Marks every watched key of this shard changed: for operations that replace a whole
    /// database at once (`SWAPDB`), after which no `WATCH` on it can be trusted.
    pub fn touch_all_watched(&mut self) {
        for watched in self.watched.values_mut() {
            watched.version += 1;
        }
    }

    /// Takes the keys removed by expiry since the last call (for `expired` notifications).
    pub fn take_expired_keys(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.expired_keys)
    }

    /// Whether keys expired since the last [`Shard::take_expired_keys`].
    pub fn has_expired_keys(&self) -> bool {
        !self.expired_keys.is_empty()
    }

    /// Queues `waiter` on `key`, dropping abandoned waiters of that key first. The waiter is
    /// offered the key at once if it is ready now, so call this only after a direct attempt
    /// failed.
    pub fn add_waiter(&mut self, key: &[u8], waiter: Box<dyn KeyWaiter>) {
        let queue = self.waiters.entry(Bytes::copy_from_slice(key)).or_default();
        queue.retain(|w| !w.is_abandoned());
        queue.push_back(waiter);
    }

    /// Number of live waiters on `key`.
    pub fn waiter_count(&self, key: &[u8]) -> usize {
        self.waiters
            .get(key)
            .map_or(0, |q| q.iter().filter(|w| !w.is_abandoned()).count())
    }

    /// Whether some key with waiters changed since they were last offered it.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Offers each changed key to its waiters, in arrival order, until one cannot be served.
    /// Runs under the shard lock, at the end of every command and expiry batch.
    pub fn serve_ready(&mut self, now: MonoTime) {
        while let Some(key) = self.ready.pop() {
            let Some(mut queue) = self.waiters.remove(&key) else {
                continue;
            };
            while let Some(waiter) = queue.front_mut() {
                if waiter.is_abandoned() || waiter.try_serve(self, &key, now) {
                    queue.pop_front();
                } else {
                    break;
                }
            }
            if !queue.is_empty() {
                self.waiters.insert(key, queue);
            }
        }
    }

    /// One step of active expiry: walks the table from where the last walk stopped, looking
    /// at up to `sample` keys with a deadline (and at most the whole table once), and removes
    /// those whose deadline is at or before `now`. The caller repeats while a good share of
    /// the sample was expired, as Redis's expiry cycle does.
    pub fn expire_due(&mut self, now: MonoTime, sample: usize) -> ExpiryWalk {
        let mut walk = ExpiryWalk::default();
        let buckets = self.map.num_buckets();
        let mut visited = 0;
        while walk.sampled < sample && visited < buckets && self.volatile > 0 {
            let index = self.expiry_cursor % buckets;
            self.expiry_cursor = index + 1;
            visited += 1;
            let Some(node) = self.map.get_bucket(index) else {
                continue;
            };
            if !node.entry().has_deadline() {
                continue;
            }
            walk.sampled += 1;
            if node.entry().is_expired(now) {
                // Removal never moves other nodes between buckets, so the walk goes on.
                self.expire_at(index);
                walk.removed += 1;
            }
        }
        self.serve_ready(now);
        walk
    }

    /// Number of keys stored, expired-but-not-yet-removed ones included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with a deadline.
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    /// Iterates over live keys and entries at `now`.
    pub fn iter_live(&self, now: MonoTime) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.map
            .iter()
            .filter(move |node| !node.entry().is_expired(now))
            .map(|node| (node.key(), node.entry()))
    }

    /// A live key picked at random: the first live one from a random bucket on, so constant
    /// time on average (keys after long empty runs are a little likelier, as with any open
    /// table). `None` when no key is live.
    pub fn random_key(&self, now: MonoTime) -> Option<&[u8]> {
        let buckets = self.map.num_buckets();
        if self.map.is_empty() || buckets == 0 {
            return None;
        }
        let start = fastrand::usize(..buckets);
        (0..buckets)
            .filter_map(|step| self.map.get_bucket((start + step) % buckets))
            .find(|node| !node.entry().is_expired(now))
            .map(Node::key)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        let keys: Vec<Bytes> = self.waiters.keys().cloned().collect();
        self.ready.extend(keys);
        // A flush touches the watched keys it deletes (Redis: only those that existed).
        let (map, hasher) = (&self.map, &self.hasher);
        for (key, watched) in self.watched.iter_mut() {
            let hash = hasher.hash_one(&key[..]);
            if map.find(hash, |node| node.key() == &key[..]).is_some() {
                watched.version += 1;
            }
        }
        self.map = HashTable::new();
        self.expiry_cursor = 0;
        self.volatile = 0;
        self.lock_meta = HashMap::new();
    }

    /// Bytes used by keys and values, roughly, for `INFO memory`.
    pub fn approximate_memory(&self) -> usize {
        self.map
            .iter()
            .map(|node| node.key().len() + node.entry().value.heap_size() + 64)
            .sum::<usize>()
            + self.map.num_buckets() * 9
            + self.lock_meta.len() * 96
    }
}

/// Lock metadata beside keys (`LOCK.*`). Metadata belongs to one holding of a key: it is valid
/// only while the key is live and still holds the token it was made for, and it is dropped when
/// the key is deleted, expires or is overwritten with another value (see `key_changed` and
/// `insert`).
impl Shard {
    /// The lock metadata of `key`, if the key is live and still holds the metadata's token.
    pub fn lock_meta(&self, key: &[u8], now: MonoTime) -> Option<&LockMeta> {
        let meta = self.lock_meta.get(key)?;
        let entry = self.node_at(self.find(key)?)?.entry();
        (!entry.is_expired(now) && holds_token(&entry.value, &meta.token)).then_some(meta)
    }

    /// Like [`Shard::lock_meta`], for changing the hold count; stale metadata (the key was
    /// rewritten in place with another value) is dropped.
    pub fn lock_meta_mut(&mut self, key: &[u8], now: MonoTime) -> Option<&mut LockMeta> {
        if self.lock_meta(key, now).is_none() {
            if !self.lock_meta.is_empty() {
                self.lock_meta.remove(key);
            }
            return None;
        }
        self.lock_meta.get_mut(key)
    }

    /// Attaches lock metadata to the live key `key` (a grant just stored `meta.token` there).
    pub fn set_lock_meta(&mut self, key: &[u8], meta: LockMeta) {
        if self.find(key).is_some() {
            self.lock_meta.insert(Bytes::copy_from_slice(key), meta);
        }
    }

    /// Keys that carry lock metadata (possibly stale; check with [`Shard::lock_meta`]).
    pub fn lock_meta_keys(&self) -> impl Iterator<Item = &Bytes> {
        self.lock_meta.keys()
    }

    /// Keys that have waiters (possibly only abandoned ones).
    pub fn waited_keys(&self) -> impl Iterator<Item = &Bytes> {
        self.waiters.keys()
    }

    /// The deadline of the live key `key` ([`NO_DEADLINE`] for none), without touching it.
    pub fn peek_deadline(&self, key: &[u8], now: MonoTime) -> Option<MonoTime> {
        let entry = self.node_at(self.find(key)?)?.entry();
        (!entry.is_expired(now)).then_some(entry.deadline)
    }

    /// Removes `key` if its deadline has passed, and queues it for its waiters either way: a
    /// waiting client calls this when the holder's deadline comes (active expiry is too coarse
    /// for a lock handoff) or when it leaves the queue (so the next waiter learns it is first).
    pub fn offer_to_waiters(&mut self, key: &[u8], now: MonoTime) {
        match self.find(key) {
            Some(index)
                if self
                    .node_at(index)
                    .is_some_and(|n| n.entry().is_expired(now)) =>
            {
                self.expire_at(index);
            }
            _ => self.key_changed(key),
        }
    }

    /// The metadata to carry over when `key` is rewritten with `value`: only when the key is live
    /// and keeps the same token (a lock extended with `SET key token XX PX ms` or `IFEQ`).
    fn lock_meta_kept_by(&self, key: &[u8], value: &Value, now: MonoTime) -> Option<LockMeta> {
        if self.lock_meta.is_empty() {
            return None;
        }
        let meta = self.lock_meta(key, now)?;
        holds_token(value, &meta.token).then(|| meta.clone())
    }
}

/// Whether `value` is the string `token`.
fn holds_token(value: &Value, token: &[u8]) -> bool {
    matches!(value, Value::Str(v) if v == token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ms;
    use crate::db::string::Str;

    #[test]
    fn lazy_and_active_expiry() {
        let mut shard = Shard::default();
        shard.insert(b"a", Value::Str(Str::from("1")), ms(100), ms(10));
        shard.insert(b"b", Value::Str(Str::from("2")), NO_DEADLINE, ms(10));
        assert!(shard.contains(b"a", ms(99)));
        assert!(shard.contains(b"a", ms(100)), "live at its deadline");
        assert!(!shard.contains(b"a", ms(100).after_micros(1)));
        assert_eq!(shard.len(), 1);
        shard.insert(b"c", Value::Str(Str::from("3")), ms(200), ms(10));
        shard.set_deadline(b"c", ms(300), ms(10));
        assert_eq!(shard.expire_due(ms(250), 10).removed, 0, "not due yet");
        assert_eq!(shard.expire_due(ms(300), 10).removed, 0, "due only after");
        assert_eq!(shard.expire_due(ms(300).after_micros(1), 10).removed, 1);
        assert_eq!(shard.volatile_len(), 0);
        assert!(shard.contains(b"b", ms(1_000_000)));
    }
}

#[cfg(test)]
mod watch_tests {
    use super::*;
    use crate::clock::ms;
    use crate::db::string::Str;

    #[test]
    fn watched_versions_follow_changes_not_reads() {
        let mut shard = Shard::default();
        shard.insert(b"k", Value::Str(Str::from("v")), ms(100), ms(0));
        let version = shard.watch(b"k");
        shard.get(b"k", ms(10));
        assert_eq!(shard.watch_version(b"k"), version, "a read is no change");
        shard.get(b"k", ms(100).after_micros(1));
        assert_ne!(shard.watch_version(b"k"), version, "expiry is a change");
        assert_eq!(shard.take_expired_keys(), vec![Bytes::from("k")]);
        shard.unwatch(b"k");
        assert_eq!(shard.watch_version(b"k"), 0);
    }

    #[test]
    fn past_deadline_deletes_without_expiring() {
        let mut shard = Shard::default();
        shard.insert(b"k", Value::Str(Str::from("v")), NO_DEADLINE, ms(0));
        assert!(shard.set_deadline(b"k", ms(5), ms(10)));
        assert_eq!(shard.volatile_len(), 0);
        assert!(!shard.has_expired_keys());
        assert!(!shard.contains(b"k", ms(10)));
    }
}

#[cfg(test)]
mod waiter_tests {
    use crate::clock::ms;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::db::string::Str;

    /// Takes the key once it is absent, recording its name in `log`.
    struct TakeWhenFree {
        name: &'static str,
        log: Arc<Mutex<Vec<&'static str>>>,
    }

    impl KeyWaiter for TakeWhenFree {
        fn try_serve(&mut self, shard: &mut Shard, key: &Bytes, now: MonoTime) -> bool {
            if shard.contains(key, now) {
                return false;
            }
            shard.insert(key, Value::Str(Str::from(self.name)), NO_DEADLINE, now);
            self.log.lock().unwrap().push(self.name);
            true
        }
        fn is_abandoned(&self) -> bool {
            false
        }
    }

    #[test]
    fn waiters_served_in_order_one_per_change() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut shard = Shard::default();
        shard.insert(b"lock", Value::Str(Str::from("holder")), ms(50), ms(0));
        for name in ["first", "second"] {
            let waiter = TakeWhenFree {
                name,
                log: log.clone(),
            };
            shard.add_waiter(b"lock", Box::new(waiter));
        }
        shard.serve_ready(ms(10));
        assert!(log.lock().unwrap().is_empty());
        shard.expire_due(ms(50), 10);
        assert!(
            log.lock().unwrap().is_empty(),
            "held until after its deadline"
        );
        shard.expire_due(ms(50).after_micros(1), 10);
        assert_eq!(*log.lock().unwrap(), vec!["first"]);
        shard.remove(b"lock", ms(60));
        shard.serve_ready(ms(60));
        assert_eq!(*log.lock().unwrap(), vec!["first", "second"]);
        assert_eq!(shard.waiter_count(b"lock"), 0);
    }
}
