//! `string.find`, `string.match`, `string.gmatch` and `string.gsub` for the Lua VMs, on the
//! step-budgeted matcher of [`super::pattern`] in place of Lua's C matcher, so that a script
//! stuck backtracking still answers to the time limit, `SCRIPT KILL` and shutdown. Arguments,
//! results and error texts are Lua 5.1's.

use std::cell::Cell;
use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::number::lua_tostring;
use super::pattern::{find_plain, is_plain, Captured, Failure, Matcher};

/// The check a match calls every few thousand steps: the running script's time-limit watch.
pub type Check = fn() -> mlua::Result<()>;

/// Replaces the four pattern functions of `string` (before the sandbox makes it read-only).
pub fn install(lua: &Lua, string: &Table, check: Check) -> mlua::Result<()> {
    string.raw_set(
        "find",
        lua.create_function(move |lua, args| find_or_match(lua, args, true, check))?,
    )?;
    string.raw_set(
        "match",
        lua.create_function(move |lua, args| find_or_match(lua, args, false, check))?,
    )?;
    string.raw_set(
        "gmatch",
        lua.create_function(move |lua, args| gmatch(lua, args, check))?,
    )?;
    string.raw_set(
        "gsub",
        lua.create_function(move |lua, args| gsub(lua, args, check))?,
    )?;
    Ok(())
}

/// A matcher's failure as the Lua error Lua's own functions raise.
fn lua_error(lua: &Lua, failure: Failure<mlua::Error>) -> mlua::Error {
    match failure {
        Failure::Pattern(text) => located(lua, text),
        Failure::Interrupted(error) => error,
    }
}

/// An error as `luaL_error` raises it: prefixed with the calling Lua function's place
/// (`user_script:3: …`), nothing when the caller is a C function.
fn located(lua: &Lua, text: &str) -> mlua::Error {
    let place = lua
        .inspect_stack(1, |debug| {
            let line = debug.current_line()?;
            let source = debug.source().short_src?.into_owned();
            Some(format!("{source}:{line}: "))
        })
        .flatten()
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{place}{text}"))
}

fn bad_argument(lua: &Lua, position: usize, function: &str, text: &str) -> mlua::Error {
    located(
        lua,
        &format!("bad argument #{position} to '{function}' ({text})"),
    )
}

/// The type name Lua's argument errors use (`no value` for a missing argument).
fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `luaL_checklstring`: a string, or a number as its text.
fn check_string(
    lua: &Lua,
    args: &MultiValue,
    position: usize,
    function: &str,
) -> mlua::Result<Vec<u8>> {
    let value = args.get(position - 1);
    let text = match value {
        Some(Value::String(text)) => Some(text.as_bytes().to_vec()),
        Some(number @ (Value::Integer(_) | Value::Number(_))) => lua
            .coerce_string(number.clone())?
            .map(|text| text.as_bytes().to_vec()),
        _ => None,
    };
    text.ok_or_else(|| {
        bad_argument(
            lua,
            position,
            function,
            &format!("string expected, got {}", type_name(value)),
        )
    })
}

/// `luaL_optinteger`: `default` when absent or nil; a number (truncated) or numeric string.
fn opt_integer(
    lua: &Lua,
    args: &MultiValue,
    position: usize,
    default: i64,
    function: &str,
) -> mlua::Result<i64> {
    match args.get(position - 1) {
        None | Some(Value::Nil) => Ok(default),
        Some(value) => match lua.coerce_number(value.clone())? {
            Some(number) => Ok(number as i64),
            None => Err(bad_argument(
                lua,
                position,
                function,
                &format!("number expected, got {}", type_name(Some(value))),
            )),
        },
    }
}

/// A start position relative to a string of `len` bytes, 0-based and clamped to `0..=len`.
fn start_offset(init: i64, len: usize) -> usize {
    let len = len as i64;
    let relative = if init < 0 { init + len + 1 } else { init };
    (relative.max(0) - 1).clamp(0, len) as usize
}

fn captured_value(lua: &Lua, subject: &[u8], captured: Captured) -> mlua::Result<Value> {
    Ok(match captured {
        Captured::Text(start, end) => Value::String(lua.create_string(&subject[start..end])?),
        Captured::Position(at) => Value::Integer(at as i64),
    })
}

fn capture_values(lua: &Lua, subject: &[u8], captures: Vec<Captured>) -> mlua::Result<Vec<Value>> {
    captures
        .into_iter()
        .map(|captured| captured_value(lua, subject, captured))
        .collect()
}

