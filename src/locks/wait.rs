//! Waiting for a lock without polling: `LOCK.ACQUIRE … WAIT ms`.
//!
//! A waiting client puts a [`LockWaiter`] in the key's FIFO queue (see [`crate::db::KeyWaiter`]).
//! Whenever the key changes, the shard offers it to the queue under its lock; the first waiter
//! that finds it free takes the lock right there (stores its token and lease, takes a fencing
//! token) and sends the grant to its client through a oneshot channel. If the send fails, the
//! client has gone: the grant is undone on the spot and the next waiter is served, so a departed
//! waiter never strands the lock.
//!
//! The client side is [`LockWait::run`], the future its connection awaits. It registers on its
//! first poll (a future dropped unpolled leaves no trace), then sleeps until one of:
//! - the grant arrives;
//! - the wait time runs out (real time, brought forward by `DEBUG ADVANCE`): it closes the
//!   channel, and a grant sent just before still counts;
//! - the holder's deadline comes: active expiry samples only `hz` times a second, so the waiter
//!   itself locks the shard at the deadline, which expires the key and serves the queue in order.
//!   The queue entry keeps the waiter told of the holder's deadline (each offer of a busy key
//!   updates it), so `PEXPIRE` and `LOCK.EXTEND` move the wake-up.
//!
//! The two deadlines share one timer, set for the earlier of them, so a wait arms one timer,
//! and re-arms it only when the holder's deadline moves earlier or passes. When `DEBUG ADVANCE`
//! moves the clock, every waiter wakes, offers the key to the queue (the holder's lease may be
//! over now: the first waiter is granted), brings its own end forward by as much, and gives up
//! if that has passed.
//!
//! When the future is dropped (client disconnected, wait over) its guard closes the channel,
//! takes back a grant that was sent but never received, and offers the key to the queue again
//! so the next waiter learns it is first. A grant is returned in the poll that receives it: the
//! connection polls its client's socket before the wait (see `crate::connection`), so a
//! disconnect it can see drops the wait, and the grant is taken back, before the grant is ever
//! received. Only a grant whose reply has left for the client stays with it, for its lease.

use crate::clock::MonoTime;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

use super::grant::{acquire_in_turn, try_acquire, undo_grant};
use super::{AcquireRequest, Acquired, FencingSequence, Grant};
use crate::db::{KeyWaiter, Keyspace, Shard, ShardGuards, NO_DEADLINE};
use crate::errors::Error;

/// The longest single sleep of a waiting client (a holder's deadline further off is slept
/// towards in steps): far beyond any real lease, and safe to add to an `Instant`.
const MAX_SLEEP: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a waiting client and its queue entry share: the holder's deadline as last seen under the
/// shard lock, and a wake-up for when it changes.
struct HolderWatch {
    deadline: AtomicU64,
    changed: Notify,
}

impl HolderWatch {
    fn new(deadline: MonoTime) -> Self {
        HolderWatch {
            deadline: AtomicU64::new(deadline.as_micros()),
            changed: Notify::new(),
        }
    }

    /// Records the holder's deadline, waking the client only if it moved earlier: its timer is
    /// set for the deadline it last read, so a later one is picked up when that timer fires
    /// (the client then finds the key still held and sleeps again). Every handoff gives the
    /// key a new holder with a later deadline, seen by the next waiter in line; waking that
    /// waiter for it would put a useless task switch on the path of every handoff.
    fn note(&self, deadline: MonoTime) {
        if self.deadline.swap(deadline.as_micros(), Ordering::SeqCst) > deadline.as_micros() {
            self.changed.notify_one();
        }
    }

    fn deadline(&self) -> MonoTime {
        MonoTime::from_micros(self.deadline.load(Ordering::SeqCst))
    }
}

/// The queue entry of a client waiting in `LOCK.ACQUIRE … WAIT`.
pub struct LockWaiter {
    request: AcquireRequest,
    fencing: Arc<FencingSequence>,
    /// `None` once the grant is sent.
    reply: Option<oneshot::Sender<Grant>>,
    watch: Arc<HolderWatch>,
}

