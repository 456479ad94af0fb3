//! Commands: the table that describes them, and the dispatcher that runs them.
//!
//! Each module below holds one family and exports a `COMMANDS` slice of [`CommandSpec`]s; the
//! table is their union. The dispatcher checks arity, authentication and flags once, locks the
//! shards of the keys the spec names, then calls the handler, so handlers never repeat that
//! work. `COMMAND`, `COMMAND INFO` and `COMMAND COUNT` are generated from the same table.
//!
//! A reader looking for `SET` opens `strings.rs`; `EXPIRE` is in `keys.rs`; `DELIFEQ` and
//! `DELEX` in `compare.rs`; `PING`, `HELLO`, `AUTH`, `CLIENT` in `connection.rs`; `KEYS`,
//! `SCAN` in `scan.rs`; `INFO` in `info.rs`; `COMMAND`, `FLUSHALL` in `server.rs`; `EVAL`, `EVALSHA`, `SCRIPT` in `scripting.rs`; `CONFIG`
//! in `config.rs`; `DEBUG` in `debug.rs`; `LOCK.*` in `locks.rs`; `SUBSCRIBE`, `PUBLISH` in
//! `pubsub.rs`; `MULTI`, `EXEC`, `WATCH` in `transactions.rs`.
//!
//! The data types: `lists.rs`, `hashes.rs`, `sets.rs`, `zsets.rs` (with `zset_combine.rs` for
//! `ZUNION`/`ZINTER`/`ZDIFF`); the blocking pops of lists and sorted sets in `pop_waits.rs`;
//! what they share (typed access, `*SCAN` options) in `aggregate.rs`.
//!
//! While a script runs past the script time limit, commands not flagged `ALLOW_BUSY` get
//! `BUSY` (checked before any shard is locked), as in Redis.

pub mod acl;
pub mod aggregate;
pub mod args;
pub mod compare;
pub mod config;
pub mod connection;
pub mod debug;
pub mod hashes;
pub mod info;
pub mod keys;
pub mod lists;
pub mod locks;
pub mod pop_waits;
pub mod pubsub;
pub mod scan;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
pub mod zset_combine;
pub mod zsets;

use crate::clock::MonoTime;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;

use crate::client::Client;
use crate::db::{KeyLocks, Shard};
use crate::errors::{self, CommandResult, Error};
use crate::protocol::Reply;
use crate::server::Shared;

/// Command flags, as bits; [`flag_names`] gives the names `COMMAND` shows.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const FAST: u32 = 1 << 2;
    pub const BLOCKING: u32 = 1 << 3;
    /// Not allowed inside a script.
    pub const NOSCRIPT: u32 = 1 << 4;
    /// Allowed before the client authenticates.
    pub const NO_AUTH: u32 = 1 << 5;
    pub const LOADING: u32 = 1 << 6;
    pub const STALE: u32 = 1 << 7;
    /// Allowed in RESP2 subscribed mode.
    pub const PUBSUB: u32 = 1 << 8;
    /// Not queued by `MULTI`, run at once.
    pub const NO_MULTI: u32 = 1 << 9;
    pub const DENYOOM: u32 = 1 << 10;
    pub const ADMIN: u32 = 1 << 11;
    pub const ALLOW_BUSY: u32 = 1 << 12;
    /// Governed by `enable-debug-command` (Redis's `protected`; not shown by `COMMAND`, as in
    /// Redis 7.0).
    pub const PROTECTED: u32 = 1 << 13;
}

/// The names `COMMAND INFO` gives the flags, in Redis's spelling.
pub fn flag_names(bits: u32) -> Vec<&'static str> {
    const NAMES: &[(u32, &str)] = &[
        (flags::WRITE, "write"),
        (flags::READONLY, "readonly"),
        (flags::DENYOOM, "denyoom"),
        (flags::ADMIN, "admin"),
        (flags::PUBSUB, "pubsub"),
        (flags::NOSCRIPT, "noscript"),
        (flags::BLOCKING, "blocking"),
        (flags::LOADING, "loading"),
        (flags::STALE, "stale"),
        (flags::NO_AUTH, "no_auth"),
        (flags::NO_MULTI, "no_multi"),
        (flags::FAST, "fast"),
        (flags::ALLOW_BUSY, "allow_busy"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// What a blocking command hands the connection: a future that resolves to the reply once the
/// command is satisfied or times out. The connection drops it if the client goes away.
pub type BlockedReply = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// The result of running a command.
pub enum Outcome {
    Reply(Reply),
    Block(BlockedReply),
}

/// A handler: parses its arguments (`args[0]` is the command name), then acts.
pub type SyncHandler = fn(&mut Ctx, &[Bytes]) -> CommandResult;
/// A handler that may block the client (`BLPOP`, `LOCK.ACQUIRE … WAIT`).
pub type BlockingHandler = fn(&mut Ctx, &[Bytes]) -> Result<Outcome, Error>;

#[derive(Clone, Copy)]
pub enum Handler {
    Sync(SyncHandler),
    Blocking(BlockingHandler),
}

/// One row of the command table.
pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Number of arguments including the name; negative means "at least".
    pub arity: i32,
    pub flags: u32,
    /// Key positions as Redis gives them: first, last (negative counts from the end), step.
    /// `(0, 0, 0)`: no keys, or keys the handler finds itself (`EVAL`'s numkeys).
    pub keys: (i32, i32, i32),
    /// ACL categories without the `@`, e.g. `["string", "fast"]`.
    pub categories: &'static [&'static str],
    pub handler: Handler,
}

