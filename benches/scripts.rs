//! Per-call cost of a lock release by script, in-process (no network): the compare-and-delete
//! run natively, the same script run in Lua, and a plain `GET` for scale. Each call goes through
//! the command dispatcher exactly as a connection's request does.
//!
//! `cargo bench --bench scripts`

use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use latchkey::client::{Client, ClientInfo};
use latchkey::command::{self, Outcome};
use latchkey::server::Shared;
use latchkey::{Config, Server};

const COMPARE_DELETE: &str =
    "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) else return 0 end";

fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn run(shared: &Arc<Shared>, client: &mut Client, request: &[Bytes]) {
    match command::execute(shared, client, request) {
        Outcome::Reply(reply) => assert!(!reply.is_error(), "{reply:?}"),
        Outcome::Block(_) => unreachable!("nothing here blocks"),
    }
}

fn bench(c: &mut Criterion) {
    let server = Server::new(Config::default())
        .start_background()
        .expect("server starts");
    let shared = server.shared().clone();
    let addr = server.local_addr();
    let mut client = Client::new(Arc::new(ClientInfo::new(1, addr, addr)), true);

    let sha = latchkey::script::sha_hex(&latchkey::script::sha1(COMPARE_DELETE.as_bytes()));
    run(
        &shared,
        &mut client,
        &args(&["SCRIPT", "LOAD", COMPARE_DELETE]),
    );
    run(
        &shared,
        &mut client,
        &args(&["SET", "lock:1", "holder", "PX", "600000"]),
    );

    let get = args(&["GET", "lock:1"]);
    // A release by someone who does not hold the lock: GET, compare, reply 0 (state unchanged).
    let release_miss = args(&["EVALSHA", &sha, "1", "lock:1", "not-the-holder"]);
    // An acquire followed by the holder's release: SET NX PX, then GET, compare, DEL.
    let acquire = args(&["SET", "lock:2", "tok", "NX", "PX", "30000"]);
    let release_hit = args(&["EVALSHA", &sha, "1", "lock:2", "tok"]);
    let eval_miss = args(&["EVAL", COMPARE_DELETE, "1", "lock:1", "not-the-holder"]);

    let mut group = c.benchmark_group("per_call");
    group.bench_function("get", |b| b.iter(|| run(&shared, &mut client, &get)));
    for (engine, native) in [("native", true), ("lua", false)] {
        shared.scripts.set_native(native);
        group.bench_function(format!("evalsha_release_miss/{engine}"), |b| {
            b.iter(|| run(&shared, &mut client, &release_miss))
        });
        group.bench_function(format!("set_nx_then_evalsha_release/{engine}"), |b| {
            b.iter(|| {
                run(&shared, &mut client, &acquire);
                run(&shared, &mut client, &release_hit);
            })
        });
        group.bench_function(format!("eval_release_miss/{engine}"), |b| {
            b.iter(|| run(&shared, &mut client, &eval_miss))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