impl KeyWaiter for LockWaiter {
    fn try_serve(&mut self, shard: &mut Shard, key: &Bytes, now: MonoTime) -> bool {
        let Some(reply) = self.reply.take() else {
            return true;
        };
        if reply.is_closed() {
            return true;
        }
        match try_acquire(shard, key, &self.request, now, &self.fencing) {
            Ok(Acquired::Granted(grant)) => {
                if let Err(grant) = reply.send(grant) {
                    undo_grant(shard, key, &self.request.token, &grant, now);
                }
                true
            }
            Ok(Acquired::Busy { deadline }) => {
                self.watch.note(deadline);
                self.reply = Some(reply);
                false
            }
            Err(_) => {
                // Another type under the key: wait for it to go, as a blocked `BLPOP` does.
                self.watch.note(NO_DEADLINE);
                self.reply = Some(reply);
                false
            }
        }
    }

    fn is_abandoned(&self) -> bool {
        self.reply.as_ref().is_none_or(|reply| reply.is_closed())
    }
}

/// A `LOCK.ACQUIRE … WAIT` that found the lock busy: everything its wait needs, owned, so the
/// future outlives the command that made it.
pub struct LockWait {
    pub keyspace: Arc<Keyspace>,
    pub fencing: Arc<FencingSequence>,
    pub db: usize,
    pub key: Bytes,
    pub request: AcquireRequest,
    /// When the wait ends ungranted (real time; brought forward when the clock is advanced).
    pub give_up_at: Instant,
}

impl LockWait {
    /// Waits for the lock: the grant, or `None` when the wait ends first.
    pub async fn run(self) -> Result<Option<Grant>, Error> {
        // Followed before joining the queue, so that no move of the clock is missed.
        let clock_moves = self.keyspace.clock_moves();
        match Queued::join(self)? {
            Ok(grant) => Ok(Some(grant)),
            Err(mut queued) => Ok(queued.wait(clock_moves).await),
        }
    }

    /// Runs `f` on the key's shard, locked on its own; waiters of changed keys are served when
    /// the lock is released. A change `f` makes (a grant, a grant taken back) is noted for the
    /// append-only file, which logs it before the shard is released.
    fn with_shard<R>(&self, f: impl FnOnce(&mut Shard, MonoTime) -> R) -> Result<R, Error> {
        let mut guards = ShardGuards::new(&self.keyspace);
        let shard = guards.shard(self.db, &self.key)?;
        let now = self.keyspace.now();
        let before = shard.changes();
        let result = f(shard, now);
        if shard.changes() != before {
            shard.note_effect(&self.key);
        }
        Ok(result)
    }
}

/// A client in the queue. Dropping it leaves the queue cleanly (see the module docs).
struct Queued {
    wait: LockWait,
    watch: Arc<HolderWatch>,
    /// `None` once settled (grant received, or wait given up).
    grant: Option<oneshot::Receiver<Grant>>,
}

/// What woke a waiting client.
enum Wake {
    Granted(Option<Grant>),
    GaveUp,
    DeadlineMoved,
    HolderDue,
    /// `DEBUG ADVANCE` moved the clock this far.
    ClockMoved(Duration),
}

impl Queued {
    /// Takes the lock at once if it is free by now (after those already queued), else joins
    /// the queue.
    fn join(wait: LockWait) -> Result<Result<Grant, Queued>, Error> {
        let joined = wait.with_shard(|shard, now| {
            let deadline =
                match acquire_in_turn(shard, &wait.key, &wait.request, now, &wait.fencing)? {
                    Acquired::Granted(grant) => return Ok(Err(grant)),
                    Acquired::Busy { deadline } => deadline,
                };
            let (sender, receiver) = oneshot::channel();
            let watch = Arc::new(HolderWatch::new(deadline));
            let waiter = LockWaiter {
                request: wait.request.clone(),
                fencing: wait.fencing.clone(),
                reply: Some(sender),
                watch: watch.clone(),
            };
            shard.add_waiter(&wait.key, Box::new(waiter));
            Ok::<_, Error>(Ok((receiver, watch)))
        })??;
        match joined {
            Err(grant) => Ok(Ok(grant)),
            Ok((receiver, watch)) => Ok(Err(Queued {
                wait,
                watch,
                grant: Some(receiver),
            })),
        }
    }

