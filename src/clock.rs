//! Time: a monotonic millisecond clock for deadlines, and the wall clock for `EXAT`/`TIME`.
//!
//! Deadlines are kept on the monotonic clock so that a wall-clock step (NTP, a VM resume) can
//! never release a lock early. The clock is a trait object so tests can drive time by hand
//! ([`ManualClock`]) instead of sleeping; over the wire, `DEBUG ADVANCE` moves any clock
//! forward ([`Clock::advance`], through [`crate::db::Keyspace::advance_clock`], which also wakes
//! the waits that must re-check their deadlines).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of time for the keyspace.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds on a monotonic clock. Never goes backwards.
    fn now_ms(&self) -> u64;
    /// Milliseconds since the Unix epoch (wall clock), for `EXAT`, `PXAT`, `EXPIRETIME`, `TIME`.
    fn unix_ms(&self) -> u64;
    /// Microseconds since the Unix epoch, for `TIME`.
    fn unix_us(&self) -> u64 {
        self.unix_ms() * 1000
    }
    /// Moves the clock `ms` milliseconds forward, for good (`DEBUG ADVANCE`). The wall clock it
    /// reports moves with it, so that `EXAT`, `EXPIRETIME` and `TIME` agree with the deadlines.
    fn advance(&self, ms: u64);
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock: `Instant` for deadlines, `SystemTime` for the wall clock, plus whatever
/// `DEBUG ADVANCE` added.
pub struct SystemClock {
    start: Instant,
    advanced_ms: AtomicU64,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
            advanced_ms: AtomicU64::new(0),
        }
    }

    fn advanced_ms(&self) -> u64 {
        self.advanced_ms.load(Ordering::SeqCst)
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // Offset by one so that 0 is never a current time.
        self.start.elapsed().as_millis() as u64 + 1 + self.advanced_ms()
    }
    fn unix_ms(&self) -> u64 {
        unix_now().as_millis() as u64 + self.advanced_ms()
    }
    fn unix_us(&self) -> u64 {
        unix_now().as_micros() as u64 + self.advanced_ms() * 1000
    }
    fn advance(&self, ms: u64) {
        self.advanced_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A clock that moves only when told to: for tests of expiry without sleeping.
pub struct ManualClock {
    now_ms: AtomicU64,
    unix_base_ms: u64,
}

impl ManualClock {
    /// A clock at monotonic time 1000 ms, whose wall clock reads the real time of creation.
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock {
            now_ms: AtomicU64::new(1000),
            unix_base_ms: unix_now().as_millis() as u64,
        })
    }

    /// Moves time forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
    fn unix_ms(&self) -> u64 {
        self.unix_base_ms + self.now_ms() - 1000
    }
    fn advance(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}
