//! The Lua 5.1 engine (cargo feature `lua`): `mlua` with the vendored interpreter, one VM per
//! worker thread, compiled functions cached by SHA1.
//!
//! **Sandbox**, as Redis 7: scripts see a read-only global table (assigning a global, or a field
//! of `string`, `redis`, … gives `Attempt to modify a readonly table`; reading a missing global
//! is an error too), no `os`, `io`, `debug`, `loadfile`, `dofile`, `loadstring`, `print`,
//! `getfenv`/`setfenv`, `coroutine`; the libraries `string`, `table`, `math` and the `redis`
//! table (`call`, `pcall`, `error_reply`, `status_reply`, `sha1hex`, `log`, `setresp`, …).
//! Only text chunks are loaded (no bytecode).
//!
//! **Limits.** An instruction-count hook checks the clock: past the time limit it marks the
//! keyspace busy (other clients get `BUSY`) and registers the script for `SCRIPT KILL`, which
//! makes the hook raise `Script killed by user with SCRIPT KILL...`. Each VM has a memory limit;
//! a script that passes it fails with an error and the VM carries on.
//!
//! **Errors** take Redis 7's form: a message handler turns any error into a table
//! `{err=…}` (a non-table error `e` becomes `ERR <e>`) and notes the script line it came
//! from, and the client gets `<err> script: <sha>, on @user_script:<line>.`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use super::call::{error_table_text, one_line, script_error};
use super::number::{format_argument, lua_tostring, to_integer_reply};
use super::{lua_patterns, sha1, sha_hex, Invocation, RunningScript, ScriptCall, Sha};
use crate::command::Ctx;
use crate::errors::{CommandResult, Error};
use crate::protocol::Reply;
use crate::server::Shared;

/// Most memory one VM may use.
const MEMORY_LIMIT: usize = 64 << 20;
/// The hook runs every this many VM instructions (a few microseconds of work).
const HOOK_EVERY: u32 = 1000;
/// A script running this long hands its tokio worker to another thread (see
/// [`hand_off_worker`]) and starts noticing server shutdown.
const LONG_SCRIPT: Duration = Duration::from_millis(2);
/// Compiled functions kept per VM; past this the cache starts afresh (scripts recompile).
const MAX_FUNCTIONS: usize = 1000;
/// Deepest table nesting converted to a reply.
const MAX_REPLY_DEPTH: usize = 1000;
/// The chunk name of scripts, as Redis names them in errors.
const SCRIPT_SOURCE: &str = "@user_script";
/// The chunk name of the sandbox set-up code; its frames are skipped when locating errors.
const SANDBOX_SOURCE: &str = "=sandbox";

/// Builds the sandbox. Runs once per VM with the real globals, the native `redis.call` and the
/// `redis` functions written in Rust.
const SANDBOX: &str = r#"
local G, helpers, error_text = ...
local error, tostring, setmetatable, getmetatable, pcall = error, tostring, setmetatable, getmetatable, pcall

-- A read-only table is an empty proxy whose metatable is marked `__readonly` (the Rust
-- `rawset`/`setmetatable` refuse such tables).
local function deny() error("Attempt to modify a readonly table", 2) end
local function protect(t)
  return setmetatable({}, { __index = t, __newindex = deny, __metatable = false, __readonly = true })
end

for _, name in ipairs({ "dofile", "loadfile", "load", "loadstring", "getfenv", "setfenv",
                        "newproxy", "print", "module", "require", "package", "coroutine",
                        "debug", "io", "os" }) do
  G[name] = nil
end

getmetatable("").__metatable = false

-- As in Redis, `pcall` hands back an error's text, not the error object. Neither it nor
-- `xpcall` can swallow the error of a killed script: that error is raised again.
local stop_if_requested = helpers.stop_if_requested
helpers.stop_if_requested = nil
local function caught(ok, ...)
  if ok then return ok, ... end
  stop_if_requested()
  return false, error_text((...))
