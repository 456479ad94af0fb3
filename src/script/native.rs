//! Native fast paths: the lock scripts of the most used client libraries, recognised by the
//! SHA1 of their exact text and run as Rust.
//!
//! Each one does what its Lua text does, step for step, through the same [`ScriptCall`] as
//! `redis.call` (so the commands, their checks and their errors are the real ones), and fails
//! the way the Lua text fails (`WRONGTYPE … script: <sha>, on @user_script:<line>.`). A
//! differential test runs every one against the Lua engine on random keyspace states.
//!
//! A native script [`accepts`](NativeScript::accepts) only calls whose shape its text expects
//! (enough keys and arguments, numbers where Lua would do arithmetic); any other call runs in
//! Lua, or, in a build without Lua, gets an error naming the missing feature.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;

use super::call::{error_table_text, script_error};
use super::number::format_argument;
use super::{sha1, sha_hex, Invocation, ScriptCall, Sha};
use crate::command::args::parse_i64;
use crate::errors::{CommandResult, Error};
use crate::protocol::Reply;

/// The script texts, byte for byte as the libraries send them.
pub mod texts {
    /// The compare-and-delete every Redis lock tutorial shows.
    pub const COMPARE_DELETE: &str = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) else return 0 end";
    /// redis-py `Lock` (and `redis.asyncio.lock.Lock`): release, extend, reacquire.
    pub const REDIS_PY_RELEASE: &str = "\n        local token = redis.call('get', KEYS[1])\n        if not token or token ~= ARGV[1] then\n            return 0\n        end\n        redis.call('del', KEYS[1])\n        return 1\n    ";
    pub const REDIS_PY_EXTEND: &str = "\n        local token = redis.call('get', KEYS[1])\n        if not token or token ~= ARGV[1] then\n            return 0\n        end\n        local expiration = redis.call('pttl', KEYS[1])\n        if not expiration then\n            expiration = 0\n        end\n        if expiration < 0 then\n            return 0\n        end\n\n        local newttl = ARGV[2]\n        if ARGV[3] == \"0\" then\n            newttl = ARGV[2] + expiration\n        end\n        redis.call('pexpire', KEYS[1], newttl)\n        return 1\n    ";
    pub const REDIS_PY_REACQUIRE: &str = "\n        local token = redis.call('get', KEYS[1])\n        if not token or token ~= ARGV[1] then\n            return 0\n        end\n        redis.call('pexpire', KEYS[1], ARGV[2])\n        return 1\n    ";
    /// node `redlock` 4: acquire, release, extend (tab-indented).
    pub const REDLOCK4_ACQUIRE: &str = "\n\t-- Return 0 if an entry already exists.\n\tfor i, key in ipairs(KEYS) do\n\t\tif redis.call(\"exists\", key) == 1 then\n\t\t\treturn 0\n\t\tend\n\tend\n\n\t-- Create an entry for each provided key.\n\tfor i, key in ipairs(KEYS) do\n\t\tredis.call(\"set\", key, ARGV[1], \"PX\", ARGV[2])\n\tend\n\n\t-- Return the number of entries added.\n\treturn #KEYS\n";
    pub const REDLOCK4_RELEASE: &str = "\n\tlocal count = 0\n\tfor i, key in ipairs(KEYS) do\n\t\t-- Only remove entries for *this* lock value.\n\t\tif redis.call(\"get\", key) == ARGV[1] then\n\t\t\tredis.pcall(\"del\", key)\n\t\t\tcount = count + 1\n\t\tend\n\tend\n\n\t-- Return the number of entries removed.\n\treturn count\n";
    pub const REDLOCK4_EXTEND: &str = "\n\t-- Return 0 if an entry exists with a *different* lock value.\n\tfor i, key in ipairs(KEYS) do\n\t\tif redis.call(\"get\", key) ~= ARGV[1] then\n\t\t\treturn 0\n\t\tend\n\tend\n\n\t-- Update the entry for each provided key.\n\tfor i, key in ipairs(KEYS) do\n\t\tredis.call(\"set\", key, ARGV[1], \"PX\", ARGV[2])\n\tend\n\n\t-- Return the number of entries updated.\n\treturn #KEYS\n";
    /// node `redlock` 5: the same scripts, two-space indented.
    pub const REDLOCK5_ACQUIRE: &str = "\n  -- Return 0 if an entry already exists.\n  for i, key in ipairs(KEYS) do\n    if redis.call(\"exists\", key) == 1 then\n      return 0\n    end\n  end\n\n  -- Create an entry for each provided key.\n  for i, key in ipairs(KEYS) do\n    redis.call(\"set\", key, ARGV[1], \"PX\", ARGV[2])\n  end\n\n  -- Return the number of entries added.\n  return #KEYS\n";
    pub const REDLOCK5_EXTEND: &str = "\n  -- Return 0 if an entry exists with a *different* lock value.\n  for i, key in ipairs(KEYS) do\n    if redis.call(\"get\", key) ~= ARGV[1] then\n      return 0\n    end\n  end\n\n  -- Update the entry for each provided key.\n  for i, key in ipairs(KEYS) do\n    redis.call(\"set\", key, ARGV[1], \"PX\", ARGV[2])\n  end\n\n  -- Return the number of entries updated.\n  return #KEYS\n";
    pub const REDLOCK5_RELEASE: &str = "\n  local count = 0\n  for i, key in ipairs(KEYS) do\n    -- Only remove entries for *this* lock value.\n    if redis.call(\"get\", key) == ARGV[1] then\n      redis.pcall(\"del\", key)\n      count = count + 1\n    end\n  end\n\n  -- Return the number of entries removed.\n  return count\n";
    /// `@sesamecare-oss/redlock`: redlock 5's scripts with a `SELECT` of `ARGV[1]` first.
    pub const SESAME_ACQUIRE: &str = "\n  \n  -- Protected call to execute SELECT command if supported\n  redis.pcall(\"SELECT\", tonumber(ARGV[1]))\n\n\n  -- Return 0 if an entry already exists.\n  for i, key in ipairs(KEYS) do\n    if redis.call(\"exists\", key) == 1 then\n      return 0\n    end\n  end\n\n  -- Create an entry for each provided key.\n  for i, key in ipairs(KEYS) do\n    redis.call(\"set\", key, ARGV[2], \"PX\", ARGV[3])\n  end\n\n  -- Return the number of entries added.\n  return #KEYS\n";
    pub const SESAME_EXTEND: &str = "\n  \n  -- Protected call to execute SELECT command if supported\n  redis.pcall(\"SELECT\", tonumber(ARGV[1]))\n\n\n  -- Return 0 if an entry exists with a *different* lock value.\n  for i, key in ipairs(KEYS) do\n    if redis.call(\"get\", key) ~= ARGV[2] then\n      return 0\n    end\n  end\n\n  -- Update the entry for each provided key.\n  for i, key in ipairs(KEYS) do\n    redis.call(\"set\", key, ARGV[2], \"PX\", ARGV[3])\n  end\n\n  -- Return the number of entries updated.\n  return #KEYS\n";
    pub const SESAME_RELEASE: &str = "\n  \n  -- Protected call to execute SELECT command if supported\n  redis.pcall(\"SELECT\", tonumber(ARGV[1]))\n\n\n  local count = 0\n  for i, key in ipairs(KEYS) do\n    -- Only remove entries for *this* lock value.\n    if redis.call(\"get\", key) == ARGV[2] then\n      redis.pcall(\"del\", key)\n      count = count + 1\n    end\n  end\n\n  -- Return the number of entries removed.\n  return count\n";
    /// Go `redsync` v4: release (current, and before it told an expired lock apart), extend,
    /// and extend-or-take.
    pub const REDSYNC_DELETE: &str = "\n\tlocal val = redis.call(\"GET\", KEYS[1])\n\tif val == ARGV[1] then\n\t\treturn redis.call(\"DEL\", KEYS[1])\n\telseif val == false then\n\t\treturn -1\n\telse\n\t\treturn 0\n\tend\n";
    pub const REDSYNC_DELETE_OLD: &str = "\n\tif redis.call(\"GET\", KEYS[1]) == ARGV[1] then\n\t\treturn redis.call(\"DEL\", KEYS[1])\n\telse\n\t\treturn 0\n\tend\n";
    pub const REDSYNC_TOUCH: &str = "\n\tif redis.call(\"GET\", KEYS[1]) == ARGV[1] then\n\t\treturn redis.call(\"PEXPIRE\", KEYS[1], ARGV[2])\n\telse\n\t\treturn 0\n\tend\n";
    pub const REDSYNC_TOUCH_OR_TAKE: &str = "\n\tif redis.call(\"GET\", KEYS[1]) == ARGV[1] then\n\t\treturn redis.call(\"PEXPIRE\", KEYS[1], ARGV[2])\n\telseif redis.call(\"SET\", KEYS[1], ARGV[1], \"PX\", ARGV[2], \"NX\") then\n\t\treturn 1\n\telse\n\t\treturn 0\n\tend\n";
}

