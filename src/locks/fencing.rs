//! Fencing tokens: one server-wide sequence, strictly increasing across every grant and across
//! restarts, so a resource can reject a write stamped with an older token than one it has seen
//! (the fix for a holder that paused past its lease and writes anyway).
//!
//! Without the append-only file nothing is stored on disk: the sequence starts at the
//! wall-clock time of start-up in Unix microseconds and counts up by one per grant. With it,
//! the log records every grant's token and the sequence itself, and a restart raises the
//! sequence above the highest one found (see [`crate::persist`]). A restarted server starts above every token the
//! previous run gave out as long as that run granted, on average, fewer than one lock per
//! microsecond of the time between the two start-ups, and the wall clock did not step back
//! between them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The sequence of fencing tokens. One per server, shared by every shard.
#[derive(Debug)]
pub struct FencingSequence {
    last: AtomicU64,
}

impl FencingSequence {
    /// A sequence whose first token is one above the current Unix time in microseconds.
    pub fn from_wall_clock() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Self::starting_after(micros)
    }

    /// A sequence whose first token is `last + 1`.
    pub fn starting_after(last: u64) -> Self {
        FencingSequence {
            last: AtomicU64::new(last),
        }
    }

    /// Takes the next token. A single atomic counter: tokens are unique and increase in the
    /// order they are taken, whichever shard takes them.
    pub fn next(&self) -> u64 {
        self.last.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Makes every later token above `last` (a token found in the append-only file).
    pub fn raise_to(&self, last: u64) {
        self.last.fetch_max(last, Ordering::SeqCst);
    }

    /// The last token given out (or the seed, before any).
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_and_seeded_from_the_clock() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let sequence = FencingSequence::from_wall_clock();
        let first = sequence.next();
        assert!(first > before);
        assert_eq!(sequence.next(), first + 1);
        assert_eq!(sequence.last(), first + 1);
    }
}