/// The pattern without its anchor, and whether it had one.
fn anchored(pattern: &[u8]) -> (bool, usize) {
    match pattern.first() {
        Some(b'^') => (true, 1),
        _ => (false, 0),
    }
}

/// `string.find(s, pattern [, init [, plain]])` and `string.match(s, pattern [, init])`.
fn find_or_match(
    lua: &Lua,
    args: MultiValue,
    find: bool,
    check: Check,
) -> mlua::Result<MultiValue> {
    let function = if find { "find" } else { "match" };
    let subject = check_string(lua, &args, 1, function)?;
    let pattern = check_string(lua, &args, 2, function)?;
    let init = start_offset(opt_integer(lua, &args, 3, 1, function)?, subject.len());
    let plain = matches!(args.get(3), Some(v) if !matches!(v, Value::Nil | Value::Boolean(false)));
    if find && (plain || is_plain(&pattern)) {
        return match find_plain(&subject[init..], &pattern) {
            Some(at) => Ok(MultiValue::from_vec(vec![
                Value::Integer((init + at + 1) as i64),
                Value::Integer((init + at + pattern.len()) as i64),
            ])),
            None => Ok(MultiValue::from_vec(vec![Value::Nil])),
        };
    }
    let (anchor, pattern_start) = anchored(&pattern);
    let mut matcher = Matcher::new(&subject, &pattern, check);
    let mut start = init;
    loop {
        if let Some(end) = matcher
            .match_at(start, pattern_start)
            .map_err(|failure| lua_error(lua, failure))?
        {
            let values = if find {
                let mut values = vec![Value::Integer(start as i64 + 1), Value::Integer(end as i64)];
                let captures = matcher
                    .captures(None, end)
                    .map_err(|failure| lua_error(lua, failure))?;
                values.extend(capture_values(lua, &subject, captures)?);
                values
            } else {
                let captures = matcher
                    .captures(Some(start), end)
                    .map_err(|failure| lua_error(lua, failure))?;
                capture_values(lua, &subject, captures)?
            };
            return Ok(MultiValue::from_vec(values));
        }
        if anchor || start >= subject.len() {
            return Ok(MultiValue::from_vec(vec![Value::Nil]));
        }
        start += 1;
    }
}

/// `string.gmatch(s, pattern)`: an iterator over the matches (a leading `^` is a plain
/// character here, as in Lua 5.1).
fn gmatch(lua: &Lua, args: MultiValue, check: Check) -> mlua::Result<Function> {
    let subject = check_string(lua, &args, 1, "gmatch")?;
    let pattern = check_string(lua, &args, 2, "gmatch")?;
    let next_start = Rc::new(Cell::new(0usize));
    lua.create_function(move |lua, ()| {
        let mut matcher = Matcher::new(&subject, &pattern, check);
        for start in next_start.get()..=subject.len() {
            if let Some(end) = matcher
                .match_at(start, 0)
                .map_err(|failure| lua_error(lua, failure))?
            {
                // An empty match moves on by one, so the iteration ends.
                next_start.set(if end == start { end + 1 } else { end });
                let captures = matcher
                    .captures(Some(start), end)
                    .map_err(|failure| lua_error(lua, failure))?;
                return Ok(MultiValue::from_vec(capture_values(
                    lua, &subject, captures,
                )?));
            }
        }
        next_start.set(subject.len() + 1);
        Ok(MultiValue::new())
    })
}

