//! The command table's facts: what every command is (arity, Redis flags, ACL categories, key
//! specs, subcommands) and latchkey's own bits, as data with no behaviour.
//!
//! The rows come from `src/command/commands.txt`, compiled in by `build.rs`: one place for the
//! facts that `COMMAND`, the ACL (categories, `+cmd|sub` rules, the key check), key locking and
//! the dispatcher read. The facts are Redis 7.0's; `tests/command_table.rs` compares them with
//! a running redis-server.

use bytes::Bytes;

use super::{BlockingHandler, SyncHandler};

/// Redis's command flags, as bits; [`flag_names`] gives the names `COMMAND` shows.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed inside a script.
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    /// Allowed before the client authenticates.
    pub const NO_AUTH: u32 = 1 << 12;
    /// Counts as a write for read-only scripts (`PUBLISH`); Redis does not show it either.
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    pub const NO_ASYNC_LOADING: u32 = 1 << 15;
    /// Refused inside `MULTI` (`SAVE`).
    pub const NO_MULTI: u32 = 1 << 16;
    /// Derived from the key specs: some keys are found by a key count or keyword.
    pub const MOVABLEKEYS: u32 = 1 << 17;
    /// Runs while a script is past its time limit (everything else gets `BUSY`).
    pub const ALLOW_BUSY: u32 = 1 << 18;
}

/// latchkey's own bits, kept apart from Redis's flags and never shown by `COMMAND`.
pub mod internal {
    /// Allowed in RESP2 subscribed mode (`PING`, the (un)subscribe family, `QUIT`, `RESET`).
    pub const SUBSCRIBED: u32 = 1 << 0;
    /// Runs at once inside `MULTI` instead of being queued (`MULTI`, `EXEC`, `DISCARD`,
    /// `WATCH`, `QUIT`, `RESET`).
    pub const IMMEDIATE: u32 = 1 << 1;
    /// Governed by `enable-debug-command` (Redis's `protected` flag, which `COMMAND` does not
    /// show in Redis 7.0): `DEBUG`.
    pub const PROTECTED: u32 = 1 << 2;
}

/// The names `COMMAND INFO` gives the flags, in Redis's order (`may_replicate` hidden, as in
/// Redis).
pub fn flag_names(bits: u32) -> impl Iterator<Item = &'static str> {
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
        (flags::SKIP_MONITOR, "skip_monitor"),
        (flags::SKIP_SLOWLOG, "skip_slowlog"),
        (flags::FAST, "fast"),
        (flags::NO_AUTH, "no_auth"),
        (flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (flags::NO_ASYNC_LOADING, "no_async_loading"),
        (flags::NO_MULTI, "no_multi"),
        (flags::MOVABLEKEYS, "movablekeys"),
        (flags::ALLOW_BUSY, "allow_busy"),
    ];
    NAMES
        .iter()
        .filter(move |(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
}

/// How a handler runs.
#[derive(Clone, Copy)]
pub enum Handler {
    Sync(SyncHandler),
    Blocking(BlockingHandler),
}

/// Where a key spec finds its keys (Redis's `begin_search` `index` with `find_keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySearch {
    /// Keys from argument `index` to `index + last` (`last` < 0: to the `-last`-th argument
    /// from the end), every `step`.
    Range { index: i32, last: i32, step: i32 },
    /// Argument `index` is a key count (`numkeys`); that many keys follow it.
    Keynum { index: i32 },
}

/// One key spec: where keys are and Redis's flags for them (`RW`, `access`, …).
pub struct KeySpec {
    pub search: KeySearch,
    pub flags: &'static [&'static str],
}

impl KeySpec {
    /// The positions of this spec's keys in `args` (the whole command line).
    pub fn positions(&self, args: &[Bytes]) -> std::iter::StepBy<std::ops::Range<usize>> {
        let (start, end, step) = span(self.search, args);
        (start..end).step_by(step)
    }
}

/// One row of the command table (a command or a subcommand).
pub struct CommandSpec {
    /// Lowercase name; `container|sub` for a subcommand.
    pub name: &'static str,
    /// Number of arguments including the name; negative means "at least".
    pub arity: i32,
    /// Redis's flags ([`flags`]).
    pub flags: u32,
    /// latchkey's own bits ([`internal`]).
    pub internal: u32,
    /// ACL categories without the `@`, e.g. `["string", "fast"]`.
    pub categories: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    /// `COMMAND`'s first key, last key and step, derived from the key specs as Redis derives
    /// them.
    pub legacy_keys: (i32, i32, i32),
    /// A subcommand's handler is its container's.
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

include!(concat!(env!("OUT_DIR"), "/command_table.rs"));

impl CommandSpec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn has_internal(&self, bit: u32) -> bool {
        self.internal & bit != 0
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

    /// Whether the command names keys at all (by any key spec).
    pub fn has_keys(&self) -> bool {
        !self.key_specs.is_empty()
    }

    /// The subcommand named `name` (any case), if this is a container that has it.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands.iter().find(|sub| {
            sub.name
                .split_once('|')
                .is_some_and(|(_, short)| short.as_bytes().eq_ignore_ascii_case(name))
        })
    }

    /// The positions of the key arguments in `args` (the whole command line), from every key
    /// spec in turn, as Redis's key extraction finds them. A key count that is not an integer
    /// from 0 to the number of arguments after it finds no keys.
    pub fn key_positions<'a>(&'static self, args: &'a [Bytes]) -> KeyPositions<'a> {
        KeyPositions {
            specs: self.key_specs,
            args,
            next: 0,
            end: 0,
            step: 1,
        }
    }
}

/// The iterator of [`CommandSpec::key_positions`]: no allocation.
pub struct KeyPositions<'a> {
    specs: &'static [KeySpec],
    args: &'a [Bytes],
    next: usize,
    end: usize,
    step: usize,
}

