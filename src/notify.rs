//! Keyspace notifications: key changes published on pub/sub channels, as Redis does when
//! `notify-keyspace-events` is set.
//!
//! An event of class `c` named `e` on key `k` in database `d` is published, when class `c` is
//! enabled, on `__keyspace@d__:k` with message `e` (flag `K`) and on `__keyevent@d__:e` with
//! message `k` (flag `E`). Lock users watch `__keyevent@0__:expired` to learn that a lock
//! lapsed.
//!
//! Command handlers report their events through their context (`Ctx::notify`, and
//! `Ctx::notify_aggregate` for the list, hash, set and sorted-set commands, which also report
//! `del` when they empty a key). Expiry happens inside the shards
//! (lazily on access, or by the active expiry task): a shard records the keys it expired, and
//! whoever releases the shard hands them to [`Notifier::expired`], so `expired` events are
//! published after the shard lock is released and without any client touching the key.
//! When notifications are off (the default) each event costs one atomic load.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::errors::Error;
use crate::pubsub::PubSub;

/// Event classes and the two channel families, as bits (Redis's `NOTIFY_*`).
pub mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (`DEL`, `EXPIRE`, `RENAME`, …).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: keys expired.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: keys evicted (latchkey never evicts).
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key misses (not part of `A`).
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 12;
    /// `n`: new keys (not part of `A`).
    pub const NEW: u32 = 1 << 13;
    /// `A`: alias for `g$lshzxetd`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The class letters in the order Redis prints them, after `A` or instead of it.
const CLASS_LETTERS: &[(u8, u32)] = &[
    (b'g', class::GENERIC),
    (b'$', class::STRING),
    (b'l', class::LIST),
    (b's', class::SET),
    (b'h', class::HASH),
    (b'z', class::ZSET),
    (b'x', class::EXPIRED),
    (b'e', class::EVICTED),
    (b't', class::STREAM),
    (b'd', class::MODULE),
    (b'n', class::NEW),
];

/// The letters printed after the classes.
const CHANNEL_LETTERS: &[(u8, u32)] = &[
    (b'K', class::KEYSPACE),
    (b'E', class::KEYEVENT),
    (b'm', class::KEY_MISS),
];

/// The error `CONFIG SET notify-keyspace-events` reports for a bad letter, after Redis's
/// `ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - ` prefix.
pub const INVALID_FLAGS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// Parses a `notify-keyspace-events` value as Redis does (any order, repeats allowed).
pub fn parse_flags(text: &[u8]) -> Result<u32, Error> {
    let mut flags = 0;
    for &letter in text {
        flags |= match letter {
            b'A' => class::ALL,
            _ => CLASS_LETTERS
                .iter()
                .chain(CHANNEL_LETTERS)
                .find(|(l, _)| *l == letter)
                .map(|(_, bit)| *bit)
                .ok_or_else(|| {
                    Error::err(format_args!(
                        "CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - {INVALID_FLAGS}"
                    ))
                })?,
        };
    }
    Ok(flags)
}

/// Prints flags the way `CONFIG GET notify-keyspace-events` shows them (`AKE`, `g$xKE`, …).
pub fn flags_to_string(flags: u32) -> String {
    let mut text = String::new();
    if flags & class::ALL == class::ALL {
        text.push('A');
    } else {
        for (letter, bit) in CLASS_LETTERS {
            if flags & bit != 0 {
                text.push(*letter as char);
            }
        }
    }
    for (letter, bit) in CHANNEL_LETTERS {
        if flags & bit != 0 {
            text.push(*letter as char);
        }
    }
    text
}

/// The notification settings and the registry events are published to.
pub struct Notifier {
    flags: AtomicU32,
    pubsub: Arc<PubSub>,
}

impl Notifier {
    pub fn new(pubsub: Arc<PubSub>) -> Self {
        Notifier {
            flags: AtomicU32::new(0),
            pubsub,
        }
    }

    /// The current flags (bits of [`class`]).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    pub fn set(&self, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed);
    }

    /// Whether events of `event_class` are published at all.
    pub fn enabled(&self, event_class: u32) -> bool {
        let flags = self.flags();
        flags & event_class != 0 && flags & (class::KEYSPACE | class::KEYEVENT) != 0
    }

    /// Publishes event `event` of `event_class` on `key` in database `db`, if enabled.
    pub fn event(&self, event_class: u32, event: &str, key: &[u8], db: usize) {
        let flags = self.flags();
        if flags & event_class == 0 {
            return;
        }
        if flags & class::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.pubsub.publish(&channel, event.as_bytes());
        }
        if flags & class::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.pubsub.publish(channel.as_bytes(), key);
        }
    }

    /// Publishes `expired` for keys a shard of database `db` expired. Called with no shard
    /// held.
    pub fn expired(&self, db: usize, keys: &[Bytes]) {
        if !self.enabled(class::EXPIRED) {
            return;
        }
        for key in keys {
            self.event(class::EXPIRED, "expired", key, db);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_like_redis() {
        let all = parse_flags(b"KEA").unwrap();
        assert_eq!(flags_to_string(all), "AKE");
        assert_eq!(flags_to_string(parse_flags(b"Ex$gxK").unwrap()), "g$xKE");
        assert_eq!(flags_to_string(parse_flags(b"").unwrap()), "");
        assert_eq!(flags_to_string(parse_flags(b"AKEm").unwrap()), "AKEm");
        assert_eq!(flags_to_string(parse_flags(b"Kmn").unwrap()), "nKm");
        let error = parse_flags(b"KEQ").unwrap_err();
        assert_eq!(
            error.0,
            "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        );
    }
}
