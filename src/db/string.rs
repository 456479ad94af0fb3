//! The string value of a key, kept inline when short.
//!
//! Most keys of a lock store hold a token of 16 to 40 bytes (a UUID is 36). Held as `Bytes`
//! such a token costs a second heap allocation beside the key's own; [`Str`] keeps up to
//! [`INLINE_CAPACITY`] bytes inside itself, so a lock's key, deadline and token share one
//! allocation (see `node.rs`). Longer strings stay `Bytes`, shared with replies without a copy.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// The longest string kept inline: what fits beside a length byte in the 40 bytes a `Value`
/// takes anyway.
pub const INLINE_CAPACITY: usize = 38;

/// A string value: inline up to [`INLINE_CAPACITY`] bytes, shared `Bytes` beyond.
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
    Shared(Bytes),
}

impl Str {
    /// A copy of `bytes`.
    pub fn copy_from_slice(bytes: &[u8]) -> Str {
        if bytes.len() <= INLINE_CAPACITY {
            let mut inline = [0u8; INLINE_CAPACITY];
            inline[..bytes.len()].copy_from_slice(bytes);
            Str(Repr::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            })
        } else {
            Str(Repr::Shared(Bytes::copy_from_slice(bytes)))
        }
    }

    /// The string as `Bytes`, for a reply: a copy when inline (short), a shared handle
    /// otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(self),
            Repr::Shared(bytes) => bytes.clone(),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl From<Bytes> for Str {
    /// Short strings are copied inline (the `Bytes` is dropped); long ones are kept as they are.
    fn from(bytes: Bytes) -> Str {
        if bytes.len() <= INLINE_CAPACITY {
            Str::copy_from_slice(&bytes)
        } else {
            Str(Repr::Shared(bytes))
        }
    }
}

impl From<&Bytes> for Str {
    fn from(bytes: &Bytes) -> Str {
        Str::from(bytes.clone())
    }
}

impl From<&'static str> for Str {
    fn from(text: &'static str) -> Str {
        Str::copy_from_slice(text.as_bytes())
    }
}

impl From<Vec<u8>> for Str {
    fn from(bytes: Vec<u8>) -> Str {
        Str::from(Bytes::from(bytes))
    }
}

impl Deref for Str {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Str {}

impl PartialEq<[u8]> for Str {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Bytes> for Str {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_ref()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes::copy_from_slice(self), f)
    }
}

/// The string value of `key`: `Ok(None)` when absent, `WRONGTYPE` for another type.
pub fn read_string<'s>(
    shard: &'s mut super::Shard,
    key: &[u8],
    now: crate::clock::MonoTime,
) -> Result<Option<&'s Str>, crate::errors::Error> {
    match shard.get(key, now) {
        None => Ok(None),
        Some(entry) => match &entry.value {
            super::Value::Str(bytes) => Ok(Some(bytes)),
            #[allow(unreachable_patterns)]
            _ => Err(crate::errors::WRONGTYPE),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_inline_long_ones_shared() {
        let token = Str::from(Bytes::from("0123456789abcdef0123456789abcdef0123"));
        assert!(matches!(token.0, Repr::Inline { len: 36, .. }));
        assert_eq!(&*token, b"0123456789abcdef0123456789abcdef0123");
        let long = Bytes::from(vec![b'x'; INLINE_CAPACITY + 1]);
        let shared = Str::from(long.clone());
        assert!(matches!(shared.0, Repr::Shared(_)));
        assert_eq!(shared.to_bytes().as_ptr(), long.as_ptr(), "no copy");
        assert_eq!(Str::from(""), Str::copy_from_slice(b""));
        assert_eq!(std::mem::size_of::<Str>(), 40);
    }
}
