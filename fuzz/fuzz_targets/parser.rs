//! Feeds arbitrary bytes to the request parser, split into reads at points the input chooses,
//! with and without the pre-AUTH limits. The parser must never panic, must return requests
//! only from bytes it consumed, and must keep its buffer bounded by what arrived.
#![no_main]

use bytes::BytesMut;
use latchkey::protocol::{Limits, Parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_bulk_len: if control & 1 == 0 {
            1024
        } else {
            512 * 1024 * 1024
        },
        authenticated: control & 2 == 0,
    };
    let chunk = usize::from(control >> 2).max(1);
    let mut parser = Parser::new();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for piece in body.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            match parser.next_request(&mut buf, limits) {
                Ok(Some(request)) => assert!(!request.is_empty()),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.len() <= fed);
    }
});
