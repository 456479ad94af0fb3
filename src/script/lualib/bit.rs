//! `bit`: the LuaBitOp API (`tobit`, `tohex`, `bnot`, `band`, `bor`, `bxor`, `lshift`,
//! `rshift`, `arshift`, `rol`, `ror`, `bswap`) on 32-bit integers.
//!
//! As LuaBitOp does: an argument is rounded to the nearest integer (ties to even) and taken
//! modulo 2^32; results are signed 32-bit numbers; shift counts use their low five bits.

use mlua::{Lua, MultiValue, Table};

use super::Args;

/// The 32 low bits of a Lua number, as LuaBitOp's `barg` takes them: adding 2^52 + 2^51
/// leaves the number rounded to an integer (ties to even) in the low mantissa bits.
fn to_bits(value: f64) -> u32 {
    (value + 6_755_399_441_055_744.0).to_bits() as u32
}

fn arg(args: &Args, position: usize) -> mlua::Result<u32> {
    Ok(to_bits(args.number(position)?))
}

fn signed(bits: u32) -> f64 {
    f64::from(bits as i32)
}

type Unary = fn(u32) -> u32;
type Binary = fn(u32, u32) -> u32;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let bit = lua.create_table()?;
    let unary: &[(&'static str, Unary)] = &[
        ("tobit", |b| b),
        ("bnot", |b| !b),
        ("bswap", u32::swap_bytes),
    ];
    for &(name, op) in unary {
        bit.raw_set(
            name,
            lua.create_function(move |lua, values: MultiValue| {
                let args = Args::new(lua, name, values);
                Ok(signed(op(arg(&args, 1)?)))
            })?,
        )?;
    }
    let folds: &[(&'static str, Binary)] = &[
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for &(name, op) in folds {
        bit.raw_set(
            name,
            lua.create_function(move |lua, values: MultiValue| {
                let args = Args::new(lua, name, values);
                let mut bits = arg(&args, 1)?;
                for position in 2..=args.len() {
                    bits = op(bits, arg(&args, position)?);
                }
                Ok(signed(bits))
            })?,
        )?;
    }
    let shifts: &[(&'static str, Binary)] = &[
        ("lshift", |b, n| b << n),
        ("rshift", |b, n| b >> n),
        ("arshift", |b, n| ((b as i32) >> n) as u32),
        ("rol", u32::rotate_left),
        ("ror", u32::rotate_right),
    ];
    for &(name, op) in shifts {
        bit.raw_set(
            name,
            lua.create_function(move |lua, values: MultiValue| {
                let args = Args::new(lua, name, values);
                let bits = arg(&args, 1)?;
                let count = arg(&args, 2)? & 31;
                Ok(signed(op(bits, count)))
            })?,
        )?;
    }
    bit.raw_set(
        "tohex",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(lua, "tohex", values);
            let bits = arg(&args, 1)?;
            let digits = match args.get(2) {
                None | Some(mlua::Value::Nil) => 8,
                Some(_) => arg(&args, 2)? as i32,
            };
            let upper = digits < 0;
            let count = digits.unsigned_abs().min(8) as usize;
            let text = if upper {
                format!("{bits:08X}")
            } else {
                format!("{bits:08x}")
            };
            Ok(text[8 - count..].to_string())
        })?,
    )?;
    Ok(bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_bits_like_luabitop() {
        assert_eq!(to_bits(1.5), 2);
        assert_eq!(to_bits(2.5), 2);
        assert_eq!(to_bits(-1.0), u32::MAX);
        assert_eq!(to_bits(4_294_967_301.0), 5);
        assert_eq!(to_bits(f64::NAN), 0);
    }
}
