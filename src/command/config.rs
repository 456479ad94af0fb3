//! `CONFIG GET|SET|RESETSTAT|REWRITE|HELP`: latchkey's settings under Redis's parameter names.
//!
//! One table lists every parameter with how to read it and, for the runtime-changeable ones,
//! how to change it. `CONFIG SET` with several pairs is atomic as in Redis: every value is
//! parsed and checked against a copy of the settings first, and only if all are valid is the
//! copy stored and its side effects (the expiry task's `hz`) applied.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::connection::subcommand;
use super::keys::help_reply;
use super::Ctx;
use crate::config::{normalize_keyspace_events, Config};
use crate::db::ShardGuards;
use crate::errors::{self, CommandResult, Error};
use crate::glob;
use crate::protocol::Reply;
use crate::server::Shared;

const HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

/// Reads a parameter's current value.
type Getter = fn(&Config, &Shared) -> String;
/// Checks a new value and stores it in (a copy of) the settings; the error is the part of
/// Redis's message after `- `.
type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// One configuration parameter. `set: None` is immutable at runtime.
struct Param {
    name: &'static str,
    get: Getter,
    set: Option<Setter>,
}

const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Every parameter, alphabetically (the order `CONFIG GET *` lists them in).
const PARAMS: &[Param] = &[
    Param {
        name: "appenddirname",
        get: |config, _| config.appenddirname.clone(),
        set: None,
    },
    Param {
        name: "appendfilename",
        get: |config, _| config.appendfilename.clone(),
        set: None,
    },
    Param {
        name: "appendfsync",
        get: |config, _| config.appendfsync.clone(),
        set: Some(|config, value| {
            config.appendfsync = crate::config::appendfsync(value)?;
            Ok(())
        }),
    },
    Param {
        name: "appendonly",
        get: |config, _| yes_no_text(config.appendonly),
        set: Some(|config, value| {
            config.appendonly = crate::config::yes_no(value)?;
            Ok(())
        }),
    },
    Param {
        name: "auto-aof-rewrite-min-size",
        get: |config, _| config.auto_aof_rewrite_min_size.to_string(),
        set: Some(|config, value| {
            config.auto_aof_rewrite_min_size = memory(value, 0, i64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "auto-aof-rewrite-percentage",
        get: |config, _| config.auto_aof_rewrite_percentage.to_string(),
        set: Some(|config, value| {
            config.auto_aof_rewrite_percentage = integer(value, 0, i32::MAX as i64)?;
            Ok(())
        }),
    },
    Param {
        name: "bind",
        get: |config, _| config.bind.clone(),
        set: None,
    },
    Param {
        name: "busy-reply-threshold",
        get: |config, _| config.lua_time_limit.to_string(),
        set: Some(|config, value| {
            config.lua_time_limit = integer(value, 0, i64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "client-output-buffer-limit",
        get: |config, _| config.client_output_buffer_limit.to_string(),
        set: Some(|config, value| config.client_output_buffer_limit.update(value)),
    },
    Param {
        name: "client-query-buffer-limit",
        get: |config, _| config.client_query_buffer_limit.to_string(),
        set: Some(|config, value| {
            config.client_query_buffer_limit = memory(value, 1024 * 1024, i64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "cluster-enabled",
        get: |_, _| "no".into(),
        set: None,
    },
    Param {
        name: "databases",
        get: |config, _| config.databases.to_string(),
        set: None,
    },
    Param {
        name: "dbfilename",
        get: |_, _| "dump.rdb".into(),
        set: None,
    },
    Param {
        name: "dir",
        get: |config, _| {
            std::fs::canonicalize(&config.dir)
                .unwrap_or_else(|_| config.dir.clone())
                .display()
                .to_string()
        },
        set: None,
    },
    Param {
        name: "enable-debug-command",
        get: |config, _| config.enable_debug_command.as_str().into(),
        set: None,
    },
    Param {
        name: "hz",
        get: |config, _| config.hz.to_string(),
        set: Some(|config, value| {
            // Redis accepts any non-negative int and clamps it to 1..=500.
            config.hz = integer(value, 0, i64::from(i32::MAX))?.clamp(1, 500) as u32;
            Ok(())
        }),
    },
    Param {
        name: "io-threads",
        get: |_, _| "1".into(),
        set: None,
    },
    Param {
        name: "loglevel",
        get: |config, _| {
            match config.log_level.as_str() {
                "trace" | "debug" => "debug",
                "info" => "verbose",
                "error" | "warn" => "warning",
                _ => "notice",
            }
            .into()
        },
        set: None,
    },
    Param {
        name: "lua-time-limit",
        get: |config, _| config.lua_time_limit.to_string(),
        set: Some(|config, value| {
            config.lua_time_limit = integer(value, 0, i64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "maxclients",
        get: |config, _| config.maxclients.to_string(),
        set: Some(|config, value| {
            config.maxclients = integer(value, 1, i64::from(u32::MAX))? as usize;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory",
        get: |config, _| config.maxmemory.to_string(),
        set: Some(|config, value| {
            config.maxmemory = memory(value, 0, i64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-clients",
        get: |_, _| "0".into(),
        set: None,
    },
    Param {
        name: "maxmemory-policy",
        get: |_, _| "noeviction".into(),
        set: Some(|_, value| {
            if !MAXMEMORY_POLICIES
                .iter()
                .any(|p| p.eq_ignore_ascii_case(value))
            {
                return Err(format!(
                    "argument(s) must be one of the following: {}",
                    MAXMEMORY_POLICIES.join(", ")
                ));
            }
            if !value.eq_ignore_ascii_case("noeviction") {
                return Err("latchkey never evicts keys: only noeviction is supported".into());
            }
            Ok(())
        }),
    },
    Param {
        name: "notify-keyspace-events",
        get: |config, _| config.notify_keyspace_events.clone(),
        set: Some(|config, value| {
            config.notify_keyspace_events = normalize_keyspace_events(value)?;
            Ok(())
        }),
    },
    Param {
        name: "port",
        get: |_, shared| shared.port.to_string(),
        set: None,
    },
    Param {
        name: "protected-mode",
        get: |config, _| yes_no_text(config.protected_mode),
        set: Some(|config, value| {
            config.protected_mode = crate::config::yes_no(value)?;
            Ok(())
        }),
    },
    Param {
        name: "proto-max-bulk-len",
        get: |config, _| config.proto_max_bulk_len.to_string(),
        set: Some(|config, value| {
            config.proto_max_bulk_len = memory(value, 1024 * 1024, i64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "requirepass",
        get: |config, _| config.requirepass.clone().unwrap_or_default(),
        set: Some(|config, value| {
            config.requirepass = Some(value.to_string()).filter(|p| !p.is_empty());
            Ok(())
        }),
    },
    Param {
        name: "save",
        get: |_, _| String::new(),
        set: Some(|_, value| no_persistence(value, &[""], "")),
    },
    Param {
        name: "tcp-keepalive",
        get: |config, _| config.tcp_keepalive.to_string(),
        set: Some(|config, value| {
            config.tcp_keepalive = integer(value, 0, i64::from(i32::MAX))?;
            Ok(())
        }),
    },
    Param {
        name: "timeout",
        get: |config, _| config.timeout.to_string(),
        set: Some(|config, value| {
            config.timeout = integer(value, 0, i64::from(i32::MAX))?;
            Ok(())
        }),
    },
];

/// `save` takes only the value that means "no RDB snapshots".
fn no_persistence(value: &str, accepted: &[&str], invalid: &str) -> Result<(), String> {
    if accepted.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        return Ok(());
    }
    if !invalid.is_empty() && !value.eq_ignore_ascii_case("yes") {
        return Err(invalid.to_string());
    }
    Err("latchkey writes no RDB snapshots; use appendonly yes".into())
}

fn integer(value: &str, min: i64, max: i64) -> Result<u64, String> {
    let n = super::args::parse_i64(value.as_bytes())
        .ok_or("argument couldn't be parsed into an integer")?;
    check_range(n, min, max)
}

fn check_range(n: i64, min: i64, max: i64) -> Result<u64, String> {
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n as u64)
}

/// A memory amount as Redis reads one: digits with an optional unit (`b`, `k`, `kb`, `m`,
/// `mb`, `g`, `gb`, any case; `k` is 1000, `kb` 1024).
fn memory(value: &str, min: i64, max: i64) -> Result<u64, String> {
    const NOT_MEMORY: &str = "argument must be a memory value";
    let lower = value.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(lower.len());
    let multiplier: i64 = match &lower[digits_end..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(NOT_MEMORY.into()),
    };
    let n = super::args::parse_i64(&lower.as_bytes()[..digits_end]).ok_or(NOT_MEMORY)?;
    check_range(n.checked_mul(multiplier).ok_or(NOT_MEMORY)?, min, max)
}

pub(super) fn config(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    match subcommand("config", args)? {
        "get" => Ok(config_get(ctx.shared, &args[2..])),
        "set" => config_set(ctx.shared, &args[2..]),
        "resetstat" => {
            reset_stats(ctx.shared, ctx.guards);
            Ok(Reply::OK)
        }
        "rewrite" => Err(Error::fixed(
            "ERR The server is running without a config file",
        )),
        _ => Ok(help_reply(HELP)),
    }
}

/// `CONFIG GET pattern…`: each parameter matching any pattern, once; a map in RESP3.
fn config_get(shared: &Arc<Shared>, patterns: &[Bytes]) -> Reply {
    let config = shared.config.read().clone();
    Reply::Map(
        PARAMS
            .iter()
            .filter(|param| {
                patterns
                    .iter()
                    .any(|p| glob::matches_nocase(p, param.name.as_bytes()))
            })
            .map(|param| {
                (
                    Reply::bulk(param.name),
                    Reply::bulk((param.get)(&config, shared)),
                )
            })
            .collect(),
    )
}

/// `CONFIG SET name value [name value …]`: all or nothing.
fn config_set(shared: &Arc<Shared>, pairs: &[Bytes]) -> CommandResult {
    if !pairs.len().is_multiple_of(2) {
        return Err(errors::SYNTAX);
    }
    let mut updated = shared.config.read().clone();
    let mut seen: Vec<&str> = Vec::new();
    for pair in pairs.chunks(2) {
        let param = PARAMS
            .iter()
            .find(|p| p.name.as_bytes().eq_ignore_ascii_case(&pair[0]))
            .ok_or_else(|| {
                Error::err(format_args!(
                    "Unknown option or number of arguments for CONFIG SET - '{}'",
                    errors::printable(&pair[0], 128)
                ))
            })?;
        let failed = |reason: &str| {
            Error::err(format_args!(
                "CONFIG SET failed (possibly related to argument '{}') - {reason}",
                param.name
            ))
        };
        if seen.contains(&param.name) {
            return Err(failed("duplicate parameter"));
        }
        seen.push(param.name);
        let Some(set) = param.set else {
            return Err(failed("can't set immutable config"));
        };
        let value = String::from_utf8_lossy(&pair[1]);
        set(&mut updated, &value).map_err(|reason| failed(&reason))?;
    }
    apply_persistence(shared, &mut updated)?;
    shared.expiry.hz.store(updated.hz, Ordering::Relaxed);
    shared
        .notify
        .set(crate::notify::parse_flags(updated.notify_keyspace_events.as_bytes()).unwrap_or(0));
    let password_changed = shared.config.read().requirepass != updated.requirepass;
    if password_changed {
        // `requirepass` is the default user's password, as in Redis.
        shared
            .acl
            .set_default_password(updated.requirepass.as_deref());
    }
    shared.limits.apply(&updated, &shared.pubsub);
    *shared.config.write() = updated;
    Ok(Reply::OK)
}

/// Applies the append-only file's settings: `appendonly yes` writes a base file from the
/// keyspace and starts logging (the setting stays `no` if that fails), `no` stops.
fn apply_persistence(shared: &Arc<Shared>, updated: &mut crate::Config) -> Result<(), Error> {
    let aof = &shared.aof;
    if let Ok(policy) = crate::persist::Fsync::parse(&updated.appendfsync) {
        aof.set_fsync(policy);
    }
    aof.auto_rewrite_percentage
        .store(updated.auto_aof_rewrite_percentage, Ordering::Relaxed);
    aof.auto_rewrite_min_size
        .store(updated.auto_aof_rewrite_min_size, Ordering::Relaxed);
    match (updated.appendonly, aof.is_on()) {
        (true, false) => aof.enable(shared).map_err(|error| {
            updated.appendonly = false;
            Error::err(format_args!(
                "CONFIG SET failed (possibly related to argument 'appendonly') - {error}"
            ))
        }),
        (false, true) => {
            aof.disable();
            Ok(())
        }
        _ => Ok(()),
    }
}

fn yes_no_text(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

/// `CONFIG RESETSTAT`: zeroes the counters `INFO stats` reports.
/// The shards are taken through the command's `ShardGuards` (inside `EXEC` some are already held
/// by this command).
pub fn reset_stats(shared: &Shared, guards: &mut ShardGuards) {
    let stats = &shared.stats;
    for counter in [
        &stats.connections_received,
        &stats.commands_processed,
        &stats.rejected_connections,
    ] {
        counter.store(0, Ordering::Relaxed);
    }
    for index in 0..shared.keyspace.shard_count() {
        if let Ok(shard) = guards.shard_at(index) {
            shard.expired_count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_like_redis() {
        assert_eq!(memory("2mb", 0, i64::MAX), Ok(2 * 1024 * 1024));
        assert_eq!(memory("1GB", 0, i64::MAX), Ok(1 << 30));
        assert_eq!(memory("5k", 0, i64::MAX), Ok(5000));
        assert_eq!(memory("100", 0, i64::MAX), Ok(100));
        assert!(memory("1xb", 0, i64::MAX).is_err());
        assert!(memory("10", 1024 * 1024, i64::MAX)
            .unwrap_err()
            .starts_with("argument must be between 1048576"));
    }

    #[test]
    fn parameters_sorted_and_unique() {
        for pair in PARAMS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{}", pair[1].name);
        }
    }
}
