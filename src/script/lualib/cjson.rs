//! `cjson`: JSON encode and decode as lua-cjson 2.1.0 (the version Redis embeds) does them.
//!
//! - Numbers are written with 14 significant digits (`%.14g`: `0.1`, `1e+20`); NaN and
//!   infinities are refused.
//! - A table whose keys are all positive integers is an array (holes become `null`) unless it
//!   is excessively sparse (more than twice as many slots as items, past 10 slots), which is an
//!   error; any other table is an object, and an empty table is `{}`.
//! - `/` is escaped as `\/`, control characters as `\u00XX`; other bytes pass as they are.
//! - `cjson.null` (a light userdata holding NULL) stands for JSON `null` both ways.
//! - Nesting deeper than 1000 is refused both ways; decoding reads numbers as C's `strtod`
//!   (so `0x10`, `inf` and `+1` are accepted, as in Redis) and reports errors with the token
//!   and character position lua-cjson reports.
//!
//! The configuration functions of lua-cjson (`encode_max_depth`, `encode_sparse_array`, …)
//! exist and return the fixed settings; they do not change them.

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::{raise, strtod_prefix, Args};
use crate::script::number::lua_tostring;

/// Deepest nesting encoded or decoded, as lua-cjson's defaults.
const MAX_DEPTH: usize = 1000;
/// Arrays with more slots than `SPARSE_RATIO` × items, past `SPARSE_SAFE` slots, are refused.
const SPARSE_RATIO: usize = 2;
const SPARSE_SAFE: usize = 10;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let cjson = lua.create_table()?;
    cjson.raw_set(
        "encode",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(lua, "encode", values);
            if args.len() != 1 {
                return Err(args.error(1, "expected 1 argument"));
            }
            let mut out = Vec::new();
            encode(lua, args.get(1).unwrap_or(&Value::Nil), &mut out)?;
            lua.create_string(&out)
        })?,
    )?;
    cjson.raw_set(
        "decode",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(lua, "decode", values);
            if args.len() != 1 {
                return Err(args.error(1, "expected 1 argument"));
            }
            let text = args.bytes(1)?;
            decode(lua, &text)
        })?,
    )?;
    cjson.raw_set("null", null())?;
    cjson.raw_set("_NAME", "cjson")?;
    cjson.raw_set("_VERSION", "2.1.0")?;
    // lua-cjson's settings, reported as the fixed values this library uses.
    let settings: &[(&str, &[Value])] = &[
        ("encode_max_depth", &[Value::Integer(MAX_DEPTH as _)]),
        ("decode_max_depth", &[Value::Integer(MAX_DEPTH as _)]),
        ("encode_number_precision", &[Value::Integer(14)]),
        ("encode_keep_buffer", &[Value::Boolean(true)]),
        ("encode_invalid_numbers", &[Value::Boolean(false)]),
        ("decode_invalid_numbers", &[Value::Boolean(true)]),
        (
            "encode_sparse_array",
            &[
                Value::Boolean(false),
                Value::Integer(SPARSE_RATIO as _),
                Value::Integer(SPARSE_SAFE as _),
            ],
        ),
    ];
    for (name, current) in settings {
        let current: Vec<Value> = current.to_vec();
        cjson.raw_set(
            *name,
            lua.create_function(move |_, _: MultiValue| {
                Ok(MultiValue::from_iter(current.clone()))
            })?,
        )?;
    }
    cjson.raw_set(
        "new",
        lua.create_function(|lua, _: MultiValue| {
            let globals = lua.globals();
            globals.raw_get::<Value>("cjson")
        })?,
    )?;
    Ok(cjson)
}

/// `cjson.null`.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn encode_error(lua: &Lua, type_name: &str, reason: &str) -> mlua::Error {
    raise(lua, format!("Cannot serialise {type_name}: {reason}"))
}

/// One open table while encoding: an array with its length and next index, or an object with
/// its pairs (taken when it is opened) and the next pair.
enum Open {
    Array {
        table: Table,
        length: usize,
        next: usize,
    },
    Object {
        pairs: Vec<(Value, Value)>,
        next: usize,
    },
}

