//! Lua numbers crossing into Redis: as command arguments and as integer replies, written the way
//! Redis 7.0 writes them so that scripts behave the same on both servers.

/// A Lua number passed to `redis.call` as an argument, as Redis formats it (`%.17g`): integral
/// values below 10^17 are written as exact integers (a 13-digit millisecond timestamp
/// round-trips), others in C's shortest-of-fixed-or-exponent form with 17 significant digits.
pub fn format_argument(value: f64) -> String {
    if value.is_nan() {
        return if value.is_sign_negative() {
            "-nan"
        } else {
            "nan"
        }
        .to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if value == value.trunc() && value.abs() < 1e17 {
        return format!("{}", value as i64);
    }
    format_g(value, 17)
}

/// A number as Lua's `tostring` writes it (`%.14g`).
pub fn lua_tostring(value: f64) -> String {
    if value.is_nan() {
        return if value.is_sign_negative() {
            "-nan"
        } else {
            "nan"
        }
        .to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    format_g(value, 14)
}

/// C's `%.<precision>g` for a finite value.
fn format_g(value: f64, precision: i32) -> String {
    // Scientific form with `precision` significant digits gives the exponent after rounding.
    let scientific = format!("{:.*e}", (precision - 1) as usize, value);
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (precision - 1 - exponent).max(0) as usize;
        trim_fraction(&format!("{value:.decimals$}")).to_string()
    }
}

/// Drops trailing zeros of a fraction, and the point if nothing is left after it.
fn trim_fraction(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

/// A Lua number returned by a script, as the integer reply Redis sends: truncated toward zero;
/// values out of range, infinities and NaN become `i64::MIN`, as the C cast does on x86-64.
pub fn to_integer_reply(value: f64) -> i64 {
    const RANGE: std::ops::Range<f64> = -9.223_372_036_854_776e18..9.223_372_036_854_776e18;
    if !RANGE.contains(&value) {
        return i64::MIN;
    }
    value as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_as_redis_writes_them() {
        assert_eq!(format_argument(1.5), "1.5");
        assert_eq!(format_argument(1_700_000_000_000.0), "1700000000000");
        assert_eq!(format_argument(0.1), "0.10000000000000001");
        assert_eq!(format_argument(1e20), "1e+20");
        assert_eq!(format_argument(9007199254740993.0), "9007199254740992");
        assert_eq!(format_argument(-3.0), "-3");
        assert_eq!(format_argument(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_argument(123456.789), "123456.789");
        assert_eq!(format_argument(2.5e-7), "2.4999999999999999e-07");
        assert_eq!(
            format_argument(1.2345678901234567e19),
            "1.2345678901234567e+19"
        );
        assert_eq!(format_argument(f64::INFINITY), "inf");
    }

    #[test]
    fn lua_tostring_like_lua() {
        assert_eq!(lua_tostring(1.0), "1");
        assert_eq!(lua_tostring(0.1), "0.1");
        assert_eq!(lua_tostring(1e15), "1e+15");
        assert_eq!(lua_tostring(-2.5), "-2.5");
    }

    #[test]
    fn integer_replies_as_redis_sends_them() {
        assert_eq!(to_integer_reply(3.99), 3);
        assert_eq!(to_integer_reply(-3.99), -3);
        assert_eq!(to_integer_reply(1e20), i64::MIN);
        assert_eq!(to_integer_reply(-1e20), i64::MIN);
        assert_eq!(to_integer_reply(f64::NAN), i64::MIN);
    }
}
