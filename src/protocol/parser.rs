//! The request parser: RESP multibulk requests and inline (hand-typed) commands.
//!
//! Incremental: the state of a half-received multibulk request is kept between reads, so each
//! byte is looked at a bounded number of times whatever the split points. Every length a client
//! claims is checked against [`Limits`], and nothing is ever reserved for it: the buffer holds
//! what arrived. The texts of the errors are Redis's own (`Protocol error: …`).

use bytes::{Buf, Bytes, BytesMut};

/// The longest inline request, and the longest `*<count>` / `$<len>` header line, Redis accepts.
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// The most elements one multibulk request may claim (Redis: 1024 * 1024).
pub const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;
/// Before AUTH, when a password is required: at most this many elements…
pub const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
/// …and bulk strings of at most this many bytes.
pub const UNAUTH_MAX_BULK_LEN: i64 = 16 * 1024;

/// No argument is longer than this, whatever `proto-max-bulk-len` says: the keyspace keeps a
/// key's length in 32 bits.
pub const MAX_ARGUMENT_LEN: i64 = u32::MAX as i64;

/// Limits that apply to one parse call; `authenticated: false` selects the small pre-AUTH ones.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bulk_len: i64,
    pub authenticated: bool,
}

/// A request that breaks the protocol. The connection replies with `-ERR <text>` and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(what: &str) -> Self {
        ProtocolError(format!("Protocol error: {what}"))
    }
}

/// One parsed request: the command name followed by its arguments, all as bytes.
pub type Request = Vec<Bytes>;

#[derive(Default)]
enum State {
    /// Between requests.
    #[default]
    Idle,
    /// Inside a multibulk request: `remaining` bulks still to come, `pending_len` set once the
    /// `$<len>` line of the next bulk has been read.
    MultiBulk {
        remaining: usize,
        pending_len: Option<usize>,
        args: Vec<Bytes>,
    },
}

/// The parser of one connection.
#[derive(Default)]
pub struct Parser {
    state: State,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next complete request out of `buf`, or returns `Ok(None)` when more bytes are
    /// needed (what was consumed so far is remembered). Empty requests (a blank inline line,
    /// `*0`, `*-1`) are skipped, as Redis does.
    pub fn next_request(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
    ) -> Result<Option<Request>, ProtocolError> {
        loop {
            if let State::Idle = self.state {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if first != b'*' {
                    match parse_inline(buf)? {
                        None => return Ok(None),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(args)),
                    }
                }
                let Some(count) = read_header_line(buf, "too big mbulk count string")? else {
                    return Ok(None);
                };
                let count = count
                    .filter(|&n| n <= MAX_MULTIBULK_LEN)
                    .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
                if !limits.authenticated && count > UNAUTH_MAX_MULTIBULK_LEN {
                    return Err(ProtocolError::new("unauthenticated multibulk length"));
                }
                if count <= 0 {
                    continue;
                }
                let count = count as usize;
                self.state = State::MultiBulk {
                    remaining: count,
                    pending_len: None,
                    // Never trust the claimed count for the allocation.
                    args: Vec::with_capacity(count.min(16)),
                };
            }
            let State::MultiBulk {
                remaining,
                pending_len,
                args,
            } = &mut self.state
            else {
                unreachable!("state is MultiBulk here");
            };
            while *remaining > 0 {
                let len = match *pending_len {
                    Some(len) => len,
                    None => {
                        let Some(&first) = buf.first() else {
                            return Ok(None);
                        };
                        if first != b'$' {
                            return Err(ProtocolError(format!(
                                "Protocol error: expected '$', got '{}'",
                                first as char
                            )));
                        }
                        let Some(line) = read_header_line(buf, "too big bulk count string")? else {
                            return Ok(None);
                        };
                        let len = line
                            .filter(|&n| n >= 0 && n <= limits.max_bulk_len.min(MAX_ARGUMENT_LEN))
                            .ok_or_else(|| ProtocolError::new("invalid bulk length"))?;
                        if !limits.authenticated && len > UNAUTH_MAX_BULK_LEN {
                            return Err(ProtocolError::new("unauthenticated bulk length"));
                        }
                        *pending_len = Some(len as usize);
                        len as usize
                    }
                };
                if buf.len() < len + 2 {
                    // Nothing is reserved for the missing bytes: the reader grows the buffer
                    // with the bytes that really arrive, never with a claim (a client that
                    // announces 512 MB and stalls holds what it sent, not what it promised).
                    return Ok(None);
                }
                // Copied out rather than split off: a stored value that shared the read buffer
                // would pin the whole buffer for as long as the key lives.
                args.push(Bytes::copy_from_slice(&buf[..len]));
                buf.advance(len + 2);
                *pending_len = None;
                *remaining -= 1;
            }
            let State::MultiBulk { args, .. } = std::mem::take(&mut self.state) else {
                unreachable!("state is MultiBulk here");
            };
            return Ok(Some(args));
        }
    }
}

