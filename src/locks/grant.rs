//! Acquire, release, extend and undo of a lock, each on one shard under its lock. Used by the
//! `LOCK.*` commands directly and by a waiting client's queue entry when the key is offered to
//! it, so a lock is granted the same way whoever grants it.

use crate::clock::MonoTime;
use bytes::Bytes;

use super::FencingSequence;
use crate::db::read_string;
use crate::db::{LockMeta, Shard, Str, Value};
use crate::errors::{self, Error};

/// What `LOCK.ACQUIRE` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquireRequest {
    /// The owner's token: the value stored under the key.
    pub token: Bytes,
    /// The lease, in milliseconds from the grant.
    pub ttl_ms: u64,
    /// Whether a holder with the same token may take the lock again (counted).
    pub reentrant: bool,
}

/// A lock given to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The fencing token the client is told.
    pub fencing: u64,
    pub kind: GrantKind,
}

/// Whether a grant took a free lock or added a hold to one the token already held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    Fresh,
    /// A reentrant acquire; the deadline before it, to restore if the grant is taken back.
    Reentrant {
        previous_deadline: MonoTime,
    },
}

/// The result of an acquire attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    Granted(Grant),
    /// Someone else holds the key; its deadline ([`NO_DEADLINE`] for none).
    Busy {
        deadline: MonoTime,
    },
}

/// The deadline of a lease of `ttl_ms` starting at `now`.
fn lease_end(now: MonoTime, ttl_ms: u64) -> MonoTime {
    now.after_ms(ttl_ms)
}

/// Acquires `key` for `request` once the waiters already queued on it have had their turn:
/// a holder whose deadline has passed is expired and the queue served first, so a newcomer never
/// overtakes a client that was waiting.
///
/// A key that is live is not offered to its queue: every change to a key serves its queue when
/// the change is made, so a held key's waiters cannot be served until it changes again. Only a
/// key that lapsed unseen (or is absent) is offered, and changes made earlier by the same
/// command or script are served first.
pub fn acquire_in_turn(
    shard: &mut Shard,
    key: &[u8],
    request: &AcquireRequest,
    now: MonoTime,
    fencing: &FencingSequence,
) -> Result<Acquired, Error> {
    if shard.peek_deadline(key, now).is_none() {
        shard.offer_to_waiters(key, now);
    }
    shard.serve_ready(now);
    try_acquire(shard, key, request, now, fencing)
}

/// Takes `key` for `request` at `now`, if it can:
/// - absent: stores the token with the lease, takes a new fencing token, hold count 1;
/// - held by the same token and `request.reentrant`: one more hold, the same fencing token
///   (the holder has not changed, so its writes stay valid), and the lease refreshed to at
///   least `ttl_ms` from now (never shortened: an inner acquire must not cut the outer lease);
/// - otherwise busy. `WRONGTYPE` when the key holds another type.
pub fn try_acquire(
    shard: &mut Shard,
    key: &[u8],
    request: &AcquireRequest,
    now: MonoTime,
    fencing: &FencingSequence,
) -> Result<Acquired, Error> {
    let Some(entry) = shard.get(key, now) else {
        let deadline = lease_end(now, request.ttl_ms);
        shard.insert(key, Value::Str(Str::from(&request.token)), deadline, now);
        let grant = Grant {
            fencing: fencing.next(),
            kind: GrantKind::Fresh,
        };
        let meta = LockMeta {
            token: request.token.clone(),
            fencing: grant.fencing,
            holds: 1,
        };
        shard.set_lock_meta(key, meta);
        return Ok(Acquired::Granted(grant));
    };
    let previous_deadline = entry.deadline();
    let same_token = match &entry.value {
        Value::Str(holder) => *holder == request.token,
        #[allow(unreachable_patterns)]
        _ => return Err(errors::WRONGTYPE),
    };
    if !(same_token && request.reentrant) {
        return Ok(Acquired::Busy {
            deadline: previous_deadline,
        });
    }
    let fencing_token = match shard.lock_meta_mut(key, now) {
        Some(meta) => {
            meta.holds = meta.holds.checked_add(1).ok_or(errors::OVERFLOW)?;
            meta.fencing
        }
        None => {
            // Taken by plain `SET NX PX` (one implicit hold): it gets its fencing token now.
            let meta = LockMeta {
                token: request.token.clone(),
                fencing: fencing.next(),
                holds: 2,
            };
            let token = meta.fencing;
            shard.set_lock_meta(key, meta);
            token
        }
    };
    let deadline = lease_end(now, request.ttl_ms);
    if deadline > previous_deadline {
        // (A key without a TTL has `NO_DEADLINE`, which no lease exceeds: it keeps none.)
        shard.set_deadline(key, deadline, now);
    }
    Ok(Acquired::Granted(Grant {
        fencing: fencing_token,
        kind: GrantKind::Reentrant { previous_deadline },
    }))
}

/// Whether `key` holds the string `token`; `WRONGTYPE` for another type.
fn is_held_by(shard: &mut Shard, key: &[u8], token: &[u8], now: MonoTime) -> Result<bool, Error> {
    Ok(read_string(shard, key, now)?.is_some_and(|holder| holder == token))
}