/// `string.gsub(s, pattern, repl [, n])`.
fn gsub(lua: &Lua, args: MultiValue, check: Check) -> mlua::Result<(mlua::LuaString, i64)> {
    let subject = check_string(lua, &args, 1, "gsub")?;
    let pattern = check_string(lua, &args, 2, "gsub")?;
    let replacement = args.get(2).cloned().unwrap_or(Value::Nil);
    let max = opt_integer(lua, &args, 4, subject.len() as i64 + 1, "gsub")?;
    if !matches!(
        replacement,
        Value::Integer(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Function(_)
            | Value::Table(_)
    ) {
        return Err(bad_argument(
            lua,
            3,
            "gsub",
            "string/function/table expected",
        ));
    }
    let (anchor, pattern_start) = anchored(&pattern);
    let mut matcher = Matcher::new(&subject, &pattern, check);
    let mut out = Vec::with_capacity(subject.len());
    let (mut at, mut count) = (0usize, 0i64);
    while count < max {
        let end = matcher
            .match_at(at, pattern_start)
            .map_err(|failure| lua_error(lua, failure))?;
        if let Some(end) = end {
            count += 1;
            substitute(lua, &mut matcher, &subject, &replacement, at, end, &mut out)?;
        }
        match end {
            Some(end) if end > at => at = end,
            _ if at < subject.len() => {
                out.push(subject[at]);
                at += 1;
            }
            _ => break,
        }
        if anchor {
            break;
        }
    }
    out.extend_from_slice(&subject[at..]);
    Ok((lua.create_string(&out)?, count))
}

/// Appends the replacement of the match `start..end` to `out` (Lua's `add_value`).
fn substitute<C: FnMut() -> mlua::Result<()>>(
    lua: &Lua,
    matcher: &mut Matcher<'_, mlua::Error, C>,
    subject: &[u8],
    replacement: &Value,
    start: usize,
    end: usize,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    let value = match replacement {
        Value::Table(table) => {
            let key = matcher
                .capture(0, start, end)
                .map_err(|failure| lua_error(lua, failure))?;
            table.get::<Value>(captured_value(lua, subject, key)?)?
        }
        Value::Function(function) => {
            let captures = matcher
                .captures(Some(start), end)
                .map_err(|failure| lua_error(lua, failure))?;
            let arguments = MultiValue::from_vec(capture_values(lua, subject, captures)?);
            function
                .call::<MultiValue>(arguments)?
                .into_iter()
                .next()
                .unwrap_or(Value::Nil)
        }
        text => {
            let template = lua
                .coerce_string(text.clone())?
                .map(|t| t.as_bytes().to_vec())
                .unwrap_or_default();
            return expand_template(lua, matcher, subject, &template, start, end, out);
        }
    };
    match value {
        Value::Nil | Value::Boolean(false) => out.extend_from_slice(&subject[start..end]),
        Value::String(text) => out.extend_from_slice(&text.as_bytes()),
        Value::Integer(n) => out.extend_from_slice(lua_tostring(n as f64).as_bytes()),
        Value::Number(n) => out.extend_from_slice(lua_tostring(n).as_bytes()),
        other => {
            return Err(located(
                lua,
                &format!("invalid replacement value (a {})", type_name(Some(&other))),
            ))
        }
    }
    Ok(())
}

/// A replacement string: `%0` the whole match, `%1`..`%9` a capture, `%` before anything else
/// that character (Lua's `add_s`).
fn expand_template<C: FnMut() -> mlua::Result<()>>(
    lua: &Lua,
    matcher: &mut Matcher<'_, mlua::Error, C>,
    subject: &[u8],
    template: &[u8],
    start: usize,
    end: usize,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    let mut i = 0;
    while i < template.len() {
        let byte = template[i];
        i += 1;
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        // A `%` at the very end reads the string's terminating NUL, as in Lua.
        let next = template.get(i).copied().unwrap_or(0);
        i += 1;
        match next {
            b'0' => out.extend_from_slice(&subject[start..end]),
            b'1'..=b'9' => {
                match matcher
                    .capture((next - b'1') as usize, start, end)
                    .map_err(|failure| lua_error(lua, failure))?
                {
                    Captured::Text(from, to) => out.extend_from_slice(&subject[from..to]),
                    Captured::Position(at) => {
                        out.extend_from_slice(lua_tostring(at as f64).as_bytes())
                    }
                }
            }
            other => out.push(other),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, Table, Value};

    fn no_check() -> mlua::Result<()> {
        Ok(())
    }

    /// A subject of up to 10 bytes from a small alphabet, so that patterns often match.
    fn subject(rng: &mut fastrand::Rng) -> String {
        let alphabet = ["a", "b", "c", "1", "2", " ", "(", ")", "-", "%", "A", "]"];
        (0..rng.usize(0..=10))
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect()
    }

    /// A pattern of up to 6 items, well-formed or not.
    fn pattern(rng: &mut fastrand::Rng) -> String {
        let items = [
            "a", "b", "1", ".", "%a", "%d", "%s", "%W", "[ab]", "[^a]", "[a-c]", "[%d]", "*", "+",
            "-", "?", "(", ")", "()", "%1", "%2", "^", "$", "%b()", "%f[%a]", "%", "[", "%(", "]",
        ];
        (0..rng.usize(0..=6))
            .map(|_| items[rng.usize(..items.len())])
            .collect()
    }

    /// Runs `name` from `library` under `pcall` and returns what it gave, as text.
    fn outcome(lua: &Lua, library: &Table, name: &str, args: &[Value]) -> String {
        let function: mlua::Function = library.get(name).unwrap();
        let results: mlua::MultiValue = lua
            .load("local f = ... return pcall(f, select(2, ...))")
            .call((function, mlua::MultiValue::from_vec(args.to_vec())))
            .unwrap();
        let mut values = results.iter();
        if let Some(Value::Boolean(false)) = values.next() {
            // Lua's functions raise strings, ours Rust errors: the same text either way.
            return match values.next() {
                Some(Value::String(text)) => format!("error {}", text.to_string_lossy()),
                Some(Value::Error(error)) => format!("error {}", super::super::lua::message(error)),
                other => format!("error {other:?}"),
            };
        }
        values
            .map(|v| match v {
                Value::String(s) => format!("{:?}", s.to_string_lossy()),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The four functions give what Lua's own give, on thousands of random subjects and
    /// patterns (Lua's own are safe here: the inputs are too short to backtrack for long).
    #[test]
    fn same_results_as_lua_5_1() {
        let lua = Lua::new();
        let original: Table = lua.globals().get("string").unwrap();
        let ours = lua.create_table().unwrap();
        super::install(&lua, &ours, no_check).unwrap();
        let mut rng = fastrand::Rng::with_seed(5_1);
        for _ in 0..5_000 {
            let (s, p) = (subject(&mut rng), pattern(&mut rng));
            let (s_value, p_value) = (
                Value::String(lua.create_string(&s).unwrap()),
                Value::String(lua.create_string(&p).unwrap()),
            );
            let init = Value::Integer(rng.i64(-4..=6));
            let cases: Vec<(&str, Vec<Value>)> = vec![
                ("find", vec![s_value.clone(), p_value.clone()]),
                ("find", vec![s_value.clone(), p_value.clone(), init.clone()]),
                (
                    "find",
                    vec![
                        s_value.clone(),
                        p_value.clone(),
                        init.clone(),
                        Value::Boolean(true),
                    ],
                ),
                ("match", vec![s_value.clone(), p_value.clone(), init]),
                (
                    "gsub",
                    vec![
                        s_value.clone(),
                        p_value.clone(),
                        Value::String(lua.create_string("<%0|%1>").unwrap()),
                    ],
                ),
                (
                    "gsub",
                    vec![
                        s_value.clone(),
                        p_value.clone(),
                        Value::String(lua.create_string("x").unwrap()),
                        Value::Integer(2),
                    ],
                ),
            ];
            for (name, args) in cases {
                assert_eq!(
                    outcome(&lua, &ours, name, &args),
                    outcome(&lua, &original, name, &args),
                    "string.{name}({s:?}, {p:?}, …)"
                );
            }
            let collect = "local gmatch, s, p = ... local out = {} \
                           for a, b in gmatch(s, p) do out[#out + 1] = tostring(a) .. '/' .. tostring(b) \
                           if #out > 20 then break end end return table.concat(out, ' ')";
            let run = |library: &Table| -> String {
                let gmatch: mlua::Function = library.get("gmatch").unwrap();
                match lua
                    .load(collect)
                    .call::<String>((gmatch, s.clone(), p.clone()))
                {
                    Ok(text) => text,
                    // mlua adds a traceback to errors that reach Rust: compare the message.
                    Err(error) => {
                        let text = super::super::lua::message(&error);
                        format!("error {}", text.lines().next().unwrap_or_default())
                    }
                }
            };
            assert_eq!(run(&ours), run(&original), "gmatch({s:?}, {p:?})");
        }
    }

    #[test]
    fn gsub_with_tables_and_functions() {
        let lua = Lua::new();
        let ours = lua.create_table().unwrap();
        super::install(&lua, &ours, no_check).unwrap();
        lua.globals().set("ours", ours).unwrap();
        let text: String = lua
            .load(
                "local t = {name = 'lock', n = 3} \
                 local a = ours.gsub('$name:$n:$x', '%$(%w+)', t) \
                 local b = ours.gsub('a1b22', '%d+', function(d) return '<' .. d * 2 .. '>' end) \
                 local c = ours.gsub('hello world', '(o)', '[%1]', 1) \
                 return a .. ' ' .. b .. ' ' .. c",
            )
            .eval()
            .unwrap();
        assert_eq!(text, "lock:3:$x a<2>b<44> hell[o] world");
    }
}