impl CommandSpec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether `argc` arguments (name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// The positions of the key arguments in `args`, from the key spec.
    pub fn key_positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, last, step) = self.keys;
        let last = if last < 0 {
            argc as i32 + last
        } else {
            last.min(argc as i32 - 1)
        };
        let (first, step) = (first.max(0) as usize, step.max(1) as usize);
        let end = if first == 0 {
            0
        } else {
            last.max(0) as usize + 1
        };
        (first..end).step_by(step)
    }
}

/// A table row with a synchronous handler: what nearly every family's table is made of.
pub const fn sync_spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    categories: &'static [&'static str],
    handler: SyncHandler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        categories,
        handler: Handler::Sync(handler),
    }
}

/// A table row for a command that takes no keys (or finds them itself).
pub const fn keyless_spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    categories: &'static [&'static str],
    handler: SyncHandler,
) -> CommandSpec {
    sync_spec(name, arity, flags, (0, 0, 0), categories, handler)
}

/// Every command family's table, in one list.
fn families() -> impl Iterator<Item = &'static CommandSpec> {
    [
        strings::COMMANDS,
        compare::COMMANDS,
        keys::COMMANDS,
        scan::COMMANDS,
        connection::COMMANDS,
        server::COMMANDS,
        locks::COMMANDS,
        pubsub::COMMANDS,
        transactions::COMMANDS,
        config::COMMANDS,
        info::COMMANDS,
        debug::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        zset_combine::COMMANDS,
        scripting::COMMANDS,
        acl::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

/// Commands by lower-case name, as bytes: a lookup neither validates UTF-8 nor runs SipHash.
static TABLE: LazyLock<hashbrown::HashMap<&'static [u8], &'static CommandSpec>> =
    LazyLock::new(|| {
        families()
            .map(|spec| (spec.name.as_bytes(), spec))
            .collect()
    });

/// Every command, for `COMMAND` and `COMMAND COUNT`.
pub fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    TABLE.values().copied()
}

/// The spec of a command by name, any case.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; 32];
    if name.len() > lower.len() {
        return None;
    }
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    TABLE.get(&*lower).copied()
}

/// What a handler sees: the server, its own client, the shards it holds, and the time of this
/// command (one snapshot per command, so a command sees one consistent "now").
pub struct Ctx<'c, 'k> {
    pub shared: &'k Arc<Shared>,
    pub client: &'c mut Client,
    pub locks: &'c mut KeyLocks<'k>,
    pub now: MonoTime,
    /// Inside `EVAL`: commands flagged `NOSCRIPT` are refused, blocking ones do not block.
    pub in_script: bool,
}

impl<'c, 'k> Ctx<'c, 'k> {
    /// The client's selected database.
    pub fn db(&self) -> usize {
        self.client.db
    }

    /// The shard of `key` in the selected database (already locked by the dispatcher when the
    /// key is one of the command's declared keys).
    pub fn shard(&mut self, key: &[u8]) -> Result<&mut Shard, Error> {
        let db = self.client.db;
        self.locks.shard(db, key)
    }

    /// Whether a blocking command may block: not inside a script, not inside `EXEC` (there it
    /// replies at once, as if its timeout had passed).
    pub fn may_block(&self) -> bool {
        !self.in_script && !self.client.in_exec
    }

    /// The wall-clock time of this command in Unix milliseconds.
    pub fn unix_ms(&self) -> u64 {
        self.unix_us() / 1000
    }

    /// The wall-clock time of this command in Unix microseconds.
    pub fn unix_us(&self) -> u64 {
        self.shared.keyspace.clock.unix_us()
    }
}

