//! [`Dict`]: the hash map behind hashes, sets and the member index of sorted sets.
//!
//! A hash map alone cannot serve `HSCAN`/`SSCAN`/`ZSCAN`: its iteration order changes when it
//! grows, so a cursor into it means nothing after a write. Here every entry also carries a
//! sequence number given when it was inserted, and a B-tree orders the entries by it. A scan
//! cursor is simply the next sequence number to visit, so a scan returns every member present
//! for the whole scan exactly once (members only ever leave or join the order; they never move
//! inside it), and each call costs `O(log n + COUNT)`. The same order makes `HGETALL` and
//! `SMEMBERS` reply in insertion order, as Redis does for its small (listpack) encodings.

use std::collections::BTreeMap;

use bytes::Bytes;
use hashbrown::HashMap;

/// Bytes a stored value occupies, for memory accounting.
pub trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weigh for () {
    fn weight(&self) -> usize {
        0
    }
}

impl Weigh for f64 {
    fn weight(&self) -> usize {
        8
    }
}

/// Rough cost of one entry beyond its bytes (the two index slots and the shared key handle).
const ENTRY_OVERHEAD: usize = 80;

#[derive(Clone, Debug, PartialEq)]
struct Slot<V> {
    seq: u64,
    value: V,
}

/// An insertion-ordered hash map of byte strings to `V`, with stable scan cursors.
#[derive(Clone, Debug)]
pub struct Dict<V> {
    map: HashMap<Bytes, Slot<V>>,
    order: BTreeMap<u64, Bytes>,
    next_seq: u64,
    /// Sum of key lengths and value weights.
    bytes: usize,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict {
            map: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
        }
    }
}

/// Equal when they hold the same entries, whatever their order.
impl<V: PartialEq> PartialEq for Dict<V> {
    fn eq(&self, other: &Self) -> bool {
        self.map.len() == other.map.len()
            && self
                .map
                .iter()
                .all(|(k, slot)| other.map.get(k).is_some_and(|o| o.value == slot.value))
    }
}

/// A hash's fields and values.
pub type Hash = Dict<Bytes>;
/// A set's members.
pub type Set = Dict<()>;

impl<V: Weigh> Dict<V> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key).map(|slot| &slot.value)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Stores `value` under `key`; a key already present keeps its place in the order. Returns
    /// the previous value.
    pub fn insert(&mut self, key: Bytes, value: V) -> Option<V> {
        self.bytes += value.weight();
        if let Some(slot) = self.map.get_mut(&key) {
            let previous = std::mem::replace(&mut slot.value, value);
            self.bytes -= previous.weight();
            return Some(previous);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += key.len();
        self.order.insert(seq, key.clone());
        self.map.insert(key, Slot { seq, value });
        None
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let (key, slot) = self.map.remove_entry(key)?;
        self.order.remove(&slot.seq);
        self.bytes -= key.len() + slot.value.weight();
        Some(slot.value)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, &V)> {
        self.order.values().filter_map(|key| {
            let slot = self.map.get(key)?;
            Some((key, &slot.value))
        })
    }

    /// Keys in insertion order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Bytes> {
        self.order.values()
    }

    /// Up to `count` entries from `cursor` on (0 starts a scan), and the cursor to continue
    /// from (0 when the scan is over).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &V)>) {
        let mut found = Vec::with_capacity(count.min(self.len()));
        let mut next = 0;
        for (&seq, key) in self.order.range(cursor..) {
            if found.len() == count {
                next = seq;
                break;
            }
            if let Some(slot) = self.map.get(key) {
                found.push((key, &slot.value));
            }
        }
        (next, found)
    }

    /// A random entry: uniform for small dicts; for large ones, the first entry at or after a
    /// random point of the order (close to uniform while the order has few gaps).
    pub fn random(&self) -> Option<(&Bytes, &V)> {
        if self.is_empty() {
            return None;
        }
        if self.len() <= 256 {
            return self.iter().nth(fastrand::usize(..self.len()));
        }
        let first = *self.order.keys().next()?;
        let last = *self.order.keys().next_back()?;
        let point = fastrand::u64(first..=last);
        let key = self.order.range(point..).next()?.1;
        self.map
            .get_key_value(key)
            .map(|(k, slot)| (k, &slot.value))
    }

    /// Up to `count` distinct random keys (all of them, in order, when `count >= len`).
    pub fn random_distinct(&self, count: usize) -> Vec<&Bytes> {
        if count >= self.len() {
            return self.keys().collect();
        }
        if count * 4 >= self.len() || self.len() <= 256 {
            // Partial shuffle of all keys.
            let mut keys: Vec<&Bytes> = self.keys().collect();
            for i in 0..count {
                let j = fastrand::usize(i..keys.len());
                keys.swap(i, j);
            }
            keys.truncate(count);
            return keys;
        }
        let mut picked = hashbrown::HashSet::with_capacity(count);
        let mut keys = Vec::with_capacity(count);
        // Few picks out of many: collisions are rare, so this ends quickly.
        while keys.len() < count {
            let Some((key, _)) = self.random() else { break };
            if picked.insert(key) {
                keys.push(key);
            }
        }
        keys
    }

    /// Bytes held, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.bytes + self.len() * ENTRY_OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn keeps_insertion_order_and_weights() {
        let mut dict: Dict<Bytes> = Dict::default();
        dict.insert(b("a"), b("1"));
        dict.insert(b("b"), b("22"));
        dict.insert(b("a"), b("333"));
        let keys: Vec<_> = dict.keys().cloned().collect();
        assert_eq!(keys, vec![b("a"), b("b")]);
        assert_eq!(dict.bytes, 1 + 3 + 1 + 2);
        assert_eq!(dict.remove(b"a"), Some(b("333")));
        assert_eq!(dict.bytes, 3);
        dict.insert(b("a"), b(""));
        let keys: Vec<_> = dict.keys().cloned().collect();
        assert_eq!(keys, vec![b("b"), b("a")]);
    }

    #[test]
    fn scan_sees_every_stable_member_once_despite_writes() {
        let mut dict: Dict<()> = Dict::default();
        for i in 0..1000 {
            dict.insert(Bytes::from(format!("m{i}")), ());
        }
        let mut seen = std::collections::HashMap::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let (next, page) = dict.scan(cursor, 10);
            assert!(page.len() <= 10);
            let page: Vec<Bytes> = page.into_iter().map(|(k, _)| k.clone()).collect();
            for key in page {
                *seen.entry(key).or_insert(0) += 1;
            }
            // Churn between calls: delete odd members above 500, add new ones.
            calls += 1;
            dict.remove(format!("m{}", 500 + 2 * calls + 1).as_bytes());
            dict.insert(Bytes::from(format!("new{calls}")), ());
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in (0..500).step_by(2) {
            assert_eq!(seen.get(format!("m{i}").as_bytes()), Some(&1), "m{i}");
        }
    }

    #[test]
    fn random_distinct_picks_distinct_keys() {
        let mut dict: Dict<()> = Dict::default();
        for i in 0..5000 {
            dict.insert(Bytes::from(format!("m{i}")), ());
        }
        for count in [0, 1, 10, 2000, 6000] {
            let keys = dict.random_distinct(count);
            let unique: hashbrown::HashSet<_> = keys.iter().collect();
            assert_eq!(keys.len(), count.min(5000));
            assert_eq!(unique.len(), keys.len());
        }
    }
}
