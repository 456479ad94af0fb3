//! Scripts: what `EVAL`, `EVALSHA` and `SCRIPT` run.
//!
//! A script is known by the SHA1 of its exact bytes. The server keeps every script it has seen
//! in [`Scripts`] (`SCRIPT LOAD`, `EVAL`), so `EVALSHA` finds it; each worker thread keeps its
//! own Lua VM with the compiled functions (see the `lua` module, cargo feature `lua`).
//!
//! The scripts that lock libraries send (compare-and-delete, redis-py's release/extend/
//! reacquire, node redlock's and redsync's acquire/extend/release) are recognised by SHA1 and
//! run as Rust ([`native`]), with the same replies, errors and effects as the Lua text; they run
//! even in a build without Lua.
//!
//! **Atomicity and the lock order.** A script's effects are all-or-nothing visible to other
//! clients because its shards stay locked for its whole run, through the one [`ShardGuards`] of
//! its command (the lock order is in `db/guards.rs`):
//! - a script that declares keys (`numkeys > 0`) locks the shards of its `KEYS` up front, in
//!   ascending order, like any multi-key command; it should touch only those keys. Touching
//!   another key still works (its shard is locked on the spot: waiting when it lies above every
//!   held shard, only trying for a bounded time when below, because waiting there could close a
//!   cycle), so such a script may fail with an error rather than deadlock;
//! - a script that declares no keys (python-redis-lock's reset-all runs `KEYS lock:*`, then
//!   `DEL`s what it found) locks every shard of every database, in ascending order: it runs
//!   alone, as every script does in Redis.
//!
//! **Limits.** Past `--lua-time-limit` a Lua script marks the keyspace busy: other commands get
//! `BUSY` and waits for its shards give up (see `db/guards.rs`), and `SCRIPT KILL` stops it unless
//! it already wrote. Each VM has a memory limit.

pub mod call;
pub mod native;
pub mod number;

#[cfg(feature = "lua")]
mod lua;
#[cfg(feature = "lua")]
mod lua_patterns;
#[cfg(feature = "lua")]
mod lualib;
#[cfg(feature = "lua")]
mod pattern;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::command::Ctx;
use crate::errors::{self, CommandResult, Error};

pub use call::ScriptCall;

/// A script's SHA1 digest.
pub type Sha = [u8; 20];

/// Scripts that arrived by `EVAL` (not `SCRIPT LOAD`) are kept up to this many; the oldest is
/// forgotten first (`EVALSHA` of it gets `NOSCRIPT`, and clients fall back to `EVAL`). Redis 7.4
/// bounds them the same way, so a client that builds a new script per call cannot fill memory.
const MAX_EVAL_SCRIPTS: usize = 500;

/// The SHA1 of `body`.
pub fn sha1(body: &[u8]) -> Sha {
    sha1_smol::Sha1::from(body).digest().bytes()
}

/// A digest as 40 lowercase hex digits, as `SCRIPT LOAD` returns it.
pub fn sha_hex(sha: &Sha) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(40);
    for byte in sha {
        text.push(HEX[(byte >> 4) as usize] as char);
        text.push(HEX[(byte & 15) as usize] as char);
    }
    text
}

/// A digest given by a client: 40 hex digits, either case. Anything else is no known script.
pub fn parse_sha(arg: &[u8]) -> Option<Sha> {
    if arg.len() != 40 {
        return None;
    }
    let mut sha = [0u8; 20];
    for (i, pair) in arg.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        sha[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(sha)
}

/// The scripts a server knows, and the scripts running past the time limit.
pub struct Scripts {
    bodies: RwLock<HashMap<Sha, Bytes>>,
    /// Scripts added by `EVAL`, oldest first: the ones that may be forgotten.
    evaluated: Mutex<VecDeque<Sha>>,
    /// Scripts running past the time limit, for `SCRIPT KILL`.
    slow: Mutex<Vec<Arc<RunningScript>>>,
    /// Whether known lock scripts run natively (tests turn it off to compare with Lua).
    native: AtomicBool,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            bodies: RwLock::new(HashMap::new()),
            evaluated: Mutex::new(VecDeque::new()),
            slow: Mutex::new(Vec::new()),
            native: AtomicBool::new(true),
        }
    }
}

impl Scripts {
    /// The body of a known script.
    pub fn get(&self, sha: &Sha) -> Option<Bytes> {
        self.bodies.read().get(sha).cloned()
    }

    pub fn exists(&self, sha: &Sha) -> bool {
        self.bodies.read().contains_key(sha)
    }

    /// Remembers a script. `pinned` (from `SCRIPT LOAD`) scripts stay until `SCRIPT FLUSH`;
    /// others may be forgotten once [`MAX_EVAL_SCRIPTS`] newer ones arrived.
    pub fn insert(&self, sha: Sha, body: Bytes, pinned: bool) {
        let mut bodies = self.bodies.write();
        let mut evaluated = self.evaluated.lock();
        if pinned {
            evaluated.retain(|s| *s != sha);
        } else if bodies.contains_key(&sha) {
            return;
        } else {
            evaluated.push_back(sha);
            if evaluated.len() > MAX_EVAL_SCRIPTS {
                if let Some(oldest) = evaluated.pop_front() {
                    bodies.remove(&oldest);
                }
            }
        }
        bodies.insert(sha, body);
    }