/// What a native script does; each variant mirrors one family of texts.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `GET` = token → return `DEL`'s reply, else 0; with `missing_is_minus_one`, an absent key
    /// gives -1 (redsync).
    CompareDelete { missing_is_minus_one: bool },
    /// redis-py release: token matches → `DEL`, return 1; else 0.
    CheckedDelete,
    /// redis-py extend: token matches and the key has a TTL → `PEXPIRE` to `ARGV[2]`, or to
    /// `ARGV[2]` + the current TTL when `ARGV[3]` is `"0"`; return 1; else 0.
    RedisPyExtend,
    /// redis-py reacquire: token matches → `PEXPIRE ARGV[2]`, return 1; else 0.
    CheckedPexpire,
    /// redsync extend: token matches → return `PEXPIRE`'s reply; else (with `or_take`) take the
    /// lock with `SET NX PX` and return 1 when taken; else 0.
    Touch { or_take: bool },
    /// redlock acquire over every key: 0 if any exists, else `SET … PX` each, return #KEYS.
    MultiAcquire { args: RedlockArgs },
    /// redlock extend over every key: 0 if any holds another value, else `SET … PX` each.
    MultiExtend { args: RedlockArgs },
    /// redlock release over every key: `DEL` those holding the token, return how many.
    MultiRelease { args: RedlockArgs },
}

