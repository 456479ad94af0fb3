//! What the keyspace stores under a key: a value and its deadline.

use bytes::Bytes;

/// A deadline that never comes: the key has no TTL.
pub const NO_DEADLINE: u64 = u64::MAX;

/// A stored value. Each Redis type is one variant; commands of one type meeting another get
/// `WRONGTYPE`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Bytes),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// Bytes this value holds, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.len(),
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
