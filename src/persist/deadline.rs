//! The one place where a keyspace deadline and a wall-clock time (`PXAT`, Unix milliseconds)
//! are converted into each other, for the append-only file.
//!
//! The keyspace keeps deadlines on the monotonic clock (see [`crate::clock`]); the log keeps
//! them as absolute wall-clock times, as Redis does, so that a lease keeps running while the
//! server is down. Both directions take a reading of both clocks made at the same moment.

use crate::clock::MonoTime;

/// A reading of both clocks at one moment: the monotonic keyspace time, and the Unix time in
/// microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockPair {
    pub now: MonoTime,
    pub unix_us: u64,
}

impl ClockPair {
    /// Reads both clocks of the keyspace.
    pub fn read(clock: &dyn crate::clock::Clock) -> ClockPair {
        ClockPair {
            now: clock.now(),
            unix_us: clock.unix_us(),
        }
    }

    /// The wall-clock time (Unix ms) of the keyspace deadline `deadline`, rounded up to the
    /// next millisecond: a lease read back from the log is never shorter than it was.
    pub fn to_unix_ms(self, deadline: MonoTime) -> u64 {
        let unix_us = if deadline >= self.now {
            self.unix_us.saturating_add(self.now.micros_until(deadline))
        } else {
            self.unix_us.saturating_sub(deadline.micros_until(self.now))
        };
        unix_us.div_ceil(1000)
    }

    /// The keyspace deadline of the wall-clock time `unix_ms`. A time in the past gives a
    /// deadline at or before now, never the start of the clock: the log is replayed at keyspace
    /// time 0 ([`super::load::REPLAY_NOW`]), where no deadline has passed yet, as Redis does not
    /// expire keys while it loads; they expire once the load is over.
    pub fn from_unix_ms(self, unix_ms: u64) -> MonoTime {
        let target_us = unix_ms.saturating_mul(1000);
        let deadline = if target_us >= self.unix_us {
            self.now.after_micros(target_us - self.unix_us)
        } else {
            self.now.before_micros(self.unix_us - target_us)
        };
        deadline.max(MonoTime::from_micros(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ms;
    use crate::db::NO_DEADLINE;

    #[test]
    fn round_trip_and_past_times() {
        let clocks = ClockPair {
            now: ms(5_000),
            unix_us: 1_700_000_000_000_000,
        };
        assert_eq!(clocks.to_unix_ms(ms(6_000)), 1_700_000_001_000);
        assert_eq!(clocks.from_unix_ms(1_700_000_001_000), ms(6_000));
        assert_eq!(clocks.to_unix_ms(ms(4_000)), 1_699_999_999_000);
        assert_eq!(clocks.from_unix_ms(1_699_999_999_000), ms(4_000));
        // A deadline between two milliseconds is written as the later one.
        assert_eq!(
            clocks.to_unix_ms(ms(6_000).after_micros(1)),
            1_700_000_001_001
        );
        // Long past: at or before now, but never the clock's start.
        assert_eq!(clocks.from_unix_ms(1), MonoTime::from_micros(1));
        assert!(clocks.from_unix_ms(u64::MAX) < NO_DEADLINE);
    }
}