/// Where a redlock text finds its token and TTL, and whether it `SELECT`s `ARGV[1]` first.
#[derive(Clone, Copy, Debug)]
struct RedlockArgs {
    select_first: bool,
    token: usize,
    ttl: usize,
}

const REDLOCK: RedlockArgs = RedlockArgs {
    select_first: false,
    token: 0,
    ttl: 1,
};
const SESAME: RedlockArgs = RedlockArgs {
    select_first: true,
    token: 1,
    ttl: 2,
};

/// A script run natively: its kind and the line of each `redis.call` in its text, for errors.
pub struct NativeScript {
    /// What library sends it, for the README and tests.
    pub name: &'static str,
    pub text: &'static str,
    kind: Kind,
    sha_hex: String,
    lines: CallLines,
}

/// The line (1-based) of each command's `redis.call` in a script text.
#[derive(Default)]
struct CallLines {
    get: usize,
    del: usize,
    pexpire: usize,
    pttl: usize,
    set: usize,
    exists: usize,
}

impl CallLines {
    fn of(text: &str) -> CallLines {
        let line = |command: &str| call_line(text, command).unwrap_or(1);
        CallLines {
            get: line("get"),
            del: line("del"),
            pexpire: line("pexpire"),
            pttl: line("pttl"),
            set: line("set"),
            exists: line("exists"),
        }
    }
}

