//! The load generator `latchkey-bench` end to end against an in-process latchkey server: each workload
//! runs (tiny and bounded), prints its one machine-readable line, and a command the server
//! lacks is reported as `unsupported` with exit code 0. No performance figure is asserted.

use std::collections::HashMap;
use std::process::Command;

use latchkey::{Config, Server};

fn bench(port: u16, args: &[&str]) -> HashMap<String, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey-bench"))
        .args([
            "-p",
            &port.to_string(),
            "--label",
            "latchkey",
            "--threads",
            "1",
        ])
        .args(args)
        .output()
        .expect("run latchkey-bench");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let line = stdout
        .lines()
        .find(|line| line.starts_with("workload="))
        .unwrap_or_else(|| panic!("{args:?}: no result line in {stdout:?}"));
    line.split(' ')
        .map(|field| {
            let (key, value) = field.split_once('=').expect("key=value");
            (key.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn every_workload_prints_its_line() {
    let server = Server::new(Config::default())
        .start_background()
        .expect("start server");
    let port = server.local_addr().port();

    let run = bench(
        port,
        &[
            "run",
            "--name",
            "set",
            "-c",
            "SET lock:__rand_int__ tok NX PX 30000",
            "-P",
            "4",
            "--clients",
            "3",
            "-n",
            "200",
        ],
    );
    assert_eq!(run["workload"], "set");
    assert_eq!(run["server"], "latchkey");
    assert_eq!(run["status"], "ok");
    assert_eq!(run["requests"], "200");
    assert_eq!(run["errors"], "0");
    for key in ["ops_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(run[key].parse::<f64>().is_ok(), "{key}={}", run[key]);
    }

    let cycle = bench(
        port,
        &[
            "cycle",
            "--release",
            "delifeq",
            "--clients",
            "2",
            "-n",
            "50",
        ],
    );
    assert_eq!(cycle["status"], "ok");
    assert_eq!(cycle["cycles"], "50");
    assert_eq!(cycle["release_failed"], "0");

    let contend = bench(
        port,
        &[
            "contend",
            "--contenders",
            "3",
            "--retry-ms",
            "1",
            "--release",
            "delifeq",
            "-d",
            "0.3",
        ],
    );
    assert_eq!(contend["status"], "ok");
    assert_eq!(contend["overlaps"], "0");
    assert_eq!(contend["grants"].split(',').count(), 3);

    let fill = bench(
        port,
        &[
            "fill", "--name", "memory", "--locks", "500", "--settle", "0",
        ],
    );
    assert_eq!(fill["status"], "ok");
    assert_eq!(fill["errors"], "0");
    assert!(fill["used_per_lock_b"].parse::<f64>().is_ok());

    let idle = bench(port, &["idle", "-n", "20", "--hold", "0"]);
    assert_eq!(idle["connections"], "20");
    assert_eq!(idle["failed"], "0");
}

#[test]
fn missing_commands_are_reported_unsupported() {
    let server = Server::new(Config::default())
        .start_background()
        .expect("start server");
    let port = server.local_addr().port();
    let line = bench(
        port,
        &["run", "--name", "nope", "-c", "NOSUCHCOMMAND x", "-n", "10"],
    );
    assert_eq!(line["status"], "unsupported");
    assert!(
        line["error"].starts_with("ERR_unknown_command"),
        "{}",
        line["error"]
    );
}

#[test]
fn contention_with_the_release_pipelined_behind_the_next_acquire() {
    let server = Server::new(Config::default())
        .start_background()
        .expect("start server");
    let port = server.local_addr().port();
    for mode in ["wait", "poll"] {
        let contend = bench(
            port,
            &[
                "contend",
                "--mode",
                mode,
                "--contenders",
                "3",
                "--retry-ms",
                "1",
                "--release",
                "delifeq",
                "--pipeline-release",
                "-d",
                "0.3",
            ],
        );
        assert_eq!(contend["status"], "ok", "{mode}");
        assert_eq!(contend["pipeline_release"], "true");
        assert_eq!(contend["overlaps"], "0", "{mode}");
        assert_eq!(contend["errors"], "0", "{mode}");
        assert_eq!(contend["grants"].split(',').count(), 3);
        if mode == "wait" {
            // Queued in order: every contender gets the lock.
            assert!(contend["grants_min"].parse::<u64>().unwrap() > 0);
        }
    }
    // Every contender released at the end: the key is free.
    let mut probe = std::net::TcpStream::connect(server.local_addr()).expect("connect");
    use std::io::{Read, Write};
    probe
        .write_all(b"*2\r\n$6\r\nEXISTS\r\n$14\r\ncontended:lock\r\n")
        .expect("write");
    let mut reply = [0u8; 4];
    probe.read_exact(&mut reply).expect("read");
    assert_eq!(&reply, b":0\r\n");
}