end
G.pcall = function(...) return caught(pcall(...)) end
local xpcall = xpcall
local function handled(ok, ...)
  if not ok then stop_if_requested() end
  return ok, ...
end
G.xpcall = function(f, handler) return handled(xpcall(f, handler)) end

local redis = {}
for name, f in pairs(helpers) do
  if name == "rawset" or name == "setmetatable" then G[name] = f else redis[name] = f end
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.replicate_commands = function() return true end
redis.set_repl = function() end
redis.breakpoint = function() return false end
redis.debug = function() end

G.redis = protect(redis)
for _, name in ipairs({ "string", "table", "math" }) do G[name] = protect(G[name]) end
G.KEYS, G.ARGV = {}, {}

local env = setmetatable({}, { __index = G, __newindex = deny, __metatable = false, __readonly = true })
G._G = env
setmetatable(G, { __index = function(_, name)
  if name == "loadstring" then return nil end
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end, __metatable = false })
return env
"#;

/// A thread's VM and what it keeps between scripts.
struct Engine {
    lua: Lua,
    /// Compiled scripts by SHA1.
    functions: HashMap<Sha, Function>,
    /// The read-only environment scripts run in.
    env: Table,
    keys: Table,
    argv: Table,
    xpcall: Function,
    handler: Function,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The script running on this thread (type-erased `*mut Current`), while it runs.
    static CURRENT: Cell<*mut ()> = const { Cell::new(std::ptr::null_mut()) };
    /// The time limit watch of the script running on this thread.
    static WATCH: RefCell<Option<Watch>> = const { RefCell::new(None) };
}

/// What `redis.call` needs of the running script.
struct Current<'r, 's, 'c, 'k> {
    call: &'r mut ScriptCall<'s, 'c, 'k>,
    /// `redis.setresp(3)`: replies reach the script, and leave it, as RESP3 types.
    resp3: bool,
}

/// Makes `current` the running script of this thread until dropped.
struct CurrentGuard;

impl CurrentGuard {
    fn set(current: &mut Current) -> CurrentGuard {
        CURRENT.with(|slot| slot.set(current as *mut Current as *mut ()));
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        CURRENT.with(|slot| slot.set(std::ptr::null_mut()));
    }
}

/// Runs `f` with the running script of this thread; `None` outside a script.
fn with_current<R>(f: impl FnOnce(&mut Current) -> R) -> Option<R> {
    let pointer = CURRENT.with(|slot| slot.get());
    if pointer.is_null() {
        return None;
    }
    // SAFETY: `pointer` was set by `CurrentGuard::set` to a `Current` that lives on the stack of
    // `run_function` for as long as the guard does, on this thread; the guard clears it before
    // that frame ends. Lua calls back (`redis.call`, the `redis` helpers) only synchronously,
    // inside that call and one callback at a time, so this is the only reference in use, and
    // `f` cannot keep it (it is higher-ranked over the lifetimes).
    let current = unsafe { &mut *(pointer as *mut Current) };
    Some(f(current))
}

/// The time limit of one script: checked by the hook.
struct Watch {
    shared: Arc<Shared>,
    running: Arc<RunningScript>,
    started: Instant,
    limit: Duration,
    past_limit: bool,
    /// Seen by the check once the script ran long: the server is shutting down.
    shutting_down: bool,
    /// When this thread last offered its tokio worker to another thread.
    last_hand_off: Option<Instant>,
}

impl Watch {
    /// The error that ends the script, once `SCRIPT KILL` or shutdown asked for it.
    fn stop_requested(&self) -> mlua::Result<()> {
        if self.running.kill.load(std::sync::atomic::Ordering::Acquire) {
            return Err(mlua::Error::RuntimeError(
                "Script killed by user with SCRIPT KILL...".into(),
            ));
        }
        if self.shutting_down {
            return Err(mlua::Error::RuntimeError(
                "Script killed because the server is shutting down".into(),
            ));
        }
        Ok(())
    }