/// The line of the first `redis.call("<command>"` (any quotes, any case) in `text`.
fn call_line(text: &str, command: &str) -> Option<usize> {
    let normal = text.to_ascii_lowercase().replace('\'', "\"");
    let at = normal.find(&format!("redis.call(\"{command}\""))?;
    Some(normal[..at].matches('\n').count() + 1)
}

/// Every native script, by name, text and kind.
const CATALOGUE: &[(&str, &str, Kind)] = &[
    (
        "compare-and-delete",
        texts::COMPARE_DELETE,
        Kind::CompareDelete {
            missing_is_minus_one: false,
        },
    ),
    (
        "redis-py Lock release",
        texts::REDIS_PY_RELEASE,
        Kind::CheckedDelete,
    ),
    (
        "redis-py Lock extend",
        texts::REDIS_PY_EXTEND,
        Kind::RedisPyExtend,
    ),
    (
        "redis-py Lock reacquire",
        texts::REDIS_PY_REACQUIRE,
        Kind::CheckedPexpire,
    ),
    (
        "redlock 4 acquire",
        texts::REDLOCK4_ACQUIRE,
        Kind::MultiAcquire { args: REDLOCK },
    ),
    (
        "redlock 4 release",
        texts::REDLOCK4_RELEASE,
        Kind::MultiRelease { args: REDLOCK },
    ),
    (
        "redlock 4 extend",
        texts::REDLOCK4_EXTEND,
        Kind::MultiExtend { args: REDLOCK },
    ),
    (
        "redlock 5 acquire",
        texts::REDLOCK5_ACQUIRE,
        Kind::MultiAcquire { args: REDLOCK },
    ),
    (
        "redlock 5 release",
        texts::REDLOCK5_RELEASE,
        Kind::MultiRelease { args: REDLOCK },
    ),
    (
        "redlock 5 extend",
        texts::REDLOCK5_EXTEND,
        Kind::MultiExtend { args: REDLOCK },
    ),
    (
        "@sesamecare-oss/redlock acquire",
        texts::SESAME_ACQUIRE,
        Kind::MultiAcquire { args: SESAME },
    ),
    (
        "@sesamecare-oss/redlock release",
        texts::SESAME_RELEASE,
        Kind::MultiRelease { args: SESAME },
    ),
    (
        "@sesamecare-oss/redlock extend",
        texts::SESAME_EXTEND,
        Kind::MultiExtend { args: SESAME },
    ),
    (
        "redsync release",
        texts::REDSYNC_DELETE,
        Kind::CompareDelete {
            missing_is_minus_one: true,
        },
    ),
    (
        "redsync release (before v4.9)",
        texts::REDSYNC_DELETE_OLD,
        Kind::CompareDelete {
            missing_is_minus_one: false,
        },
    ),
    (
        "redsync extend",
        texts::REDSYNC_TOUCH,
        Kind::Touch { or_take: false },
    ),
    (
        "redsync extend-or-take",
        texts::REDSYNC_TOUCH_OR_TAKE,
        Kind::Touch { or_take: true },
    ),
];

static NATIVE: LazyLock<HashMap<Sha, NativeScript>> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .map(|&(name, text, kind)| {
            let sha = sha1(text.as_bytes());
            let script = NativeScript {
                name,
                text,
                kind,
                sha_hex: sha_hex(&sha),
                lines: CallLines::of(text),
            };
            (sha, script)
        })
        .collect()
});

/// The native script with this SHA1, if any.
pub fn find(sha: &Sha) -> Option<&'static NativeScript> {
    NATIVE.get(sha)
}

/// Every native script, for tests and documentation.
pub fn all() -> impl Iterator<Item = &'static NativeScript> {
    CATALOGUE
        .iter()
        .filter_map(|(_, text, _)| find(&sha1(text.as_bytes())))
}

impl NativeScript {
    pub fn sha_hex(&self) -> &str {
        &self.sha_hex
    }

