//! Connection commands: `PING`, `ECHO`, `HELLO`, `AUTH`, `SELECT`, `QUIT`, `RESET`, `CLIENT`.

use bytes::Bytes;

use super::args::{self, is};
use super::flags::*;
use super::{CommandSpec, Ctx, Handler};
use crate::errors::{self, CommandResult, Error};
use crate::protocol::Reply;

/// The Redis version latchkey answers to in `HELLO` and `INFO`: clients pick features by it.
pub const REDIS_VERSION: &str = "7.4.0";

const CONNECTION: &[&str] = &["connection", "fast"];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "ping",
        -1,
        FAST | PUBSUB | STALE | LOADING,
        CONNECTION,
        ping,
    ),
    spec("echo", 2, FAST | STALE | LOADING, CONNECTION, echo),
    spec(
        "hello",
        -1,
        FAST | NO_AUTH | NOSCRIPT | STALE | LOADING | ALLOW_BUSY,
        CONNECTION,
        hello,
    ),
    spec(
        "auth",
        -2,
        FAST | NO_AUTH | NOSCRIPT | STALE | LOADING | ALLOW_BUSY,
        CONNECTION,
        auth,
    ),
    spec("select", 2, FAST | STALE | LOADING, CONNECTION, select),
    spec(
        "quit",
        -1,
        FAST | NO_AUTH | NOSCRIPT | STALE | LOADING | ALLOW_BUSY | PUBSUB,
        CONNECTION,
        quit,
    ),
    spec(
        "reset",
        1,
        FAST | NO_AUTH | NOSCRIPT | STALE | LOADING | ALLOW_BUSY | PUBSUB,
        CONNECTION,
        reset,
    ),
];

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    categories: &'static [&'static str],
    handler: fn(&mut Ctx, &[Bytes]) -> CommandResult,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys: (0, 0, 0),
        categories,
        handler: Handler::Sync(handler),
    }
}

fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let message = match args {
        [_] => None,
        [_, message] => Some(message.clone()),
        _ => return Err(errors::wrong_arity("ping")),
    };
    if ctx.client.in_resp2_pubsub() {
        // In RESP2 subscribed mode PING answers in the shape of a message: `[pong, msg]`.
        let message = Reply::Bulk(message.unwrap_or_default());
        return Ok(Reply::Array(vec![Reply::bulk("pong"), message]));
    }
    Ok(message.map_or(Reply::simple("PONG"), Reply::Bulk))
}

fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Bulk(args[1].clone()))
}

fn select(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let db = args::int(&args[1])?;
    if db < 0 || db as usize >= ctx.shared.keyspace.databases() {
        return Err(errors::INVALID_DB_INDEX);
    }
    ctx.client.select(db as usize);
    Ok(Reply::OK)
}

fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    ctx.client.close_after_reply = true;
    Ok(Reply::OK)
}

fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    super::transactions::reset(ctx);
    super::pubsub::reset(ctx);
    ctx.client.select(0);
    ctx.client.set_resp3(false);
    ctx.client.info.meta.lock().name = None;
    ctx.client.authenticated = !ctx.shared.requires_auth();
    Ok(Reply::simple("RESET"))
}

/// Checks a user name and password against the configuration, in constant time.
pub fn check_password(ctx: &Ctx, user: Option<&[u8]>, password: &[u8]) -> Result<(), Error> {
    if user.is_some_and(|u| u != b"default") {
        return Err(errors::WRONGPASS);
    }
    match &ctx.shared.config.read().requirepass {
        // The default user has no password: any password is accepted.
        None => Ok(()),
        Some(expected) if constant_time_eq(expected.as_bytes(), password) => Ok(()),
        Some(_) => Err(errors::WRONGPASS),
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn auth(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (user, password) = match args {
        [_, password] => (None, password),
        [_, user, password] => (Some(&user[..]), password),
        _ => return Err(errors::SYNTAX),
    };
    if user.is_none() && !ctx.shared.requires_auth() {
        return Err(Error::fixed("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
    }
    check_password(ctx, user, password)?;
    ctx.client.authenticated = true;
    Ok(Reply::OK)
}

fn hello(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut resp3 = ctx.client.resp3;
    let mut rest = &args[1..];
    if let Some(version) = rest.first() {
        let version = args::parse_i64(version).ok_or(Error::fixed(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&version) {
            return Err(Error::fixed("NOPROTO unsupported protocol version"));
        }
        resp3 = version == 3;
        rest = &rest[1..];
    }
    let mut credentials = None;
    let mut name = None;
    while let Some(option) = rest.first() {
        if is(option, "AUTH") && rest.len() >= 3 {
            credentials = Some((&rest[1], &rest[2]));
            rest = &rest[3..];
        } else if is(option, "SETNAME") && rest.len() >= 2 {
            name = Some(rest[1].clone());
            rest = &rest[2..];
        } else {
            return Err(Error::err(format_args!(
                "Syntax error in HELLO option '{}'",
                errors::printable(option, 128)
            )));
        }
    }
    if let Some((user, password)) = credentials {
        check_password(ctx, Some(user), password)?;
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Err(Error::fixed("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(name) = name {
        validate_client_name(&name)?;
        ctx.client.info.meta.lock().name = Some(name);
    }
    ctx.client.set_resp3(resp3);
    Ok(Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
        (
            Reply::bulk("proto"),
            Reply::Integer(if resp3 { 3 } else { 2 }),
        ),
        (Reply::bulk("id"), Reply::Integer(ctx.client.id() as i64)),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ]))
}

/// A client name may not contain spaces, newlines or other special characters.
pub fn validate_client_name(name: &[u8]) -> Result<(), Error> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Error::fixed(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}
