//! Feeds arbitrary command sequences to the command layer in-process (no network): each input
//! line is one command, its first byte choosing the command (or `container subcommand`) from
//! the command table and the rest split into arguments with Redis's inline quoting. A fresh server state per input keeps
//! failures reproducible. The server must never panic, whatever the commands and their order
//! (MULTI/EXEC, WATCH, CONFIG SET, SUBSCRIBE, LOCK.*, SELECT, …).
//!
//! Blocking outcomes are dropped unpolled (as when a client goes away), and `DEBUG` is skipped
//! so `DEBUG SLEEP` cannot stall the run.
#![no_main]

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use latchkey::client::{Client, ClientInfo};
use latchkey::command::{self, Outcome};
use latchkey::protocol::parser::split_args;
use latchkey::{Config, Server};
use libfuzzer_sys::fuzz_target;

/// Command and subcommand names (`config|get`), sorted so an input means the same command on
/// every run.
static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&str> = command::all_entries()
        .map(|spec| spec.name)
        .filter(|name| *name != "debug")
        .collect();
    names.sort_unstable();
    names
});

/// Blocking commands build timers; they need a runtime to be entered, not to run.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

fuzz_target!(|data: &[u8]| {
    let _entered = RUNTIME.enter();
    let config = Config {
        shards: Some(1),
        databases: 4,
        ..Config::default()
    };
    let Ok(shared) = Server::new(config).shared_without_listener() else {
        return;
    };
    let addr = "127.0.0.1:1".parse().expect("address");
    let info = Arc::new(ClientInfo::new(shared.next_client_id(), addr, addr));
    shared.clients.lock().insert(info.id, info.clone());
    let mut client = Client::new(info, true);
    for line in data.split(|&b| b == b'\n').take(64) {
        let Some((&choice, rest)) = line.split_first() else {
            continue;
        };
        let name = NAMES[usize::from(choice) % NAMES.len()];
        let Some(words) = split_args(rest) else {
            continue;
        };
        let mut args: Vec<Bytes> = name
            .split('|')
            .map(|word| Bytes::from_static(word.as_bytes()))
            .collect();
        args.extend(words.into_iter().map(Bytes::from));
        match command::execute(&shared, &mut client, &args) {
            Outcome::Reply(reply) => {
                let mut out = bytes::BytesMut::new();
                reply.encode(&mut out, client.resp3);
            }
            Outcome::Block(wait) => drop(wait),
        }
    }
});
