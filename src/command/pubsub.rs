//! Pub/sub commands: `SUBSCRIBE`, `UNSUBSCRIBE`, `PSUBSCRIBE`, `PUNSUBSCRIBE`, `SSUBSCRIBE`,
//! `SUNSUBSCRIBE`, `PUBLISH`, `SPUBLISH`, `PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|
//! SHARDNUMSUB|HELP`.
//!
//! A (un)subscribe command confirms each channel with its own push frame (an array in RESP2).
//! A command has one reply, so all confirmations but the last go to the client's `pushes`,
//! which the connection writes just before the reply. Without a cluster, shard channels are
//! plain channels in a namespace of their own.

use bytes::Bytes;

use super::args::is;
use super::{CommandSpec, Ctx};
use crate::client::Client;
use crate::errors::{self, CommandResult, Error};
use crate::protocol::Reply;
use crate::pubsub::Kind;

/// `ERR Can't execute '<cmd>': …`: a RESP2 client in subscribed mode may run only the
/// commands the table marks `subscribed` ((un)subscribe, `PING`, `QUIT`, `RESET`). RESP3 clients may run
/// anything while subscribed.
pub fn check_subscribed_mode(client: &Client, spec: &CommandSpec) -> Result<(), Error> {
    if spec.has_internal(super::internal::SUBSCRIBED) || !client.in_resp2_pubsub() {
        return Ok(());
    }
    Err(Error::err(format_args!(
        "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        spec.name
    )))
}

/// The confirmation of a (un)subscription: `[word, channel or nil, count]`.
fn confirmation(word: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk(word),
        name.map_or(Reply::Nil, Reply::Bulk),
        Reply::Integer(count as i64),
    ])
}

/// Hands a command's confirmations to the client: all but the last as pushes written ahead,
/// the last as the command's reply.
fn confirm(ctx: &mut Ctx, mut confirmations: Vec<Reply>) -> CommandResult {
    let last = confirmations.pop().unwrap_or(Reply::NilArray);
    ctx.client.pushes.append(&mut confirmations);
    Ok(last)
}

fn subscribe_to(ctx: &mut Ctx, kind: Kind, names: &[Bytes]) -> CommandResult {
    let id = ctx.client.id();
    let pubsub = &ctx.shared.pubsub;
    let subscriptions = ctx.client.subscriptions_mut();
    let mut confirmations = Vec::with_capacity(names.len());
    for name in names {
        // Copied: a slice of the request would pin the connection's read buffer.
        let name = Bytes::copy_from_slice(name);
        if subscriptions.of(kind).insert(name.clone()) {
            pubsub.subscribe(kind, name.clone(), id, &subscriptions.mailbox);
        }
        let count = subscriptions.count_for(kind);
        confirmations.push(confirmation(kind.subscribe_word(), Some(name), count));
    }
    confirm(ctx, confirmations)
}

/// Unsubscribes from `names`, or from everything of `kind` when `names` is empty.
fn unsubscribe_from(ctx: &mut Ctx, kind: Kind, names: &[Bytes]) -> CommandResult {
    let confirmations = leave(ctx, kind, names);
    confirm(ctx, confirmations)
}

fn leave(ctx: &mut Ctx, kind: Kind, names: &[Bytes]) -> Vec<Reply> {
    let id = ctx.client.id();
    let pubsub = &ctx.shared.pubsub;
    let word = kind.unsubscribe_word();
    let Some(subscriptions) = ctx.client.subscriptions.as_mut() else {
        return if names.is_empty() {
            vec![confirmation(word, None, 0)]
        } else {
            names
                .iter()
                .map(|name| confirmation(word, Some(name.clone()), 0))
                .collect()
        };
    };
    let names: Vec<Bytes> = if names.is_empty() {
        subscriptions.of(kind).iter().cloned().collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        return vec![confirmation(word, None, subscriptions.count_for(kind))];
    }
    names
        .into_iter()
        .map(|name| {
            if subscriptions.of(kind).remove(&name) {
                pubsub.unsubscribe(kind, &name, id);
            }
            confirmation(word, Some(name), subscriptions.count_for(kind))
        })
        .collect()
}

/// Drops every subscription of the client (`RESET`).
pub fn reset(ctx: &mut Ctx) {
    if let Some(subscriptions) = ctx.client.subscriptions.take() {
        crate::pubsub::forget(&ctx.shared.pubsub, ctx.client.id(), &subscriptions);
        // Messages that arrived before the reset are still delivered, ahead of its reply.
        let mut messages = Vec::new();
        subscriptions.mailbox.drain(&mut messages);
        let pushes = messages.into_iter().map(|m| m.into_reply());
        ctx.client.pushes.extend(pushes);
    }
}

pub(super) fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    subscribe_to(ctx, Kind::Channel, &args[1..])
}

pub(super) fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    subscribe_to(ctx, Kind::Pattern, &args[1..])
}

pub(super) fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    subscribe_to(ctx, Kind::Shard, &args[1..])
}

pub(super) fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    unsubscribe_from(ctx, Kind::Channel, &args[1..])
}

pub(super) fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    unsubscribe_from(ctx, Kind::Pattern, &args[1..])
}

pub(super) fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    unsubscribe_from(ctx, Kind::Shard, &args[1..])
}

pub(super) fn publish(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let receivers = crate::pubsub::publish(ctx.shared, &args[1], &args[2]);
    Ok(Reply::Integer(receivers as i64))
}

pub(super) fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let receivers = ctx.shared.pubsub.spublish(&args[1], &args[2]);
    Ok(Reply::Integer(receivers as i64))
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

pub(super) fn pubsub(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = &args[1];
    let rest = &args[2..];
    let registry = &ctx.shared.pubsub;
    let arity_error = || {
        let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
        errors::wrong_arity(&format!("pubsub|{name}"))
    };
    let names = |kind: Kind, rest: &[Bytes]| match rest {
        [] => Ok(registry.active(kind, None)),
        [pattern] => Ok(registry.active(kind, Some(pattern))),
        _ => Err(Error::err(format_args!(
            "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            errors::printable(sub, 128)
        ))),
    };
    let counts = |kind: Kind, rest: &[Bytes]| {
        let mut items = Vec::with_capacity(rest.len() * 2);
        for name in rest {
            items.push(Reply::Bulk(name.clone()));
            items.push(Reply::Integer(registry.subscriber_count(kind, name) as i64));
        }
        Reply::Array(items)
    };
    let bulk_array = |names: Vec<Bytes>| Reply::Array(names.into_iter().map(Reply::Bulk).collect());
    if is(sub, "CHANNELS") {
        Ok(bulk_array(names(Kind::Channel, rest)?))
    } else if is(sub, "SHARDCHANNELS") {
        Ok(bulk_array(names(Kind::Shard, rest)?))
    } else if is(sub, "NUMSUB") {
        Ok(counts(Kind::Channel, rest))
    } else if is(sub, "SHARDNUMSUB") {
        Ok(counts(Kind::Shard, rest))
    } else if is(sub, "NUMPAT") {
        if !rest.is_empty() {
            return Err(arity_error());
        }
        Ok(Reply::Integer(registry.pattern_count() as i64))
    } else if is(sub, "HELP") {
        if !rest.is_empty() {
            return Err(arity_error());
        }
        Ok(Reply::Array(
            PUBSUB_HELP.iter().map(|line| Reply::simple(line)).collect(),
        ))
    } else {
        Err(errors::unknown_subcommand("pubsub", sub))
    }
}