    /// Whether a call with these keys and arguments has the shape the text expects; if not, it
    /// runs in Lua.
    pub fn accepts(&self, keys: &[Bytes], argv: &[Bytes]) -> bool {
        match self.kind {
            Kind::CompareDelete { .. } | Kind::CheckedDelete => {
                !keys.is_empty() && !argv.is_empty()
            }
            Kind::CheckedPexpire | Kind::Touch { .. } => !keys.is_empty() && argv.len() >= 2,
            Kind::RedisPyExtend => {
                // `ARGV[2] + expiration` is Lua arithmetic: only plain integers are done here.
                !keys.is_empty()
                    && argv.len() >= 2
                    && (argv.get(2).is_none_or(|mode| &mode[..] != b"0")
                        || parse_i64(&argv[1]).is_some_and(|n| n.unsigned_abs() < 1 << 53))
            }
            Kind::MultiAcquire { args }
            | Kind::MultiExtend { args }
            | Kind::MultiRelease { args } => {
                argv.len() > args.token.max(args.ttl)
                    && (!args.select_first || parse_i64(&argv[0]).is_some())
            }
        }
    }

    /// Runs the script; the call must have been [accepted](Self::accepts).
    pub fn run(&self, call: &mut ScriptCall, invocation: &Invocation) -> CommandResult {
        let (keys, argv) = (invocation.keys, invocation.argv);
        let mut run = Run { call, script: self };
        match self.kind {
            Kind::CompareDelete {
                missing_is_minus_one,
            } => {
                let key = &keys[0];
                match run.get(key)? {
                    Some(value) if value == argv[0] => {
                        run.call(self.lines.del, &[Bytes::from_static(b"del"), key.clone()])
                    }
                    None if missing_is_minus_one => Ok(Reply::Integer(-1)),
                    _ => Ok(Reply::Integer(0)),
                }
            }
            Kind::CheckedDelete => {
                if !run.token_matches(&keys[0], &argv[0])? {
                    return Ok(Reply::Integer(0));
                }
                run.call(
                    self.lines.del,
                    &[Bytes::from_static(b"del"), keys[0].clone()],
                )?;
                Ok(Reply::Integer(1))
            }
            Kind::RedisPyExtend => {
                let key = &keys[0];
                if !run.token_matches(key, &argv[0])? {
                    return Ok(Reply::Integer(0));
                }
                let expiration =
                    match run.call(self.lines.pttl, &[Bytes::from_static(b"pttl"), key.clone()])? {
                        Reply::Integer(ms) => ms,
                        _ => 0,
                    };
                if expiration < 0 {
                    return Ok(Reply::Integer(0));
                }
                let new_ttl = match (argv.get(2), parse_i64(&argv[1])) {
                    (Some(mode), Some(ttl)) if &mode[..] == b"0" => {
                        Bytes::from(format_argument(ttl as f64 + expiration as f64))
                    }
                    _ => argv[1].clone(),
                };
                run.call(
                    self.lines.pexpire,
                    &[Bytes::from_static(b"pexpire"), key.clone(), new_ttl.clone()],
                )?;
                Ok(Reply::Integer(1))
            }
            Kind::CheckedPexpire => {
                if !run.token_matches(&keys[0], &argv[0])? {
                    return Ok(Reply::Integer(0));
                }
                run.call(
                    self.lines.pexpire,
                    &[
                        Bytes::from_static(b"pexpire"),
                        keys[0].clone(),
                        argv[1].clone(),
                    ],
                )?;
                Ok(Reply::Integer(1))
            }
            Kind::Touch { or_take } => {
                let (key, token, ttl) = (&keys[0], &argv[0], &argv[1]);
                if run.get(key)?.is_some_and(|value| value == token) {
                    return run.call(
                        self.lines.pexpire,
                        &[Bytes::from_static(b"pexpire"), key.clone(), ttl.clone()],
                    );
                }
                if !or_take {
                    return Ok(Reply::Integer(0));
                }
                let taken = run.call(
                    self.lines.set,
                    &[
                        Bytes::from_static(b"set"),
                        key.clone(),
                        token.clone(),
                        Bytes::from_static(b"PX"),
                        ttl.clone(),
                        Bytes::from_static(b"NX"),
                    ],
                )?;
                Ok(Reply::Integer(truthy(&taken) as i64))
            }
            Kind::MultiAcquire { args } => {
                run.select_first(args, argv);
                for key in keys {
                    let exists = run.call(
                        self.lines.exists,
                        &[Bytes::from_static(b"exists"), key.clone()],
                    )?;
                    if exists == Reply::Integer(1) {
                        return Ok(Reply::Integer(0));
                    }
                }
                run.set_all(keys, &argv[args.token], &argv[args.ttl])
            }
            Kind::MultiExtend { args } => {
                run.select_first(args, argv);
                for key in keys {
                    if run.get(key)?.as_ref() != Some(&argv[args.token]) {
                        return Ok(Reply::Integer(0));
                    }
                }
                run.set_all(keys, &argv[args.token], &argv[args.ttl])
            }
            Kind::MultiRelease { args } => {
                run.select_first(args, argv);
                let mut count = 0;
                for key in keys {
                    if run.get(key)?.as_ref() == Some(&argv[args.token]) {
                        // `redis.pcall`: whatever `DEL` says is ignored.
                        run.call.call(&[Bytes::from_static(b"del"), key.clone()]);
                        count += 1;
                    }
                }
                Ok(Reply::Integer(count))
            }
        }
    }
}