    async fn wait(&mut self, mut clock_moves: watch::Receiver<Duration>) -> Option<Grant> {
        let mut moved = *clock_moves.borrow_and_update();
        let timer = tokio::time::sleep_until(self.next_wake_up());
        tokio::pin!(timer);
        loop {
            let receiver = self.grant.as_mut()?;
            let wake = tokio::select! {
                biased;
                grant = receiver => Wake::Granted(grant.ok()),
                _ = self.watch.changed.notified() => Wake::DeadlineMoved,
                Ok(()) = clock_moves.changed() => {
                    let total = *clock_moves.borrow_and_update();
                    let by = total.saturating_sub(moved);
                    moved = total;
                    Wake::ClockMoved(by)
                }
                _ = &mut timer => {
                    if Instant::now() >= self.wait.give_up_at {
                        Wake::GaveUp
                    } else {
                        Wake::HolderDue
                    }
                }
            };
            match wake {
                Wake::Granted(grant) => {
                    self.grant = None;
                    return grant;
                }
                Wake::GaveUp => return self.give_up(),
                Wake::DeadlineMoved => {}
                Wake::HolderDue => self.offer(),
                Wake::ClockMoved(by) => {
                    // The holder's lease first: a lock that lapsed before this wait's end is
                    // granted (give_up keeps a grant sent before it).
                    self.offer();
                    let now = Instant::now();
                    self.wait.give_up_at = self.wait.give_up_at.checked_sub(by).unwrap_or(now);
                    if now >= self.wait.give_up_at {
                        return self.give_up();
                    }
                }
            }
            timer.as_mut().reset(self.next_wake_up());
        }
    }

    /// When to wake without a grant: the holder's deadline as last seen, or the end of the wait
    /// if that comes first (or the holder has no deadline).
    fn next_wake_up(&self) -> Instant {
        let deadline = self.watch.deadline();
        if deadline == NO_DEADLINE {
            return self.wait.give_up_at;
        }
        // The key is expired only once the clock is past its deadline: wake just after it.
        let holder_due = self
            .wait
            .keyspace
            .now()
            .duration_until(deadline.after_micros(1));
        let holder_due = Instant::now() + holder_due.min(MAX_SLEEP);
        holder_due.min(self.wait.give_up_at)
    }

    /// At the holder's deadline: expires the key if due and serves the queue (this client, if
    /// first), then records the deadline of whoever holds the key now.
    fn offer(&self) {
        let key = &self.wait.key;
        let _ = self.wait.with_shard(|shard, now| {
            shard.offer_to_waiters(key, now);
            shard.serve_ready(now);
            let deadline = shard.peek_deadline(key, now).unwrap_or(NO_DEADLINE);
            self.watch
                .deadline
                .store(deadline.as_micros(), Ordering::SeqCst);
        });
    }

    /// The wait time ran out: closes the channel; a grant sent before that still counts.
    fn give_up(&mut self) -> Option<Grant> {
        let mut receiver = self.grant.take()?;
        receiver.close();
        match receiver.try_recv() {
            Ok(grant) => Some(grant),
            Err(_) => {
                self.leave_queue(None);
                None
            }
        }
    }

    /// Leaves the queue: takes back `unclaimed` (a grant nobody will receive), and offers the
    /// key to the queue again so the next waiter learns it is first.
    fn leave_queue(&self, unclaimed: Option<Grant>) {
        let (key, token) = (&self.wait.key, &self.wait.request.token);
        let _ = self.wait.with_shard(|shard, now| {
            if let Some(grant) = unclaimed {
                undo_grant(shard, key, token, &grant, now);
            }
            shard.offer_to_waiters(key, now);
        });
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let Some(mut receiver) = self.grant.take() else {
            return;
        };
        receiver.close();
        self.leave_queue(receiver.try_recv().ok());
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;
    use crate::clock::ManualClock;
    use crate::locks::grant::release;

    struct Fixture {
        keyspace: Arc<Keyspace>,
        fencing: Arc<FencingSequence>,
        runtime: tokio::runtime::Runtime,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                keyspace: Arc::new(Keyspace::new(1, 1, ManualClock::new())),
                fencing: Arc::new(FencingSequence::starting_after(100)),
                runtime: tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap(),
            }
        }

        fn wait(&self, token: &'static str) -> LockWait {
            LockWait {
                keyspace: self.keyspace.clone(),
                fencing: self.fencing.clone(),
                db: 0,
                key: Bytes::from("k"),
                request: AcquireRequest {
                    token: Bytes::from(token),
                    ttl_ms: 60_000,
                    reentrant: false,
                },
                give_up_at: Instant::now() + Duration::from_secs(60),
            }
        }

