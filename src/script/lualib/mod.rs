//! The Lua libraries Redis embeds, written in Rust: `cjson`, `cmsgpack`, `bit` and `struct`.
//!
//! Scripts written for Redis use them (rate limiters keep JSON state, queues pack values with
//! MessagePack, hashes mix bits), so they behave here as in Redis 7.0: the same output bytes,
//! the same number formatting and the same error texts. Each module registers one global table;
//! the sandbox then makes it read-only like `string` and `math`.
//!
//! Errors raised here carry the script's position (`user_script:3: …`) as the C libraries'
//! `luaL_error` does, so a script's client gets the same error line from both servers.

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::number::lua_tostring;

/// Registers every library in `globals`.
pub fn register(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.raw_set("cjson", cjson::library(lua)?)?;
    globals.raw_set("cmsgpack", cmsgpack::library(lua)?)?;
    globals.raw_set("bit", bit::library(lua)?)?;
    globals.raw_set("struct", structlib::library(lua)?)?;
    Ok(())
}

/// `loadstring(text [, chunkname])` as Redis 7.0 has it: text chunks only (a precompiled
/// chunk fails to compile, as in Redis's build without the bytecode loader), compiled into the
/// scripts' read-only environment. A compile error returns `nil` and the message.
pub fn loadstring(lua: &Lua, env: Table) -> mlua::Result<Function> {
    lua.create_function(move |lua, values: MultiValue| {
        let args = Args::new(lua, "loadstring", values);
        let text = args.bytes(1)?;
        let name = match args.get(2) {
            None | Some(Value::Nil) => text.clone(),
            Some(_) => args.bytes(2)?,
        };
        // The chunk name is a C string: it ends at the first NUL.
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        let name = String::from_utf8_lossy(name).into_owned();
        // A leading space makes the lexer meet ESC as a symbol (`char(27)`) on line 1, where
        // the loader would otherwise treat the text as bytecode.
        let source = if text.first() == Some(&0x1b) {
            [&b" "[..], &text].concat()
        } else {
            text
        };
        let loaded = lua
            .load(source)
            .set_name(name)
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(env.clone())
            .into_function();
        Ok(match loaded {
            Ok(function) => MultiValue::from_iter([Value::Function(function)]),
            Err(error) => {
                let text = match error {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                MultiValue::from_iter([Value::Nil, Value::String(lua.create_string(text)?)])
            }
        })
    })
}

/// `getmetatable` for the sandbox: a read-only table shows the metatable Redis shows for it
/// (its `__decoy`: a read-only copy for `_G`, nothing for the libraries); anything else goes to
/// Lua's own `getmetatable`.
pub fn getmetatable(lua: &Lua, original: Function) -> mlua::Result<Function> {
    lua.create_function(move |lua, values: MultiValue| {
        let args = Args::new(lua, "getmetatable", values);
        let Some(value) = args.get(1) else {
            return Err(args.error(1, "value expected"));
        };
        if let Value::Table(table) = value {
            if let Some(metatable) = table.metatable() {
                if metatable.raw_get::<bool>("__readonly").unwrap_or(false) {
                    return metatable.raw_get::<Value>("__decoy");
                }
            }
        }
        original.call::<Value>(value.clone())
    })
}

/// An error as `luaL_error` raises it: prefixed with the calling script's position.
fn raise(lua: &Lua, text: impl AsRef<str>) -> mlua::Error {
    let position = lua
        .inspect_stack(1, |debug| {
            let line = debug.current_line()?;
            let source = debug.source();
            let short = source.short_src?;
            Some(format!("{short}:{line}: "))
        })
        .flatten()
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{position}{}", text.as_ref()))
}

/// An error as `luaL_argerror` raises it.
fn bad_argument(lua: &Lua, position: usize, function: &str, text: &str) -> mlua::Error {
    raise(
        lua,
        format!("bad argument #{position} to '{function}' ({text})"),
    )
}

/// The type name `luaL_typerror` reports for an argument (`no value` when it is missing).
fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_)) | Some(Value::UserData(_)) => "userdata",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// The arguments of a library function, with the `luaL_check*` family's conversions and
/// errors.
struct Args<'a> {
    lua: &'a Lua,
    function: &'static str,
    values: Vec<Value>,
}

impl<'a> Args<'a> {
    fn new(lua: &'a Lua, function: &'static str, values: MultiValue) -> Args<'a> {
        Args {
            lua,
            function,
            values: values.into_iter().collect(),
        }
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    /// Argument `position` (1-based), if given.
    fn get(&self, position: usize) -> Option<&Value> {
        self.values.get(position.checked_sub(1)?)
    }

    fn error(&self, position: usize, text: &str) -> mlua::Error {
        bad_argument(self.lua, position, self.function, text)
    }

