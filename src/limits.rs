//! Per-client limits: output buffers (`client-output-buffer-limit`), the query buffer
//! (`client-query-buffer-limit`), TCP keepalive, and `maxmemory` for write commands.
//!
//! The settings live in [`Config`] (what `CONFIG GET` shows); [`ClientLimits`] mirrors the ones
//! the connections read on every batch in atomics, so the hot path takes no lock. `CONFIG SET`
//! and server start-up call [`ClientLimits::apply`].
//!
//! A normal client that stops reading its replies is handled in two ways. Back-pressure always:
//! the connection stops reading and executing its requests while a write of pending replies is
//! stuck, so its buffers stay bounded without any setting. And Redis's limits when set: past the
//! hard limit the client is disconnected, and past the soft limit for longer than the soft
//! seconds likewise. Redis's default for normal clients is no limit (`normal 0 0 0`).
//!
//! As in Redis, the limits count only replies beyond the first [`UNCOUNTED_OUTPUT`] bytes
//! pending for a client: Redis keeps those in a fixed per-client buffer that its limits do not
//! see, so even `normal 1 1 1` lets every reply up to 16 KiB through (a redis-cli session keeps
//! working), while a larger reply, or a pipeline whose replies pile up past it, closes the
//! client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::Config;
use crate::memory::MaxMemory;
use crate::pubsub::PubSub;

/// One class's output limits: `hard soft soft_seconds`, 0 meaning none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` for the three classes Redis has, with Redis's defaults.
/// latchkey has no replicas; their class is kept so the setting reads and writes as in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBufferLimits {
    pub normal: ClassLimit,
    pub replica: ClassLimit,
    pub pubsub: ClassLimit,
}

impl Default for OutputBufferLimits {
    fn default() -> Self {
        OutputBufferLimits {
            normal: ClassLimit {
                hard: 0,
                soft: 0,
                soft_seconds: 0,
            },
            replica: ClassLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: ClassLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }
}

impl std::fmt::Display for OutputBufferLimits {
    /// Redis's `CONFIG GET` form: `normal 0 0 0 slave 268435456 67108864 60 pubsub …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let classes = [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ];
        for (i, (name, limit)) in classes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(
                f,
                "{name} {} {} {}",
                limit.hard, limit.soft, limit.soft_seconds
            )?;
        }
        Ok(())
    }
}

impl OutputBufferLimits {
    /// Applies `class hard soft seconds [class hard soft seconds …]` on top of `self`, as
    /// `CONFIG SET client-output-buffer-limit` does (classes not named keep their limits). The
    /// error is Redis's text.
    pub fn update(&mut self, value: &str) -> Result<(), String> {
        let words: Vec<&str> = value.split_ascii_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut updated = *self;
        for group in words.chunks(4) {
            let class = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut updated.normal,
                "slave" | "replica" => &mut updated.replica,
                "pubsub" => &mut updated.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = memory_value(group[1]).ok_or_else(bad)?;
            let soft = memory_value(group[2]).ok_or_else(bad)?;
            let soft_seconds = group[3]
                .parse::<i64>()
                .ok()
                .filter(|&s| s >= 0)
                .ok_or_else(bad)? as u64;
            *class = ClassLimit {
                hard,
                soft,
                soft_seconds,
            };
        }
        *self = updated;
        Ok(())
    }

    /// For clap: Redis's defaults with `value` applied.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut limits = OutputBufferLimits::default();
        limits.update(value)?;
        Ok(limits)
    }
}

