//! latchkey: a Redis-compatible lock server.
//!
//! A RESP2/RESP3 TCP server that speaks the commands distributed-lock libraries send, over a
//! sharded, expiry-aware in-memory keyspace. It is a library as well as the `latchkey` binary,
//! so tests can start a server in-process with [`Server`].
//!
//! # Layout
//! - [`server`]: what connections share, the accept loop, graceful shutdown, embedding.
//! - [`connection`]: one client's read–execute–write loop.
//! - [`protocol`]: the incremental request parser and the RESP2/RESP3 reply encoder.
//! - [`command`]: the command table and dispatcher; one module per command family.
//! - [`db`]: the keyspace: shards, entries, the lock order, active expiry.
//! - [`client`]: per-connection state and the client registry.
//! - [`clock`]: monotonic time for deadlines, injectable for tests.
//! - [`config`]: the command line and its `LATCHKEY_*` environment variables.
//! - [`errors`]: Redis's error texts, in one place.
//! - [`glob`]: Redis glob patterns (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`).
//! - [`locks`]: lock-native behaviour behind `LOCK.*`: fencing tokens, grants, waiting.
//! - [`pubsub`]: channels, patterns and their subscribers' bounded mailboxes; [`pubsub::publish`].
//! - [`notify`]: keyspace notifications (`notify-keyspace-events`).
//! - [`persist`]: durability: Redis's append-only file, loaded at start.
//! - [`script`]: scripts: the script cache, Lua 5.1 (feature `lua`), native lock scripts.
//! - [`acl`]: users, their passwords and permissions (`AUTH`, `ACL`, `--aclfile`), protected
//!   mode.
//! - [`tls`]: the TLS listener's rustls configuration and handshake.
//! - [`limits`]: client output/query buffer limits, TCP keepalive, `maxmemory` for writes.
//! - [`memory`]: used memory: a counting global allocator the binary installs.

pub mod acl;
pub mod client;
pub mod clock;
pub mod command;
pub mod config;
pub mod connection;
pub mod db;
pub mod errors;
pub mod glob;
pub mod limits;
pub mod locks;
pub mod memory;
pub mod notify;
pub mod persist;
pub mod protocol;
pub mod pubsub;
pub mod script;
pub mod server;
pub mod tls;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use server::{BackgroundServer, Server, ServerHandle};