    fn type_error(&self, position: usize, expected: &str) -> mlua::Error {
        let got = type_name(self.get(position));
        self.error(position, &format!("{expected} expected, got {got}"))
    }

    /// `luaL_checknumber`: a number, or a string that reads as one.
    fn number(&self, position: usize) -> mlua::Result<f64> {
        self.get(position)
            .and_then(to_number)
            .ok_or_else(|| self.type_error(position, "number"))
    }

    /// `luaL_checklstring`: a string, or a number written as `tostring` does.
    fn bytes(&self, position: usize) -> mlua::Result<Vec<u8>> {
        self.get(position)
            .and_then(to_bytes)
            .ok_or_else(|| self.type_error(position, "string"))
    }

    /// `luaL_optinteger`: `default` when absent or nil, else a number truncated toward zero.
    fn opt_integer(&self, position: usize, default: i64) -> mlua::Result<i64> {
        match self.get(position) {
            None | Some(Value::Nil) => Ok(default),
            Some(_) => Ok(truncate(self.number(position)?)),
        }
    }
}

/// A Lua number truncated to an integer, as `lua_tointeger` does on 64-bit targets.
fn truncate(value: f64) -> i64 {
    if value.is_nan() {
        0
    } else {
        value as i64
    }
}

/// `lua_tonumber`: numbers as they are, strings that read entirely as a number.
fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(text) => str_to_number(&text.as_bytes()),
        _ => None,
    }
}

/// `lua_tolstring` on a string or a number.
fn to_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(text) => Some(text.as_bytes().to_vec()),
        Value::Integer(n) => Some(lua_tostring(*n as f64).into_bytes()),
        Value::Number(n) => Some(lua_tostring(*n).into_bytes()),
        _ => None,
    }
}

/// Lua 5.1's string to number: the whole text (spaces around allowed) as a C `strtod` number,
/// or a hexadecimal integer (`0x1F`).
fn str_to_number(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text)
        .ok()?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    let (consumed, value) = strtod_prefix(text.as_bytes())?;
    if consumed == text.len() {
        return Some(value);
    }
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let hex = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))?;
    let value = u64::from_str_radix(hex, 16).ok()? as f64;
    Some(if negative { -value } else { value })
}