/// A memory amount as Redis reads one (`1mb`, `64kb`, `1g`, `100`), non-negative.
pub fn memory_value(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let multiplier: u64 = match &lower[digits_end..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: u64 = lower[..digits_end].parse().ok()?;
    n.checked_mul(multiplier).filter(|&n| n <= i64::MAX as u64)
}

/// Pending reply bytes the output limits do not count (Redis's fixed reply buffer,
/// `PROTO_REPLY_CHUNK_BYTES`).
pub const UNCOUNTED_OUTPUT: usize = 16 * 1024;

/// The part of `pending` reply bytes that the output limits count.
#[inline]
fn counted_output(pending: usize) -> u64 {
    pending.saturating_sub(UNCOUNTED_OUTPUT) as u64
}

/// The limits connections check on every batch, as atomics (see the module docs).
#[derive(Default)]
pub struct ClientLimits {
    pub maxmemory: MaxMemory,
    normal_hard: AtomicU64,
    normal_soft: AtomicU64,
    normal_soft_seconds: AtomicU64,
    query_buffer: AtomicU64,
    tcp_keepalive: AtomicU64,
}

impl ClientLimits {
    /// Mirrors `config` (at start-up and after each `CONFIG SET`), including the pub/sub
    /// class's hard limit, which the subscribers' mailboxes enforce.
    pub fn apply(&self, config: &Config, pubsub: &PubSub) {
        self.maxmemory.set(config.maxmemory);
        let normal = config.client_output_buffer_limit.normal;
        self.normal_hard.store(normal.hard, Ordering::Relaxed);
        self.normal_soft.store(normal.soft, Ordering::Relaxed);
        self.normal_soft_seconds
            .store(normal.soft_seconds, Ordering::Relaxed);
        self.query_buffer
            .store(config.client_query_buffer_limit, Ordering::Relaxed);
        self.tcp_keepalive
            .store(config.tcp_keepalive, Ordering::Relaxed);
        let pubsub_hard = config.client_output_buffer_limit.pubsub.hard;
        pubsub.set_output_limit(if pubsub_hard == 0 {
            usize::MAX
        } else {
            usize::try_from(pubsub_hard).unwrap_or(usize::MAX)
        });
    }

    /// Whether a normal client with `pending` bytes of replies must be disconnected now (the
    /// first [`UNCOUNTED_OUTPUT`] bytes not counted).
    #[inline]
    pub fn output_over_hard(&self, pending: usize) -> bool {
        let hard = self.normal_hard.load(Ordering::Relaxed);
        hard != 0 && counted_output(pending) > hard
    }

    /// How long a write of `pending` bytes may stay stuck before the client is disconnected:
    /// the soft seconds when `pending` (less [`UNCOUNTED_OUTPUT`]) passes the soft limit, else
    /// no bound.
    #[inline]
    pub fn output_patience(&self, pending: usize) -> Option<Duration> {
        let soft = self.normal_soft.load(Ordering::Relaxed);
        let seconds = self.normal_soft_seconds.load(Ordering::Relaxed);
        (soft != 0 && counted_output(pending) > soft).then(|| Duration::from_secs(seconds))
    }

    /// Whether `unparsed` bytes received since the last complete request pass the query
    /// buffer limit (the client is then closed, as in Redis).
    #[inline]
    pub fn query_over_limit(&self, unparsed: usize) -> bool {
        unparsed as u64 > self.query_buffer.load(Ordering::Relaxed)
    }

    /// Sets TCP keepalive on an accepted socket (`tcp-keepalive` seconds; 0 leaves it off),
    /// probing every third of that time after the first, as Redis does.
    pub fn set_keepalive(&self, socket: &tokio::net::TcpStream) {
        let seconds = self.tcp_keepalive.load(Ordering::Relaxed);
        if seconds == 0 {
            return;
        }
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(seconds))
            .with_interval(Duration::from_secs((seconds / 3).max(1)));
        if let Err(error) = socket2::SockRef::from(socket).set_tcp_keepalive(&keepalive) {
            tracing::debug!(%error, "cannot set TCP keepalive");
        }
    }

    /// The keepalive time currently set, in seconds.
    pub fn tcp_keepalive(&self) -> u64 {
        self.tcp_keepalive.load(Ordering::Relaxed)
    }
}

/// Descriptors kept for the server itself (listeners, the runtime's, logs) beyond one per
/// client, as Redis keeps (`CONFIG_MIN_RESERVED_FDS`).
pub const RESERVED_FDS: u64 = 32;

/// What [`fit_maxclients_to_open_files`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenFiles {
    /// The soft limit already allowed `maxclients` + [`RESERVED_FDS`].
    Enough,
    /// The soft limit was raised from `from` to `to`.
    Raised { from: u64, to: u64 },
    /// The hard limit allows only `limit` descriptors: `maxclients` was lowered to `maxclients`.
    LoweredMaxclients { limit: u64, maxclients: usize },
}

