//! `DEBUG`: the test hooks Redis-style test suites drive — `SLEEP`, `SET-ACTIVE-EXPIRE`,
//! `OBJECT`, `RELOAD`, `LOADAOF` — latchkey's own `ADVANCE`, and `HELP`. Other Redis `DEBUG`
//! subcommands (`JMAP`, `SEGFAULT`, …) get the error Redis gives for a subcommand it does not
//! know.
//!
//! Who may run `DEBUG` at all is `enable-debug-command` (the `protected` bit of the command
//! table, checked by the dispatcher before authentication, as Redis does).
//!
//! `DEBUG ADVANCE ms` moves the server's clock forward ([`crate::db::Keyspace::advance_clock`]):
//! tests of expiry, lease hand-offs and timeouts run without sleeping, as with an in-process
//! [`crate::ManualClock`] but over the wire.
//!
//! `DEBUG SLEEP` delays only the calling client (Redis stalls the whole server): its reply
//! waits on a timer, holding no shard, so other clients keep working.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::args::is;
use super::keys::help_reply;
use super::{Ctx, Outcome};
use crate::errors::{self, Error};
use crate::protocol::Reply;

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADVANCE <milliseconds>",
    "    Move the server's clock forward: keys expire, lock waits and blocking",
    "    commands end as if the time had passed.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "OBJECT <key>",
    "    Show low level info about the `key` and associated value.",
    "RELOAD [option ...]",
    "    Save the keyspace as AOF commands, flush it and load it back.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

/// The largest `DEBUG ADVANCE` step (100 years), so that no deadline overflows.
const MAX_ADVANCE_MS: i64 = 100 * 365 * 86_400_000;

/// The longest `DEBUG SLEEP` honoured, so that no argument overflows a timer.
const MAX_SLEEP_SECS: f64 = 86_400.0 * 365.0;

pub(super) fn debug(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    let sub = &args[1];
    let reply = match args.len() {
        2 if is(sub, "HELP") => help_reply(HELP),
        3 if is(sub, "SLEEP") => return Ok(sleep(&args[2])),
        3 if is(sub, "ADVANCE") => {
            let ms = super::args::parse_i64(&args[2])
                .filter(|ms| (0..=MAX_ADVANCE_MS).contains(ms))
                .ok_or(errors::NOT_INTEGER)?;
            ctx.shared.keyspace.advance_clock(ms as u64);
            Reply::OK
        }
        3 if is(sub, "SET-ACTIVE-EXPIRE") => {
            let enabled = leading_int(&args[2]) != 0;
            ctx.shared.expiry.enabled.store(enabled, Ordering::Relaxed);
            Reply::OK
        }
        3 if is(sub, "OBJECT") => object(ctx, &args[2])?,
        _ if is(sub, "RELOAD") => {
            // Through the log's own format: the keyspace written out as commands and replayed.
            let snapshot = crate::persist::snapshot(ctx.shared).map_err(Error::err)?;
            crate::persist::reload_from(ctx.shared, &snapshot).map_err(Error::err)?;
            Reply::OK
        }
        2 if is(sub, "LOADAOF") => {
            crate::persist::reload_files(ctx.shared).map_err(Error::err)?;
            Reply::OK
        }
        _ => {
            return Err(Error::err(format_args!(
                "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                errors::printable(sub, 128)
            )))
        }
    };
    Ok(Outcome::Reply(reply))
}

/// `DEBUG SLEEP seconds`: reads the number as C's `strtod` would (garbage reads as 0).
fn sleep(arg: &[u8]) -> Outcome {
    let seconds = super::args::parse_f64(arg).unwrap_or(0.0);
    if seconds <= 0.0 {
        return Outcome::Reply(Reply::OK);
    }
    let delay = Duration::from_secs_f64(seconds.min(MAX_SLEEP_SECS));
    Outcome::Block(Box::pin(async move {
        tokio::time::sleep(delay).await;
        Reply::OK
    }))
}

/// An argument read as C's `atoi`: optional sign and leading digits, anything else ignored.
fn leading_int(arg: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end.min(18)].parse::<i64>().map_or(0, |n| sign * n)
}

/// `DEBUG OBJECT key`: Redis's one-line description of a value.
fn object(ctx: &mut Ctx, key: &[u8]) -> Result<Reply, Error> {
    let now = ctx.now;
    let lru_clock = (ctx.unix_ms() / 1000) & 0xFF_FFFF;
    let db = ctx.db();
    let shard = ctx.guards.shard(db, key)?;
    let entry = shard.get(key, now).ok_or(errors::NO_SUCH_KEY)?;
    let line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{lru_clock} lru_seconds_idle:0",
        entry as *const _,
        entry.value.encoding(),
        entry.value.heap_size() + 1,
    );
    Ok(Reply::Simple(line.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_c() {
        assert_eq!(leading_int(b"1"), 1);
        assert_eq!(leading_int(b"0"), 0);
        assert_eq!(leading_int(b"x"), 0);
        assert_eq!(leading_int(b"12abc"), 12);
        assert_eq!(leading_int(b"-3"), -3);
    }
}
