//! The restart grace (`--restart-grace ms`): a server that starts without its locks (no
//! append-only file was loaded) refuses, for that long, the commands that would grant a lock,
//! with `LOADING` (clients retry on it), so that leases granted before the restart have run out
//! before anyone can be granted the same lock again.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::command::args::is;
use crate::command::CommandSpec;

/// Until when locks are not granted, on the keyspace's clock (0: no grace).
#[derive(Default)]
pub struct Grace {
    until_ms: AtomicU64,
}

impl Grace {
    /// Starts a grace of `grace_ms` from `now_ms` (nothing for 0).
    pub fn start(&self, now_ms: u64, grace_ms: u64) {
        if grace_ms > 0 {
            self.until_ms
                .store(now_ms.saturating_add(grace_ms), Ordering::Relaxed);
        }
    }

    /// Whether `spec` is a command that may write without the write flag (a script) while a
    /// grace was set: the dispatcher then checks it as a write.
    pub fn covers(&self, spec: &CommandSpec) -> bool {
        self.until_ms.load(Ordering::Relaxed) != 0
            && matches!(spec.name, "eval" | "evalsha" | "fcall")
    }

    /// Whether `args` would grant a lock while the grace lasts at `now_ms`: `SET … NX`,
    /// `SETNX`, `MSETNX`, `LOCK.ACQUIRE`, and scripts that may write.
    pub fn refuses(&self, spec: &CommandSpec, args: &[Bytes], now_ms: u64) -> bool {
        let until = self.until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return false;
        }
        if now_ms >= until {
            // Over for good: later checks are one load and a compare.
            self.until_ms.store(0, Ordering::Relaxed);
            return false;
        }
        match spec.name {
            "set" => args.iter().skip(3).any(|arg| is(arg, "NX")),
            "setnx" | "msetnx" | "lock.acquire" | "eval" | "evalsha" | "fcall" => true,
            _ => false,
        }
    }
}