    fn check(&mut self) -> mlua::Result<VmState> {
        self.stop_requested()?;
        let elapsed = self.started.elapsed();
        if elapsed < LONG_SCRIPT {
            return Ok(VmState::Continue);
        }
        if *self.shared.shutdown.borrow() {
            self.shutting_down = true;
            self.stop_requested()?;
        }
        if self
            .last_hand_off
            .is_none_or(|at| at.elapsed() >= LONG_SCRIPT / 2)
        {
            hand_off_worker();
            self.last_hand_off = Some(Instant::now());
        }
        if !self.past_limit && elapsed >= self.limit {
            self.past_limit = true;
            tracing::warn!(
                "a script has been running for more than {} ms; SCRIPT KILL can stop it",
                self.limit.as_millis()
            );
            self.shared.scripts.add_slow(self.running.clone());
            self.shared.keyspace.note_script_past_limit(true);
        }
        Ok(VmState::Continue)
    }
}

/// A long-running script keeps its thread, so the tokio worker that ran it must go on
/// elsewhere: otherwise the connections queued on it (and the I/O driver, if this worker was the
/// one polling it) wait for the script, and nobody could even send `SCRIPT KILL`.
/// `block_in_place` hands the worker's core to a new thread; this thread finishes the script
/// without it. Only on the multi-threaded runtime (on a current-thread runtime there is no other
/// thread to hand off to).
fn hand_off_worker() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_thread =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_thread {
        // The short pause gives the new thread time to take the core.
        tokio::task::block_in_place(|| std::thread::sleep(Duration::from_micros(200)));
    }
}

/// The hook's check, also called by the pattern matcher while it backtracks: past the time
/// limit the server turns busy, and a requested stop raises its error.
fn watch_check() -> mlua::Result<()> {
    WATCH.with(|slot| match slot.try_borrow_mut() {
        Ok(mut watch) => watch.as_mut().map_or(Ok(()), |w| w.check().map(|_| ())),
        Err(_) => Ok(()),
    })
}

/// Raises the stop error if `SCRIPT KILL` or shutdown asked for one. The sandbox's `pcall` and
/// `xpcall` call it when they catch an error, and `redis.call` before it runs a command, so a
/// script cannot catch its own kill and go on (Redis re-raises it from its hook on every line).
fn stop_if_requested() -> mlua::Result<()> {
    WATCH.with(|slot| match slot.try_borrow() {
        Ok(watch) => watch.as_ref().map_or(Ok(()), Watch::stop_requested),
        Err(_) => Ok(()),
    })
}

/// Starts the watch of a script on this thread; ends it (and the busy state) when dropped.
struct WatchGuard;

impl WatchGuard {
    fn start(watch: Watch) -> WatchGuard {
        WATCH.with(|slot| *slot.borrow_mut() = Some(watch));
        WatchGuard
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(watch) = WATCH.with(|slot| slot.borrow_mut().take()) {
            if watch.past_limit {
                watch.shared.scripts.remove_slow(&watch.running);
                watch.shared.keyspace.note_script_past_limit(false);
            }
        }
    }
}

