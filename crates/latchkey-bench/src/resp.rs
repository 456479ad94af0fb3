//! A minimal RESP client: request encoding, a zero-copy reply scanner, and one connection with
//! reusable buffers.
//!
//! The load generator must not be the bottleneck, so replies are scanned in place (a
//! [`Frame`] borrows from the read buffer and nested arrays are skipped, not built) and no
//! buffer is allocated per request.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One top-level reply, borrowed from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Frame<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    /// A bulk string (`None`: the null bulk string or RESP3 null).
    Bulk(Option<&'a [u8]>),
    /// An array, map, set or push of this many elements (`None`: the null array). The elements
    /// are skipped.
    Array(Option<usize>),
    /// Any other RESP3 scalar (double, boolean, big number, verbatim string).
    Other,
}

impl Frame<'_> {
    /// The error text, if this is an error reply.
    pub fn error_text(&self) -> Option<String> {
        match self {
            Frame::Error(text) => Some(String::from_utf8_lossy(text).into_owned()),
            _ => None,
        }
    }
}

/// Appends a RESP multibulk request made of `args` to `out`.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let mut digits = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(digits.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        out.extend_from_slice(digits.format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Scans one complete reply at the start of `buf`: `Ok(Some((frame, bytes used)))`, `Ok(None)`
/// when more bytes are needed, `Err` on bytes that are not RESP.
pub fn scan(buf: &[u8]) -> io::Result<Option<(Frame<'_>, usize)>> {
    let Some((line, mut used)) = read_line(buf, 0) else {
        return Ok(None);
    };
    let Some((&kind, body)) = line.split_first() else {
        return Err(bad("empty reply line"));
    };
    let frame = match kind {
        b'+' => Frame::Simple(body),
        b'-' => Frame::Error(body),
        b':' => Frame::Integer(parse_int(body)?),
        b'_' => Frame::Bulk(None),
        b',' | b'#' | b'(' => Frame::Other,
        b'$' | b'=' | b'!' => {
            let len = parse_int(body)?;
            if len < 0 {
                Frame::Bulk(None)
            } else {
                let len = len as usize;
                if buf.len() < used + len + 2 {
                    return Ok(None);
                }
                let data = &buf[used..used + len];
                used += len + 2;
                if kind == b'!' {
                    Frame::Error(data)
                } else {
                    Frame::Bulk(Some(data))
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = parse_int(body)?;
            if count < 0 {
                Frame::Array(None)
            } else {
                let elements = if matches!(kind, b'%' | b'|') {
                    count as usize * 2
                } else {
                    count as usize
                };
                for _ in 0..elements {
                    match scan(&buf[used..])? {
                        Some((_, n)) => used += n,
                        None => return Ok(None),
                    }
                }
                if kind == b'|' {
                    // An attribute precedes the real reply.
                    return match scan(&buf[used..])? {
                        Some((frame, n)) => Ok(Some((frame, used + n))),
                        None => Ok(None),
                    };
                }
                Frame::Array(Some(count as usize))
            }
        }
        _ => return Err(bad("unknown reply type")),
    };
    Ok(Some((frame, used)))
}

fn read_line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let end = memchr_newline(&buf[from..])? + from;
    if end == from || buf[end - 1] != b'\r' {
        return None;
    }
    Some((&buf[from..end - 1], end + 1))
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

fn parse_int(text: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad integer in reply"))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// One client connection with its own read buffer.
pub struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    /// Start of the unconsumed part of `input`.
    start: usize,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            input: Vec::with_capacity(16 * 1024),
            start: 0,
        })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Waits for the next reply and hands it to `use_frame` (the frame borrows the buffer).
    pub async fn recv<T>(&mut self, use_frame: impl FnOnce(Frame<'_>) -> T) -> io::Result<T> {
        loop {
            if let Some((frame, used)) = scan(&self.input[self.start..])? {
                let out = use_frame(frame);
                self.start += used;
                if self.start == self.input.len() {
                    self.input.clear();
                    self.start = 0;
                }
                return Ok(out);
            }
            if self.start > 0 {
                self.input.drain(..self.start);
                self.start = 0;
            }
            if self.input.capacity() - self.input.len() < 4096 {
                self.input.reserve(16 * 1024);
            }
            let n = self.stream.read_buf(&mut self.input).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
        }
    }

    /// Sends one command and returns its reply as an owned [`Owned`].
    pub async fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Owned> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.send(&out).await?;
        self.recv(|frame| Owned::from(frame)).await
    }
}

/// An owned copy of a [`Frame`], for the few replies the generator inspects.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<usize>),
    Other,
}

impl From<Frame<'_>> for Owned {
    fn from(frame: Frame<'_>) -> Owned {
        match frame {
            Frame::Simple(s) => Owned::Simple(String::from_utf8_lossy(s).into_owned()),
            Frame::Error(s) => Owned::Error(String::from_utf8_lossy(s).into_owned()),
            Frame::Integer(n) => Owned::Integer(n),
            Frame::Bulk(b) => Owned::Bulk(b.map(<[u8]>::to_vec)),
            Frame::Array(n) => Owned::Array(n),
            Frame::Other => Owned::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_each_reply_type() {
        assert_eq!(scan(b"+OK\r\n").unwrap(), Some((Frame::Simple(b"OK"), 5)));
        assert_eq!(scan(b":42\r\n").unwrap(), Some((Frame::Integer(42), 5)));
        assert_eq!(scan(b"$-1\r\n").unwrap(), Some((Frame::Bulk(None), 5)));
        assert_eq!(scan(b"_\r\n").unwrap(), Some((Frame::Bulk(None), 3)));
        assert_eq!(
            scan(b"$3\r\nabc\r\n").unwrap(),
            Some((Frame::Bulk(Some(b"abc")), 9))
        );
        assert_eq!(scan(b"$3\r\nab").unwrap(), None);
        assert_eq!(
            scan(b"-ERR x\r\n").unwrap(),
            Some((Frame::Error(b"ERR x"), 8))
        );
        assert_eq!(
            scan(b"*2\r\n$1\r\na\r\n:1\r\n+rest").unwrap(),
            Some((Frame::Array(Some(2)), 15))
        );
        assert_eq!(
            scan(b"%1\r\n+a\r\n:1\r\n").unwrap(),
            Some((Frame::Array(Some(1)), 12))
        );
        assert_eq!(scan(b"*2\r\n:1\r\n").unwrap(), None);
        assert!(scan(b"?\r\n").is_err());
    }

    #[test]
    fn encodes_multibulk() {
        let mut out = Vec::new();
        encode_command(&mut out, &["GET", "k"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