/// Makes `maxclients` clients possible, as Redis does at start: when the open-file soft limit
/// is below `maxclients` + [`RESERVED_FDS`], raises it (up to the hard limit), and when even
/// the hard limit is too low, lowers `maxclients` to fit. Otherwise clients past the limit
/// would wait unanswered in the listen queue while `accept` fails, instead of being told
/// `max number of clients reached`. Logs what it changed. Fails when the limit leaves no room
/// for a single client.
pub fn fit_maxclients_to_open_files(config: &mut Config) -> Result<OpenFiles, String> {
    let wanted = config.maxclients as u64 + RESERVED_FDS;
    let Some((soft, hard)) = open_file_limits() else {
        return Ok(OpenFiles::Enough);
    };
    if soft >= wanted {
        return Ok(OpenFiles::Enough);
    }
    let target = wanted.min(hard);
    let limit = if target > soft && set_open_file_limit(target, hard) {
        target
    } else {
        soft
    };
    if limit >= wanted {
        tracing::info!(
            "increased the maximum number of open files to {limit} (it was {soft}) for \
             maxclients {}",
            config.maxclients
        );
        return Ok(OpenFiles::Raised {
            from: soft,
            to: limit,
        });
    }
    if limit <= RESERVED_FDS {
        return Err(format!(
            "the open-file limit ('ulimit -n') of {limit} is not enough to start: at least {} \
             is needed",
            RESERVED_FDS + 1
        ));
    }
    let maxclients = (limit - RESERVED_FDS) as usize;
    tracing::warn!(
        "maxclients {} needs {wanted} open files but the limit is {limit}: maxclients lowered \
         to {maxclients}; raise 'ulimit -n' for more clients",
        config.maxclients
    );
    config.maxclients = maxclients;
    Ok(OpenFiles::LoweredMaxclients { limit, maxclients })
}

/// The open-file limit (soft, hard), where the system has one.
#[cfg(unix)]
fn open_file_limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a pointer to a live local.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    // `rlim_t` is `u64` on Linux, but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    (status == 0).then_some((limit.rlim_cur as u64, limit.rlim_max as u64))
}

#[cfg(not(unix))]
fn open_file_limits() -> Option<(u64, u64)> {
    None
}

/// Sets the open-file soft limit to `soft` (the hard one stays `hard`); false when refused.
#[cfg(unix)]
fn set_open_file_limit(soft: u64, hard: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads one `rlimit` through a pointer to a live local.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
}

#[cfg(not(unix))]
fn set_open_file_limit(_soft: u64, _hard: u64) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_limits_read_and_written_like_redis() {
        let mut limits = OutputBufferLimits::default();
        assert_eq!(
            limits.to_string(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        limits.update("normal 1mb 2kb 3").unwrap();
        assert_eq!(
            limits.to_string(),
            "normal 1048576 2048 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(
            limits.update("normal 1 2"),
            Err("Wrong number of arguments in buffer limit configuration.".into())
        );
        assert_eq!(
            limits.update("foo 1 2 3"),
            Err("Invalid client class specified in buffer limit configuration.".into())
        );
        assert!(limits.update("normal x 2 3").is_err());
        assert!(limits.update("pubsub 1 2 3 normal 1 2 x").is_err());
        assert_eq!(limits.pubsub.hard, 32 << 20, "all or nothing");
    }

    #[test]
    fn output_limits_do_not_count_the_first_16_kib() {
        let mut config = Config::default();
        config
            .client_output_buffer_limit
            .update("normal 1 1 5")
            .unwrap();
        let limits = ClientLimits::default();
        limits.apply(&config, &PubSub::default());
        assert!(!limits.output_over_hard(UNCOUNTED_OUTPUT));
        assert!(!limits.output_over_hard(UNCOUNTED_OUTPUT + 1));
        assert!(limits.output_over_hard(UNCOUNTED_OUTPUT + 2));
        assert_eq!(limits.output_patience(UNCOUNTED_OUTPUT + 1), None);
        assert_eq!(
            limits.output_patience(UNCOUNTED_OUTPUT + 2),
            Some(Duration::from_secs(5))
        );
    }
}
