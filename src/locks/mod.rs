//! Lock-native behaviour behind the `LOCK.*` commands: fencing tokens, granting and releasing a
//! lock inside its shard, and waiting for a lock without polling.
//!
//! A lock is an ordinary string key whose value is the holder's token, so `GET`, `PTTL`, `DEL`,
//! `DELIFEQ` and library scripts all see it, and a key taken with plain `SET NX PX` is the same
//! lock. Beside a key granted by `LOCK.ACQUIRE` the shard keeps a [`crate::db::LockMeta`]
//! (fencing token, hold count). A waiting client is a [`crate::db::KeyWaiter`] in the key's FIFO
//! queue: every change to the key (release, `DEL`, expiry, a release script, `FLUSHDB`) offers
//! the key to the queue under the shard lock, and the first waiter takes the lock right there.
//!
//! - [`fencing`]: the server-wide, restart-safe sequence of fencing tokens.
//! - [`grant`]: acquire, release, extend and undo on one shard, under its lock.
//! - [`wait`]: the queue entry of a waiting client and the future its connection awaits.

pub mod fencing;
pub mod grant;
pub mod wait;

pub use fencing::FencingSequence;
pub use grant::{AcquireRequest, Acquired, Grant};