/// Encodes `value`. Iterative (an explicit stack of open tables), so that the 1000 levels
/// lua-cjson allows need no deep native stack.
fn encode(lua: &Lua, value: &Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    let mut open: Vec<Open> = Vec::new();
    let mut pending = Some(value.clone());
    loop {
        if let Some(value) = pending.take() {
            if let Value::Table(table) = value {
                let depth = open.len() + 1;
                if depth > MAX_DEPTH {
                    return Err(raise(
                        lua,
                        format!("Cannot serialise, excessive nesting ({depth})"),
                    ));
                }
                match array_length(lua, &table)? {
                    Some(length) if length > 0 => {
                        out.push(b'[');
                        open.push(Open::Array {
                            table,
                            length,
                            next: 1,
                        });
                    }
                    _ => {
                        out.push(b'{');
                        let pairs = table.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                        open.push(Open::Object { pairs, next: 0 });
                    }
                }
            } else {
                encode_scalar(lua, &value, out)?;
            }
        }
        // The next value of the innermost open table, or close it.
        let Some(top) = open.last_mut() else {
            return Ok(());
        };
        match top {
            Open::Array {
                table,
                length,
                next,
            } => {
                if *next > *length {
                    out.push(b']');
                    open.pop();
                    continue;
                }
                if *next > 1 {
                    out.push(b',');
                }
                pending = Some(table.raw_get::<Value>(*next)?);
                *next += 1;
            }
            Open::Object { pairs, next } => {
                let Some((key, value)) = pairs.get(*next) else {
                    out.push(b'}');
                    open.pop();
                    continue;
                };
                if *next > 0 {
                    out.push(b',');
                }
                encode_key(lua, key, out)?;
                pending = Some(value.clone());
                *next += 1;
            }
        }
    }
}

fn encode_scalar(lua: &Lua, value: &Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(data) if data.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Integer(n) => encode_number(lua, *n as f64, out)?,
        Value::Number(n) => encode_number(lua, *n, out)?,
        Value::String(text) => encode_string(&text.as_bytes(), out),
        other => {
            let name = super::type_name(Some(other));
            return Err(encode_error(lua, name, "type not supported"));
        }
    }
    Ok(())
}

/// An object key and its colon: numbers are written as strings.
fn encode_key(lua: &Lua, key: &Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    match key {
        Value::Integer(n) => {
            out.push(b'"');
            encode_number(lua, *n as f64, out)?;
            out.extend_from_slice(b"\":");
        }
        Value::Number(n) => {
            out.push(b'"');
            encode_number(lua, *n, out)?;
            out.extend_from_slice(b"\":");
        }
        Value::String(text) => {
            encode_string(&text.as_bytes(), out);
            out.push(b':');
        }
        other => {
            let name = super::type_name(Some(other));
            return Err(encode_error(
                lua,
                name,
                "table key must be a number or string",
            ));
        }
    }
    Ok(())
}

fn encode_number(lua: &Lua, value: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !value.is_finite() {
        return Err(encode_error(lua, "number", "must not be NaN or Inf"));
    }
    out.extend_from_slice(lua_tostring(value).as_bytes());
    Ok(())
}

fn encode_string(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &byte in text {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

/// The length of `table` as an array, or `None` when it is an object (a key that is not a
/// positive integer). An excessively sparse array is an error.
fn array_length(lua: &Lua, table: &Table) -> mlua::Result<Option<usize>> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(n) if n >= 1 => n as f64,
            Value::Number(n) if n >= 1.0 && n.floor() == n => n,
            _ => return Ok(None),
        };
        max = max.max(index.min(usize::MAX as f64) as usize);
        items += 1;
    }
    if max > items.saturating_mul(SPARSE_RATIO) && max > SPARSE_SAFE {
        return Err(encode_error(lua, "table", "excessively sparse array"));
    }
    Ok(Some(max))
}