impl Iterator for KeyPositions<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            if self.next < self.end {
                let position = self.next;
                self.next += self.step;
                return Some(position);
            }
            let (spec, rest) = self.specs.split_first()?;
            self.specs = rest;
            (self.next, self.end, self.step) = span(spec.search, self.args);
        }
    }
}

/// The argument positions `[start, end)` and the step of one key spec in `args`.
fn span(search: KeySearch, args: &[Bytes]) -> (usize, usize, usize) {
    let argc = args.len() as i64;
    match search {
        KeySearch::Range { index, last, step } => {
            let first = index as i64;
            let last = if last >= 0 {
                first + last as i64
            } else {
                argc + last as i64
            };
            let last = last.min(argc - 1);
            if first >= argc || last < first {
                return (0, 0, 1);
            }
            (first as usize, last as usize + 1, step.max(1) as usize)
        }
        KeySearch::Keynum { index } => {
            let first = index as usize + 1;
            let available = args.len().saturating_sub(first);
            // As Redis: a count that is not an integer in 0..=available finds no keys.
            match args
                .get(index as usize)
                .and_then(|n| super::args::parse_i64(n))
            {
                Some(count) if count >= 0 && count as u64 <= available as u64 => {
                    (first, first + count as usize, 1)
                }
                _ => (0, 0, 1),
            }
        }
    }
}

/// Commands by lower-case name, as bytes: a lookup neither validates UTF-8 nor runs SipHash.
static BY_NAME: std::sync::LazyLock<hashbrown::HashMap<&'static [u8], &'static CommandSpec>> =
    std::sync::LazyLock::new(|| TABLE.iter().map(|s| (s.name.as_bytes(), s)).collect());

/// Every top-level command, for `COMMAND` and `COMMAND COUNT`, in the table's order.
pub fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    TABLE.iter()
}

/// Every command and subcommand: what ACL rules and `COMMAND LIST` range over.
pub fn all_entries() -> impl Iterator<Item = &'static CommandSpec> {
    TABLE
        .iter()
        .flat_map(|spec| std::iter::once(spec).chain(spec.subcommands.iter()))
}

/// The spec of a top-level command by name, any case.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; 32];
    if name.len() > lower.len() {
        return None;
    }
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    BY_NAME.get(&*lower).copied()
}

/// A command or subcommand by its full name (`config|get`), any case: what ACL rules name.
pub fn lookup_full(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&c| c == b'|') {
        None => lookup(name),
        Some(bar) => lookup(&name[..bar])?.subcommand(&name[bar + 1..]),
    }
}

/// What the command line `args` runs: the command, or its subcommand when it is a container
/// (`CONFIG GET …` runs `config|get`). `Err` holds the container when the subcommand is
/// unknown, `None` when the command is.
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, Option<&'static CommandSpec>> {
    let spec = args.first().and_then(|name| lookup(name)).ok_or(None)?;
    if spec.subcommands.is_empty() {
        return Ok(spec);
    }
    match args.get(1) {
        // `CONFIG` alone: the container's arity error.
        None => Ok(spec),
        Some(sub) => spec.subcommand(sub).ok_or(Some(spec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn keys(words: &[&str]) -> Vec<usize> {
        let args = line(words);
        let spec = resolve(&args).ok().unwrap();
        spec.key_positions(&args).collect()
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for spec in all_entries() {
            assert!(seen.insert(spec.name), "{} listed twice", spec.name);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity != 0, "{}", spec.name);
        }
        assert!(all_commands().all(|spec| !spec.name.contains('|')));
    }

    #[test]
    fn key_positions_follow_redis_specs() {
        assert_eq!(keys(&["MSET", "a", "1", "b", "2"]), vec![1, 3]);
        assert_eq!(keys(&["get", "a"]), vec![1]);
        assert_eq!(keys(&["DEL", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(keys(&["BLPOP", "a", "b", "0"]), vec![1, 2]);
        assert_eq!(
            keys(&["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]),
            vec![1, 3, 4]
        );
        assert_eq!(keys(&["EVAL", "s", "1", "k", "arg"]), vec![3]);
        assert_eq!(keys(&["EVAL", "s", "5", "k"]), Vec::<usize>::new());
        assert_eq!(keys(&["EVAL", "s", "-1", "k"]), Vec::<usize>::new());
        assert_eq!(
            keys(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]),
            vec![2, 3]
        );
        assert_eq!(keys(&["OBJECT", "ENCODING", "k"]), vec![2]);
        assert_eq!(keys(&["PING"]), Vec::<usize>::new());
    }

    #[test]
    fn subcommands_resolve() {
        assert_eq!(
            resolve(&line(&["config", "GET", "x"])).ok().unwrap().name,
            "config|get"
        );
        assert_eq!(resolve(&line(&["CONFIG"])).ok().unwrap().name, "config");
        assert_eq!(
            resolve(&line(&["config", "nope"]))
                .err()
                .unwrap()
                .unwrap()
                .name,
            "config"
        );
        assert!(resolve(&line(&["nope"])).err().unwrap().is_none());
        assert_eq!(lookup_full(b"CLIENT|List").unwrap().name, "client|list");
        assert!(lookup_full(b"client|nope").is_none());
        assert_eq!(lookup(b"zunionstore").unwrap().legacy_keys, (1, 1, 1));
        assert!(lookup(b"zunionstore").unwrap().has(flags::MOVABLEKEYS));
        assert_eq!(lookup(b"eval").unwrap().legacy_keys, (0, 0, 0));
        assert_eq!(lookup(b"blmove").unwrap().legacy_keys, (1, 2, 1));
        assert_eq!(lookup(b"mset").unwrap().legacy_keys, (1, -1, 2));
    }
}