/// Whether a reply converted to Lua is true: everything but a null (`false`).
fn truthy(reply: &Reply) -> bool {
    !matches!(reply, Reply::Nil | Reply::NilArray)
}

/// One native run: the calls a script text makes, each failing as its `redis.call` would.
struct Run<'r, 's, 'c, 'k> {
    call: &'r mut ScriptCall<'s, 'c, 'k>,
    script: &'r NativeScript,
}

impl Run<'_, '_, '_, '_> {
    /// `redis.call(…)` on the given line of the text: an error reply raises the script error.
    fn call(&mut self, line: usize, args: &[Bytes]) -> CommandResult {
        match self.call.call(args) {
            Reply::Error(text) => Err(script_error(
                &error_table_text(&format!("-{text}")),
                &self.script.sha_hex,
                Some(line),
            )),
            reply => Ok(reply),
        }
    }

    /// `redis.call("get", key)`: the value, or `None` for Lua's `false`.
    fn get(&mut self, key: &Bytes) -> Result<Option<Bytes>, Error> {
        let line = self.script.lines.get;
        match self.call(line, &[Bytes::from_static(b"get"), key.clone()])? {
            Reply::Bulk(value) => Ok(Some(value)),
            _ => Ok(None),
        }
    }

    /// `local token = redis.call('get', KEYS[1]); if not token or token ~= ARGV[1]` (negated).
    fn token_matches(&mut self, key: &Bytes, token: &Bytes) -> Result<bool, Error> {
        Ok(self.get(key)?.is_some_and(|value| value == token))
    }

    /// `redis.pcall("SELECT", tonumber(ARGV[1]))`, when the text starts with it.
    fn select_first(&mut self, args: RedlockArgs, argv: &[Bytes]) {
        if args.select_first {
            self.call
                .call(&[Bytes::from_static(b"SELECT"), argv[0].clone()]);
        }
    }