/// Runs one request from a connection: looks the command up, checks it, locks its keys, runs
/// it. Errors become error replies; nothing here panics on client input.
pub fn execute(shared: &Arc<Shared>, client: &mut Client, args: &[Bytes]) -> Outcome {
    let checked = check(client, args)
        .and_then(|spec| pubsub::check_subscribed_mode(client, spec).map(|_| spec));
    let spec = match checked {
        Ok(spec) => spec,
        Err(error) => {
            transactions::note_error(client);
            return Outcome::Reply(error.into());
        }
    };
    // One atomic load and a compare when maxmemory is 0.
    if spec.has(flags::DENYOOM) && shared.limits.maxmemory.exceeded() {
        transactions::note_error(client);
        return Outcome::Reply(errors::OOM.into());
    }
    if transactions::queues(client, spec) {
        return Outcome::Reply(transactions::queue(client, args));
    }
    client.note_command(spec.name);
    if shared.keyspace.script_busy() && !spec.has(flags::ALLOW_BUSY) {
        return Outcome::Reply(errors::BUSY.into());
    }
    let mut locks = KeyLocks::new(&shared.keyspace);
    if let Err(error) = lock_declared_keys(&mut locks, client.db, spec, args) {
        return Outcome::Reply(error.into());
    }
    let now = shared.keyspace.now();
    let mut ctx = Ctx {
        shared,
        client,
        locks: &mut locks,
        now,
        in_script: false,
    };
    run(&mut ctx, spec, args)
}

/// Runs a command inside a script (or any caller that already holds a `KeyLocks`): the same
/// checks, the shards taken through the caller's set. Blocking commands reply at once.
pub fn execute_nested(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let spec = match check(ctx.client, args) {
        Ok(spec) => spec,
        Err(error) => return error.into(),
    };
    if spec.has(flags::NOSCRIPT) {
        return Reply::error("ERR This Redis command is not allowed from script");
    }
    execute_spec(ctx, spec, args)
}

/// Runs a command the caller has already looked up and checked (a script's `redis.call` makes
/// its own checks, with its own error texts), with the caller's `KeyLocks`. Blocking commands
/// reply at once.
pub fn execute_spec(ctx: &mut Ctx, spec: &CommandSpec, args: &[Bytes]) -> Reply {
    if let Err(error) = lock_declared_keys(ctx.locks, ctx.client.db, spec, args) {
        return error.into();
    }
    match run(ctx, spec, args) {
        Outcome::Reply(reply) => reply,
        Outcome::Block(_) => Reply::NilArray,
    }
}

/// Runs one command queued by `MULTI`, inside `EXEC`: like [`execute_nested`] (the caller's
/// `KeyLocks`; a blocking command replies at once, as if its timeout had passed), without the
/// refusals that apply only to scripts.
pub fn execute_queued(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let spec = match check(ctx.client, args) {
        Ok(spec) => spec,
        Err(error) => return error.into(),
    };
    ctx.client.note_command(spec.name);
    if let Err(error) = lock_declared_keys(ctx.locks, ctx.client.db, spec, args) {
        return error.into();
    }
    match run(ctx, spec, args) {
        Outcome::Reply(reply) => reply,
        Outcome::Block(_) => Reply::NilArray,
    }
}

/// Lookup, arity, authentication and the user's permissions: the checks every command passes
/// first, in Redis's order (an unknown command or a wrong argument count is reported even
/// before `AUTH`). The permission check is one atomic load for an unrestricted user.
fn check(client: &Client, args: &[Bytes]) -> Result<&'static CommandSpec, Error> {
    let Some(spec) = args.first().and_then(|name| lookup(name)) else {
        return Err(errors::unknown_command(args));
    };
    if !spec.arity_ok(args.len()) {
        return Err(errors::wrong_arity(spec.name));
    }
    // Before authentication, as in Redis: a refused client learns nothing more.
    if spec.has(flags::PROTECTED) && !client.may_debug {
        return Err(errors::DEBUG_NOT_ALLOWED);
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        return Err(errors::NOAUTH);
    }
    client.user.check(spec, args)?;
    Ok(spec)
}

fn lock_declared_keys(
    locks: &mut KeyLocks,
    db: usize,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(), Error> {
    if spec.keys.0 == 0 {
        return Ok(());
    }
    locks.lock_keys(db, spec.key_positions(args.len()).map(|i| &args[i][..]))
}

fn run(ctx: &mut Ctx, spec: &CommandSpec, args: &[Bytes]) -> Outcome {
    let result = match spec.handler {
        Handler::Sync(handler) => handler(ctx, args).map(Outcome::Reply),
        Handler::Blocking(handler) => handler(ctx, args),
    };
    result.unwrap_or_else(|error| Outcome::Reply(error.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for spec in families() {
            assert!(seen.insert(spec.name), "{} listed twice", spec.name);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.name.len() <= 32);
            assert!(spec.arity != 0, "{}", spec.name);
        }
    }

    #[test]
    fn key_positions_follow_redis_specs() {
        let spec = lookup(b"MSET").unwrap();
        assert_eq!(spec.key_positions(5).collect::<Vec<_>>(), vec![1, 3]);
        let spec = lookup(b"get").unwrap();
        assert_eq!(spec.key_positions(2).collect::<Vec<_>>(), vec![1]);
        let spec = lookup(b"del").unwrap();
        assert_eq!(spec.key_positions(4).collect::<Vec<_>>(), vec![1, 2, 3]);
    }
}
