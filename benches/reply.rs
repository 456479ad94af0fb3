//! Reply encoding: the replies of a lock workload (`+OK`, nil, integers, 36-byte bulk tokens)
//! and one `INFO`-sized bulk and small array, in RESP2 and RESP3.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use latchkey::protocol::Reply;

const REPLIES: usize = 1000;

/// A mix like a pipelined lock workload's: acquisitions, refusals, releases, token reads.
fn lock_replies() -> Vec<Reply> {
    let token = Bytes::from_static(b"01234567-89ab-4cde-8f01-23456789abcd");
    (0..REPLIES)
        .map(|i| match i % 4 {
            0 => Reply::OK,
            1 => Reply::Nil,
            2 => Reply::Integer(i as i64),
            _ => Reply::Bulk(token.clone()),
        })
        .collect()
}

fn bench_reply(c: &mut Criterion) {
    let replies = lock_replies();
    let array = Reply::Array(
        (0..10)
            .map(|i| Reply::bulk(format!("lock:{i}").into_bytes()))
            .collect(),
    );
    let mut group = c.benchmark_group("reply");
    group.throughput(Throughput::Elements(REPLIES as u64));
    for (name, resp3) in [("resp2", false), ("resp3", true)] {
        group.bench_function(format!("lock_mix_x1000_{name}"), |b| {
            let mut out = BytesMut::with_capacity(64 * 1024);
            b.iter(|| {
                out.clear();
                for reply in &replies {
                    reply.encode(&mut out, resp3);
                }
                out.len()
            })
        });
        group.bench_function(format!("array_of_10_bulks_x1000_{name}"), |b| {
            let mut out = BytesMut::with_capacity(256 * 1024);
            b.iter(|| {
                out.clear();
                for _ in 0..REPLIES {
                    array.encode(&mut out, resp3);
                }
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_reply);
criterion_main!(benches);
