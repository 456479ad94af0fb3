//! Connection commands: `PING`, `ECHO`, `HELLO`, `AUTH`, `SELECT`, `QUIT`, `RESET`, `CLIENT`.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{self, is};
use super::keys::help_reply;
use super::Ctx;
use crate::client::ClientInfo;
use crate::errors::{self, CommandResult, Error};
use crate::protocol::Reply;

/// The Redis version latchkey answers to in `HELLO` and `INFO`: clients pick features by it.
pub const REDIS_VERSION: &str = "7.4.0";

pub(super) fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
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

pub(super) fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Bulk(args[1].clone()))
}

pub(super) fn select(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let db = args::int(&args[1])?;
    if db < 0 || db as usize >= ctx.shared.keyspace.databases() {
        return Err(errors::INVALID_DB_INDEX);
    }
    ctx.client.select(db as usize);
    Ok(Reply::OK)
}

pub(super) fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    ctx.client.close_after_reply = true;
    Ok(Reply::OK)
}

pub(super) fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    super::transactions::reset(ctx);
    super::pubsub::reset(ctx);
    ctx.client.select(0);
    ctx.client.set_resp3(false);
    ctx.client.info.meta.lock().set_name(None);
    ctx.client.authenticated = !ctx.shared.requires_auth();
    ctx.client.set_user(ctx.shared.acl.default_user());
    Ok(Reply::simple("RESET"))
}

/// Checks a user name (`default` when absent) and password against the server's users (the
/// password's hash compared in constant time), and makes the client that user.
pub fn authenticate(ctx: &mut Ctx, user: Option<&[u8]>, password: &[u8]) -> Result<(), Error> {
    let user = ctx
        .shared
        .acl
        .authenticate(user.unwrap_or(b"default"), password)?;
    ctx.client.set_user(user);
    ctx.client.authenticated = true;
    Ok(())
}