/// Releases one hold of `token` on `key`; the key is deleted when the last hold goes, which
/// serves its waiters. `Ok(false)` when `key` does not hold `token`.
pub fn release(shard: &mut Shard, key: &[u8], token: &[u8], now: MonoTime) -> Result<bool, Error> {
    if !is_held_by(shard, key, token, now)? {
        return Ok(false);
    }
    if let Some(meta) = shard.lock_meta_mut(key, now) {
        if meta.holds > 1 {
            meta.holds -= 1;
            return Ok(true);
        }
    }
    shard.remove(key, now);
    Ok(true)
}

/// Sets the lease of `key` to `ttl_ms` from now if it holds `token`. `Ok(false)` otherwise.
pub fn extend(
    shard: &mut Shard,
    key: &[u8],
    token: &[u8],
    ttl_ms: u64,
    now: MonoTime,
) -> Result<bool, Error> {
    if !is_held_by(shard, key, token, now)? {
        return Ok(false);
    }
    shard.set_deadline(key, lease_end(now, ttl_ms), now);
    Ok(true)
}

/// Takes back `grant` of `key` to `token` when its client left before learning of it, so a
/// departed waiter never strands the lock: one hold released (the key deleted at the last, which
/// serves the next waiter), a reentrant grant's earlier deadline restored while it is still
/// ahead. Nothing happens if the key no longer carries that grant (same token, same fencing
/// token).
pub fn undo_grant(shard: &mut Shard, key: &[u8], token: &[u8], grant: &Grant, now: MonoTime) {
    let Some(meta) = shard.lock_meta_mut(key, now) else {
        return;
    };
    if meta.fencing != grant.fencing || meta.token != token {
        return;
    }
    if meta.holds <= 1 {
        shard.remove(key, now);
        return;
    }
    meta.holds -= 1;
    if let GrantKind::Reentrant { previous_deadline } = grant.kind {
        if previous_deadline > now {
            shard.set_deadline(key, previous_deadline, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ms;
    use crate::db::NO_DEADLINE;

    fn request(token: &'static str, ttl_ms: u64, reentrant: bool) -> AcquireRequest {
        AcquireRequest {
            token: Bytes::from(token),
            ttl_ms,
            reentrant,
        }
    }

    fn granted(acquired: Result<Acquired, Error>) -> Grant {
        match acquired {
            Ok(Acquired::Granted(grant)) => grant,
            other => panic!("not granted: {other:?}"),
        }
    }

    #[test]
    fn grant_busy_release() {
        let (mut shard, fencing) = (Shard::default(), FencingSequence::starting_after(10));
        let grant = granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 100, false),
            ms(5),
            &fencing,
        ));
        assert_eq!(grant.fencing, 11);
        assert_eq!(shard.peek_deadline(b"k", ms(5)), Some(ms(105)));
        assert_eq!(
            try_acquire(&mut shard, b"k", &request("b", 100, false), ms(6), &fencing),
            Ok(Acquired::Busy { deadline: ms(105) })
        );
        // Same token without REENTRANT is busy too: a non-reentrant lock.
        assert!(matches!(
            try_acquire(&mut shard, b"k", &request("a", 100, false), ms(6), &fencing),
            Ok(Acquired::Busy { .. })
        ));
        assert_eq!(release(&mut shard, b"k", b"b", ms(7)), Ok(false));
        assert_eq!(release(&mut shard, b"k", b"a", ms(7)), Ok(true));
        assert!(!shard.contains(b"k", ms(7)));
        let next = granted(try_acquire(
            &mut shard,
            b"k",
            &request("b", 100, false),
            ms(8),
            &fencing,
        ));
        assert_eq!(next.fencing, 12);
    }

    #[test]
    fn reentrant_holds_keep_the_fencing_token_and_never_shorten_the_lease() {
        let (mut shard, fencing) = (Shard::default(), FencingSequence::starting_after(0));
        let first = granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 1000, true),
            ms(0),
            &fencing,
        ));
        let again = granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 10, true),
            ms(5),
            &fencing,
        ));
        assert_eq!(again.fencing, first.fencing);
        assert_eq!(shard.peek_deadline(b"k", ms(5)), Some(ms(1000)));
        granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 2000, true),
            ms(6),
            &fencing,
        ));
        assert_eq!(shard.peek_deadline(b"k", ms(6)), Some(ms(2006)));
        assert_eq!(shard.lock_meta(b"k", ms(6)).map(|m| m.holds), Some(3));
        for remaining in [2, 1] {
            assert_eq!(release(&mut shard, b"k", b"a", ms(7)), Ok(true));
            assert_eq!(
                shard.lock_meta(b"k", ms(7)).map(|m| m.holds),
                Some(remaining)
            );
        }
        assert_eq!(release(&mut shard, b"k", b"a", ms(7)), Ok(true));
        assert!(!shard.contains(b"k", ms(7)));
        assert_eq!(release(&mut shard, b"k", b"a", ms(7)), Ok(false));
    }

    #[test]
    fn metadata_follows_the_key() {
        let (mut shard, fencing) = (Shard::default(), FencingSequence::starting_after(0));
        granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 100, false),
            ms(0),
            &fencing,
        ));
        // Rewritten with the same token (an extension by `SET … XX PX`): kept.
        shard.insert(b"k", Value::Str(Str::from("a")), ms(500), ms(1));
        assert_eq!(shard.lock_meta(b"k", ms(1)).map(|m| m.fencing), Some(1));
        // Overwritten with another value: dropped.
        shard.insert(b"k", Value::Str(Str::from("b")), ms(500), ms(2));
        assert_eq!(shard.lock_meta(b"k", ms(2)), None);
        assert_eq!(shard.lock_meta_keys().count(), 0);
        // Deleted, expired, flushed: dropped.
        granted(try_acquire(
            &mut shard,
            b"d",
            &request("a", 100, false),
            ms(3),
            &fencing,
        ));
        shard.remove(b"d", ms(3));
        granted(try_acquire(
            &mut shard,
            b"e",
            &request("a", 100, false),
            ms(3),
            &fencing,
        ));
        assert_eq!(shard.expire_due(ms(103).after_micros(1), 10).removed, 1);
        granted(try_acquire(
            &mut shard,
            b"f",
            &request("a", 100, false),
            ms(3),
            &fencing,
        ));
        shard.clear();
        assert_eq!(shard.lock_meta_keys().count(), 0);
        // Changed in place (`INCR`-style): stale, ignored.
        granted(try_acquire(
            &mut shard,
            b"g",
            &request("7", 100, false),
            ms(3),
            &fencing,
        ));
        if let Some(entry) = shard.get_mut(b"g", ms(3)) {
            entry.value = Value::Str(Str::from("8"));
        }
        assert_eq!(shard.lock_meta(b"g", ms(3)), None);
    }

    #[test]
    fn a_reentrant_acquire_of_a_plain_key_counts_its_first_hold() {
        let (mut shard, fencing) = (Shard::default(), FencingSequence::starting_after(0));
        shard.insert(b"k", Value::Str(Str::from("a")), ms(100), ms(0));
        let grant = granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 10, true),
            ms(1),
            &fencing,
        ));
        assert_eq!(grant.fencing, 1);
        assert_eq!(shard.lock_meta(b"k", ms(1)).map(|m| m.holds), Some(2));
        undo_grant(&mut shard, b"k", b"a", &grant, ms(2));
        assert_eq!(shard.lock_meta(b"k", ms(2)).map(|m| m.holds), Some(1));
        assert!(shard.contains(b"k", ms(2)));
    }

    /// Takes the key once it is absent; counts the offers it gets.
    struct CountingWaiter {
        offers: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl crate::db::KeyWaiter for CountingWaiter {
        fn try_serve(&mut self, shard: &mut Shard, key: &Bytes, now: MonoTime) -> bool {
            self.offers
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if shard.contains(key, now) {
                return false;
            }
            shard.insert(key, Value::Str(Str::from("queued")), NO_DEADLINE, now);
            true
        }
        fn is_abandoned(&self) -> bool {
            false
        }
    }

    #[test]
    fn acquire_in_turn_serves_the_queue_of_a_lapsed_key_first_and_leaves_a_live_one_alone() {
        let (mut shard, fencing) = (Shard::default(), FencingSequence::starting_after(0));
        let offers = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 100, false),
            ms(0),
            &fencing,
        ));
        let waiter = CountingWaiter {
            offers: offers.clone(),
        };
        shard.add_waiter(b"k", Box::new(waiter));
        // Held: the queue cannot be served, and is not offered the key.
        assert_eq!(
            acquire_in_turn(
                &mut shard,
                b"k",
                &request("b", 100, false),
                ms(50),
                &fencing
            ),
            Ok(Acquired::Busy { deadline: ms(100) })
        );
        assert_eq!(offers.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Lapsed unseen: the queued client takes it before the newcomer.
        assert_eq!(
            acquire_in_turn(
                &mut shard,
                b"k",
                &request("b", 100, false),
                ms(100).after_micros(1),
                &fencing
            ),
            Ok(Acquired::Busy {
                deadline: NO_DEADLINE
            })
        );
        assert_eq!(offers.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(
            read_string(&mut shard, b"k", ms(100).after_micros(1))
                .unwrap()
                .cloned(),
            Some(Str::from("queued"))
        );
    }

    #[test]
    fn extend_only_for_the_holder() {
        let (mut shard, fencing) = (Shard::default(), FencingSequence::starting_after(0));
        granted(try_acquire(
            &mut shard,
            b"k",
            &request("a", 100, false),
            ms(0),
            &fencing,
        ));
        assert_eq!(extend(&mut shard, b"k", b"b", 1000, ms(50)), Ok(false));
        assert_eq!(extend(&mut shard, b"k", b"a", 1000, ms(50)), Ok(true));
        assert_eq!(shard.peek_deadline(b"k", ms(50)), Some(ms(1050)));
        assert_eq!(extend(&mut shard, b"nope", b"a", 1000, ms(50)), Ok(false));
    }
}