/// A token of the JSON text, as lua-cjson names them in errors.
#[derive(Debug)]
enum Token {
    ObjectBegin,
    ObjectEnd,
    ArrayBegin,
    ArrayEnd,
    String(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A token that could not be read, with lua-cjson's description.
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjectBegin => "T_OBJ_BEGIN",
            Token::ObjectEnd => "T_OBJ_END",
            Token::ArrayBegin => "T_ARR_BEGIN",
            Token::ArrayEnd => "T_ARR_END",
            Token::String(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(text) => text,
        }
    }
}

struct Parser<'l, 't> {
    lua: &'l Lua,
    text: &'t [u8],
    at: usize,
    depth: usize,
}

fn decode(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    if text.len() >= 2 && (text[0] == 0 || text[1] == 0) {
        return Err(raise(lua, "JSON parser does not support UTF-16 or UTF-32"));
    }
    // The C parser reads a NUL-terminated string: a NUL byte ends the text.
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let mut parser = Parser {
        lua,
        text: &text[..end],
        at: 0,
        depth: 0,
    };
    let (token, index) = parser.next_token();
    let value = parser.value(token, index)?;
    let (token, index) = parser.next_token();
    if !matches!(token, Token::End) {
        return Err(parser.unexpected("the end", &token, index));
    }
    Ok(value)
}

impl Parser<'_, '_> {
    fn unexpected(&self, expected: &str, token: &Token, index: usize) -> mlua::Error {
        raise(
            self.lua,
            format!(
                "Expected {expected} but found {} at character {}",
                token.name(),
                index + 1
            ),
        )
    }

