//! The `latchkey` binary: parse the command line, start the server, stop on SIGINT/SIGTERM.

use clap::Parser;
use latchkey::memory::CountingAllocator;
use latchkey::{Config, Server};

/// Counts the bytes in use, so `maxmemory` and `INFO memory` see them at the cost of a
/// thread-local add per allocation.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() -> std::process::ExitCode {
    ALLOCATOR.activate();
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("latchkey: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        // Handlers go in before the start line, so a signal sent as soon as the line is read
        // is always a graceful stop, never the default kill.
        let signals = match Signals::install() {
            Ok(signals) => signals,
            Err(error) => {
                eprintln!("latchkey: cannot install signal handlers: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let server = match Server::new(config).start().await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("latchkey: cannot listen: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
        // The stable start lines: scripts read the ports from them. The plain listener's line
        // comes first; a TLS listener adds a line ending in ` (tls)`.
        if server.has_plain_listener() {
            println!("latchkey listening on {}", server.local_addr());
        }
        if let Some(tls_addr) = server.tls_local_addr() {
            println!("latchkey listening on {tls_addr} (tls)");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        signals.wait().await;
        start_shutdown_watchdog();
        server.shutdown().await;
        std::process::ExitCode::SUCCESS
    });
    // A thread still busy (a script that never reached a check) must not keep the process.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

/// The longest a stop may take after SIGINT/SIGTERM: the graceful shutdown's own limit
/// plus a margin.
const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_millis(2500);

/// Ends the process [`SHUTDOWN_DEADLINE`] after a stop was asked for, whatever is still
/// running: a stop must happen even if some thread is stuck.
fn start_shutdown_watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(SHUTDOWN_DEADLINE);
        eprintln!("latchkey: shutdown did not finish in time, exiting");
        std::process::exit(0);
    });
}

/// SIGINT and SIGTERM, listened for from start-up on.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for either signal and says which arrived (on stderr), so an unexpected stop is
    /// never silent.
    async fn wait(mut self) {
        let received = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        eprintln!("latchkey: received {received}, shutting down");
    }
}
