//! Time: a monotonic microsecond clock for deadlines, and the wall clock for `EXAT`/`TIME`.
//!
//! Deadlines are kept on the monotonic clock so that a wall-clock step (NTP, a VM resume) can
//! never release a lock early, and in microseconds so that a lease is "arrival + PX" to the
//! microsecond, never rounded down to the millisecond it started in. A key is expired only once
//! the clock is *past* its deadline ([`MonoTime::is_past`]), as Redis's `now > when`: together
//! these make every lease last at least its full length from the moment its request was sent.
//! The clock is a trait object so tests can drive time by hand ([`ManualClock`]) instead of
//! sleeping; over the wire, `DEBUG ADVANCE` moves any clock forward ([`Clock::advance`],
//! through [`crate::db::Keyspace::advance_clock`], which also wakes the waits that must re-check
//! their deadlines).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point on the server's monotonic clock, in microseconds since it started. A newtype, not a
/// bare `u64`, so that milliseconds from a command can never be mixed up with it: every
/// conversion is a named method.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonoTime(u64);

impl MonoTime {
    /// A time that never comes: the deadline of a key without a TTL.
    pub const NEVER: MonoTime = MonoTime(u64::MAX);

    pub const fn from_micros(micros: u64) -> MonoTime {
        MonoTime(micros)
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// `ms` milliseconds later. Saturates just below [`MonoTime::NEVER`], so that a lease,
    /// however long, stays a lease.
    pub fn after_ms(self, ms: u64) -> MonoTime {
        self.after_micros(ms.saturating_mul(1000))
    }

    /// `micros` microseconds later, saturating as [`MonoTime::after_ms`] does.
    pub fn after_micros(self, micros: u64) -> MonoTime {
        MonoTime(self.0.saturating_add(micros).min(u64::MAX - 1))
    }

    /// `micros` microseconds earlier (the start of the clock at the least).
    pub fn before_micros(self, micros: u64) -> MonoTime {
        MonoTime(self.0.saturating_sub(micros))
    }

    /// Whole milliseconds from `self` until `later`, rounded down (0 once it has come): what is
    /// left of a lease is never overstated.
    pub fn ms_until(self, later: MonoTime) -> u64 {
        self.micros_until(later) / 1000
    }

    /// Microseconds from `self` until `later` (0 once it has come).
    pub fn micros_until(self, later: MonoTime) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// The time from `self` until `later`, for timers.
    pub fn duration_until(self, later: MonoTime) -> Duration {
        Duration::from_micros(self.micros_until(later))
    }

    /// Whether `self`, as a deadline, has passed at `now`: only when `now` is later, never at the
    /// deadline itself. Every expiry decision goes through here.
    pub fn is_past(self, now: MonoTime) -> bool {
        now > self
    }
}

/// `n` milliseconds after the start of the clock: times in unit tests.
#[cfg(test)]
pub(crate) fn ms(n: u64) -> MonoTime {
    MonoTime::from_micros(n * 1000)
}

/// A source of time for the keyspace.
pub trait Clock: Send + Sync + 'static {
    /// The monotonic time. Never goes backwards.
    fn now(&self) -> MonoTime;
    /// Microseconds since the Unix epoch (wall clock), for `EXAT`, `PXAT`, `EXPIRETIME`, `TIME`.
    fn unix_us(&self) -> u64;
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> u64 {
        self.unix_us() / 1000
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
    advanced_us: AtomicU64,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
            advanced_us: AtomicU64::new(0),
        }
    }

    fn advanced_us(&self) -> u64 {
        self.advanced_us.load(Ordering::SeqCst)
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Clock for SystemClock {
    fn now(&self) -> MonoTime {
        let elapsed = self.start.elapsed();
        // Offset by one so that 0 is never a current time.
        let micros = elapsed.as_secs() * 1_000_000 + u64::from(elapsed.subsec_micros()) + 1;
        MonoTime(micros.saturating_add(self.advanced_us()))
    }
    fn unix_us(&self) -> u64 {
        (unix_now().as_micros() as u64).saturating_add(self.advanced_us())
    }
    fn advance(&self, ms: u64) {
        self.advanced_us
            .fetch_add(ms.saturating_mul(1000), Ordering::SeqCst);
    }
}

/// A clock that moves only when told to: for tests of expiry without sleeping.
pub struct ManualClock {
    now_us: AtomicU64,
    unix_base_us: u64,
}

/// Where a [`ManualClock`] starts: one second after the start of the monotonic clock.
const MANUAL_START_US: u64 = 1_000_000;

impl ManualClock {
    /// A clock at monotonic time 1 s, whose wall clock reads the real time of creation.
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock {
            now_us: AtomicU64::new(MANUAL_START_US),
            unix_base_us: unix_now().as_micros() as u64,
        })
    }

    /// Moves time forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.advance_micros(ms * 1000);
    }

    /// Moves time forward by `micros` microseconds.
    pub fn advance_micros(&self, micros: u64) {
        self.now_us.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> MonoTime {
        MonoTime(self.now_us.load(Ordering::SeqCst))
    }
    fn unix_us(&self) -> u64 {
        self.unix_base_us + self.now().as_micros() - MANUAL_START_US
    }
    fn advance(&self, ms: u64) {
        self.advance_micros(ms.saturating_mul(1000));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_passes_only_after_it() {
        let deadline = MonoTime::from_micros(5_000);
        assert!(!deadline.is_past(MonoTime::from_micros(4_999)));
        assert!(!deadline.is_past(deadline));
        assert!(deadline.is_past(MonoTime::from_micros(5_001)));
        assert!(!MonoTime::NEVER.is_past(MonoTime::from_micros(u64::MAX - 1)));
    }

    #[test]
    fn leases_saturate_below_never() {
        let now = MonoTime::from_micros(10);
        assert_eq!(now.after_ms(3).as_micros(), 3_010);
        assert_ne!(now.after_ms(u64::MAX), MonoTime::NEVER);
        assert_eq!(now.ms_until(MonoTime::from_micros(2_009)), 1);
        assert_eq!(MonoTime::from_micros(2_009).ms_until(now), 0);
    }

    #[test]
    fn the_system_clock_counts_microseconds() {
        let clock = SystemClock::new();
        let first = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        let later = clock.now();
        assert!(first.micros_until(later) >= 2_000);
    }

    #[test]
    fn advancing_moves_both_readings_of_the_system_clock() {
        let clock = SystemClock::new();
        let (now, unix) = (clock.now(), clock.unix_us());
        clock.advance(5_000);
        assert!(now.micros_until(clock.now()) >= 5_000_000);
        assert!(clock.unix_us() - unix >= 5_000_000);
    }
}
