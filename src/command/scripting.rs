//! Scripting commands: `EVAL`, `EVALSHA`, `EVAL_RO`, `EVALSHA_RO` and `SCRIPT LOAD|EXISTS|
//! FLUSH|KILL|HELP`. The engine (cache, Lua, native lock scripts, limits) is in
//! [`crate::script`]; these handlers parse arguments and look scripts up.
//!
//! The key spec is "a key count at argument 2" (Redis's `keynum`): the dispatcher checks the
//! declared keys against the user's ACL key patterns and locks their shards, and
//! [`script::run`] keeps them (or locks every shard, for a script that declares none).

use bytes::Bytes;

use super::{args, Ctx};
use crate::errors::{self, CommandResult};
use crate::protocol::Reply;
use crate::script::{self, Invocation};

/// Where the script comes from: its text (`EVAL`) or its digest (`EVALSHA`).
#[derive(Clone, Copy)]
enum Source {
    Text,
    Digest,
}

pub(super) fn eval(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, Source::Text, false)
}

pub(super) fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, Source::Digest, false)
}

pub(super) fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, Source::Text, true)
}

pub(super) fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, Source::Digest, true)
}

/// `<script|sha> numkeys key… arg…`: splits the keys from the arguments, finds the script,
/// runs it.
fn eval_generic(ctx: &mut Ctx, args: &[Bytes], source: Source, read_only: bool) -> CommandResult {
    let numkeys = args::int(&args[2])?;
    let available = (args.len() - 3) as i64;
    if numkeys > available {
        return Err(errors::NUMKEYS_TOO_BIG);
    }
    if numkeys < 0 {
        return Err(errors::NUMKEYS_NEGATIVE);
    }
    let (keys, argv) = args[3..].split_at(numkeys as usize);
    let scripts = &ctx.shared.scripts;
    let (sha, body) = match source {
        Source::Text => {
            let body = args[1].clone();
            let sha = script::sha1(&body);
            if !scripts.exists(&sha) {
                script::compile(&sha, &body)?;
                scripts.insert(sha, body.clone(), false);
            }
            (sha, body)
        }
        Source::Digest => {
            let sha = script::parse_sha(&args[1]).ok_or(errors::NOSCRIPT)?;
            let body = scripts.get(&sha).ok_or(errors::NOSCRIPT)?;
            (sha, body)
        }
    };
    let invocation = Invocation {
        sha,
        body: &body,
        keys,
        argv,
        read_only,
        allow_oom: false,
    };
    script::run(ctx, &invocation)
}

pub(super) fn script_command(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = args::upper(&args[1]);
    if sub != "KILL" && ctx.shared.keyspace.script_busy() {
        return Err(errors::BUSY);
    }
    let arity_ok = match sub.as_str() {
        "LOAD" => args.len() == 3,
        "EXISTS" => args.len() >= 3,
        "FLUSH" => args.len() <= 3,
        "KILL" | "HELP" => args.len() == 2,
        _ => return Err(errors::unknown_subcommand("script", &args[1])),
    };
    if !arity_ok {
        return Err(errors::wrong_arity(&format!(
            "script|{}",
            sub.to_ascii_lowercase()
        )));
    }
    let scripts = &ctx.shared.scripts;
    match sub.as_str() {
        "LOAD" => {
            let body = args[2].clone();
            let sha = script::sha1(&body);
            if !scripts.exists(&sha) {
                script::compile(&sha, &body)?;
            }
            scripts.insert(sha, body, true);
            Ok(Reply::bulk(script::sha_hex(&sha)))
        }
        "EXISTS" => Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|arg| {
                    let known = script::parse_sha(arg).is_some_and(|sha| scripts.exists(&sha));
                    Reply::Integer(known as i64)
                })
                .collect(),
        )),
        "FLUSH" => {
            if let Some(mode) = args.get(2) {
                if !args::is(mode, "ASYNC") && !args::is(mode, "SYNC") {
                    return Err(errors::Error::fixed(
                        "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
                    ));
                }
            }
            scripts.flush();
            Ok(Reply::OK)
        }
        "KILL" => scripts.kill().map(|()| Reply::OK),
        _ => Ok(help()),
    }
}

fn help() -> Reply {
    const LINES: &[&str] = &[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::simple(line)).collect())
}
