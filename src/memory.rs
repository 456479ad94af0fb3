//! Used memory, cheap enough to read before every write command: a counting global allocator.
//!
//! [`CountingAllocator`] wraps the system allocator and keeps a running total of the bytes
//! allocated and not yet freed. Each thread adds its allocations to a thread-local balance and
//! moves it into one global atomic only when the balance passes [`FLUSH_BYTES`], so the hot
//! allocation path touches no shared cache line and [`used`] is one atomic load (off by at most
//! `FLUSH_BYTES` per thread). The `latchkey` binary installs it; a program that embeds the
//! library without it (the tests, an application with its own allocator) gets the process's
//! resident memory instead, sampled at most every [`RSS_SAMPLE_MS`] milliseconds.
//!
//! Freed memory is not always given back by the allocator: glibc keeps freed chunks in its
//! arenas, and thousands of connections that held buffers and went away can leave gigabytes
//! resident. With the counting allocator installed, the count also tracks its peak, and
//! [`return_freed`] (a background task of the server) asks glibc to give back its free pages
//! (`malloc_trim`) once the count has fallen [`TRIM_AFTER_FREED`] below that peak, at most once
//! per [`TRIM_CHECK`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A thread's allocation balance is moved to the global total once it passes this many bytes
/// either way.
pub const FLUSH_BYTES: i64 = 64 * 1024;

/// How often, at most, the resident-memory fallback reads `/proc/self/statm`.
pub const RSS_SAMPLE_MS: u64 = 100;

static TOTAL: AtomicI64 = AtomicI64::new(0);
/// The highest `TOTAL` since the allocator last gave memory back.
static PEAK_SINCE_TRIM: AtomicI64 = AtomicI64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    // `const` and without a destructor: safe to use from inside the allocator.
    static BALANCE: Cell<i64> = const { Cell::new(0) };
}

/// The system allocator with a count of the bytes in use. Install it with
/// `#[global_allocator] static A: latchkey::memory::CountingAllocator = CountingAllocator;`.
pub struct CountingAllocator;

#[inline]
fn account(delta: i64) {
    let flushed = BALANCE.try_with(|balance| {
        let value = balance.get() + delta;
        if value.abs() >= FLUSH_BYTES {
            balance.set(0);
            let total = TOTAL.fetch_add(value, Ordering::Relaxed) + value;
            if value > 0 {
                PEAK_SINCE_TRIM.fetch_max(total, Ordering::Relaxed);
            }
        } else {
            balance.set(value);
        }
    });
    if flushed.is_err() {
        // The thread is being torn down: count directly.
        TOTAL.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counting has no effect on the
// memory returned.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            account(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            account(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        account(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            account(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

impl CountingAllocator {
    /// Tells the library the allocator is installed (the binary calls it first thing), so
    /// [`used`] reads the count instead of sampling the resident memory.
    pub fn activate(&self) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

/// Whether [`CountingAllocator`] is installed and counting.
pub fn counting() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Bytes in use: the allocator's count when installed, else the resident memory (sampled).
#[inline]
pub fn used() -> u64 {
    if counting() {
        TOTAL.load(Ordering::Relaxed).max(0) as u64
    } else {
        sampled_resident()
    }
}

static RSS_SAMPLE: AtomicU64 = AtomicU64::new(0);
static RSS_SAMPLED_AT_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn sampled_resident() -> u64 {
    let now_ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + RSS_SAMPLE_MS;
    let last = RSS_SAMPLED_AT_MS.load(Ordering::Relaxed);
    if now_ms.saturating_sub(last) >= RSS_SAMPLE_MS
        && RSS_SAMPLED_AT_MS
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        if let Some(rss) = resident() {
            RSS_SAMPLE.store(rss, Ordering::Relaxed);
        }
    }
    RSS_SAMPLE.load(Ordering::Relaxed)
}

/// The process's resident memory in bytes, from `/proc/self/statm` (Linux).
pub fn resident() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Memory freed (below the peak since the last trim) before the allocator is asked to give
/// it back.
pub const TRIM_AFTER_FREED: u64 = 32 << 20;
/// How often [`return_freed`] looks at the count.
pub const TRIM_CHECK: Duration = Duration::from_secs(1);

/// Gives memory the process freed back to the system, forever: every [`TRIM_CHECK`], when the
/// counted memory has fallen [`TRIM_AFTER_FREED`] below its peak since the last time, it asks
/// the allocator to release its free pages ([`give_back`], on a blocking thread: it walks
/// every arena). Does nothing without the counting allocator, where the allocator is not
/// known to be glibc's (an embedding application chooses its own).
pub async fn return_freed() {
    if !counting() {
        return;
    }
    loop {
        tokio::time::sleep(TRIM_CHECK).await;
        let used = TOTAL.load(Ordering::Relaxed);
        let peak = PEAK_SINCE_TRIM.load(Ordering::Relaxed);
        if peak.saturating_sub(used) < TRIM_AFTER_FREED as i64 {
            continue;
        }
        PEAK_SINCE_TRIM.store(used, Ordering::Relaxed);
        let trimmed = tokio::task::spawn_blocking(give_back).await;
        tracing::debug!(freed = peak - used, ?trimmed, "gave freed memory back");
    }
}

/// Asks the allocator to return its free pages to the system: glibc's `malloc_trim(0)`, which
/// also releases free pages in the middle of its heaps. True when something was released.
/// Elsewhere (musl, other systems) a no-op.
pub fn give_back() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers and only locks and walks glibc's arenas.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The `maxmemory` setting, mirrored in an atomic so the check before each write command is
/// one load and a compare when it is 0 (no limit).
#[derive(Default)]
pub struct MaxMemory(AtomicU64);

impl MaxMemory {
    pub fn set(&self, bytes: u64) {
        self.0.store(bytes, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether used memory is over the limit (never with no limit). latchkey never evicts:
    /// writes that may grow memory are refused instead, so no lock is silently dropped.
    #[inline]
    pub fn exceeded(&self) -> bool {
        let limit = self.get();
        limit != 0 && used() > limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_never_exceeded() {
        let max = MaxMemory::default();
        assert!(!max.exceeded());
        max.set(1);
        assert!(max.exceeded(), "any process uses more than one byte");
        max.set(u64::MAX);
        assert!(!max.exceeded());
    }
}
