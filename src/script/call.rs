//! `redis.call` and `redis.pcall`: how a script runs a command, for both engines (Lua and the
//! native fast paths), with Redis's checks and error texts, and how a script's error becomes
//! the error reply its client sees.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::RunningScript;
use crate::command::{self, flags, Ctx};
use crate::errors::{self, Error};
use crate::protocol::Reply;

/// Commands that are not writes but that Redis propagates to replicas (its `may-replicate`
/// flag): read-only scripts may not run them.
const MAY_REPLICATE: &[&str] = &["publish", "spublish", "pfcount"];

/// A script's access to the command table: the command's `Ctx` (its `KeyLocks` hold the
/// script's shards) plus what the script was called with.
pub struct ScriptCall<'s, 'c, 'k> {
    pub ctx: &'s mut Ctx<'c, 'k>,
    /// Called by `EVAL_RO`/`EVALSHA_RO`: write commands are refused.
    pub read_only: bool,
    /// Where a write is recorded, so that `SCRIPT KILL` refuses to stop a script that wrote.
    running: Option<&'s RunningScript>,
    /// The protocol the script's commands reply in: RESP2 unless the script called
    /// `redis.setresp(3)`, whatever the calling client speaks (as in Redis, where scripts run
    /// on a client of their own).
    pub resp3: bool,
    /// The script's `allow-oom` flag: its commands pass even while memory is past `maxmemory`.
    pub allow_oom: bool,
    /// Whether the script has run a write command: after one, `maxmemory` no longer stops it
    /// half way (as Redis).
    wrote: bool,
}

impl<'s, 'c, 'k> ScriptCall<'s, 'c, 'k> {
    pub fn new(
        ctx: &'s mut Ctx<'c, 'k>,
        read_only: bool,
        running: Option<&'s RunningScript>,
    ) -> Self {
        ScriptCall {
            ctx,
            read_only,
            running,
            resp3: false,
            allow_oom: false,
            wrote: false,
        }
    }

    /// Runs one command (`args[0]` is its name, any case) as `redis.call` does. A failure is
    /// returned as an error reply with Redis's text; `redis.call` raises it, `redis.pcall`
    /// returns it.
    pub fn call(&mut self, args: &[Bytes]) -> Reply {
        let Some(name) = args.first() else {
            return Reply::error(
                "ERR Please specify at least one argument for this redis lib call",
            );
        };
        let Some(spec) = command::lookup(name) else {
            return Reply::error("ERR Unknown Redis command called from script");
        };
        if !spec.arity_ok(args.len()) {
            return Reply::error("ERR Wrong number of args calling Redis command from script");
        }
        if spec.has(flags::NOSCRIPT) {
            return Reply::error("ERR This Redis command is not allowed from script");
        }
        // As in Redis, commands that may replicate (`PUBLISH`) count as writes here.
        let writes = spec.has(flags::WRITE) || MAY_REPLICATE.contains(&spec.name);
        if writes && self.read_only {
            return Reply::error("ERR Write commands are not allowed from read-only scripts.");
        }
        let denied_oom = spec.has(flags::DENYOOM) && !self.allow_oom && !self.wrote;
        if denied_oom && self.ctx.shared.limits.maxmemory.exceeded() {
            return errors::OOM.into();
        }
        if spec.has(flags::WRITE) {
            self.wrote = true;
            if let Some(running) = self.running {
                running.wrote.store(true, Ordering::Release);
            }
        }
        // Handlers shape their replies by the client's protocol (`ZRANGE … WITHSCORES` as
        // pairs or flat): for the length of the call, that is the script's protocol.
        let caller_resp3 = std::mem::replace(&mut self.ctx.client.resp3, self.resp3);
        let reply = command::execute_spec(self.ctx, spec, args);
        self.ctx.client.resp3 = caller_resp3;
        reply
    }
}

/// The error a script's client gets when the script fails: the error text, then where it
/// happened, as Redis 7 words it (`ERR user_script:1: boom script: <sha>, on
/// @user_script:1.`).
pub fn script_error(text: &str, sha_hex: &str, line: Option<usize>) -> Error {
    script_error_at(text, sha_hex, line.map(|line| ("@user_script", line)))
}

/// [`script_error`] for an error raised in any chunk: `source` is the chunk's name as Lua
/// keeps it (`@user_script`, or the text given to `loadstring`).
pub fn script_error_at(text: &str, sha_hex: &str, location: Option<(&str, usize)>) -> Error {
    let text = one_line(text);
    match location {
        Some((source, line)) => {
            let source = one_line(source);
            Error(format!("{text} script: {sha_hex}, on {source}:{line}.").into())
        }
        None => Error(text.into()),
    }
}

/// The text of an error table built from an error line (`redis.error_reply`, a command's error
/// seen by `redis.pcall`), normalised as Redis does: a leading `-` is dropped, a line without
/// an error code (no space) gets `ERR `, trailing CR/LF are trimmed.
pub fn error_table_text(line: &str) -> String {
    let body = line.strip_prefix('-').unwrap_or(line);
    let text = match body.split_once(' ') {
        Some((code, message)) if line.starts_with('-') => format!("{code} {message}"),
        _ if line.starts_with('-') => format!("ERR {body}"),
        _ => format!("ERR {line}"),
    };
    text.trim_end_matches(['\r', '\n']).to_string()
}

/// An error or status line with CR and LF replaced by spaces: a reply line cannot hold them.
pub fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_tables_normalised_like_redis() {
        assert_eq!(error_table_text("-oops"), "ERR oops");
        assert_eq!(error_table_text("-MY oops"), "MY oops");
        assert_eq!(error_table_text("-"), "ERR ");
        assert_eq!(error_table_text("--X y"), "-X y");
        assert_eq!(error_table_text("oops"), "ERR oops");
        assert_eq!(
            error_table_text("-WRONGTYPE Operation against a key\r\n"),
            "WRONGTYPE Operation against a key"
        );
    }

    #[test]
    fn script_errors_name_the_script_and_line() {
        let error = script_error("ERR boom", "abc", Some(3));
        assert_eq!(error.0, "ERR boom script: abc, on @user_script:3.");
        assert_eq!(script_error("-x\ny", "abc", None).0, "-x y");
    }
}