    /// `redis.call("set", key, token, "PX", ttl)` for every key; returns `#KEYS`.
    fn set_all(&mut self, keys: &[Bytes], token: &Bytes, ttl: &Bytes) -> CommandResult {
        let line = self.script.lines.set;
        for key in keys {
            self.call(
                line,
                &[
                    Bytes::from_static(b"set"),
                    key.clone(),
                    token.clone(),
                    Bytes::from_static(b"PX"),
                    ttl.clone(),
                ],
            )?;
        }
        Ok(Reply::Integer(keys.len() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA1s of the texts as the libraries send them (computed from their published
    /// sources): a changed byte in a text would silently turn its fast path off.
    #[test]
    fn texts_are_byte_exact() {
        for (text, sha) in [
            (
                texts::COMPARE_DELETE,
                "b70c2384248f88e6b75b9f89241a180f856ad852",
            ),
            (
                texts::REDIS_PY_RELEASE,
                "c3f8721cbb97f72bc19e972846bd7aaf91901658",
            ),
            (
                texts::REDIS_PY_EXTEND,
                "a4e8783852e6b949f9ef3a97212805108459a890",
            ),
            (
                texts::REDIS_PY_REACQUIRE,
                "1cac51482acf5858da00f6d685d68f886cd6b6b2",
            ),
            (
                texts::REDLOCK4_ACQUIRE,
                "e5a322e2634ef59a516e8ea150cb085afafee684",
            ),
            (
                texts::REDLOCK4_RELEASE,
                "0f0f23b9048b36752b5be114f357ba083449f908",
            ),
            (
                texts::REDLOCK4_EXTEND,
                "ce46f80993d5dac20dd066eb301a4e37994bdbed",
            ),
            (
                texts::REDLOCK5_ACQUIRE,
                "96da70f7716f27d278a5218544df37fd8b0a5e4c",
            ),
            (
                texts::REDLOCK5_EXTEND,
                "aed6f382e410db8ba7926d4e5e9aab410bf2a78a",
            ),
            (
                texts::REDLOCK5_RELEASE,
                "e4612211c9f8f51c257e26e056b0a654b3187242",
            ),
            (
                texts::SESAME_ACQUIRE,
                "1b77b94aa78451d55dfa97e18819bfbfc596cb5b",
            ),
            (
                texts::SESAME_EXTEND,
                "820e9778d2b6733e9ed771e4be90ae73a95a6f3b",
            ),
            (
                texts::SESAME_RELEASE,
                "df51f6837dcfe303d334e6abea9aeae192bab216",
            ),
            (
                texts::REDSYNC_DELETE,
                "e950836ed1e694540c503ef9972b8de518044d3b",
            ),
            (
                texts::REDSYNC_DELETE_OLD,
                "00583931c4e4d483f6233879c133c71ed5393f9d",
            ),
            (
                texts::REDSYNC_TOUCH,
                "d75bb8b5bd13532ddedd17762e772346e39b321e",
            ),
            (
                texts::REDSYNC_TOUCH_OR_TAKE,
                "b6b55c439e02c6f52ffb8be7ec8c0d0ac816ea79",
            ),
        ] {
            assert_eq!(sha_hex(&sha1(text.as_bytes())), sha, "{text:?}");
        }
    }

    #[test]
    fn every_text_is_recognised_with_its_call_lines() {
        assert_eq!(all().count(), CATALOGUE.len());
        let card = find(&sha1(texts::COMPARE_DELETE.as_bytes())).unwrap();
        assert_eq!(card.sha_hex(), "b70c2384248f88e6b75b9f89241a180f856ad852");
        assert_eq!((card.lines.get, card.lines.del), (1, 1));
        let extend = find(&sha1(texts::REDIS_PY_EXTEND.as_bytes())).unwrap();
        assert_eq!(
            (extend.lines.get, extend.lines.pttl, extend.lines.pexpire),
            (2, 6, 18)
        );
        let redsync = find(&sha1(texts::REDSYNC_DELETE.as_bytes())).unwrap();
        assert_eq!(
            redsync.sha_hex(),
            "e950836ed1e694540c503ef9972b8de518044d3b"
        );
        let take = find(&sha1(texts::REDSYNC_TOUCH_OR_TAKE.as_bytes())).unwrap();
        assert_eq!(take.sha_hex(), "b6b55c439e02c6f52ffb8be7ec8c0d0ac816ea79");
        assert_eq!(
            (take.lines.get, take.lines.pexpire, take.lines.set),
            (2, 3, 4)
        );
        let sesame = find(&sha1(texts::SESAME_ACQUIRE.as_bytes())).unwrap();
        assert_eq!((sesame.lines.exists, sesame.lines.set), (9, 16));
    }
}
