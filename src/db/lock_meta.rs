//! What latchkey keeps beside a key that `LOCK.ACQUIRE` granted: the fencing token of the grant
//! and the reentrant hold count. The lock itself is the key (its value is the holder's token),
//! so every command sees it; this is only the extra the `LOCK.*` commands know about.

use bytes::Bytes;

/// The metadata of one holding of a lock key.
///
/// It records the token it was made for: if the key's value stops being that token (rewritten
/// in place by another command) the metadata is stale and ignored, so it can never describe a
/// different holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockMeta {
    /// The holder's token, equal to the key's value at the grant.
    pub token: Bytes,
    /// The fencing token the grant returned.
    pub fencing: u64,
    /// How many times the holder acquired the lock (`REENTRANT`); `LOCK.RELEASE` deletes the key
    /// when it falls to zero.
    pub holds: u64,
}
