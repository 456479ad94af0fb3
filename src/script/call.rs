//! `redis.call` and `redis.pcall`: how a script runs a command, for both engines (Lua and the
//! native fast paths), with Redis's checks and error texts, and how a script's error becomes
//! the error reply its client sees.

use std::cell::Cell;

use bytes::Bytes;

use super::RunningScript;
use crate::command::{self, Caller, Ctx};
use crate::errors::Error;
use crate::protocol::Reply;

/// A script's access to the command table: the command's `Ctx` (its `ShardGuards` hold the
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
    wrote: Cell<bool>,
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
            wrote: Cell::new(false),
        }
    }

    /// Runs one command (`args[0]` is its name, any case) as `redis.call` does: through the
    /// one dispatch, as [`Caller::Script`], so the user's ACL rules (on every key the command
    /// names, declared in `KEYS` or not), `noscript`, read-only and `maxmemory` refusals apply
    /// with Redis's script wording. A failure is returned as an error reply; `redis.call`
    /// raises it, `redis.pcall` returns it.
    pub fn call(&mut self, args: &[Bytes]) -> Reply {
        if args.is_empty() {
            return Reply::error(
                "ERR Please specify at least one argument for this redis lib call",
            );
        }
        let caller = Caller::Script {
            read_only: self.read_only,
            allow_oom: self.allow_oom,
            running: self.running,
            wrote: &self.wrote,
        };
        // Handlers shape their replies by the client's protocol (`ZRANGE … WITHSCORES` as
        // pairs or flat): for the length of the call, that is the script's protocol.
        let caller_resp3 = std::mem::replace(&mut self.ctx.client.resp3, self.resp3);
        let reply = command::execute_nested(self.ctx, caller, args);
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
