//! The keyspace: lock acquire/release pairs (`SET key token NX PX` then `DEL`) through the
//! command layer in-process (lookup, arity, shard locking, handler, no network), and active
//! expiry reclaiming 100,000 expired locks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use latchkey::client::{Client, ClientInfo};
use latchkey::command::{self, Outcome};
use latchkey::db::{expiry, Keyspace, ShardGuards, Str, Value};
use latchkey::protocol::Reply;
use latchkey::{Config, ManualClock, Server};

const EXPIRED_KEYS: usize = 100_000;

fn bench_command_layer(c: &mut Criterion) {
    let server = Server::new(Config::default())
        .start_background()
        .expect("start an in-process server");
    let shared = server.shared().clone();
    let addr: SocketAddr = "127.0.0.1:1".parse().expect("constant address");
    let mut client = Client::new(Arc::new(ClientInfo::new(1, addr, addr)), true);
    let keys: Vec<Bytes> = (0..1024)
        .map(|i| Bytes::from(format!("lock:{i:012}")))
        .collect();
    let token = Bytes::from_static(b"01234567-89ab-4cde-8f01-23456789abcd");
    let set = |key: &Bytes| {
        vec![
            Bytes::from_static(b"SET"),
            key.clone(),
            token.clone(),
            Bytes::from_static(b"NX"),
            Bytes::from_static(b"PX"),
            Bytes::from_static(b"30000"),
        ]
    };
    let sets: Vec<Vec<Bytes>> = keys.iter().map(set).collect();
    let dels: Vec<Vec<Bytes>> = keys
        .iter()
        .map(|key| vec![Bytes::from_static(b"DEL"), key.clone()])
        .collect();
    let mut group = c.benchmark_group("keyspace");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("set_nx_px_then_del_x1024", |b| {
        b.iter(|| {
            for (set, del) in sets.iter().zip(&dels) {
                let Outcome::Reply(reply) = command::execute(&shared, &mut client, set) else {
                    panic!("SET does not block");
                };
                assert_eq!(reply, Reply::OK);
                let Outcome::Reply(reply) = command::execute(&shared, &mut client, del) else {
                    panic!("DEL does not block");
                };
                assert_eq!(reply, Reply::Integer(1));
            }
        })
    });
    group.finish();
    drop(server);
}

/// A keyspace holding `EXPIRED_KEYS` locks whose deadlines have all passed.
fn expired_keyspace() -> Keyspace {
    let clock = ManualClock::new();
    let keyspace = Keyspace::new(1, 8, clock.clone());
    let now = keyspace.now();
    {
        let mut guards = ShardGuards::new(&keyspace);
        guards.lock_all().expect("lock every shard");
        for i in 0..EXPIRED_KEYS {
            let key = format!("lock:{i}");
            let value = Value::Str(Str::from("01234567-89ab-4cde-8f01-23456789abcd"));
            guards
                .shard(0, key.as_bytes())
                .expect("shard is locked")
                .insert(
                    key.as_bytes(),
                    value,
                    now.after_ms(1000 + (i % 1000) as u64),
                    now,
                );
        }
    }
    clock.advance(5000);
    keyspace
}

fn bench_expiry(c: &mut Criterion) {
    let mut group = c.benchmark_group("expiry");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EXPIRED_KEYS as u64));
    let enabled = std::sync::atomic::AtomicBool::new(true);
    group.bench_function("reclaim_100k_expired_locks", |b| {
        b.iter_batched(
            expired_keyspace,
            |keyspace| {
                let mut removed = 0;
                while removed < EXPIRED_KEYS {
                    removed += expiry::expire_cycle(&keyspace, Duration::from_secs(10), &enabled);
                }
                keyspace
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_command_layer, bench_expiry);
criterion_main!(benches);
