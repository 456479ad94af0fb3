//! `struct`: binary packing as Roberto Ierusalimschy's `struct` library (the one Redis embeds):
//! `pack(fmt, …)`, `unpack(fmt, data [, pos])`, `size(fmt)`.
//!
//! Format letters, with the sizes of a 64-bit Linux build: `>` big endian, `<` little endian,
//! `!n` alignment (default 8 without `n`), `x` a zero byte, `b`/`B` char, `h`/`H` short (2),
//! `l`/`L` long (8), `T` size_t (8), `i`/`I` with an optional size (default 4, at most 32),
//! `f` float, `d` double, `s` zero-terminated string, `c` with an optional size (`c0`: the
//! whole string when packing; when unpacking, the length is the previous value), spaces
//! ignored. Lower case is signed, upper case unsigned.

use mlua::{Lua, MultiValue, Table, Value};

use super::{raise, Args};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let library = lua.create_table()?;
    library.raw_set(
        "pack",
        lua.create_function(|lua, values: MultiValue| pack(&Args::new(lua, "pack", values)))?,
    )?;
    library.raw_set(
        "unpack",
        lua.create_function(|lua, values: MultiValue| unpack(&Args::new(lua, "unpack", values)))?,
    )?;
    library.raw_set(
        "size",
        lua.create_function(|lua, values: MultiValue| size(&Args::new(lua, "size", values)))?,
    )?;
    Ok(library)
}

/// The state a format carries: byte order and maximum alignment.
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

/// A format string being read.
struct Format<'a> {
    text: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.text.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// A number after an option, or `default` when none follows.
    fn number(&mut self, lua: &Lua, default: usize) -> mlua::Result<usize> {
        if !self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut value: usize = 0;
        while let Some(digit) = self.text.get(self.at).filter(|c| c.is_ascii_digit()) {
            let digit = usize::from(digit - b'0');
            if value > (i32::MAX as usize) / 10 || value * 10 > i32::MAX as usize - digit {
                return Err(raise(lua, "integral size overflow"));
            }
            value = value * 10 + digit;
            self.at += 1;
        }
        Ok(value)
    }

    /// The size of option `option` (reading its number, if it takes one); 0 for the options
    /// that are not data.
    fn size(&mut self, lua: &Lua, option: u8) -> mlua::Result<usize> {
        Ok(match option {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(lua, 1)?,
            b'i' | b'I' => {
                let size = self.number(lua, 4)?;
                if size > MAX_INT_SIZE {
                    return Err(raise(
                        lua,
                        format!("integral size {size} is larger than limit of {MAX_INT_SIZE}"),
                    ));
                }
                size
            }
            _ => 0,
        })
    }
}

/// Padding needed at `position` before an item of `size` bytes.
fn padding(position: usize, header: &Header, option: u8, size: usize) -> usize {
    if size == 0 || option == b'c' {
        return 0;
    }
    let size = size.min(header.align);
    (size - (position & (size - 1))) & (size - 1)
}

/// The options that are not data: byte order, alignment, spaces. Anything else is an error.
fn control(args: &Args, option: u8, format: &mut Format, header: &mut Header) -> mlua::Result<()> {
    match option {
        b' ' => {}
        b'>' => header.little = false,
        b'<' => header.little = true,
        b'!' => {
            let align = format.number(args.lua, MAX_ALIGN)?;
            if !align.is_power_of_two() {
                return Err(raise(
                    args.lua,
                    format!("alignment {align} is not a power of 2"),
                ));
            }
            header.align = align;
        }
        other => {
            let text = format!("invalid format option '{}'", other as char);
            return Err(args.error(1, &text));
        }
    }
    Ok(())
}

fn put_integer(out: &mut Vec<u8>, value: f64, little: bool, size: usize) {
    // As the C code: negative numbers through a signed 64-bit cast, then the low bytes.
    let mut bits: u64 = if value < 0.0 {
        crate::script::number::to_integer_reply(value) as u64
    } else if value < 18_446_744_073_709_551_616.0 {
        value as u64
    } else {
        0
    };
    let mut bytes = vec![0u8; size];
    for i in 0..size {
        let index = if little { i } else { size - 1 - i };
        bytes[index] = bits as u8;
        bits = bits.checked_shr(8).unwrap_or(0);
    }
    out.extend_from_slice(&bytes);
}

