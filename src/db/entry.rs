//! What the keyspace stores under a key: a value and its deadline.

use bytes::Bytes;

use super::dict::{Hash, Set};
use super::list::List;
use super::zset::ZSet;

/// A deadline that never comes: the key has no TTL.
pub const NO_DEADLINE: u64 = u64::MAX;

/// A stored value. Each Redis type is one variant; commands of one type meeting another get
/// `WRONGTYPE`. The aggregates are never stored empty: the command that empties one deletes
/// its key, as Redis does.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Bytes),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The encoding Redis 7.0 would report for this value in `OBJECT ENCODING`: latchkey has
    /// one representation per type, but clients and test suites read these names.
    pub fn encoding(&self) -> &'static str {
        /// Redis's limits for its compact encodings (`*-max-listpack-entries`/`-value`,
        /// `set-max-intset-entries`).
        const SMALL_ENTRIES: usize = 128;
        const SMALL_VALUE: usize = 64;
        const INTSET_ENTRIES: usize = 512;
        // An integer written canonically (no sign but `-`, no leading zero), as Redis keeps.
        let is_int = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .is_some_and(|n| n.to_string().as_bytes() == bytes)
        };
        match self {
            Value::Str(bytes) if bytes.len() <= 20 && is_int(bytes) => "int",
            Value::Str(bytes) if bytes.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::List(_) => "quicklist",
            Value::Hash(hash)
                if hash.len() <= SMALL_ENTRIES
                    && hash
                        .iter()
                        .all(|(f, v)| f.len() <= SMALL_VALUE && v.len() <= SMALL_VALUE) =>
            {
                "listpack"
            }
            Value::Hash(_) => "hashtable",
            Value::Set(set) if set.len() <= INTSET_ENTRIES && set.keys().all(|m| is_int(m)) => {
                "intset"
            }
            Value::Set(_) => "hashtable",
            Value::ZSet(zset)
                if zset.len() <= SMALL_ENTRIES
                    && zset
                        .iter_from(0, false)
                        .all(|(_, m)| m.len() <= SMALL_VALUE) =>
            {
                "listpack"
            }
            Value::ZSet(_) => "skiplist",
        }
    }

    /// Bytes this value holds, for memory accounting. Constant time: the aggregates keep
    /// their own byte counts as they change.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.len(),
            Value::List(list) => list.heap_size(),
            Value::Hash(hash) => hash.heap_size(),
            Value::Set(set) => set.heap_size(),
            Value::ZSet(zset) => zset.heap_size(),
        }
    }
}

/// A key's entry: its value and its deadline in monotonic milliseconds ([`NO_DEADLINE`] for a
/// key without a TTL). The deadline is private: it changes only through the shard, which keeps
/// its expiry index in step.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub(crate) deadline_ms: u64,
}

impl Entry {
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    pub fn has_deadline(&self) -> bool {
        self.deadline_ms != NO_DEADLINE
    }

    /// Expired at `now_ms`: a key whose deadline has come is absent.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.deadline_ms <= now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_as_redis_reports_them() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        assert_eq!(Value::Str(b("123")).encoding(), "int");
        assert_eq!(Value::Str(b("-0")).encoding(), "embstr");
        assert_eq!(Value::Str(b(&"x".repeat(45))).encoding(), "raw");
        let mut list = List::default();
        list.push(super::super::list::End::Left, b("a"));
        assert_eq!(Value::List(list).encoding(), "quicklist");
        let mut set = Set::default();
        set.insert(b("1"), ());
        assert_eq!(Value::Set(set.clone()).encoding(), "intset");
        set.insert(b("a"), ());
        assert_eq!(Value::Set(set).encoding(), "hashtable");
        let mut hash = Hash::default();
        hash.insert(b("f"), b("v"));
        assert_eq!(Value::Hash(hash.clone()).encoding(), "listpack");
        hash.insert(b("g"), b(&"v".repeat(65)));
        assert_eq!(Value::Hash(hash).encoding(), "hashtable");
        let mut zset = ZSet::default();
        zset.insert(b("m"), 1.0);
        assert_eq!(Value::ZSet(zset).encoding(), "listpack");
    }
}
