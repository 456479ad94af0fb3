//! How a command that changed the keyspace is logged, as Redis propagates it: most commands as
//! they were sent; those whose effect depends on the time or on chance as the state they left
//! (`SET key value PXAT t`, `PEXPIREAT`, `DEL`), so that replaying the log recreates the same
//! keyspace whenever it is replayed; `LOCK.*` as the lock they left, with its token, fencing
//! token, hold count and lease (`LOCK.RESTORE`).

use bytes::Bytes;

use super::deadline::ClockPair;
use super::encode;
use super::Effect;
use crate::command::{CommandSpec, Ctx};
use crate::protocol::Reply;

/// How a command is logged.
enum Form {
    /// As it was sent: deterministic, and no relative time in its arguments.
    Verbatim,
    /// As the state of its keys afterwards.
    KeyState,
    /// As the deadline of its keys afterwards (`PEXPIREAT`, `PERSIST`, or `DEL`).
    Deadline,
    /// `SPOP`: as the removal of the members it popped (`SREM`), as Redis propagates it.
    Popped,
}

fn form(name: &str) -> Form {
    match name {
        // Relative times (`EX`, `PX`, `EXPIRE`), conditions on the time (`NX` on a key that
        // lapsed), and lock grants with their fencing tokens.
        "expire" | "pexpire" | "expireat" | "pexpireat" | "persist" => Form::Deadline,
        "set" | "setnx" | "setex" | "psetex" | "getex" | "getdel" | "lock.acquire"
        | "lock.release" | "lock.extend" | "delifeq" | "delex" | "msetnx" => Form::KeyState,
        // Chance.
        "spop" => Form::Popped,
        _ => Form::Verbatim,
    }
}

/// Records what `args` (run as `spec`, replying `reply`) changed, as the log's commands, in the
/// command's effects. Called only for write commands that changed something.
///
/// Keys the command found past their deadline (removed by lazy expiry, since `expired`) are
/// logged as `DEL` first, as Redis does: the replay runs before any deadline, so without it a
/// command logged as sent would find the old key still there.
pub fn record(
    ctx: &mut Ctx,
    spec: &'static CommandSpec,
    args: &[Bytes],
    reply: &Reply,
    expired: &[(usize, usize)],
) {
    let shards_per_db = ctx.shared.keyspace.shards_per_db();
    for (index, key) in ctx.guards.expired_since(expired) {
        ctx.effects.push(Effect {
            db: index / shards_per_db,
            argv: vec![Bytes::from_static(b"DEL"), key],
        });
    }
    let db = ctx.client.db;
    match form(spec.name) {
        Form::Popped => {
            let members: Vec<Bytes> = match reply {
                Reply::Bulk(member) => vec![member.clone()],
                Reply::Array(items) => items
                    .iter()
                    .filter_map(|item| match item {
                        Reply::Bulk(member) => Some(member.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if !members.is_empty() {
                let mut argv = vec![Bytes::from_static(b"SREM"), args[1].clone()];
                argv.extend(members);
                ctx.effects.push(Effect { db, argv });
            }
        }
        Form::Verbatim => {
            if !matches!(reply, Reply::Error(_)) {
                ctx.effects.push(Effect {
                    db,
                    argv: args.to_vec(),
                });
            }
        }
        form => {
            let clocks = ClockPair {
                now: ctx.now,
                unix_us: ctx.unix_us(),
            };
            let mut commands = Vec::new();
            for position in spec.key_positions(args) {
                let key = &args[position];
                if let Ok(shard) = ctx.shard(key) {
                    match form {
                        Form::Deadline => encode::key_deadline(shard, key, clocks, &mut commands),
                        _ => encode::key_state(shard, key, clocks, &mut commands),
                    }
                }
            }
            ctx.effects
                .extend(commands.into_iter().map(|argv| Effect { db, argv }));
        }
    }
}