pub(super) fn auth(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (user, password) = match args {
        [_, password] => (None, password),
        [_, user, password] => (Some(&user[..]), password),
        _ => return Err(errors::SYNTAX),
    };
    if user.is_none() && !ctx.shared.requires_auth() {
        return Err(Error::fixed("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
    }
    authenticate(ctx, user, password)?;
    Ok(Reply::OK)
}

pub(super) fn hello(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
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
        authenticate(ctx, Some(user), password)?;
    }
    if !ctx.client.authenticated {
        return Err(Error::fixed("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(name) = name {
        validate_client_name(&name)?;
        ctx.client.info.meta.lock().set_name(Some(name));
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

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients of specified IDs only.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
];

/// The subcommand a container command runs, by its short name (`"get"` for `CONFIG GET`).
/// The dispatcher has already resolved it and checked its arity against the table, so this
/// only names it for the handler's `match`.
pub fn subcommand(command: &str, args: &[Bytes]) -> Result<&'static str, Error> {
    let given = &args[1];
    let spec = super::lookup(command.as_bytes()).and_then(|spec| spec.subcommand(given));
    let Some(spec) = spec else {
        return Err(errors::unknown_subcommand(command, given));
    };
    if !spec.arity_ok(args.len()) {
        return Err(errors::wrong_arity(spec.name));
    }
    Ok(spec
        .name
        .split_once('|')
        .map_or(spec.name, |(_, short)| short))
}

pub(super) fn client(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    match subcommand("client", args)? {
        "id" => Ok(Reply::Integer(ctx.client.id() as i64)),
        "setname" => {
            validate_client_name(&args[2])?;
            let name = Some(args[2].clone()).filter(|n| !n.is_empty());
            ctx.client.info.meta.lock().set_name(name);
            Ok(Reply::OK)
        }
        "getname" => Ok(Reply::bulk_or_nil(
            ctx.client.info.meta.lock().name().cloned(),
        )),
        "setinfo" => client_setinfo(ctx, &args[2], &args[3]),
        "info" => Ok(client_text(vec![ctx.client.info.describe()])),
        "list" => client_list(ctx, &args[2..]),
        "kill" => client_kill(ctx, &args[2..]),
        "no-evict" => {
            ctx.client.info.meta.lock().no_evict = on_off(&args[2])?;
            Ok(Reply::OK)
        }
        "no-touch" => {
            ctx.client.info.meta.lock().no_touch = on_off(&args[2])?;
            Ok(Reply::OK)
        }
        "reply" => client_reply(&args[2]),
        _ => Ok(help_reply(CLIENT_HELP)),
    }
}

fn on_off(arg: &[u8]) -> Result<bool, Error> {
    if is(arg, "ON") {
        Ok(true)
    } else if is(arg, "OFF") {
        Ok(false)
    } else {
        Err(errors::SYNTAX)
    }
}

/// `CLIENT REPLY ON` is accepted; `OFF` and `SKIP` (silencing replies) are not supported.
fn client_reply(mode: &[u8]) -> CommandResult {
    if is(mode, "ON") {
        Ok(Reply::OK)
    } else if is(mode, "OFF") || is(mode, "SKIP") {
        Err(Error::fixed(
            "ERR CLIENT REPLY OFF and SKIP are not supported by this server",
        ))
    } else {
        Err(errors::SYNTAX)
    }
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value`: what client libraries announce about themselves.
fn client_setinfo(ctx: &mut Ctx, attr: &[u8], value: &Bytes) -> CommandResult {
    let lib_name = is(attr, "LIB-NAME");
    if !lib_name && !is(attr, "LIB-VER") {
        return Err(Error::err(format_args!(
            "Unrecognized option '{}'",
            errors::printable(attr, 128)
        )));
    }
    if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Error::err(format_args!(
            "{} cannot contain spaces, newlines or special characters.",
            errors::printable(attr, 128)
        )));
    }
    let value = Some(value.clone()).filter(|v| !v.is_empty());
    let mut meta = ctx.client.info.meta.lock();
    if lib_name {
        meta.set_lib_name(value);
    } else {
        meta.set_lib_ver(value);
    }
    Ok(Reply::OK)
}

/// Lines of `CLIENT LIST` / `CLIENT INFO`: each ends with a newline; verbatim text in RESP3.
fn client_text(lines: Vec<String>) -> Reply {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    Reply::Verbatim("txt", Bytes::from(text))
}

/// A `TYPE` argument of `CLIENT LIST`/`CLIENT KILL`: whether it names normal clients (every
/// client of latchkey is one; there are no replicas or masters).
fn type_is_normal(arg: &[u8]) -> Result<bool, Error> {
    if is(arg, "NORMAL") {
        return Ok(true);
    }
    if ["MASTER", "REPLICA", "SLAVE", "PUBSUB"]
        .iter()
        .any(|t| is(arg, t))
    {
        return Ok(false);
    }
    Err(Error::err(format_args!(
        "Unknown client type '{}'",
        errors::printable(arg, 128)
    )))
}

/// Every registered client, in id order.
fn all_clients(ctx: &Ctx) -> Vec<Arc<ClientInfo>> {
    let mut clients: Vec<Arc<ClientInfo>> = ctx.shared.clients.lock().values().cloned().collect();
    clients.sort_by_key(|c| c.id);
    clients
}

fn client_list(ctx: &mut Ctx, options: &[Bytes]) -> CommandResult {
    let mut clients = all_clients(ctx);
    match options {
        [] => {}
        [option, kind] if is(option, "TYPE") => {
            if !type_is_normal(kind)? {
                clients.clear();
            }
        }
        [option, ids @ ..] if is(option, "ID") && !ids.is_empty() => {
            let mut wanted = Vec::with_capacity(ids.len().min(1024));
            for id in ids {
                match args::parse_i64(id) {
                    Some(id) if id > 0 => wanted.push(id as u64),
                    _ => return Err(Error::fixed("ERR Invalid client ID")),
                }
            }
            clients.retain(|c| wanted.contains(&c.id));
        }
        _ => return Err(errors::SYNTAX),
    }
    Ok(client_text(clients.iter().map(|c| c.describe()).collect()))
}

/// The filters of `CLIENT KILL <option> <value> …`; every given filter must match.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    /// `Some(false)` for a type no client has.
    normal: Option<bool>,
    user: Option<String>,
    skip_me: bool,
}

fn parse_kill_filter(acl: &crate::acl::Acl, options: &[Bytes]) -> Result<KillFilter, Error> {
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for pair in options.chunks(2) {
        let [option, value] = pair else {
            return Err(errors::SYNTAX);
        };
        match args::upper(option).as_str() {
            "ID" => match args::parse_i64(value) {
                Some(id) if id > 0 => filter.id = Some(id as u64),
                _ => {
                    return Err(Error::fixed("ERR client-id should be greater than 0"));
                }
            },
            "ADDR" => filter.addr = Some(text(value)),
            "LADDR" => filter.laddr = Some(text(value)),
            "TYPE" => filter.normal = Some(type_is_normal(value)?),
            "USER" => {
                filter.user = Some(text(value));
                if acl.get(value).is_none() {
                    return Err(Error::err(format_args!(
                        "No such user '{}'",
                        errors::printable(value, 128)
                    )));
                }
            }
            "SKIPME" => {
                filter.skip_me = if is(value, "YES") {
                    true
                } else if is(value, "NO") {
                    false
                } else {
                    return Err(errors::SYNTAX);
                }
            }
            _ => return Err(errors::SYNTAX),
        }
    }
    Ok(filter)
}

impl KillFilter {
    fn matches(&self, client: &ClientInfo, me: u64) -> bool {
        !(self.skip_me && client.id == me)
            && self.id.is_none_or(|id| id == client.id)
            && self
                .addr
                .as_ref()
                .is_none_or(|a| *a == client.addr.to_string())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| *a == client.local_addr.to_string())
            && self.normal.unwrap_or(true)
            && self
                .user
                .as_ref()
                .is_none_or(|user| *user == client.meta.lock().user.as_deref().unwrap_or("default"))
    }
}

/// `CLIENT KILL ip:port` (old form: `OK` or `No such client`) and `CLIENT KILL <filter>…`
/// (new form: the number of clients killed). A killed client's connection closes after the
/// reply it is writing; killing oneself (`SKIPME NO`) closes after this reply.
fn client_kill(ctx: &mut Ctx, options: &[Bytes]) -> CommandResult {
    let me = ctx.client.id();
    if let [addr] = options {
        let addr = String::from_utf8_lossy(addr);
        let target = all_clients(ctx)
            .into_iter()
            .find(|c| c.addr.to_string() == addr);
        return match target {
            Some(client) => {
                client.kill();
                Ok(Reply::OK)
            }
            None => Err(Error::fixed("ERR No such client")),
        };
    }
    let filter = parse_kill_filter(&ctx.shared.acl, options)?;
    let mut killed = 0;
    for client in all_clients(ctx) {
        if filter.matches(&client, me) {
            client.kill();
            killed += 1;
        }
    }
    Ok(Reply::Integer(killed))
}
