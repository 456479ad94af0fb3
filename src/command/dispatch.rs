//! The one pipeline every command passes, whoever runs it: a client's request, a command
//! queued by `MULTI` and run by `EXEC`, or a script's `redis.call`/`redis.pcall`.
//!
//! In order: lookup (with the subcommand) → arity → authentication → the caller's
//! "not allowed here" refusals (`noscript` in scripts, `no_multi` inside `MULTI`) → the ACL
//! (command or subcommand rule, key patterns on every key the key specs find, channel patterns)
//! → writes in read-only scripts → `denyoom` against `maxmemory` → subscribed mode → `BUSY`
//! → (`MULTI` queueing) → key locking → the handler. The callers differ only by a [`Caller`],
//! which picks the refusals that apply and the words of the errors, as Redis 7.0 words them
//! for each. Nothing here allocates for an accepted command.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::spec::{self, flags, internal, CommandSpec, Handler, KeySearch, KeySpec};
use super::{pubsub, transactions, Ctx, Outcome};
use crate::acl::Denial;
use crate::client::Client;
use crate::db::ShardGuards;
use crate::errors::{self, Error};
use crate::protocol::Reply;
use crate::script::RunningScript;
use crate::server::Shared;

/// Who runs a command.
#[derive(Clone, Copy)]
pub enum Caller<'s> {
    /// A client's request, from its connection.
    Client,
    /// A command queued by `MULTI`, run by `EXEC`.
    Exec,
    /// `redis.call`/`redis.pcall` from a script.
    Script {
        /// `EVAL_RO`/`EVALSHA_RO`: writes (and `PUBLISH`) are refused.
        read_only: bool,
        /// The script's `allow-oom` flag: `maxmemory` refuses none of its commands.
        allow_oom: bool,
        /// Where a write is noted, so that `SCRIPT KILL` refuses to stop a script that wrote.
        running: Option<&'s RunningScript>,
        /// Whether the script has run a write command: from then on `maxmemory` no longer
        /// refuses its writes (as in Redis, so a script is not cut off half way).
        wrote: &'s Cell<bool>,
    },
}

const SCRIPT_UNKNOWN: Error = Error::fixed("ERR Unknown Redis command called from script");
const SCRIPT_ARITY: Error =
    Error::fixed("ERR Wrong number of args calling Redis command from script");
const SCRIPT_NOSCRIPT: Error = Error::fixed("ERR This Redis command is not allowed from script");
const SCRIPT_READ_ONLY: Error =
    Error::fixed("ERR Write commands are not allowed from read-only scripts.");
const NOT_IN_MULTI: Error = Error::fixed("ERR Command not allowed inside a transaction");

/// Runs one request from a connection: admits it, queues it inside `MULTI`, locks its keys,
/// runs it. Errors become error replies; nothing here panics on client input.
pub fn execute(shared: &Arc<Shared>, client: &mut Client, args: &[Bytes]) -> Outcome {
    let spec = match admit(shared, client, Caller::Client, args) {
        Ok(spec) => spec,
        Err(error) => {
            transactions::note_error(client);
            return Outcome::Reply(error.into());
        }
    };
    if transactions::queues(client, spec) {
        return Outcome::Reply(transactions::queue(client, args));
    }
    client.note_command(spec.name);
    let mut guards = ShardGuards::new(&shared.keyspace);
    if let Err(error) = lock_keys(&mut guards, client.db, spec, args) {
        return Outcome::Reply(error.into());
    }
    let now = if client.replaying {
        crate::persist::load::REPLAY_NOW
    } else {
        shared.keyspace.now()
    };
    let mut ctx = Ctx {
        shared,
        client,
        guards: &mut guards,
        now,
        in_script: false,
        effects: Vec::new(),
    };
    let outcome = run(&mut ctx, spec, args);
    if !ctx.effects.is_empty() {
        // Appended with the shards still held, so the log keeps the order of changes.
        ctx.client.aof_target = shared.aof.append(&ctx.effects);
    }
    outcome
}