/// Reads a `*<n>` or `$<n>` line and returns its number (`Some(None)` when it is not a valid
/// one), or `None` if the line is not complete yet. A header line with no CRLF within
/// [`MAX_INLINE_LEN`] is an error.
fn read_header_line(
    buf: &mut BytesMut,
    too_big: &str,
) -> Result<Option<Option<i64>>, ProtocolError> {
    match memchr(b'\r', buf) {
        Some(cr) if cr + 1 < buf.len() => {
            let number = parse_len(&buf[1..cr]);
            buf.advance(cr + 2);
            Ok(Some(number))
        }
        Some(_) => Ok(None),
        None if buf.len() > MAX_INLINE_LEN => Err(ProtocolError::new(too_big)),
        None => Ok(None),
    }
}

/// Parses a decimal length the way Redis's `string2ll` does: optional `-`, digits, no spaces,
/// no leading `+`, no overflow.
fn parse_len(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(digit - b'0');
        // Accumulated on the negative side, which holds one more value (i64::MIN).
        value = value.checked_mul(10)?.checked_sub(digit)?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// An inline request: one line, split into arguments by [`split_args`].
fn parse_inline(buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
    let Some(newline) = memchr(b'\n', buf) else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    if newline > MAX_INLINE_LEN {
        return Err(ProtocolError::new("too big inline request"));
    }
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = split_args(line)
        .map(|args| args.into_iter().map(Bytes::from).collect())
        .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
    buf.advance(newline + 1);
    Ok(Some(args))
}

/// Splits a line into arguments with Redis's quoting rules (`sdssplitargs`): spaces separate,
/// `"…"` understands `\n \r \t \b \a \\ \"` and `\xHH`, `'…'` understands only `\'`, and a
/// closing quote must be followed by a space or the end. Returns `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let &c = line.get(i)?;
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(line[i + 2]), hex_val(line[i + 3])) {
                        current.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    current.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else if in_single {
                let &c = line.get(i)?;
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    current.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else {
                match line.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(&c) => current.push(c),
                }
                i += 1;
            }
        }
        args.push(current);
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_parse_as_string2ll_does() {
        let std_parse = |text: &str| {
            Some(text)
                .filter(|s| !s.is_empty() && !s.starts_with('+'))
                .and_then(|s| s.parse::<i64>().ok())
        };
        for text in [
            "",
            "-",
            "+5",
            "5",
            "-5",
            "007",
            "-0",
            " 5",
            "5 ",
            "1x",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "--1",
        ] {
            assert_eq!(parse_len(text.as_bytes()), std_parse(text), "{text:?}");
        }
    }

    const OPEN: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Request>, ProtocolError> {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(req) = parser.next_request(&mut buf, OPEN)? {
            out.push(req);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_split_at_every_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
        for split in 0..input.len() {
            let mut parser = Parser::new();
            let mut buf = BytesMut::from(&input[..split]);
            let mut got = Vec::new();
            while let Some(r) = parser.next_request(&mut buf, OPEN).unwrap() {
                got.push(r);
            }
            buf.extend_from_slice(&input[split..]);
            while let Some(r) = parser.next_request(&mut buf, OPEN).unwrap() {
                got.push(r);
            }
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0], vec!["SET", "k", "hello"]);
            assert_eq!(got[1], vec!["PING"]);
        }
    }

    #[test]
    fn inline_quoting() {
        let reqs = parse_all(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n\r\nping\n").unwrap();
        assert_eq!(reqs[0], vec![&b"set"[..], b"a b", b"c'd", b"A\n"]);
        assert_eq!(reqs[1], vec!["ping"]);
        assert_eq!(
            parse_all(b"set \"abc\"x\r\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            parse_all(b"set \"abc\r\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn limits_and_bad_headers() {
        let err = |input: &[u8]| parse_all(input).unwrap_err().0;
        assert_eq!(err(b"*abc\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*2000000\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\nfoo\r\n"),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(err(b"*1\r\n$-5\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"*1\r\n$999999999999\r\n"),
            "Protocol error: invalid bulk length"
        );
        let huge = vec![b'a'; MAX_INLINE_LEN + 10];
        assert_eq!(err(&huge), "Protocol error: too big inline request");
        let mut star = b"*".to_vec();
        star.extend(vec![b'1'; MAX_INLINE_LEN + 10]);
        assert_eq!(err(&star), "Protocol error: too big mbulk count string");
        assert!(parse_all(b"*0\r\n*-1\r\n").unwrap().is_empty());
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits {
            max_bulk_len: 1 << 29,
            authenticated: false,
        };
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            parser.next_request(&mut buf, limits).unwrap_err().0,
            "Protocol error: unauthenticated multibulk length"
        );
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$20000\r\n"[..]);
        assert_eq!(
            parser.next_request(&mut buf, limits).unwrap_err().0,
            "Protocol error: unauthenticated bulk length"
        );
    }

    #[test]
    fn huge_claim_allocates_nothing_up_front() {
        let mut parser = Parser::new();
        let input = b"*1\r\n$536870912\r\nab";
        let mut buf = BytesMut::from(&input[..]);
        assert!(parser.next_request(&mut buf, OPEN).unwrap().is_none());
        assert!(buf.capacity() <= input.len(), "capacity {}", buf.capacity());
    }
}