    /// Forgets every script (`SCRIPT FLUSH`).
    pub fn flush(&self) {
        self.bodies.write().clear();
        self.evaluated.lock().clear();
    }

    /// `SCRIPT KILL`: stops the scripts running past the time limit that have not written.
    pub fn kill(&self) -> Result<(), Error> {
        let slow = self.slow.lock();
        if slow.is_empty() {
            return Err(errors::NOTBUSY);
        }
        let mut killed = false;
        for script in slow.iter() {
            if !script.wrote.load(Ordering::Acquire) {
                script.kill.store(true, Ordering::Release);
                killed = true;
            }
        }
        if killed {
            Ok(())
        } else {
            Err(errors::UNKILLABLE)
        }
    }

    /// Whether known lock scripts run natively.
    pub fn native_enabled(&self) -> bool {
        self.native.load(Ordering::Relaxed)
    }

    /// Turns the native fast paths off or on (off: every script runs in Lua). For tests that
    /// compare the two.
    pub fn set_native(&self, enabled: bool) {
        self.native.store(enabled, Ordering::Relaxed);
    }

    #[cfg_attr(not(feature = "lua"), allow(dead_code))]
    pub(crate) fn add_slow(&self, script: Arc<RunningScript>) {
        self.slow.lock().push(script);
    }

    #[cfg_attr(not(feature = "lua"), allow(dead_code))]
    pub(crate) fn remove_slow(&self, script: &Arc<RunningScript>) {
        self.slow.lock().retain(|s| !Arc::ptr_eq(s, script));
    }
}

/// What other clients may see of a running script: whether it wrote (then it cannot be
/// killed) and whether `SCRIPT KILL` asked it to stop.
#[derive(Default)]
pub struct RunningScript {
    pub wrote: AtomicBool,
    pub kill: AtomicBool,
}

/// What a script's `#!lua` shebang line declares (Redis 7's script flags). A script without
/// one runs in compatibility mode: it may write, and no flag applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// The script starts with a `#!lua` line.
    pub shebang: bool,
    /// `no-writes`: write commands fail, and `EVAL_RO` may run it.
    pub no_writes: bool,
    /// `allow-oom`: the script may start while used memory is past `maxmemory`.
    pub allow_oom: bool,
    /// `allow-stale`, `no-cluster`, `allow-cross-slot-keys`: accepted; without replicas or a
    /// cluster they change nothing.
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

