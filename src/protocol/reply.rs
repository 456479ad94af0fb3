//! Replies, and their encoding in RESP2 or RESP3.
//!
//! A handler builds a [`Reply`] without knowing the connection's protocol; the connection
//! encodes it with the version `HELLO` chose. RESP3-only types fall back to what Redis sends a
//! RESP2 client: a map becomes a flat array, a double a bulk string, a boolean an integer.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

/// One reply value.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`: a status line. Never contains CR or LF.
    Simple(Cow<'static, str>),
    /// `-ERR …`: the whole error line, its prefix (`ERR`, `WRONGTYPE`, …) included.
    Error(Cow<'static, str>),
    Integer(i64),
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    Nil,
    /// The null array (`*-1` in RESP2, `_` in RESP3), e.g. a `BLPOP` timeout or an aborted `EXEC`.
    NilArray,
    Array(Vec<Reply>),
    /// A map: a flat array of key, value, key, value in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set: an array in RESP2.
    Set(Vec<Reply>),
    /// A double: a bulk string in RESP2.
    Double(f64),
    /// A boolean: the integer 1 or 0 in RESP2.
    Bool(bool),
    /// Out-of-band data (pub/sub messages): an array in RESP2.
    Push(Vec<Reply>),
    /// A verbatim string with its three-letter format: a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
    /// A big number, as its decimal digits: a bulk string in RESP2 (only scripts return one).
    BigNumber(Bytes),
}

impl Reply {
    pub const OK: Reply = Reply::Simple(Cow::Borrowed("OK"));

    pub fn simple(text: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(text))
    }

    pub fn bulk(bytes: impl Into<Bytes>) -> Reply {
        Reply::Bulk(bytes.into())
    }

    /// A bulk string copied from a slice.
    pub fn bulk_copy(bytes: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(bytes))
    }

    /// An error reply from a full error line such as `"ERR syntax error"`.
    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    /// `Some(bulk)` or the null bulk string.
    pub fn bulk_or_nil(value: Option<Bytes>) -> Reply {
        value.map_or(Reply::Nil, Reply::Bulk)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends this reply to `out` in RESP3 when `resp3`, else in RESP2.
    pub fn encode(&self, out: &mut BytesMut, resp3: bool) {
        match self {
            Reply::Simple(text) => line(out, b'+', text.as_bytes()),
            Reply::Error(text) => line(out, b'-', text.as_bytes()),
            Reply::Integer(n) => integer(out, b':', *n),
            Reply::Bulk(bytes) => bulk(out, b'$', bytes),
            Reply::Nil if resp3 => out.put_slice(b"_\r\n"),
            Reply::Nil => out.put_slice(b"$-1\r\n"),
            Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::NilArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, b'*', items, resp3),
            Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, resp3),
            Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, resp3),
            Reply::Map(pairs) => {
                if resp3 {
                    integer(out, b'%', pairs.len() as i64);
                } else {
                    integer(out, b'*', 2 * pairs.len() as i64);
                }
                for (key, value) in pairs {
                    key.encode(out, resp3);
                    value.encode(out, resp3);
                }
            }
            Reply::Double(value) => {
                let text = format_double(*value);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, b'$', text.as_bytes());
                }
            }
            Reply::Bool(value) if resp3 => {
                out.put_slice(if *value { b"#t\r\n" } else { b"#f\r\n" })
            }
            Reply::Bool(value) => integer(out, b':', i64::from(*value)),
            Reply::Verbatim(format, text) if resp3 => {
                integer(out, b'=', (text.len() + 4) as i64);
                out.put_slice(format.as_bytes());
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Reply::Verbatim(_, text) => bulk(out, b'$', text),
            Reply::BigNumber(digits) if resp3 => line(out, b'(', digits),
            Reply::BigNumber(digits) => bulk(out, b'$', digits),
        }
    }
}

/// Formats a double the way Redis does for replies: `inf`, `-inf`, `nan`, or the shortest text
/// that reads back to the same value (integral values without a fraction).
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        "nan".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if value == value.trunc() && value.abs() < 1e17 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn integer(out: &mut BytesMut, kind: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    line(out, kind, digits.format(n).as_bytes());
}

fn bulk(out: &mut BytesMut, kind: u8, bytes: &[u8]) {
    integer(out, kind, bytes.len() as i64);
    out.reserve(bytes.len() + 2);
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

fn aggregate(out: &mut BytesMut, kind: u8, items: &[Reply], resp3: bool) {
    integer(out, kind, items.len() as i64);
    for item in items {
        item.encode(out, resp3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(reply: &Reply, resp3: bool) -> Vec<u8> {
        let mut out = BytesMut::new();
        reply.encode(&mut out, resp3);
        out.to_vec()
    }

    #[test]
    fn resp2_and_resp3_forms() {
        let map = Reply::Map(vec![(Reply::bulk("proto"), Reply::Integer(3))]);
        assert_eq!(enc(&map, false), b"*2\r\n$5\r\nproto\r\n:3\r\n");
        assert_eq!(enc(&map, true), b"%1\r\n$5\r\nproto\r\n:3\r\n");
        assert_eq!(enc(&Reply::Nil, false), b"$-1\r\n");
        assert_eq!(enc(&Reply::Nil, true), b"_\r\n");
        assert_eq!(enc(&Reply::NilArray, false), b"*-1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), false), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(2.0), true), b",2\r\n");
        assert_eq!(enc(&Reply::Bool(true), false), b":1\r\n");
        assert_eq!(enc(&Reply::Bool(false), true), b"#f\r\n");
        assert_eq!(
            enc(&Reply::Push(vec![Reply::bulk("message")]), true),
            b">1\r\n$7\r\nmessage\r\n"
        );
        assert_eq!(
            enc(&Reply::Verbatim("txt", Bytes::from("hi")), true),
            b"=6\r\ntxt:hi\r\n"
        );
        let big = Reply::BigNumber(Bytes::from("123"));
        assert_eq!(enc(&big, true), b"(123\r\n");
        assert_eq!(enc(&big, false), b"$3\r\n123\r\n");
    }
}
