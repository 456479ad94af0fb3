//! Error replies with Redis's exact texts, built in one place.
//!
//! Clients and lock libraries match these texts (redis-py maps `NOSCRIPT …` to an exception,
//! ioredis retries on `LOADING`), so they are spelled exactly as Redis spells them.

use std::borrow::Cow;

use crate::protocol::Reply;

/// An error reply: the whole line, prefix included (`ERR …`, `WRONGTYPE …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub Cow<'static, str>);

/// What a command handler returns: a reply, or an error reply.
pub type CommandResult = Result<Reply, Error>;

impl From<Error> for Reply {
    fn from(error: Error) -> Reply {
        Reply::Error(error.0)
    }
}

impl Error {
    pub const fn fixed(text: &'static str) -> Error {
        Error(Cow::Borrowed(text))
    }

    /// `ERR <message>`.
    pub fn err(message: impl std::fmt::Display) -> Error {
        Error(Cow::Owned(format!("ERR {message}")))
    }
}

pub const SYNTAX: Error = Error::fixed("ERR syntax error");
pub const NOT_INTEGER: Error = Error::fixed("ERR value is not an integer or out of range");
pub const NOT_FLOAT: Error = Error::fixed("ERR value is not a valid float");
pub const WRONGTYPE: Error =
    Error::fixed("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NO_SUCH_KEY: Error = Error::fixed("ERR no such key");
pub const INVALID_DB_INDEX: Error = Error::fixed("ERR DB index is out of range");
pub const NOAUTH: Error = Error::fixed("NOAUTH Authentication required.");
pub const WRONGPASS: Error =
    Error::fixed("WRONGPASS invalid username-password pair or user is disabled.");
pub const OVERFLOW: Error = Error::fixed("ERR increment or decrement would overflow");
/// A millisecond timeout that is not an integer (Redis's text for `WAIT`-style timeouts).
pub const TIMEOUT_NOT_INTEGER: Error =
    Error::fixed("ERR timeout is not an integer or out of range");
pub const TIMEOUT_NEGATIVE: Error = Error::fixed("ERR timeout is negative");
/// What a command that would grant a lock gets during `--restart-grace` (clients retry on it).
pub const LOADING: Error = Error::fixed("LOADING Redis is loading the dataset in memory");

/// `ERR wrong number of arguments for '<name>' command`.
pub fn wrong_arity(name: &str) -> Error {
    Error::err(format_args!(
        "wrong number of arguments for '{name}' command"
    ))
}

/// `ERR invalid expire time in '<name>' command`.
pub fn invalid_expire(name: &str) -> Error {
    Error::err(format_args!("invalid expire time in '{name}' command"))
}

/// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
pub fn unknown_subcommand(command: &str, sub: &[u8]) -> Error {
    Error::err(format_args!(
        "unknown subcommand '{}'. Try {} HELP.",
        printable(sub, 128),
        command.to_ascii_uppercase()
    ))
}

/// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' `, worded as Redis
/// words it: the name and the arguments cut at 128 bytes, CR and LF shown as spaces.
pub fn unknown_command(args: &[bytes::Bytes]) -> Error {
    let mut shown = String::new();
    for arg in &args[1..] {
        if shown.len() >= 128 {
            break;
        }
        let room = 128 - shown.len();
        shown.push('\'');
        shown.push_str(&printable(arg, room));
        shown.push_str("' ");
    }
    Error::err(format_args!(
        "unknown command '{}', with args beginning with: {shown}",
        printable(&args[0], 128)
    ))
}

/// Bytes shown inside an error line: at most `max` bytes, CR and LF replaced by spaces (an
/// error reply is one line).
pub fn printable(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// `ERR wrong number of arguments for '<cmd>|<sub>' command`: a subcommand's arity error.
pub fn wrong_subcommand_arity(command: &str, sub: &str) -> Error {
    Error::err(format_args!(
        "wrong number of arguments for '{command}|{sub}' command"
    ))
}

pub const BUSY: Error = Error::fixed(
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
);
pub const NOSCRIPT: Error = Error::fixed("NOSCRIPT No matching script. Please use EVAL.");
/// `DEBUG` refused by `enable-debug-command`.
pub const DEBUG_NOT_ALLOWED: Error = Error::fixed(
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
);
pub const NOTBUSY: Error = Error::fixed("NOTBUSY No scripts in execution right now.");
pub const UNKILLABLE: Error = Error::fixed(
    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
);
pub const NUMKEYS_NEGATIVE: Error = Error::fixed("ERR Number of keys can't be negative");
pub const NUMKEYS_TOO_BIG: Error =
    Error::fixed("ERR Number of keys can't be greater than number of args");
/// What a script that is neither built in natively nor runnable gets when latchkey was built
/// without the `lua` cargo feature.
pub const NO_LUA: Error = Error::fixed(
    "ERR this server was built without the 'lua' feature: only the natively implemented lock scripts can run; the Lua interpreter and its libraries (cjson, cmsgpack, bit, struct) are missing (rebuild with --features lua)",
);
/// A write refused because used memory passed `maxmemory` (latchkey never evicts).
pub const OOM: Error = Error::fixed("OOM command not allowed when used memory > 'maxmemory'.");
/// The reply a client blocked in a wait gets when the server shuts down. Redis closes such
/// connections without a word; latchkey says why first, with the prefix Redis uses for a wait
/// ended from outside (`CLIENT UNBLOCK … ERROR`).
pub const UNBLOCKED_SHUTDOWN: Error = Error::fixed("UNBLOCKED the server is shutting down");