fn pack(args: &Args) -> mlua::Result<Value> {
    let format_text = args.bytes(1)?;
    let mut format = Format {
        text: &format_text,
        at: 0,
    };
    let mut header = Header::default();
    let mut out = Vec::new();
    let mut position = 2;
    // A missing argument is `nil` here: the C code pushes a nil mark after the arguments.
    let number = |position: usize| -> mlua::Result<f64> {
        match args.get(position) {
            None => Err(args.error(position, "number expected, got nil")),
            Some(_) => args.number(position),
        }
    };
    while let Some(option) = format.next() {
        let mut size = format.size(args.lua, option)?;
        let pad = padding(out.len(), &header, option, size);
        out.resize(out.len() + pad, 0);
        match option {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let value = number(position)?;
                position += 1;
                put_integer(&mut out, value, header.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let value = number(position)? as f32;
                position += 1;
                let bytes = if header.little {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                out.extend_from_slice(&bytes);
            }
            b'd' => {
                let value = number(position)?;
                position += 1;
                let bytes = if header.little {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let text = match args.get(position) {
                    None => return Err(args.error(position, "string expected, got nil")),
                    Some(_) => args.bytes(position)?,
                };
                position += 1;
                if size == 0 {
                    size = text.len();
                }
                if text.len() < size {
                    return Err(args.error(position, "string too short"));
                }
                out.extend_from_slice(&text[..size]);
                if option == b's' {
                    out.push(0);
                }
            }
            other => control(args, other, &mut format, &mut header)?,
        }
    }
    Ok(Value::String(args.lua.create_string(&out)?))
}

fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let mut value: u64 = 0;
    let ordered: Box<dyn Iterator<Item = &u8>> = if little {
        Box::new(bytes.iter().rev())
    } else {
        Box::new(bytes.iter())
    };
    for &byte in ordered {
        value = (value << 8) | u64::from(byte);
    }
    if !signed {
        return value as f64;
    }
    // The C shift by `size * 8 - 1` takes its count modulo 64 on x86-64.
    let mask = u64::MAX.wrapping_shl((bytes.len() * 8).wrapping_sub(1) as u32);
    if value & mask != 0 {
        value |= mask;
    }
    value as i64 as f64
}

fn unpack(args: &Args) -> mlua::Result<MultiValue> {
    let format_text = args.bytes(1)?;
    let data = args.bytes(2)?;
    let start = args.opt_integer(3, 1)?;
    if start < 1 {
        return Err(args.error(3, "offset must be 1 or greater"));
    }
    let mut position = (start - 1) as usize;
    let mut format = Format {
        text: &format_text,
        at: 0,
    };
    let mut header = Header::default();
    let mut results: Vec<Value> = Vec::new();
    let too_short = || args.error(2, "data string too short");
    while let Some(option) = format.next() {
        let mut size = format.size(args.lua, option)?;
        // A start offset far past the data must not overflow: it fails the check below.
        position = position.saturating_add(padding(position, &header, option, size));
        if size > data.len() || position > data.len() - size {
            return Err(too_short());
        }
        match option {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = option.is_ascii_lowercase();
                let value = get_integer(&data[position..position + size], header.little, signed);
                results.push(Value::Number(value));
            }
            b'x' => {}
            b'f' => {
                let mut bytes = [0u8; 4];
                bytes.copy_from_slice(&data[position..position + 4]);
                let value = if header.little {
                    f32::from_le_bytes(bytes)
                } else {
                    f32::from_be_bytes(bytes)
                };
                results.push(Value::Number(f64::from(value)));
            }
            b'd' => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&data[position..position + 8]);
                let value = if header.little {
                    f64::from_le_bytes(bytes)
                } else {
                    f64::from_be_bytes(bytes)
                };
                results.push(Value::Number(value));
            }
            b'c' => {
                if size == 0 {
                    let previous = results.last().and_then(super::to_number);
                    let Some(length) = previous else {
                        return Err(raise(args.lua, "format 'c0' needs a previous size"));
                    };
                    results.pop();
                    size = super::truncate(length).max(0) as usize;
                    if size > data.len() || position > data.len() - size {
                        return Err(too_short());
                    }
                }
                let text = args.lua.create_string(&data[position..position + size])?;
                results.push(Value::String(text));
            }
            b's' => {
                let Some(length) = data[position..].iter().position(|&b| b == 0) else {
                    return Err(raise(args.lua, "unfinished string in data"));
                };
                let text = args.lua.create_string(&data[position..position + length])?;
                results.push(Value::String(text));
                size = length + 1;
            }
            other => control(args, other, &mut format, &mut header)?,
        }
        position += size;
    }
    results.push(Value::Integer(position as i64 + 1));
    Ok(MultiValue::from_iter(results))
}

fn size(args: &Args) -> mlua::Result<i64> {
    let format_text = args.bytes(1)?;
    let mut format = Format {
        text: &format_text,
        at: 0,
    };
    let mut header = Header::default();
    let mut position = 0usize;
    while let Some(option) = format.next() {
        let size = format.size(args.lua, option)?;
        position += padding(position, &header, option, size);
        if option == b's' {
            return Err(args.error(1, "option 's' has no fixed size"));
        }
        if option == b'c' && size == 0 {
            return Err(args.error(1, "option 'c0' has no fixed size"));
        }
        if !option.is_ascii_alphanumeric() {
            control(args, option, &mut format, &mut header)?;
        }
        position += size;
    }
    Ok(position as i64)
}
