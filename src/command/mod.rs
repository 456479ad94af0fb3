//! Commands: the table that describes them, the one dispatch path that runs them, and the
//! handlers, one module per family.
//!
//! - `commands.txt` + [`spec`]: every command's facts (arity, Redis flags, ACL categories, key
//!   specs, subcommands) and latchkey's own bits, as data compiled in by `build.rs`.
//! - [`dispatch`]: the pipeline every command passes — from a client, from `EXEC`, from a
//!   script — checking once what the table says, so handlers never repeat that work.
//! - [`args`]: the argument cursor and Redis's number parsing.
//!
//! A reader looking for `SET` opens `strings.rs`; `EXPIRE` is in `keys.rs`; `DELIFEQ` and
//! `DELEX` in `compare.rs`; `PING`, `HELLO`, `AUTH`, `CLIENT` in `connection.rs`; `KEYS`,
//! `SCAN` in `scan.rs`; `INFO` in `info.rs`; `COMMAND`, `FLUSHALL` in `server.rs`; `EVAL`,
//! `EVALSHA`, `SCRIPT` in `scripting.rs`; `CONFIG` in `config.rs`; `DEBUG` in `debug.rs`;
//! `LOCK.*` in `locks.rs`; `SUBSCRIBE`, `PUBLISH` in `pubsub.rs`; `MULTI`, `EXEC`, `WATCH` in
//! `transactions.rs`.
//!
//! The data types: `lists.rs`, `hashes.rs`, `sets.rs`, `zsets.rs` (with `zset_combine.rs` for
//! `ZUNION`/`ZINTER`/`ZDIFF`); the blocking pops of lists and sorted sets in `pop_waits.rs`;
//! what they share (typed access, `*SCAN` options) in `aggregate.rs`. docs/commands.md shows
//! how a command flows and how to add one.

pub mod acl;
pub mod aggregate;
pub mod args;
pub mod compare;
pub mod config;
pub mod connection;
pub mod debug;
pub mod dispatch;
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
pub mod spec;
pub mod strings;
pub mod transactions;
pub mod zset_combine;
pub mod zsets;

use crate::clock::MonoTime;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::client::Client;
use crate::db::{Shard, ShardGuards};
use crate::errors::{CommandResult, Error};
use crate::notify::class;
use crate::protocol::Reply;
use crate::server::Shared;

pub use dispatch::{execute, execute_nested, Caller};
pub use spec::{
    all_commands, all_entries, flag_names, flags, internal, lookup, lookup_full, CommandSpec,
    Handler,
};

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

/// What a handler sees: the server, its own client, the shards it holds, and the time of this
/// command (one snapshot per command, so a command sees one consistent "now").
pub struct Ctx<'c, 'k> {
    pub shared: &'k Arc<Shared>,
    pub client: &'c mut Client,
    pub guards: &'c mut ShardGuards<'k>,
    pub now: MonoTime,
    /// Inside `EVAL`: blocking commands (those a script may run) do not block.
    pub in_script: bool,
    /// What this command (with the commands a script or `EXEC` ran) changed, as the
    /// append-only file's commands; appended once, when the command ends (see [`run`]).
    pub effects: Vec<crate::persist::Effect>,
}

impl<'c, 'k> Ctx<'c, 'k> {
    /// Reports event `event` of `event_class` on `key` in the command's database. Cheap when
    /// notifications are off. Keys the command's shard expired on the way (a `SET` over a lapsed
    /// lock) are announced first, so `expired` comes before the event, as in Redis.
    pub fn notify(&mut self, event_class: u32, event: &str, key: &[u8]) {
        let notifier = &self.shared.notify;
        if notifier.flags() & event_class == 0 {
            return;
        }
        let db = self.db();
        if notifier.enabled(class::EXPIRED) {
            if let Ok(shard) = self.guards.shard(db, key) {
                if shard.has_expired_keys() {
                    notifier.expired(db, &shard.take_expired_keys());
                }
            }
        }
        notifier.event(event_class, event, key, db);
    }

    /// Reports a change made by a list, hash, set or sorted-set command: its event, then `del`
    /// when the change emptied the key (the keyspace never keeps an empty aggregate), in the order
    /// Redis publishes them.
    pub fn notify_aggregate(&mut self, event_class: u32, event: &str, key: &[u8]) {
        if self.shared.notify.flags() & (event_class | class::GENERIC) == 0 {
            return;
        }
        self.notify(event_class, event, key);
        let (db, now) = (self.db(), self.now);
        let emptied = self
            .guards
            .shard(db, key)
            .is_ok_and(|shard| !shard.contains(key, now));
        if emptied {
            self.notify(class::GENERIC, "del", key);
        }
    }

    /// The client's selected database.
    pub fn db(&self) -> usize {
        self.client.db
    }

    /// The shard of `key` in the selected database (already locked by the dispatcher when the
    /// key is one of the command's declared keys).
    pub fn shard(&mut self, key: &[u8]) -> Result<&mut Shard, Error> {
        let db = self.client.db;
        self.guards.shard(db, key)
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
