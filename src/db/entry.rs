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