        fn with_shard<R>(&self, f: impl FnOnce(&mut Shard, MonoTime) -> R) -> R {
            self.wait("-").with_shard(f).unwrap()
        }

        fn holder(&self) -> Option<Bytes> {
            self.with_shard(|shard, now| {
                crate::db::read_string(shard, b"k", now)
                    .unwrap()
                    .map(crate::db::Str::to_bytes)
            })
        }

        /// Polls `future` until it is parked (a few milliseconds of real time).
        fn park<F: std::future::Future + Unpin>(&self, future: &mut F) -> Option<F::Output> {
            self.runtime
                .block_on(async { tokio::time::timeout(Duration::from_millis(5), future).await })
                .ok()
        }
    }

    #[test]
    fn a_grant_sent_to_a_departed_client_passes_to_the_next_waiter() {
        let fixture = Fixture::new();
        let mut holder = Box::pin(fixture.wait("a").run());
        let first = fixture
            .park(&mut holder)
            .expect("free lock granted at once");
        assert_eq!(first.unwrap().map(|g| g.fencing), Some(101));
        let mut b = Box::pin(fixture.wait("b").run());
        let mut c = Box::pin(fixture.wait("c").run());
        assert!(fixture.park(&mut b).is_none());
        assert!(fixture.park(&mut c).is_none());
        assert_eq!(fixture.with_shard(|shard, _| shard.waiter_count(b"k")), 2);
        // The release grants b inside the shard; b's client leaves before reading it.
        fixture.with_shard(|shard, now| release(shard, b"k", b"a", now).unwrap());
        assert_eq!(fixture.holder().as_deref(), Some(&b"b"[..]));
        drop(b);
        assert_eq!(fixture.holder().as_deref(), Some(&b"c"[..]));
        let granted = fixture.park(&mut c).expect("c granted");
        assert_eq!(granted.unwrap().map(|g| g.fencing), Some(103));
    }

    #[test]
    fn a_grant_is_returned_in_the_poll_that_receives_it() {
        let fixture = Fixture::new();
        let mut holder = Box::pin(fixture.wait("a").run());
        fixture.park(&mut holder);
        let mut b = Box::pin(fixture.wait("b").run());
        assert!(fixture.park(&mut b).is_none());
        fixture.with_shard(|shard, now| release(shard, b"k", b"a", now).unwrap());
        // No extra turn between receiving the grant and handing it to the connection: the
        // connection checks its client's socket before polling the wait.
        let _runtime = fixture.runtime.enter();
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match b.as_mut().poll(&mut context) {
            std::task::Poll::Ready(Ok(Some(grant))) => assert_eq!(grant.fencing, 102),
            other => panic!("not granted in this poll: {other:?}"),
        }
        assert_eq!(fixture.holder().as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn only_an_earlier_holder_deadline_wakes_the_waiter() {
        use crate::clock::ms;
        let watch = HolderWatch::new(ms(1000));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let woken = |watch: &HolderWatch| {
            runtime.block_on(async {
                tokio::select! {
                    biased;
                    _ = watch.changed.notified() => true,
                    _ = std::future::ready(()) => false,
                }
            })
        };
        // A later deadline (the next holder's, after a handoff) is only recorded: the waiter's
        // timer, set for 1000, finds it when it fires.
        watch.note(ms(2000));
        assert_eq!(watch.deadline(), ms(2000));
        assert!(!woken(&watch));
        watch.note(ms(2000));
        assert!(!woken(&watch));
        // An earlier one (`PEXPIRE` shortened the lease) must move the timer now.
        watch.note(ms(1500));
        assert_eq!(watch.deadline(), ms(1500));
        assert!(woken(&watch));
        watch.note(NO_DEADLINE);
        assert!(!woken(&watch));
    }

    #[test]
    fn an_unpolled_wait_leaves_no_trace() {
        let fixture = Fixture::new();
        let mut holder = Box::pin(fixture.wait("a").run());
        fixture.park(&mut holder);
        drop(fixture.wait("b").run());
        assert_eq!(fixture.with_shard(|shard, _| shard.waiter_count(b"k")), 0);
    }
}