/// Runs a command inside `EXEC` or a script, with the caller's `Ctx` (its `ShardGuards` already
/// hold the transaction's or the script's shards). A blocking command replies at once, as if
/// its timeout had passed.
pub fn execute_nested(ctx: &mut Ctx, caller: Caller, args: &[Bytes]) -> Reply {
    let spec = match admit(ctx.shared, ctx.client, caller, args) {
        Ok(spec) => spec,
        Err(error) => return error.into(),
    };
    if let Caller::Script { running, wrote, .. } = caller {
        if spec.has(flags::WRITE) {
            wrote.set(true);
            if let Some(running) = running {
                running.wrote.store(true, Ordering::Release);
            }
        }
    }
    if let Caller::Exec = caller {
        ctx.client.note_command(spec.name);
    }
    if let Err(error) = lock_keys(ctx.guards, ctx.client.db, spec, args) {
        return error.into();
    }
    match run(ctx, spec, args) {
        Outcome::Reply(reply) => reply,
        Outcome::Block(_) => Reply::NilArray,
    }
}

/// Every check before a command runs, in Redis's order, with the caller's refusals and
/// words. The ACL check is one atomic load for an unrestricted user; the memory check one
/// load when `maxmemory` is 0.
pub fn admit(
    shared: &Shared,
    client: &Client,
    caller: Caller,
    args: &[Bytes],
) -> Result<&'static CommandSpec, Error> {
    let script = matches!(caller, Caller::Script { .. });
    let spec = match spec::resolve(args) {
        Ok(spec) => spec,
        Err(_) if script => return Err(SCRIPT_UNKNOWN),
        Err(None) => return Err(errors::unknown_command(args)),
        Err(Some(container)) => return Err(errors::unknown_subcommand(container.name, &args[1])),
    };
    if !spec.arity_ok(args.len()) {
        return Err(if script {
            SCRIPT_ARITY
        } else {
            errors::wrong_arity(spec.name)
        });
    }
    // Before authentication, as in Redis: a refused client learns nothing more.
    if spec.has_internal(internal::PROTECTED) && !client.may_debug {
        return Err(errors::DEBUG_NOT_ALLOWED);
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        return Err(errors::NOAUTH);
    }
    if script && spec.has(flags::NOSCRIPT) {
        return Err(SCRIPT_NOSCRIPT);
    }
    if let Err(denial) = client.user.check(spec, args) {
        return Err(denied(caller, spec, denial));
    }
    match caller {
        Caller::Client => {
            if client.multi.is_some() && spec.has(flags::NO_MULTI) {
                return Err(NOT_IN_MULTI);
            }
        }
        Caller::Script { read_only, .. } => {
            if read_only && spec.has(flags::WRITE | flags::MAY_REPLICATE) {
                return Err(SCRIPT_READ_ONLY);
            }
        }
        Caller::Exec => {}
    }
    // As in Redis: inside `MULTI` every queued command counts (queueing takes memory); `EXEC`
    // checks the transaction as a whole before it runs; a script that has written goes on.
    let memory_checked = match caller {
        Caller::Client => {
            spec.has(flags::DENYOOM)
                || (client.multi.is_some() && !spec.has_internal(internal::IMMEDIATE))
        }
        Caller::Exec => false,
        Caller::Script {
            wrote, allow_oom, ..
        } => !allow_oom && !wrote.get() && spec.has(flags::DENYOOM),
    };
    if memory_checked && shared.limits.maxmemory.exceeded() {
        return Err(errors::OOM);
    }
    if let Caller::Client = caller {
        pubsub::check_subscribed_mode(client, spec)?;
        if !spec.has(flags::ALLOW_BUSY) && shared.keyspace.script_busy() {
            return Err(errors::BUSY);
        }
    }
    Ok(spec)
}

