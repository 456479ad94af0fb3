//! The one place where a keyspace deadline and a wall-clock time (`PXAT`, Unix milliseconds)
//! are converted into each other, for the append-only file.
//!
//! The keyspace keeps deadlines on the monotonic clock (see [`crate::clock`]); the log keeps
//! them as absolute wall-clock times, as Redis does, so that a lease keeps running while the
//! server is down. Both directions take a reading of both clocks made at the same moment.

use crate::db::NO_DEADLINE;

/// A reading of both clocks at one moment: the monotonic keyspace time and the Unix time, in
/// milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockPair {
    pub now_ms: u64,
    pub unix_ms: u64,
}

impl ClockPair {
    /// Reads both clocks of the keyspace.
    pub fn read(clock: &dyn crate::clock::Clock) -> ClockPair {
        ClockPair {
            now_ms: clock.now_ms(),
            unix_ms: clock.unix_ms(),
        }
    }

    /// The wall-clock time (Unix ms) of the keyspace deadline `deadline_ms`.
    pub fn to_unix_ms(self, deadline_ms: u64) -> u64 {
        if deadline_ms >= self.now_ms {
            self.unix_ms.saturating_add(deadline_ms - self.now_ms)
        } else {
            self.unix_ms.saturating_sub(self.now_ms - deadline_ms)
        }
    }

    /// The keyspace deadline of the wall-clock time `unix_ms`. A time in the past gives a
    /// deadline at or before now, never below 1: the log is replayed at keyspace time 0
    /// ([`super::load::REPLAY_NOW_MS`]), where no deadline has passed yet, as Redis does not
    /// expire keys while it loads; they expire once the load is over.
    pub fn from_unix_ms(self, unix_ms: u64) -> u64 {
        let deadline = if unix_ms >= self.unix_ms {
            self.now_ms.saturating_add(unix_ms - self.unix_ms)
        } else {
            self.now_ms.saturating_sub(self.unix_ms - unix_ms)
        };
        deadline.clamp(1, NO_DEADLINE - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_past_times() {
        let clocks = ClockPair {
            now_ms: 5_000,
            unix_ms: 1_700_000_000_000,
        };
        assert_eq!(clocks.to_unix_ms(6_000), 1_700_000_001_000);
        assert_eq!(clocks.from_unix_ms(1_700_000_001_000), 6_000);
        assert_eq!(clocks.to_unix_ms(4_000), 1_699_999_999_000);
        assert_eq!(clocks.from_unix_ms(1_699_999_999_000), 4_000);
        // Long past: at or before now, but never 0.
        assert_eq!(clocks.from_unix_ms(1), 1);
        assert!(clocks.from_unix_ms(u64::MAX) < NO_DEADLINE);
    }
}
