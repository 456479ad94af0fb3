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
    runtime.block_on(async move {
        let server = match Server::new(config).start().await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("latchkey: cannot listen: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
        // The one stable start line: scripts read the port from it.
        println!("latchkey listening on {}", server.local_addr());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        server.shutdown().await;
        std::process::ExitCode::SUCCESS
    })
}

/// Waits for SIGINT or SIGTERM and says which arrived (on stderr), so an unexpected stop is
/// never silent.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let received = match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    };
    eprintln!("latchkey: received {received}, shutting down");
}
