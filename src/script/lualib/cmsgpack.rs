//! `cmsgpack`: MessagePack as lua-cmsgpack 0.4.0 (the version Redis embeds) writes and reads
//! it: `pack(v, …)`, `unpack(s)`, `unpack_one(s [, offset])`, `unpack_limit(s, n [, offset])`.
//!
//! - A number that is an exact 64-bit integer is packed in the smallest integer form; other
//!   numbers as a 32-bit float when that is exact, else a 64-bit float.
//! - A table whose keys are exactly 1..n is an array (an empty table too), any other a map.
//!   Tables nested deeper than 16 levels, functions and other values pack as nil.
//! - Unpacking gives numbers, strings, booleans, nil and tables; `bin`, `ext` and other
//!   formats lua-cmsgpack does not know are `Bad data format in input.`, a short input
//!   `Missing bytes in input.`.

use mlua::{Lua, MultiValue, Table, Value};

use super::{raise, Args};

/// Tables nested deeper than this pack as nil (lua-cmsgpack's `LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;
/// Deepest nesting unpacked; deeper input is refused (`Bad data format in input.`) rather
/// than recursed into.
const MAX_UNPACK_DEPTH: usize = 200;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let cmsgpack = lua.create_table()?;
    cmsgpack.raw_set(
        "pack",
        lua.create_function(|lua, values: MultiValue| {
            if values.is_empty() {
                return Err(super::bad_argument(
                    lua,
                    0,
                    "pack",
                    "MessagePack pack needs input.",
                ));
            }
            let mut out = Vec::new();
            for value in values.iter() {
                pack(value, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    cmsgpack.raw_set(
        "unpack",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(lua, "unpack", values);
            let data = args.bytes(1)?;
            unpack(lua, &data, 0, 0)
        })?,
    )?;
    cmsgpack.raw_set(
        "unpack_one",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(lua, "unpack_one", values);
            let data = args.bytes(1)?;
            let offset = args.opt_integer(2, 0)?;
            unpack(lua, &data, 1, offset)
        })?,
    )?;
    cmsgpack.raw_set(
        "unpack_limit",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(lua, "unpack_limit", values);
            let data = args.bytes(1)?;
            let limit = super::truncate(args.number(2)?);
            let offset = args.opt_integer(3, 0)?;
            unpack(lua, &data, limit, offset)
        })?,
    )?;
    cmsgpack.raw_set("_NAME", "cmsgpack")?;
    cmsgpack.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    cmsgpack.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    cmsgpack.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(cmsgpack)
}