/// Reads a script's shebang line, as Redis 7.0 does: `#!lua` then options separated by
/// spaces, the only one being `flags=` with a comma-separated list. Returns the flags and the
/// length of the shebang line (the newline excluded, so that line numbers stay the same when
/// the rest is compiled).
pub fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), Error> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), 0));
    }
    let Some(length) = body.iter().position(|&b| b == b'\n') else {
        return Err(Error::fixed("ERR Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..length]);
    let mut parts = line
        .split(|c: char| c.is_ascii_whitespace() || c == '\x0b')
        .filter(|part| !part.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(Error::err(format!(
            "Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut flags = ScriptFlags {
        shebang: true,
        ..ScriptFlags::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(Error::err(format!("Unknown lua shebang option: {part}")));
        };
        if list.is_empty() {
            continue;
        }
        for flag in list.split(',') {
            let slot = match flag {
                "no-writes" => &mut flags.no_writes,
                "allow-oom" => &mut flags.allow_oom,
                "allow-stale" => &mut flags.allow_stale,
                "no-cluster" => &mut flags.no_cluster,
                "allow-cross-slot-keys" => &mut flags.allow_cross_slot_keys,
                other => {
                    return Err(Error::err(format!(
                        "Unexpected flag in script shebang: {other}"
                    )))
                }
            };
            *slot = true;
        }
    }
    Ok((flags, length))
}

/// The refusals a script's flags make before it runs, in Redis 7.0's order.
fn check_flags(ctx: &Ctx, flags: ScriptFlags, read_only_call: bool) -> Result<(), Error> {
    if !flags.shebang || flags.no_writes {
        return Ok(());
    }
    // Such a script is refused like any write command while memory is past the limit.
    if !flags.allow_oom && ctx.shared.limits.maxmemory.exceeded() {
        return Err(errors::OOM);
    }
    if read_only_call {
        return Err(Error::fixed(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(())
}

/// One script call, parsed: which script, its keys and arguments, and how it was called.
pub struct Invocation<'a> {
    pub sha: Sha,
    pub body: &'a Bytes,
    pub keys: &'a [Bytes],
    pub argv: &'a [Bytes],
    /// `EVAL_RO` / `EVALSHA_RO`: write commands are refused.
    pub read_only: bool,
    /// The script's `allow-oom` flag (set by [`run`] from its shebang).
    pub allow_oom: bool,
}

/// Runs a script: locks every shard when it declares no keys (see the module docs), then runs
/// it natively when it is a known lock script, else in Lua. The database a script `SELECT`s does not outlive it.
pub fn run(ctx: &mut Ctx, invocation: &Invocation) -> CommandResult {
    let (flags, _) = parse_shebang(invocation.body)?;
    check_flags(ctx, flags, invocation.read_only)?;
    // `no-writes` refuses writes exactly as a read-only call does.
    let invocation = &Invocation {
        read_only: invocation.read_only || flags.no_writes,
        allow_oom: flags.allow_oom,
        ..*invocation
    };
    // The shards of the declared keys are already held: `EVAL`'s key spec is its `numkeys`,
    // so the dispatcher locked them with the command.
    if invocation.keys.is_empty() {
        ctx.guards.lock_all()?;
    }
    let db = ctx.client.db;
    let was_in_script = std::mem::replace(&mut ctx.in_script, true);
    let result = run_locked(ctx, invocation);
    ctx.in_script = was_in_script;
    if ctx.client.db != db {
        ctx.client.select(db);
    }
    result
}

fn run_locked(ctx: &mut Ctx, invocation: &Invocation) -> CommandResult {
    if ctx.shared.scripts.native_enabled() {
        if let Some(script) = native::find(&invocation.sha) {
            if script.accepts(invocation.keys, invocation.argv) {
                let mut call = ScriptCall::new(ctx, invocation.read_only, None);
                call.allow_oom = invocation.allow_oom;
                return script.run(&mut call, invocation);
            }
        }
    }
    run_interpreted(ctx, invocation)
}

#[cfg(feature = "lua")]
fn run_interpreted(ctx: &mut Ctx, invocation: &Invocation) -> CommandResult {
    lua::run(ctx, invocation)
}

#[cfg(not(feature = "lua"))]
fn run_interpreted(_ctx: &mut Ctx, _invocation: &Invocation) -> CommandResult {
    Err(errors::NO_LUA)
}

/// Checks that a script compiles (`SCRIPT LOAD`, `EVAL` of a new script): its shebang line,
/// then its Lua text. Without Lua every script with a valid shebang (or none) is accepted:
/// known ones run natively, others fail when called.
pub fn compile(sha: &Sha, body: &Bytes) -> Result<(), Error> {
    parse_shebang(body)?;
    #[cfg(feature = "lua")]
    {
        lua::compile(sha, body)
    }
    #[cfg(not(feature = "lua"))]
    {
        let _ = (sha, body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_text_round_trip() {
        let sha = sha1(b"return 1");
        assert_eq!(sha_hex(&sha), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        assert_eq!(
            parse_sha(b"E0E1F9FABFC9D4800C877A703B823AC0578FF8DB"),
            Some(sha)
        );
        assert_eq!(parse_sha(b"e0e1"), None);
        assert_eq!(parse_sha(b"g0e1f9fabfc9d4800c877a703b823ac0578ff8db"), None);
    }

    #[test]
    fn shebangs_read_as_redis_reads_them() {
        assert_eq!(
            parse_shebang(b"return 1").unwrap(),
            (ScriptFlags::default(), 0)
        );
        let (flags, length) = parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(flags.shebang && flags.no_writes && flags.allow_oom && !flags.allow_stale);
        assert_eq!(length, 31);
        let (flags, _) = parse_shebang(b"#!lua  flags=\r\nreturn 1").unwrap();
        assert!(flags.shebang && !flags.no_writes);
        let error = |body: &[u8]| parse_shebang(body).unwrap_err().0;
        assert_eq!(error(b"#!lua"), "ERR Invalid script shebang");
        assert_eq!(
            error(b"#!python\n"),
            "ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            error(b"#!lua flags=no-writes,foo\n"),
            "ERR Unexpected flag in script shebang: foo"
        );
        assert_eq!(
            error(b"#!lua name=x\n"),
            "ERR Unknown lua shebang option: name=x"
        );
    }

    #[test]
    fn eval_scripts_are_bounded_loaded_ones_stay() {
        let scripts = Scripts::default();
        let pinned = sha1(b"pinned");
        scripts.insert(pinned, Bytes::from("pinned"), true);
        for i in 0..MAX_EVAL_SCRIPTS + 10 {
            let body = Bytes::from(format!("return {i}"));
            scripts.insert(sha1(&body), body, false);
        }
        assert!(scripts.exists(&pinned));
        assert!(!scripts.exists(&sha1(b"return 0")));
        assert!(scripts.exists(&sha1(format!("return {}", MAX_EVAL_SCRIPTS + 9).as_bytes())));
        assert_eq!(scripts.bodies.read().len(), MAX_EVAL_SCRIPTS + 1);
    }
}
