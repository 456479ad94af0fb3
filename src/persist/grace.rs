//! The restart grace (`--restart-grace ms`): a server that starts without its locks (no
//! append-only file was loaded) refuses, for that long, the commands that would grant a lock,
//! with `LOADING` (clients retry on it), so that leases granted before the restart have run out
//! before anyone can be granted the same lock again.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::clock::MonoTime;
use crate::command::args::is;
use crate::command::CommandSpec;

/// Until when locks are not granted, on the keyspace's clock in microseconds (0: no grace).
#[derive(Default)]
pub struct Grace {
    until_us: AtomicU64,
}

impl Grace {
    /// Starts a grace of `grace_ms` from `now` (nothing for 0).
    pub fn start(&self, now: MonoTime, grace_ms: u64) {
        if grace_ms > 0 {
            self.until_us
                .store(now.after_ms(grace_ms).as_micros(), Ordering::Relaxed);
        }
    }

    /// Whether `spec` is a command that may write without the write flag (a script) while a
    /// grace was set: the dispatcher then checks it as a write.
    pub fn covers(&self, spec: &CommandSpec) -> bool {
        self.until_us.load(Ordering::Relaxed) != 0
            && matches!(spec.name, "eval" | "evalsha" | "fcall")
    }

    /// Whether `args` would grant a lock while the grace lasts at `now`: `SET … NX`,
    /// `SETNX`, `MSETNX`, `LOCK.ACQUIRE`, and scripts that may write. The grace is over only
    /// once `now` is past its end, as a lease is.
    pub fn refuses(&self, spec: &CommandSpec, args: &[Bytes], now: MonoTime) -> bool {
        let until = self.until_us.load(Ordering::Relaxed);
        if until == 0 {
            return false;
        }
        if MonoTime::from_micros(until).is_past(now) {
            // Over for good: later checks are one load and a compare.
            self.until_us.store(0, Ordering::Relaxed);
            return false;
        }
        match spec.name {
            "set" => args.iter().skip(3).any(|arg| is(arg, "NX")),
            "setnx" | "msetnx" | "lock.acquire" | "eval" | "evalsha" | "fcall" => true,
            _ => false,
        }
    }
}