fn pack(value: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match value {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => pack_number(*n as f64, out),
        Value::Number(n) => pack_number(*n, out),
        Value::String(text) => pack_bytes(&text.as_bytes(), out),
        Value::Table(table) if level < MAX_NESTING => pack_table(table, level, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

/// Whether `value` converts to an `int64_t` and back unchanged (as the C cast does on x86-64,
/// where out-of-range values become `i64::MIN`).
fn exact_i64(value: f64) -> Option<i64> {
    if !value.is_finite() {
        return None;
    }
    let cast = if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&value) {
        value as i64
    } else {
        i64::MIN
    };
    (cast as f64 == value).then_some(cast)
}

fn pack_number(value: f64, out: &mut Vec<u8>) {
    if let Some(n) = exact_i64(value) {
        pack_integer(n, out);
    } else if f64::from(value as f32) == value {
        out.push(0xca);
        out.extend_from_slice(&(value as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn pack_integer(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let length = bytes.len();
    if length < 32 {
        out.push(0xa0 | length as u8);
    } else if length <= 0xff {
        out.extend_from_slice(&[0xd9, length as u8]);
    } else if length <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(length as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(length as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

/// Packs a header: the fix form below 16 entries, else the 16- or 32-bit form.
fn pack_header(count: usize, fix: u8, wide16: u8, wide32: u8, out: &mut Vec<u8>) {
    if count <= 15 {
        out.push(fix | count as u8);
    } else if count <= 0xffff {
        out.push(wide16);
        out.extend_from_slice(&(count as u16).to_be_bytes());
    } else {
        out.push(wide32);
        out.extend_from_slice(&(count as u32).to_be_bytes());
    }
}

fn pack_table(table: &Table, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    // An array when the keys are exactly 1..count.
    let mut count = 0usize;
    let mut max = 0f64;
    let mut is_array = true;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => f64::NAN,
        };
        let fits_int = index.is_finite() && index == index.trunc() && index.abs() < 2_147_483_648.0;
        if !(index > 0.0 && fits_int) {
            is_array = false;
        }
        if index > max {
            max = index;
        }
        count += 1;
    }
    if is_array && max == count as f64 {
        let length = table.raw_len();
        pack_header(length, 0x90, 0xdc, 0xdd, out);
        for i in 1..=length {
            pack(&table.raw_get::<Value>(i)?, level + 1, out)?;
        }
    } else {
        pack_header(count, 0x80, 0xde, 0xdf, out);
        for pair in table.pairs::<Value, Value>() {
            let (key, value) = pair?;
            pack(&key, level + 1, out)?;
            pack(&value, level + 1, out)?;
        }
    }
    Ok(())
}

/// Why unpacking stopped.
enum Failure {
    Missing,
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(error: mlua::Error) -> Self {
        Failure::Lua(error)
    }
}

/// Unpacks up to `limit` values (all with `limit` and `offset` both 0) from `offset`; with a
/// limit or an offset the next offset (-1 at the end) comes first.
fn unpack(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(raise(
            lua,
            format!(
                "Invalid request to unpack with offset of {offset} and limit of {}.",
                data.len()
            ),
        ));
    }
    if offset as u64 > data.len() as u64 {
        return Err(raise(
            lua,
            format!(
                "Start offset {offset} greater than input length {}.",
                data.len()
            ),
        ));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut cursor = Cursor {
        lua,
        data,
        at: offset as usize,
    };
    let mut values = Vec::new();
    let mut count = 0;
    while cursor.at < data.len() && count < limit {
        match cursor.value(0) {
            Ok(value) => values.push(value),
            Err(Failure::Missing) => return Err(raise(lua, "Missing bytes in input.")),
            Err(Failure::BadFormat) => return Err(raise(lua, "Bad data format in input.")),
            Err(Failure::Lua(error)) => return Err(error),
        }
        count += 1;
    }
    if !decode_all {
        let next = if cursor.at >= data.len() {
            -1
        } else {
            cursor.at as i64
        };
        values.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(values))
}

struct Cursor<'l, 'd> {
    lua: &'l Lua,
    data: &'d [u8],
    at: usize,
}

impl Cursor<'_, '_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Failure> {
        let end = self.at.checked_add(n).ok_or(Failure::Missing)?;
        let bytes = self.data.get(self.at..end).ok_or(Failure::Missing)?;
        self.at = end;
        Ok(bytes)
    }

    fn be(&mut self, n: usize) -> Result<u64, Failure> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn string(&mut self, length: usize) -> Result<Value, Failure> {
        let lua = self.lua;
        let bytes = self.take(length)?;
        Ok(Value::String(lua.create_string(bytes)?))
    }

    fn value(&mut self, depth: usize) -> Result<Value, Failure> {
        if depth > MAX_UNPACK_DEPTH {
            return Err(Failure::BadFormat);
        }
        let tag = self.take(1)?[0];
        let number = |n: f64| Ok(Value::Number(n));
        match tag {
            0x00..=0x7f => number(f64::from(tag)),
            0xe0..=0xff => number(f64::from(tag as i8)),
            0xcc => number(self.be(1)? as f64),
            0xcd => number(self.be(2)? as f64),
            0xce => number(self.be(4)? as f64),
            // lua-cmsgpack reads uint64 through a signed integer.
            0xcf => number(self.be(8)? as i64 as f64),
            0xd0 => number(f64::from(self.be(1)? as u8 as i8)),
            0xd1 => number(f64::from(self.be(2)? as u16 as i16)),
            0xd2 => number(f64::from(self.be(4)? as u32 as i32)),
            0xd3 => number(self.be(8)? as i64 as f64),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xca => number(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => number(f64::from_bits(self.be(8)?)),
            0xa0..=0xbf => self.string(usize::from(tag & 0x1f)),
            0xd9 => {
                let length = self.be(1)? as usize;
                self.string(length)
            }
            0xda => {
                let length = self.be(2)? as usize;
                self.string(length)
            }
            0xdb => {
                let length = self.be(4)? as usize;
                self.string(length)
            }
            0x90..=0x9f => self.array(u64::from(tag & 0x0f), depth),
            0xdc => {
                let count = self.be(2)?;
                self.array(count, depth)
            }
            0xdd => {
                let count = self.be(4)?;
                self.array(count, depth)
            }
            0x80..=0x8f => self.map(u64::from(tag & 0x0f), depth),
            0xde => {
                let count = self.be(2)?;
                self.map(count, depth)
            }
            0xdf => {
                let count = self.be(4)?;
                self.map(count, depth)
            }
            _ => Err(Failure::BadFormat),
        }
    }

    /// An array of `count` values; the table grows as values arrive (the count is the input's
    /// claim, not an allocation size).
    fn array(&mut self, count: u64, depth: usize) -> Result<Value, Failure> {
        let table = self.lua.create_table()?;
        for i in 1..=count {
            let value = self.value(depth + 1)?;
            table.raw_set(i, value)?;
        }
        Ok(Value::Table(table))
    }

    fn map(&mut self, count: u64, depth: usize) -> Result<Value, Failure> {
        let table = self.lua.create_table()?;
        for _ in 0..count {
            let key = self.value(depth + 1)?;
            let value = self.value(depth + 1)?;
            if key == Value::Nil {
                return Err(Failure::Lua(mlua::Error::RuntimeError(
                    "table index is nil".into(),
                )));
            }
            table.raw_set(key, value)?;
        }
        Ok(Value::Table(table))
    }
}