/// Runs a script in this thread's VM.
pub fn run(ctx: &mut Ctx, invocation: &Invocation) -> CommandResult {
    let limit = Duration::from_millis(ctx.shared.config.read().lua_time_limit);
    let shared = ctx.shared.clone();
    with_engine(|engine| {
        let function = engine.function(&invocation.sha, invocation.body)?;
        engine
            .set_arguments(invocation.keys, invocation.argv)
            .map_err(internal)?;
        let running = Arc::new(RunningScript::default());
        let mut call = ScriptCall::new(ctx, invocation.read_only, Some(&running));
        let mut current = Current {
            call: &mut call,
            resp3: false,
        };
        let _watch = WatchGuard::start(Watch {
            shared,
            running: running.clone(),
            started: Instant::now(),
            limit,
            past_limit: false,
            shutting_down: false,
            last_hand_off: None,
        });
        let outcome = {
            let _current = CurrentGuard::set(&mut current);
            engine
                .xpcall
                .call::<MultiValue>((function, engine.handler.clone()))
        };
        let resp3 = current.resp3;
        let sha = || sha_hex(&invocation.sha);
        let result = match outcome {
            Ok(values) => {
                let mut values = values.into_iter();
                match values.next() {
                    Some(Value::Boolean(true)) => {
                        Ok(lua_to_reply(&values.next().unwrap_or(Value::Nil), resp3, 0))
                    }
                    _ => Err(error_reply(&values.next().unwrap_or(Value::Nil), &sha())),
                }
            }
            Err(error) => Err(script_error(
                &format!("ERR {}", message(&error)),
                &sha(),
                None,
            )),
        };
        // A script may have stopped the collector (`collectgarbage("stop")`): not for the next.
        engine.lua.gc_restart();
        if result.is_err() && engine.lua.used_memory() > MEMORY_LIMIT / 2 {
            let _ = engine.lua.gc_collect();
        }
        result
    })
}

/// Compiles a script into this thread's VM (`SCRIPT LOAD`, the first `EVAL` of a script).
pub fn compile(sha: &Sha, body: &Bytes) -> Result<(), Error> {
    with_engine(|engine| engine.function(sha, body).map(|_| ()))
}

fn with_engine<R>(f: impl FnOnce(&mut Engine) -> Result<R, Error>) -> Result<R, Error> {
    ENGINE.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| Error::fixed("ERR the script engine is busy on this thread"))?;
        if slot.is_none() {
            *slot = Some(Engine::new().map_err(internal)?);
        }
        match slot.as_mut() {
            Some(engine) => f(engine),
            None => Err(Error::fixed("ERR the script engine could not start")),
        }
    })
}

fn internal(error: mlua::Error) -> Error {
    Error::err(one_line(&message(&error)))
}

impl Engine {
    fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::STRING | StdLib::TABLE | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let globals = lua.globals();
        let helpers = lua.create_table()?;
        lua_patterns::install(&lua, &globals.raw_get("string")?, watch_check)?;
        helpers.raw_set("call", lua.create_function(redis_call)?)?;
        helpers.raw_set(
            "stop_if_requested",
            lua.create_function(|_, ()| stop_if_requested())?,
        )?;
        helpers.raw_set("pcall", lua.create_function(redis_pcall)?)?;
        let rawset: Function = globals.raw_get("rawset")?;
        helpers.raw_set(
            "rawset",
            lua.create_function(move |_, (table, key, value): (Table, Value, Value)| {
                refuse_readonly(&table)?;
                rawset.call::<Value>((table, key, value))
            })?,
        )?;
        let setmetatable: Function = globals.raw_get("setmetatable")?;
        helpers.raw_set(
            "setmetatable",
            lua.create_function(move |_, (table, metatable): (Table, Value)| {
                refuse_readonly(&table)?;
                setmetatable.call::<Value>((table, metatable))
            })?,
        )?;
        helpers.raw_set("error_reply", lua.create_function(error_reply_helper)?)?;
        helpers.raw_set("status_reply", lua.create_function(status_reply_helper)?)?;
        helpers.raw_set("sha1hex", lua.create_function(sha1hex_helper)?)?;
        helpers.raw_set("log", lua.create_function(log_helper)?)?;
        helpers.raw_set("setresp", lua.create_function(setresp_helper)?)?;
        helpers.raw_set("REDIS_VERSION", crate::command::connection::REDIS_VERSION)?;
        helpers.raw_set("REDIS_VERSION_NUM", redis_version_num())?;
        let xpcall: Function = globals.raw_get("xpcall")?;
        let env: Table = lua
            .load(SANDBOX)
            .set_name(SANDBOX_SOURCE)
            .set_mode(ChunkMode::Text)
            .call((
                globals.clone(),
                helpers,
                lua.create_function(caught_error_text)?,
            ))?;
        let keys: Table = globals.raw_get("KEYS")?;
        let argv: Table = globals.raw_get("ARGV")?;
        let handler = lua.create_function(error_handler)?;
        lua.set_memory_limit(MEMORY_LIMIT)?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |_lua, _debug| watch_check().map(|_| VmState::Continue),
        )?;
        Ok(Engine {
            lua,
            functions: HashMap::new(),
            env,
            keys,
            argv,
            xpcall,
            handler,
        })
    }

    /// The compiled function of a script, compiling it if this VM has not yet.
    fn function(&mut self, sha: &Sha, body: &Bytes) -> Result<Function, Error> {
        if let Some(function) = self.functions.get(sha) {
            return Ok(function.clone());
        }
        let function = self
            .lua
            .load(&body[..])
            .set_name(SCRIPT_SOURCE)
            .set_mode(ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|error| {
                Error::err(format!(
                    "Error compiling script (new function): {}",
                    one_line(&message(&error))
                ))
            })?;
        if self.functions.len() >= MAX_FUNCTIONS {
            self.functions.clear();
        }
        self.functions.insert(*sha, function.clone());
        debug_assert_eq!(sha1(body), *sha);
        Ok(function)
    }

    /// Fills the `KEYS` and `ARGV` tables (the same tables every time) for the next script.
    fn set_arguments(&self, keys: &[Bytes], argv: &[Bytes]) -> mlua::Result<()> {
        fill(&self.lua, &self.keys, keys)?;
        fill(&self.lua, &self.argv, argv)
    }
}

