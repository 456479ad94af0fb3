//! Parsing of argument values, with Redis's rules and error texts, and [`Cursor`], the way a
//! handler reads its arguments in order.

use bytes::Bytes;

use crate::errors::{self, Error};

/// A handler's arguments read in order: each call says what it expects next, and
/// [`Cursor::finish`] refuses what is left over, so options are parsed without `args[N]` and
/// hand-written loops. Errors are Redis's (`ERR syntax error`, `ERR value is not an integer or
/// out of range`, …).
pub struct Cursor<'a> {
    args: &'a [Bytes],
    next: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at argument `start` of a command line (`args[0]` is the name).
    pub fn new(args: &'a [Bytes], start: usize) -> Self {
        Cursor {
            args,
            next: start.min(args.len()),
        }
    }

    /// Whether every argument has been read.
    pub fn is_empty(&self) -> bool {
        self.next >= self.args.len()
    }

    /// The next argument without consuming it.
    pub fn peek(&self) -> Option<&'a Bytes> {
        self.args.get(self.next)
    }

    /// The next argument, or `ERR syntax error` if there is none.
    pub fn next_bytes(&mut self) -> Result<&'a Bytes, Error> {
        let arg = self.args.get(self.next).ok_or(errors::SYNTAX)?;
        self.next += 1;
        Ok(arg)
    }

    /// The next argument as an integer.
    pub fn next_int(&mut self) -> Result<i64, Error> {
        int(self.next_bytes()?)
    }

    /// The next argument as a non-negative integer.
    pub fn next_uint(&mut self) -> Result<usize, Error> {
        uint(self.next_bytes()?)
    }

    /// The next argument as a float.
    pub fn next_float(&mut self) -> Result<f64, Error> {
        float(self.next_bytes()?)
    }

    /// Consumes the next argument if it is the keyword `name` (any case).
    pub fn next_is(&mut self, name: &str) -> bool {
        let matched = self.peek().is_some_and(|arg| is(arg, name));
        if matched {
            self.next += 1;
        }
        matched
    }

    /// The arguments not read yet, all consumed.
    pub fn rest(&mut self) -> &'a [Bytes] {
        let rest = &self.args[self.next..];
        self.next = self.args.len();
        rest
    }

    /// `Ok` when every argument was read, else `ERR syntax error`.
    pub fn finish(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(errors::SYNTAX)
        }
    }
}

/// An integer as Redis reads one (`string2ll`): optional `-`, decimal digits with no leading
/// zero, nothing else, in range of `i64`. Read by hand: it runs for every `PX`, count and
/// `numkeys` on the hot path.
pub fn parse_i64(arg: &[u8]) -> Option<i64> {
    let (negative, digits) = match arg {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, arg),
    };
    // 19 digits hold every i64 and stay below 2^64, so the sum below cannot overflow.
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
    }
    if negative {
        (value <= 1 << 63).then(|| 0i64.wrapping_sub(value as i64))
    } else {
        i64::try_from(value).ok()
    }
}

/// An integer argument, or `ERR value is not an integer or out of range`.
pub fn int(arg: &[u8]) -> Result<i64, Error> {
    parse_i64(arg).ok_or(errors::NOT_INTEGER)
}

/// A non-negative integer argument that fits `usize`.
pub fn uint(arg: &[u8]) -> Result<usize, Error> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(errors::NOT_INTEGER),
    }
}

/// A float as Redis reads one (`strtold` on the whole string, with `inf`/`-inf`), refusing NaN.
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let value: f64 = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse().ok()?,
    };
    (!value.is_nan()).then_some(value)
}

/// A float argument, or `ERR value is not a valid float`.
pub fn float(arg: &[u8]) -> Result<f64, Error> {
    parse_f64(arg).ok_or(errors::NOT_FLOAT)
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// The argument uppercased, as a `String` for matching options (non-UTF-8 bytes become `?`).
pub fn upper(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_like_redis() {
        assert_eq!(parse_i64(b"123"), Some(123));
        assert_eq!(parse_i64(b"-5"), Some(-5));
        assert_eq!(parse_i64(b"0"), Some(0));
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1.0",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"1-"), None);
        assert_eq!(parse_i64(b"10"), Some(10));
    }

    #[test]
    fn cursor_reads_in_order() {
        let line: Vec<Bytes> = ["MEMORY", "USAGE", "k", "samples", "5", "extra"]
            .iter()
            .map(|w| Bytes::from(w.to_string()))
            .collect();
        let mut cursor = Cursor::new(&line, 2);
        assert_eq!(&cursor.next_bytes().unwrap()[..], b"k");
        assert!(!cursor.next_is("COUNT"));
        assert!(cursor.next_is("SAMPLES"));
        assert_eq!(cursor.next_int().unwrap(), 5);
        assert_eq!(cursor.peek().map(|a| &a[..]), Some(&b"extra"[..]));
        assert_eq!(Cursor::new(&line, 5).finish(), Err(errors::SYNTAX));
        assert_eq!(Cursor::new(&line, 6).finish(), Ok(()));
        assert_eq!(Cursor::new(&line, 9).next_bytes(), Err(errors::SYNTAX));
        assert_eq!(Cursor::new(&line, 1).next_int(), Err(errors::NOT_INTEGER));
        assert_eq!(Cursor::new(&line, 4).rest().len(), 2);
    }

    #[test]
    fn floats_like_redis() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
    }
}
