//! Request parsing: pipelined `SET key token NX PX ttl` requests, as a lock client sends them,
//! parsed from one buffer and from the same bytes arriving in TCP-segment-sized reads.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use latchkey::protocol::{Limits, Parser};

const REQUESTS: usize = 1000;
const LIMITS: Limits = Limits {
    max_bulk_len: 512 * 1024 * 1024,
    authenticated: true,
};

/// `REQUESTS` pipelined lock acquisitions with distinct keys and 36-byte tokens.
fn pipelined_sets() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..REQUESTS {
        let key = format!("lock:{i:012}");
        let token = format!("{i:08x}-0000-4000-8000-{i:012x}");
        let args: [&[u8]; 6] = [
            b"SET",
            key.as_bytes(),
            token.as_bytes(),
            b"NX",
            b"PX",
            b"30000",
        ];
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn parse_all(parser: &mut Parser, buf: &mut BytesMut) -> usize {
    let mut parsed = 0;
    while let Ok(Some(request)) = parser.next_request(buf, LIMITS) {
        parsed += request.len();
    }
    parsed
}

fn bench_parser(c: &mut Criterion) {
    let input = pipelined_sets();
    let mut group = c.benchmark_group("parser");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    group.bench_function("pipelined_set_nx_px_x1000", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| {
                let mut parser = Parser::new();
                let parsed = parse_all(&mut parser, &mut buf);
                assert_eq!(parsed, REQUESTS * 6);
            },
            BatchSize::SmallInput,
        )
    });
    // The same bytes arriving 1460 bytes at a time: the incremental path.
    group.bench_function("pipelined_set_nx_px_x1000_in_1460_byte_reads", |b| {
        b.iter(|| {
            let mut parser = Parser::new();
            let mut buf = BytesMut::with_capacity(16 * 1024);
            let mut parsed = 0;
            for chunk in input.chunks(1460) {
                buf.extend_from_slice(chunk);
                parsed += parse_all(&mut parser, &mut buf);
            }
            assert_eq!(parsed, REQUESTS * 6);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parser);
criterion_main!(benches);