fn fill(lua: &Lua, table: &Table, items: &[Bytes]) -> mlua::Result<()> {
    // A previous script may have given the table a metatable: nothing carries over.
    if table.metatable().is_some() {
        table.set_metatable(None)?;
    }
    let previous = table.raw_len();
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, lua.create_string(item)?)?;
    }
    for i in items.len() + 1..=previous {
        table.raw_set(i, Value::Nil)?;
    }
    Ok(())
}

/// `7.4.0` as `0x070400`.
fn redis_version_num() -> i64 {
    crate::command::connection::REDIS_VERSION
        .split('.')
        .take(3)
        .fold(0, |n, part| n * 256 + part.parse::<i64>().unwrap_or(0))
}

/// An error of `redis.call`: raised with the command's error text as it is (no `ERR ` added).
#[derive(Debug)]
struct CallError(String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The text of a `redis.call` error, if `error` is one.
fn call_error(error: &mlua::Error) -> Option<String> {
    match error {
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<CallError>().map(|e| e.0.clone()),
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            call_error(cause)
        }
        _ => None,
    }
}

/// What the script's `pcall` returns for a caught error: the text of an error table or of an
/// error raised by Rust; any other value as it is.
fn caught_error_text(lua: &Lua, error: Value) -> mlua::Result<Value> {
    Ok(match error {
        Value::Table(table) => match table.raw_get::<Value>("err")? {
            Value::Nil => Value::Table(table),
            text => text,
        },
        Value::Error(error) => {
            let text = call_error(&error).unwrap_or_else(|| message(&error));
            Value::String(lua.create_string(text)?)
        }
        other => other,
    })
}

/// `rawset` and `setmetatable` refuse the read-only tables.
fn refuse_readonly(table: &Table) -> mlua::Result<()> {
    let readonly = table
        .metatable()
        .is_some_and(|mt| mt.raw_get::<bool>("__readonly").unwrap_or(false));
    if readonly {
        return Err(mlua::Error::RuntimeError(
            "Attempt to modify a readonly table".into(),
        ));
    }
    Ok(())
}

/// `redis.call`: runs the command; an error reply is raised as the script's error.
fn redis_call(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let (reply, failed) = native_call(lua, args)?;
    if failed {
        if let Value::Table(table) = &reply {
            let text = match table.raw_get::<Value>("err")? {
                Value::String(text) => String::from_utf8_lossy(&text.as_bytes()).into_owned(),
                _ => String::new(),
            };
            return Err(mlua::Error::external(CallError(text)));
        }
    }
    Ok(reply)
}