/// C's `strtod` on the start of `text`: how many bytes it reads and the value, or `None` when
/// no number starts there. Decimal, `inf`/`infinity`, `nan` and hexadecimal forms, as glibc
/// reads them.
fn strtod_prefix(text: &[u8]) -> Option<(usize, f64)> {
    let mut at = 0;
    let negative = match text.first() {
        Some(b'-') => {
            at = 1;
            true
        }
        Some(b'+') => {
            at = 1;
            false
        }
        _ => false,
    };
    let sign = |value: f64| if negative { -value } else { value };
    let rest = &text[at..];
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return Some((at + 8, sign(f64::INFINITY)));
    }
    if starts(b"inf") {
        return Some((at + 3, sign(f64::INFINITY)));
    }
    if starts(b"nan") {
        let mut end = at + 3;
        if text.get(end) == Some(&b'(') {
            let close = text[end..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'('));
            if let Some(offset) = close {
                if text[end + offset] == b')' {
                    end += offset + 1;
                }
            }
        }
        return Some((end, sign(f64::NAN)));
    }
    if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((length, value)) = hex_float(&rest[2..]) {
            return Some((at + 2 + length, sign(value)));
        }
    }
    let digits = |from: usize| {
        text[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut end = at;
    let whole = digits(end);
    end += whole;
    let mut fraction = 0;
    if text.get(end) == Some(&b'.') {
        fraction = digits(end + 1);
        if whole + fraction > 0 {
            end += 1 + fraction;
        }
    }
    if whole + fraction == 0 {
        return None;
    }
    if matches!(text.get(end), Some(b'e' | b'E')) {
        let mut exponent = end + 1;
        if matches!(text.get(exponent), Some(b'+' | b'-')) {
            exponent += 1;
        }
        let exponent_digits = digits(exponent);
        if exponent_digits > 0 {
            end = exponent + exponent_digits;
        }
    }
    let literal = std::str::from_utf8(&text[at..end]).ok()?;
    let value: f64 = literal.parse().ok()?;
    Some((end, sign(value)))
}

/// The digits of a hexadecimal float after `0x`: `1F`, `1.8`, `1p4`. `None` without a digit.
fn hex_float(text: &[u8]) -> Option<(usize, f64)> {
    let mut value = 0f64;
    let mut at = 0;
    let mut seen = false;
    while let Some(digit) = text.get(at).and_then(|c| (*c as char).to_digit(16)) {
        value = value * 16.0 + f64::from(digit);
        at += 1;
        seen = true;
    }
    if text.get(at) == Some(&b'.') {
        let mut scale = 1.0 / 16.0;
        let mut next = at + 1;
        while let Some(digit) = text.get(next).and_then(|c| (*c as char).to_digit(16)) {
            value += f64::from(digit) * scale;
            scale /= 16.0;
            next += 1;
            seen = true;
        }
        if seen {
            at = next;
        }
    }
    if !seen {
        return None;
    }
    if matches!(text.get(at), Some(b'p' | b'P')) {
        let mut next = at + 1;
        let negative = match text.get(next) {
            Some(b'-') => {
                next += 1;
                true
            }
            Some(b'+') => {
                next += 1;
                false
            }
            _ => false,
        };
        let start = next;
        let mut exponent: i32 = 0;
        while let Some(digit) = text.get(next).filter(|c| c.is_ascii_digit()) {
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(i32::from(digit - b'0'));
            next += 1;
        }
        if next > start {
            value *= 2f64.powi(if negative { -exponent } else { exponent });
            at = next;
        }
    }
    Some((at, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_reads_the_longest_number() {
        assert_eq!(strtod_prefix(b"12abc"), Some((2, 12.0)));
        assert_eq!(strtod_prefix(b"1."), Some((2, 1.0)));
        assert_eq!(strtod_prefix(b"1e"), Some((1, 1.0)));
        assert_eq!(strtod_prefix(b"-1.5e3,"), Some((6, -1500.0)));
        assert_eq!(strtod_prefix(b"0x10"), Some((4, 16.0)));
        assert_eq!(strtod_prefix(b"0x"), Some((1, 0.0)));
        assert_eq!(strtod_prefix(b"-Infinity"), Some((9, f64::NEG_INFINITY)));
        assert_eq!(strtod_prefix(b"inf"), Some((3, f64::INFINITY)));
        assert!(strtod_prefix(b"nan").is_some_and(|(n, v)| n == 3 && v.is_nan()));
        assert_eq!(strtod_prefix(b"-"), None);
        assert_eq!(strtod_prefix(b".5"), Some((2, 0.5)));
        assert_eq!(strtod_prefix(b"."), None);
    }

    /// Random and mutated input to every decoder and format parser: errors, never a panic.
    #[test]
    fn random_input_is_refused_without_panicking() {
        let lua = Lua::new();
        register(&lua, &lua.globals()).unwrap();
        let exercise: Function = lua
            .load(
                // Each call inside a function of its own: `pcall` of a C function that
                // returns more than 20 values trips Lua 5.1's API check in debug builds.
                "return function(s)
                   local function try(f) pcall(function() f() end) end
                   try(function() cjson.decode(s) end)
                   try(function() cmsgpack.unpack(s) end)
                   try(function() cmsgpack.unpack_limit(s, 2, 1) end)
                   try(function() struct.unpack(s, s) end)
                   try(function() struct.unpack(s, string.rep('x', 40), 3) end)
                   try(function() struct.pack(s, 1, 'abc', 2.5) end)
                   try(function() struct.size(s) end)
                   try(function() cmsgpack.unpack(cmsgpack.pack(s, {s, 1.5, {x = s}})) end)
                   try(function() cjson.decode(cjson.encode({s, {s}})) end)
                 end",
            )
            .eval()
            .unwrap();
        let seeds: &[&[u8]] = &[
            b"{\"a\":[1,2,{\"b\":null}]}",
            b"\x93\x01\xa1x\x81\xa1k\xcb",
            b">!4 i4 c0 s h",
            b"\"\\ud83d\\ude00\"",
        ];
        let mut rng = fastrand::Rng::with_seed(17);
        for round in 0..3000 {
            let mut input: Vec<u8> = if round % 2 == 0 {
                let seed = seeds[rng.usize(..seeds.len())];
                seed.to_vec()
            } else {
                (0..rng.usize(..24)).map(|_| rng.u8(..)).collect()
            };
            for _ in 0..rng.usize(..4) {
                if !input.is_empty() {
                    let at = rng.usize(..input.len());
                    input[at] = rng.u8(..);
                }
            }
            let text = lua.create_string(&input).unwrap();
            exercise.call::<()>(text).unwrap();
        }
    }

    #[test]
    fn strings_read_as_lua_numbers() {
        assert_eq!(str_to_number(b" 12 "), Some(12.0));
        assert_eq!(str_to_number(b"0x1F"), Some(31.0));
        assert_eq!(str_to_number(b"1e2"), Some(100.0));
        assert_eq!(str_to_number(b"12a"), None);
        assert_eq!(str_to_number(b""), None);
    }
}
