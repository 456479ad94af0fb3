//! Start-up time: start the server command, then connect and `PING` in a tight loop until the
//! first `PONG`; the time from spawning the process to that reply. Several runs; the process is
//! killed after each.

use std::io;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::{self, Line, Target};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, default_value = "startup")]
    pub name: String,
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// The server command and its arguments (it must listen on `--port`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub async fn run(target: &Target, args: Args) -> io::Result<()> {
    let mut histogram = stats::histogram();
    let mut failures = 0u64;
    for _ in 0..args.runs.clamp(1, 100) {
        let (program, rest) = args
            .command
            .split_first()
            .ok_or_else(|| io::Error::other("no server command"))?;
        let spawned = Instant::now();
        let mut child = Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let answered = first_pong(target, spawned + Duration::from_secs(5)).await;
        let _ = child.kill();
        let _ = child.wait();
        match answered {
            Some(at) => stats::record(&mut histogram, at - spawned),
            None => failures += 1,
        }
        // Let the port be released before the next run.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if histogram.is_empty() {
        stats::unsupported(&args.name, target, "no PONG within 5 s");
        return Ok(());
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    Line::new(&args.name, target)
        .field("status", "ok")
        .num("startup_ms", ms(histogram.value_at_quantile(0.5)), 2)
        .num("startup_min_ms", ms(histogram.min()), 2)
        .num("startup_max_ms", ms(histogram.max()), 2)
        .field("runs", histogram.len())
        .field("failures", failures)
        .print();
    Ok(())
}

/// The instant of the first `PONG`, or `None` by `deadline`. Blocking sockets and a 200 µs
/// pause between attempts: finer than the async timer's millisecond.
async fn first_pong(target: &Target, deadline: Instant) -> Option<Instant> {
    use std::io::{Read, Write};
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(target.addr) {
            let _ = stream.set_nodelay(true);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut reply = [0u8; 7];
            if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
                && stream.read_exact(&mut reply).is_ok()
                && &reply == b"+PONG\r\n"
            {
                return Some(Instant::now());
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}