/// `redis.pcall`: runs the command; an error reply is returned as `{err=…}`.
fn redis_pcall(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    Ok(native_call(lua, args)?.0)
}

/// What `redis.call` and `redis.pcall` share: converts the arguments, runs the command,
/// returns the reply converted for Lua and whether it is an error.
fn native_call(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    stop_if_requested()?;
    let mut command = Vec::with_capacity(args.len());
    for arg in args.iter() {
        let bytes = match arg {
            Value::String(text) => Bytes::copy_from_slice(&text.as_bytes()),
            Value::Integer(n) => Bytes::from(format_argument(*n as f64)),
            Value::Number(n) => Bytes::from(format_argument(*n)),
            _ => {
                let error = error_table(
                    lua,
                    "ERR Lua redis lib command arguments must be strings or integers",
                )?;
                return Ok((Value::Table(error), true));
            }
        };
        command.push(bytes);
    }
    let outcome = with_current(|current| {
        let reply = current.call.call(&command);
        (reply, current.resp3)
    });
    let Some((reply, resp3)) = outcome else {
        return Err(mlua::Error::RuntimeError(
            "redis.call is only available while a script runs".into(),
        ));
    };
    let failed = reply.is_error();
    Ok((reply_to_lua(lua, reply, resp3)?, failed))
}

fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("err", text)?;
    Ok(table)
}

/// A Lua string or number argument as bytes (`lua_isstring`), else `None`.
fn string_argument(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(text) => Some(text.as_bytes().to_vec()),
        Value::Integer(n) => Some(lua_tostring(*n as f64).into_bytes()),
        Value::Number(n) => Some(lua_tostring(*n).into_bytes()),
        _ => None,
    }
}

