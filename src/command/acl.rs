//! `ACL WHOAMI|LIST|USERS|CAT|GETUSER|SETUSER|DELUSER|DRYRUN|GENPASS|HELP`: the users of
//! [`crate::acl`], read and changed at runtime.

use std::sync::Arc;

use bytes::Bytes;

use super::connection::subcommand;
use super::keys::help_reply;
use super::Ctx;
use crate::acl::{self, CATEGORIES};
use crate::client::ClientInfo;
use crate::errors::{self, CommandResult, Error};
use crate::protocol::Reply;

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

pub(super) fn acl(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    match subcommand("acl", args)? {
        "whoami" => Ok(Reply::bulk_copy(ctx.client.user.name().as_bytes())),
        "users" => Ok(Reply::Array(
            ctx.shared
                .acl
                .users()
                .iter()
                .map(|user| Reply::bulk_copy(user.name().as_bytes()))
                .collect(),
        )),
        "list" => Ok(Reply::Array(
            ctx.shared
                .acl
                .users()
                .iter()
                .map(|user| Reply::bulk(user.describe()))
                .collect(),
        )),
        "cat" => cat(args),
        "getuser" => Ok(getuser(ctx, &args[2])),
        "setuser" => setuser(ctx, &args[2], &args[3..]),
        "deluser" => deluser(ctx, &args[2..]),
        "dryrun" => dryrun(ctx, &args[2], &args[3..]),
        "genpass" => genpass(args.get(2)),
        _ => Ok(help_reply(HELP)),
    }
}

/// `ACL CAT`: every category; `ACL CAT category`: its commands.
fn cat(args: &[Bytes]) -> CommandResult {
    match args {
        [_, _] => Ok(Reply::Array(
            CATEGORIES.iter().map(|c| Reply::bulk(*c)).collect(),
        )),
        [_, _, category] => {
            let name = String::from_utf8_lossy(category).to_ascii_lowercase();
            if !CATEGORIES.contains(&name.as_str()) {
                return Err(Error::err(format_args!(
                    "Unknown category '{}'",
                    errors::printable(category, 128)
                )));
            }
            Ok(Reply::Array(
                acl::commands_in(&name)
                    .map(|spec| Reply::bulk(spec.name))
                    .collect(),
            ))
        }
        _ => Err(Error::fixed(
            "ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.",
        )),
    }
}

/// `ACL GETUSER name`: a map of the user's flags, password hashes, command rules, key and
/// channel patterns (a flat array in RESP2); null for an unknown user.
fn getuser(ctx: &Ctx, name: &[u8]) -> Reply {
    let Some(user) = ctx.shared.acl.get(name) else {
        return Reply::Nil;
    };
    let fields = user.fields();
    Reply::Map(vec![
        (
            Reply::bulk("flags"),
            Reply::Array(fields.flags.into_iter().map(Reply::bulk).collect()),
        ),
        (
            Reply::bulk("passwords"),
            Reply::Array(fields.passwords.into_iter().map(Reply::bulk).collect()),
        ),
        (Reply::bulk("commands"), Reply::bulk(fields.commands)),
        (Reply::bulk("keys"), Reply::bulk(fields.keys)),
        (Reply::bulk("channels"), Reply::bulk(fields.channels)),
        (Reply::bulk("selectors"), Reply::Array(vec![])),
    ])
}

/// `ACL SETUSER name rule…`: creates or changes a user, all rules or none.
fn setuser(ctx: &mut Ctx, name: &[u8], rules: &[Bytes]) -> CommandResult {
    ctx.shared
        .acl
        .set_user(name, rules.iter().map(|r| &r[..]))
        .map_err(|error| match error {
            acl::SetUserError::Name(error) => error,
            acl::SetUserError::Rule(error) => Error::err(format_args!(
                "Error in ACL SETUSER modifier '{}': {}",
                errors::printable(error.rule.as_bytes(), 128),
                error.reason
            )),
        })?;
    Ok(Reply::OK)
}

/// `ACL DELUSER name…`: removes users and disconnects the clients authenticated as them.
fn deluser(ctx: &mut Ctx, names: &[Bytes]) -> CommandResult {
    if names.iter().any(|name| &name[..] == b"default") {
        return Err(Error::fixed("ERR The 'default' user cannot be removed"));
    }
    let mut removed = 0;
    for name in names {
        if ctx.shared.acl.remove(name) {
            removed += 1;
            kill_clients_of(ctx, name);
        }
    }
    Ok(Reply::Integer(removed))
}

fn kill_clients_of(ctx: &Ctx, name: &[u8]) {
    let clients: Vec<Arc<ClientInfo>> = ctx.shared.clients.lock().values().cloned().collect();
    for client in clients {
        let same = client
            .meta
            .lock()
            .user
            .as_deref()
            .is_some_and(|user| user.as_bytes() == name);
        if same {
            client.kill();
        }
    }
}

/// `ACL DRYRUN user command arg…`: `OK`, or the reason the user may not run it.
fn dryrun(ctx: &mut Ctx, name: &[u8], command: &[Bytes]) -> CommandResult {
    let Some(user) = ctx.shared.acl.get(name) else {
        return Err(Error::err(format_args!(
            "User '{}' not found",
            errors::printable(name, 128)
        )));
    };
    let Ok(spec) = super::spec::resolve(command) else {
        return Err(Error::err(format_args!(
            "Command '{}' not found",
            errors::printable(&command[0], 128)
        )));
    };
    if !spec.arity_ok(command.len()) {
        return Err(errors::wrong_arity(spec.name));
    }
    Ok(match user.check(spec, command) {
        Ok(()) => Reply::OK,
        Err(_) => Reply::bulk(user.denial_reason(spec, command)),
    })
}

/// `ACL GENPASS [bits]`: a random password of `bits` bits (256 by default) as hex digits,
/// from the operating system's secure random source.
fn genpass(bits: Option<&Bytes>) -> CommandResult {
    let bits = match bits {
        None => 256,
        Some(bits) => match super::args::parse_i64(bits) {
            Some(bits @ 1..=4096) => bits as usize,
            _ => {
                return Err(Error::fixed("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
            }
        },
    };
    let mut random = vec![0u8; bits.div_ceil(8)];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut random)
        .map_err(|_| Error::fixed("ERR no secure random source"))?;
    let mut password: String = random.iter().map(|b| format!("{b:02x}")).collect();
    password.truncate(bits.div_ceil(4));
    Ok(Reply::bulk(password))
}
