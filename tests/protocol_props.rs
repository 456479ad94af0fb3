//! Property tests for the protocol layer: the parser returns the same requests however the
//! bytes are split, and the encoder's RESP2/RESP3 output, read back by an independent decoder
//! (the `redis-protocol` crate), is the value that was meant.

use bytes::{Bytes, BytesMut};
use latchkey::protocol::{Limits, Parser, Reply};
use proptest::prelude::*;
use redis_protocol::resp2::types::OwnedFrame as Frame2;
use redis_protocol::resp3::types::OwnedFrame as Frame3;

const LIMITS: Limits = Limits {
    max_bulk_len: 512 * 1024 * 1024,
    authenticated: true,
};

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn requests() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let arg = prop::collection::vec(any::<u8>(), 0..40);
    let request = prop::collection::vec(arg, 1..6);
    prop::collection::vec(request, 1..8)
}

proptest! {
    #[test]
    fn parser_is_split_invariant(reqs in requests(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let wire: Vec<u8> = reqs.iter().flat_map(|r| multibulk(r)).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let mut parser = Parser::new();
        let mut buf = BytesMut::new();
        let mut got: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut from = 0;
        for to in points {
            buf.extend_from_slice(&wire[from..to]);
            from = to;
            while let Some(req) = parser.next_request(&mut buf, LIMITS).expect("valid input") {
                got.push(req.iter().map(|b| b.to_vec()).collect());
            }
        }
        prop_assert_eq!(got, reqs);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn inline_words_round_trip(words in prop::collection::vec("[a-zA-Z0-9:_-]{1,12}", 1..6)) {
        let line = format!("{}\r\n", words.join(" "));
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(line.as_bytes());
        let req = parser.next_request(&mut buf, LIMITS).unwrap().unwrap();
        let got: Vec<String> = req.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()).collect();
        prop_assert_eq!(got, words);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&bytes[..]);
        for _ in 0..64 {
            match parser.next_request(&mut buf, LIMITS) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn resp2_encoding_decodes_to_the_same_value(reply in replies()) {
        let mut out = BytesMut::new();
        reply.encode(&mut out, false);
        let (frame, used) = redis_protocol::resp2::decode::decode(&out).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(frame, as_resp2(&reply));
    }

    #[test]
    fn resp3_encoding_decodes_to_the_same_value(reply in replies()) {
        let mut out = BytesMut::new();
        reply.encode(&mut out, true);
        let (frame, used) = redis_protocol::resp3::decode::complete::decode(&out).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(frame, as_resp3(&reply));
    }
}

fn leaf() -> impl Strategy<Value = Reply> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,20}".prop_map(|s| Reply::Simple(s.into())),
        "[a-zA-Z0-9 ]{0,20}".prop_map(|s| Reply::Error(format!("ERR {s}").into())),
        any::<i64>().prop_map(Reply::Integer),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| Reply::Bulk(Bytes::from(b))),
        Just(Reply::Nil),
        any::<bool>().prop_map(Reply::Bool),
        (-1e12f64..1e12).prop_map(Reply::Double),
    ]
}

fn replies() -> impl Strategy<Value = Reply> {
    leaf().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Reply::Push),
            prop::collection::btree_map("[a-z]{1,8}", inner, 0..5).prop_map(|m| {
                Reply::Map(m.into_iter().map(|(k, v)| (Reply::bulk(k), v)).collect())
            }),
        ]
    })
}

/// What a RESP2 client must read for `reply`.
fn as_resp2(reply: &Reply) -> Frame2 {
    match reply {
        Reply::Simple(s) => Frame2::SimpleString(s.as_bytes().to_vec()),
        Reply::Error(e) => Frame2::Error(e.to_string()),
        Reply::Integer(n) => Frame2::Integer(*n),
        Reply::Bulk(b) => Frame2::BulkString(b.to_vec()),
        Reply::Nil | Reply::NilArray => Frame2::Null,
        Reply::Bool(b) => Frame2::Integer(i64::from(*b)),
        Reply::Double(d) => {
            Frame2::BulkString(latchkey::protocol::reply::format_double(*d).into_bytes())
        }
        Reply::Verbatim(_, b) | Reply::BigNumber(b) => Frame2::BulkString(b.to_vec()),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            Frame2::Array(items.iter().map(as_resp2).collect())
        }
        Reply::Map(pairs) => Frame2::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [as_resp2(k), as_resp2(v)])
                .collect(),
        ),
    }
}

/// What a RESP3 client must read for `reply`.
fn as_resp3(reply: &Reply) -> Frame3 {
    match reply {
        Reply::Simple(s) => Frame3::SimpleString {
            data: s.as_bytes().to_vec(),
            attributes: None,
        },
        Reply::Error(e) => Frame3::SimpleError {
            data: e.to_string(),
            attributes: None,
        },
        Reply::Integer(n) => Frame3::Number {
            data: *n,
            attributes: None,
        },
        Reply::Bulk(b) => Frame3::BlobString {
            data: b.to_vec(),
            attributes: None,
        },
        Reply::Nil | Reply::NilArray => Frame3::Null,
        Reply::Bool(b) => Frame3::Boolean {
            data: *b,
            attributes: None,
        },
        Reply::Double(d) => Frame3::Double {
            data: latchkey::protocol::reply::format_double(*d)
                .parse()
                .unwrap(),
            attributes: None,
        },
        Reply::Verbatim(..) | Reply::BigNumber(_) => unreachable!("not generated"),
        Reply::Array(items) => Frame3::Array {
            data: items.iter().map(as_resp3).collect(),
            attributes: None,
        },
        Reply::Set(items) => Frame3::Set {
            data: items.iter().map(as_resp3).collect(),
            attributes: None,
        },
        Reply::Push(items) => Frame3::Push {
            data: items.iter().map(as_resp3).collect(),
            attributes: None,
        },
        Reply::Map(pairs) => Frame3::Map {
            data: pairs
                .iter()
                .map(|(k, v)| (as_resp3(k), as_resp3(v)))
                .collect(),
            attributes: None,
        },
    }
}