/// `redis.error_reply(text)`: `{err=text}`, normalised as Redis does.
fn error_reply_helper(lua: &Lua, args: MultiValue) -> mlua::Result<Table> {
    let text = match args.iter().collect::<Vec<_>>().as_slice() {
        [value] => string_argument(value),
        _ => None,
    };
    let Some(text) = text else {
        return error_table(lua, "ERR wrong number or type of arguments");
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let line = if text.starts_with('-') {
        text
    } else {
        format!("-{text}")
    };
    error_table(lua, &error_table_text(&line))
}

/// `redis.status_reply(text)`: `{ok=text}`.
fn status_reply_helper(lua: &Lua, args: MultiValue) -> mlua::Result<Table> {
    let text = match args.iter().collect::<Vec<_>>().as_slice() {
        [value] => string_argument(value),
        _ => None,
    };
    let Some(text) = text else {
        return error_table(lua, "ERR wrong number or type of arguments");
    };
    let table = lua.create_table()?;
    table.raw_set("ok", lua.create_string(&text)?)?;
    Ok(table)
}

/// `redis.sha1hex(text)`.
fn sha1hex_helper(_lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    let values: Vec<&Value> = args.iter().collect();
    match values.as_slice() {
        [value] => {
            let text = string_argument(value).unwrap_or_default();
            Ok(sha_hex(&sha1(&text)))
        }
        _ => Err(mlua::Error::RuntimeError(
            "wrong number of arguments".into(),
        )),
    }
}

/// `redis.log(level, message…)`: to the server's log.
fn log_helper(_lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let values: Vec<&Value> = args.iter().collect();
    if values.len() < 2 {
        return Err(mlua::Error::RuntimeError(
            "redis.log() requires two arguments or more.".into(),
        ));
    }
    let level = match values[0] {
        Value::Integer(n) if (0..=3).contains(n) => *n,
        Value::Number(n) if (0.0..=3.0).contains(n) => *n as i64,
        _ => return Err(mlua::Error::RuntimeError("Invalid debug level.".into())),
    };
    let text: Vec<String> = values[1..]
        .iter()
        .filter_map(|v| string_argument(v))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    let text = text.join(" ");
    match level {
        0 | 1 => tracing::debug!(target: "latchkey::script", "{text}"),
        2 => tracing::info!(target: "latchkey::script", "{text}"),
        _ => tracing::warn!(target: "latchkey::script", "{text}"),
    }
    Ok(())
}

/// `redis.setresp(2|3)`: the protocol of the replies the script sees and returns.
fn setresp_helper(_lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let values: Vec<&Value> = args.iter().collect();
    let [version] = values.as_slice() else {
        return Err(mlua::Error::RuntimeError(
            "redis.setresp() requires one argument.".into(),
        ));
    };
    let resp3 = match version {
        Value::Integer(2) => false,
        Value::Integer(3) => true,
        _ => {
            return Err(mlua::Error::RuntimeError(
                "RESP version must be 2 or 3.".into(),
            ))
        }
    };
    with_current(|current| current.resp3 = resp3);
    Ok(())
}

/// The message handler: any error becomes `{err=…}` plus the script line it came from.
fn error_handler(lua: &Lua, error: Value) -> mlua::Result<Table> {
    let table = match error {
        Value::Table(table) => table,
        Value::Error(error) if call_error(&error).is_some() => {
            error_table(lua, &call_error(&error).unwrap_or_default())?
        }
        other => error_table(lua, &format!("ERR {}", to_text(&other)))?,
    };
    if let Some(line) = user_line(lua) {
        table.raw_set("source", SCRIPT_SOURCE)?;
        table.raw_set("line", line)?;
    }
    Ok(table)
}

/// The current line of the innermost frame of the script itself (skipping C functions and the
/// sandbox's own Lua functions, such as `redis.call`'s wrapper).
fn user_line(lua: &Lua) -> Option<usize> {
    (1..8).find_map(|level| {
        lua.inspect_stack(level, |debug| {
            let source = debug.source();
            let is_script = source.what != "C" && source.source.as_deref() == Some(SCRIPT_SOURCE);
            if is_script {
                debug.current_line()
            } else {
                None
            }
        })
        .flatten()
    })
}

/// A Lua value as `tostring` shows it, for error messages.
fn to_text(value: &Value) -> String {
    match value {
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(n) => lua_tostring(*n as f64),
        Value::Number(n) => lua_tostring(*n),
        Value::String(text) => String::from_utf8_lossy(&text.as_bytes()).into_owned(),
        Value::Error(error) => message(error),
        other => other.type_name().to_string(),
    }
}

/// The message of an error raised in Lua or by a Rust callback, without mlua's decorations.
pub(super) fn message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(text) | mlua::Error::MemoryError(text) => text.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => message(cause),
        mlua::Error::WithContext { cause, .. } => message(cause),
        other => other.to_string(),
    }
}

/// The client's error reply for a script that failed with `error` (the handler's table).
fn error_reply(error: &Value, sha: &str) -> Error {
    match error {
        Value::Table(table) => {
            let text = match table.raw_get::<Value>("err") {
                Ok(Value::String(text)) => String::from_utf8_lossy(&text.as_bytes()).into_owned(),
                _ => "ERR unknown error".to_string(),
            };
            let line = match table.raw_get::<Value>("line") {
                Ok(Value::Integer(line)) if line > 0 => Some(line as usize),
                _ => None,
            };
            script_error(&text, sha, line)
        }
        // Errors the handler never saw (out of memory).
        other => script_error(&format!("ERR {}", to_text(other)), sha, None),
    }
}