    /// The next token and where it starts (for errors inside a token, where it went wrong).
    fn next_token(&mut self) -> (Token, usize) {
        while matches!(self.text.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
        let start = self.at;
        let Some(&byte) = self.text.get(self.at) else {
            return (Token::End, start);
        };
        let single = match byte {
            b'{' => Some(Token::ObjectBegin),
            b'}' => Some(Token::ObjectEnd),
            b'[' => Some(Token::ArrayBegin),
            b']' => Some(Token::ArrayEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = single {
            self.at += 1;
            return (token, start);
        }
        if byte == b'"' {
            return self.string_token();
        }
        let rest = &self.text[self.at..];
        if byte == b'-' || byte.is_ascii_digit() || invalid_number_start(rest) {
            return match strtod_prefix(rest) {
                Some((length, value)) => {
                    self.at += length;
                    (Token::Number(value), start)
                }
                None => (Token::Error("invalid number"), start),
            };
        }
        for (word, token) in [
            (&b"true"[..], Token::Boolean(true)),
            (b"false", Token::Boolean(false)),
            (b"null", Token::Null),
        ] {
            if rest.starts_with(word) {
                self.at += word.len();
                return (token, start);
            }
        }
        (Token::Error("invalid token"), start)
    }

    fn string_token(&mut self) -> (Token, usize) {
        let start = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.text.get(self.at) else {
                return (Token::Error("unexpected end of string"), self.at);
            };
            match byte {
                b'"' => break,
                b'\\' => {
                    let translated = match self.text.get(self.at + 1) {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 8,
                        Some(b'f') => 12,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            if self.unicode_escape(&mut out) {
                                continue;
                            }
                            return (Token::Error("invalid unicode escape code"), self.at);
                        }
                        _ => return (Token::Error("invalid escape code"), self.at),
                    };
                    out.push(translated);
                    self.at += 2;
                }
                other => {
                    out.push(other);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        (Token::String(out), start)
    }

    /// Reads `\uXXXX` (or a surrogate pair of them) at the cursor as UTF-8.
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> bool {
        let hex4 = |at: usize| -> Option<u32> {
            let digits = self.text.get(at..at + 4)?;
            let text = std::str::from_utf8(digits).ok()?;
            if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(text, 16).ok()
        };
        let Some(mut code) = hex4(self.at + 2) else {
            return false;
        };
        let mut length = 6;
        if code & 0xF800 == 0xD800 {
            if code & 0x400 != 0 {
                return false;
            }
            if self.text.get(self.at + 6) != Some(&b'\\')
                || self.text.get(self.at + 7) != Some(&b'u')
            {
                return false;
            }
            let Some(low) = hex4(self.at + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            code = (((code & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            length = 12;
        }
        let Some(character) = char::from_u32(code) else {
            return false;
        };
        let mut buffer = [0u8; 4];
        out.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
        self.at += length;
        true
    }

    /// The value that starts with `token`. Iterative (an explicit stack of open containers),
    /// so that the 1000 levels lua-cjson allows need no deep native stack.
    fn value(&mut self, token: Token, index: usize) -> mlua::Result<Value> {
        let mut open: Vec<Container> = Vec::new();
        let (mut token, mut index) = (token, index);
        loop {
            let mut value = match token {
                Token::String(bytes) => Value::String(self.lua.create_string(&bytes)?),
                Token::Number(n) => Value::Number(n),
                Token::Boolean(b) => Value::Boolean(b),
                Token::Null => null(),
                Token::ObjectBegin => {
                    self.descend()?;
                    let table = self.lua.create_table()?;
                    let (next, at) = self.next_token();
                    if matches!(next, Token::ObjectEnd) {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        let key = self.object_key(next, at)?;
                        open.push(Container::Object { table, key });
                        (token, index) = self.next_token();
                        continue;
                    }
                }
                Token::ArrayBegin => {
                    self.descend()?;
                    let table = self.lua.create_table()?;
                    let (next, at) = self.next_token();
                    if matches!(next, Token::ArrayEnd) {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        open.push(Container::Array { table, next: 1 });
                        (token, index) = (next, at);
                        continue;
                    }
                }
                other => return Err(self.unexpected("value", &other, index)),
            };
            // Store the value in the innermost container; close the containers that end.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(value);
                };
                let closed = match top {
                    Container::Array { table, next } => {
                        table.raw_set(*next, value)?;
                        *next += 1;
                        let (after, at) = self.next_token();
                        match after {
                            Token::ArrayEnd => true,
                            Token::Comma => false,
                            other => return Err(self.unexpected("comma or array end", &other, at)),
                        }
                    }
                    Container::Object { table, key } => {
                        table.raw_set(self.lua.create_string(&*key)?, value)?;
                        let (after, at) = self.next_token();
                        match after {
                            Token::ObjectEnd => true,
                            Token::Comma => {
                                let (next, at) = self.next_token();
                                *key = self.object_key(next, at)?;
                                false
                            }
                            other => {
                                return Err(self.unexpected("comma or object end", &other, at))
                            }
                        }
                    }
                };
                if !closed {
                    (token, index) = self.next_token();
                    break;
                }
                self.depth -= 1;
                value = match open.pop() {
                    Some(Container::Array { table, .. } | Container::Object { table, .. }) => {
                        Value::Table(table)
                    }
                    None => Value::Nil,
                };
            }
        }
    }

    /// An object's key (a string token) and the colon after it.
    fn object_key(&mut self, token: Token, index: usize) -> mlua::Result<Vec<u8>> {
        let Token::String(key) = token else {
            return Err(self.unexpected("object key string", &token, index));
        };
        let (colon, at) = self.next_token();
        if !matches!(colon, Token::Colon) {
            return Err(self.unexpected("colon", &colon, at));
        }
        Ok(key)
    }

    fn descend(&mut self) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(raise(
                self.lua,
                format!(
                    "Found too many nested data structures ({}) at character {}",
                    self.depth, self.at
                ),
            ));
        }
        Ok(())
    }
}

/// A container being decoded: an array and its next index, or an object and the key of the
/// value being read.
enum Container {
    Array { table: Table, next: i64 },
    Object { table: Table, key: Vec<u8> },
}

/// lua-cjson's test for numbers JSON does not allow (it then reads them anyway, as `strtod`
/// does): a leading `+`, `inf` or `nan`. Hexadecimal and leading zeros start with a digit.
fn invalid_number_start(text: &[u8]) -> bool {
    let body = match text.first() {
        Some(b'+') => return true,
        Some(b'-') => &text[1..],
        _ => text,
    };
    let word = |w: &[u8]| body.len() >= 3 && body[..3].eq_ignore_ascii_case(w);
    match body.first() {
        Some(c) if *c <= b'9' => false,
        _ => word(b"inf") || word(b"nan"),
    }
}
