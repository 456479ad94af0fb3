//! What the keyspace stores under a key: a value and its deadline.

use super::dict::{Hash, Set};
use super::list::List;
use super::string::Str;
use super::zset::ZSet;

use crate::clock::MonoTime;

/// A deadline that never comes: the key has no TTL.
pub const NO_DEADLINE: MonoTime = MonoTime::NEVER;

/// A stored value. Each Redis type is one variant; commands of one type meeting another get
/// `WRONGTYPE`. The aggregates are never stored empty: the command that empties one deletes
/// its key, as Redis does. They are boxed so that a `Value`, and with it every entry of the
/// keyspace (mostly lock strings), stays a string's handle plus a tag (40 bytes, where the
/// largest aggregate inline would make it over 130); a short string is inline in the 40 bytes
/// (see `string.rs`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Str),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
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
            Value::List(list) => std::mem::size_of::<List>() + list.heap_size(),
            Value::Hash(hash) => std::mem::size_of::<Hash>() + hash.heap_size(),
            Value::Set(set) => std::mem::size_of::<Set>() + set.heap_size(),
            Value::ZSet(zset) => std::mem::size_of::<ZSet>() + zset.heap_size(),
        }
    }
}

/// A key's entry: its value and its deadline on the monotonic clock ([`NO_DEADLINE`] for a
/// key without a TTL). The deadline is private: it changes only through the shard, which keeps
/// its expiry index in step.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub(crate) deadline: MonoTime,
}

impl Entry {
    pub fn deadline(&self) -> MonoTime {
        self.deadline
    }

    pub fn has_deadline(&self) -> bool {
        self.deadline != NO_DEADLINE
    }

    /// Expired at `now`: only once `now` is past the deadline (at the deadline itself the key
    /// is still there), so a lease never ends before its full length.
    pub fn is_expired(&self, now: MonoTime) -> bool {
        self.deadline.is_past(now)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_value_is_a_string_handle_and_a_tag() {
        assert_eq!(
            std::mem::size_of::<Value>(),
            std::mem::size_of::<Bytes>() + 8
        );
    }

    #[test]
    fn encodings_as_redis_reports_them() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let s = |text: &str| Value::Str(Str::from(b(text)));
        assert_eq!(s("123").encoding(), "int");
        assert_eq!(s("-0").encoding(), "embstr");
        assert_eq!(s(&"x".repeat(45)).encoding(), "raw");
        let mut list = List::default();
        list.push(super::super::list::End::Left, b("a"));
        assert_eq!(Value::List(Box::new(list)).encoding(), "quicklist");
        let mut set = Set::default();
        set.insert(b("1"), ());
        assert_eq!(Value::Set(Box::new(set.clone())).encoding(), "intset");
        set.insert(b("a"), ());
        assert_eq!(Value::Set(Box::new(set)).encoding(), "hashtable");
        let mut hash = Hash::default();
        hash.insert(b("f"), b("v"));
        assert_eq!(Value::Hash(Box::new(hash.clone())).encoding(), "listpack");
        hash.insert(b("g"), b(&"v".repeat(65)));
        assert_eq!(Value::Hash(Box::new(hash)).encoding(), "hashtable");
        let mut zset = ZSet::default();
        zset.insert(b("m"), 1.0);
        assert_eq!(Value::ZSet(Box::new(zset)).encoding(), "listpack");
    }
}