/// A command's reply as the script sees it (Redis's RESP → Lua conversion).
fn reply_to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Simple(text) => {
            let table = lua.create_table()?;
            table.raw_set("ok", &*text)?;
            Value::Table(table)
        }
        Reply::Error(text) => {
            Value::Table(error_table(lua, &error_table_text(&format!("-{text}")))?)
        }
        Reply::Integer(n) => Value::Number(n as f64),
        Reply::Bulk(bytes) => Value::String(lua.create_string(&bytes)?),
        Reply::Nil | Reply::NilArray if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) => array_to_lua(lua, items, resp3)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            wrap(lua, "set", set)?
        }
        Reply::Set(items) => array_to_lua(lua, items, resp3)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (key, value) in pairs {
                map.raw_set(
                    reply_to_lua(lua, key, resp3)?,
                    reply_to_lua(lua, value, resp3)?,
                )?;
            }
            wrap(lua, "map", map)?
        }
        Reply::Map(pairs) => {
            let flat = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
            array_to_lua(lua, flat, resp3)?
        }
        Reply::Double(value) if resp3 => {
            let table = lua.create_table()?;
            table.raw_set("double", value)?;
            Value::Table(table)
        }
        Reply::Double(value) => {
            Value::String(lua.create_string(crate::protocol::reply::format_double(value))?)
        }
        Reply::Bool(value) if resp3 => Value::Boolean(value),
        Reply::Bool(value) => Value::Number(f64::from(u8::from(value))),
        Reply::Verbatim(format, text) if resp3 => {
            let inner = lua.create_table()?;
            inner.raw_set("format", format)?;
            inner.raw_set("string", lua.create_string(&text)?)?;
            wrap(lua, "verbatim_string", inner)?
        }
        Reply::Verbatim(_, text) => Value::String(lua.create_string(&text)?),
    })
}

fn array_to_lua(lua: &Lua, items: Vec<Reply>, resp3: bool) -> mlua::Result<Value> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        table.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(table))
}

fn wrap(lua: &Lua, field: &str, inner: Table) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    table.raw_set(field, inner)?;
    Ok(Value::Table(table))
}

/// A script's return value as the client's reply (Redis's Lua → RESP conversion).
fn lua_to_reply(value: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_REPLY_DEPTH {
        return Reply::error("ERR reached lua stack limit");
    }
    match value {
        Value::Boolean(true) if resp3 => Reply::Bool(true),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Boolean(false) if resp3 => Reply::Bool(false),
        Value::Integer(n) => Reply::Integer(*n),
        Value::Number(n) => Reply::Integer(to_integer_reply(*n)),
        Value::String(text) => Reply::Bulk(Bytes::copy_from_slice(&text.as_bytes())),
        Value::Table(table) => table_to_reply(table, resp3, depth),
        _ => Reply::Nil,
    }
}

fn table_to_reply(table: &Table, resp3: bool, depth: usize) -> Reply {
    let field = |name: &str| table.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(text) = field("err") {
        return Reply::error(one_line(&String::from_utf8_lossy(&text.as_bytes())));
    }
    if let Value::String(text) = field("ok") {
        return Reply::Simple(one_line(&String::from_utf8_lossy(&text.as_bytes())).into());
    }
    match field("double") {
        Value::Number(n) => return Reply::Double(n),
        Value::Integer(n) => return Reply::Double(n as f64),
        _ => {}
    }
    if let Value::String(text) = field("big_number") {
        return Reply::Bulk(Bytes::copy_from_slice(&text.as_bytes()));
    }
    if let Value::Table(map) = field("map") {
        let pairs = map
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    lua_to_reply(&k, resp3, depth + 1),
                    lua_to_reply(&v, resp3, depth + 1),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Value::Table(set) = field("set") {
        let members = set
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| lua_to_reply(&k, resp3, depth + 1))
            .collect();
        return Reply::Set(members);
    }
    if let Value::Table(verbatim) = field("verbatim_string") {
        let text = match verbatim.raw_get::<Value>("string") {
            Ok(Value::String(text)) => Bytes::copy_from_slice(&text.as_bytes()),
            _ => Bytes::new(),
        };
        let format = match verbatim.raw_get::<Value>("format") {
            Ok(Value::String(f)) if &f.as_bytes()[..] == b"mkd" => "mkd",
            _ => "txt",
        };
        return Reply::Verbatim(format, text);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match table.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(item) => items.push(lua_to_reply(&item, resp3, depth + 1)),
        }
    }
    Reply::Array(items)
}