/// A refusal by the ACL, worded for the caller as Redis 7.0 words it.
#[cold]
fn denied(caller: Caller, spec: &CommandSpec, denial: Denial) -> Error {
    match (caller, denial) {
        (Caller::Client, Denial::Command) => Error(
            format!(
                "NOPERM this user has no permissions to run the '{}' command",
                spec.name
            )
            .into(),
        ),
        (Caller::Client, Denial::Key(_)) => Error::fixed(
            "NOPERM this user has no permissions to access one of the keys used as arguments",
        ),
        (Caller::Client, Denial::Channel(_)) => Error::fixed(
            "NOPERM this user has no permissions to access one of the channels used as arguments",
        ),
        (Caller::Script { .. }, Denial::Command) => Error::fixed(
            "ERR The user executing the script can't run this command or subcommand",
        ),
        (Caller::Script { .. }, Denial::Key(_)) => Error::fixed(
            "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
        ),
        (Caller::Script { .. }, Denial::Channel(_)) => Error::fixed(
            "ERR The user executing the script can't publish to the channel mentioned in the command",
        ),
        (Caller::Exec, denial) => {
            let reason = match denial {
                Denial::Command => "no permission to execute the command or subcommand",
                Denial::Key(_) => "no permission to touch the specified keys",
                Denial::Channel(_) => {
                    "no permission to access one of the channels used as arguments"
                }
            };
            Error(
                format!(
                    "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"
                )
                .into(),
            )
        }
    }
}

/// Locks the shards of every key the key specs find, in ascending order, through `guards`.
pub fn lock_keys(
    guards: &mut ShardGuards,
    db: usize,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Result<(), Error> {
    match spec.key_specs {
        [] => Ok(()),
        // One key (most commands): its shard, without sorting.
        [KeySpec {
            search: KeySearch::Range { index, last: 0, .. },
            ..
        }] => match args.get(*index as usize) {
            Some(key) => guards.shard(db, key).map(|_| ()),
            None => Ok(()),
        },
        _ => guards.lock_keys(db, spec.key_positions(args).map(|i| &args[i][..])),
    }
}

/// Runs the handler: the one place every command passes, whoever sends it (a client, `EXEC`,
/// a script). A write command is refused while the append-only file cannot be written
/// (`MISCONF`) and, during the restart grace, when it would grant a lock (`LOADING`); one that
/// changed the keyspace is recorded for the append-only file.
fn run(ctx: &mut Ctx, spec: &'static CommandSpec, args: &[Bytes]) -> Outcome {
    let write = spec.has(flags::WRITE) || ctx.shared.grace.covers(spec);
    if write {
        if let Some(refusal) = refusal(ctx, spec, args) {
            return Outcome::Reply(refusal.into());
        }
    }
    let journal = spec.has(flags::WRITE) && ctx.shared.aof.is_on() && !ctx.client.replaying;
    let before = journal.then(|| (ctx.guards.changes(), ctx.guards.expired_marks()));
    let result = match spec.handler {
        Handler::Sync(handler) => handler(ctx, args).map(Outcome::Reply),
        Handler::Blocking(handler) => handler(ctx, args),
    };
    let outcome = result.unwrap_or_else(|error| Outcome::Reply(error.into()));
    if let Some((changes, expired)) = before {
        if ctx.guards.changes() != changes {
            if let Outcome::Reply(reply) = &outcome {
                crate::persist::propagate::record(ctx, spec, args, reply, &expired);
            }
        }
    }
    outcome
}

/// Why a write command may not run now: the append-only file fails to write, or the restart
/// grace keeps locks from being granted.
fn refusal(ctx: &Ctx, spec: &CommandSpec, args: &[Bytes]) -> Option<Error> {
    if ctx.client.replaying {
        return None;
    }
    if spec.has(flags::WRITE) {
        if let Some(refusal) = ctx.shared.aof.refusal() {
            return Some(refusal);
        }
    }
    ctx.shared
        .grace
        .refuses(spec, args, ctx.now)
        .then_some(errors::LOADING)
}
