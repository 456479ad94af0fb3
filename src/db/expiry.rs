//! Active expiry: a background task that removes keys whose deadline has passed, so memory is
//! reclaimed without a client touching them. Lazy expiry on every access stays authoritative;
//! this only reclaims.
//!
//! Each tick (`hz` times a second) visits every shard: a walk over the next [`SAMPLE`] keys with
//! a deadline (see [`Shard::expire_due`](super::Shard::expire_due)) removes those past it. A
//! shard is walked again while at least a quarter of its sample was expired, as Redis's cycle
//! does, until the tick's time budget (a quarter of the tick) is spent. A shard is locked for
//! one walk at a time, so clients wait at most one walk.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Keyspace;

/// Keys with a deadline looked at per shard lock.
const SAMPLE: usize = 64;

/// Settings the expiry task reads on every tick, so `CONFIG SET hz` and
/// `DEBUG SET-ACTIVE-EXPIRE` apply at once.
pub struct ExpiryControl {
    pub hz: AtomicU32,
    pub enabled: AtomicBool,
}

impl ExpiryControl {
    pub fn new(hz: u32) -> Self {
        ExpiryControl {
            hz: AtomicU32::new(hz.clamp(1, 500)),
            enabled: AtomicBool::new(true),
        }
    }
}

/// One tick of active expiry over every shard; returns the number of keys removed. Stops early
/// when `enabled` turns false (`DEBUG SET-ACTIVE-EXPIRE 0` applies even to a running tick).
pub fn expire_cycle(keyspace: &Keyspace, budget: Duration, enabled: &AtomicBool) -> usize {
    let started = Instant::now();
    let mut removed = 0;
    let mut busy = true;
    while busy && started.elapsed() < budget {
        busy = false;
        for index in 0..keyspace.shard_count() {
            if !enabled.load(Ordering::Relaxed) {
                return removed;
            }
            let now = keyspace.now();
            let mut shard = keyspace.shard_mutex(index).lock();
            let walk = shard.expire_due(now, SAMPLE);
            let expired = shard.take_expired_keys();
            drop(shard);
            if !expired.is_empty() {
                keyspace.keys_expired(index, &expired);
            }
            removed += walk.removed;
            busy |= walk.removed > 0 && walk.removed * 4 >= walk.sampled;
            if started.elapsed() >= budget {
                break;
            }
        }
    }
    removed
}

/// Runs active expiry until the returned task is aborted.
pub fn spawn(keyspace: Arc<Keyspace>, control: Arc<ExpiryControl>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let hz = control.hz.load(Ordering::Relaxed).clamp(1, 500);
            let tick = Duration::from_millis(1000 / u64::from(hz));
            tokio::time::sleep(tick).await;
            if control.enabled.load(Ordering::Relaxed) {
                let (keyspace, control) = (keyspace.clone(), control.clone());
                // Shard locks are synchronous: keep them off the async worker's hot path.
                let _ = tokio::task::spawn_blocking(move || {
                    expire_cycle(&keyspace, tick / 4, &control.enabled)
                })
                .await;
            }
        }
    })
}
