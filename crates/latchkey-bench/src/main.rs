//! `latchkey-bench`: a load generator for latchkey and any other RESP server (redis-server
//! included), aimed at lock workloads.
//!
//! Each subcommand runs one bounded workload (it stops by request count or duration) against a
//! server on the loopback interface and prints one machine-readable line:
//! `workload=<name> server=<label> status=ok ops_per_s=… p50_ms=… p99_ms=… …`. A command the
//! server lacks gives `status=unsupported` and exit code 0, so a comparison run goes on.
//! `report` turns a file of such lines into a Markdown table of ratios and an SVG chart.
//!
//! Modules: [`resp`] (client side of the protocol), [`template`] (command templates),
//! [`throughput`], [`cycle`], [`contention`], [`memory`] (fill and idle connections),
//! [`startup`], [`report`], [`stats`] (histograms and the output line).

mod contention;
mod cycle;
mod memory;
mod report;
mod resp;
mod startup;
mod stats;
mod template;
mod throughput;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load generator for RESP servers: throughput, lock cycles, contention, memory, idle
/// connections and start-up time.
#[derive(Parser, Debug)]
#[command(name = "latchkey-bench", version)]
struct Cli {
    /// Server address; only loopback addresses are accepted.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    host: IpAddr,
    /// Server port.
    #[arg(long, short = 'p', default_value_t = 6379, global = true)]
    port: u16,
    /// The `server=` label of the output line.
    #[arg(long, default_value = "server", global = true)]
    label: String,
    /// Runtime worker threads of the generator (default: every core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand, Debug)]
enum Workload {
    /// Command throughput: any command template, pipelined, over many clients.
    Run(throughput::Args),
    /// Lock cycles: acquire with `SET NX PX` (or `LOCK.ACQUIRE`), release by a chosen method.
    Cycle(cycle::Args),
    /// Contention on one key: polling `SET NX PX` or `LOCK.ACQUIRE … WAIT`.
    Contend(contention::Args),
    /// Memory per lock: fill N locks and read the server's RSS and `used_memory`.
    Fill(memory::FillArgs),
    /// Memory per idle connection: open N connections and hold them.
    Idle(memory::IdleArgs),
    /// Start-up time: start a server process and time its first `PONG`.
    Startup(startup::Args),
    /// Turn result lines into a Markdown table of ratios and an SVG chart.
    Report(report::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.host.is_loopback() {
        eprintln!(
            "latchkey-bench: only loopback servers are allowed (got {})",
            cli.host
        );
        return ExitCode::FAILURE;
    }
    let addr = SocketAddr::new(cli.host, cli.port);
    let target = stats::Target {
        addr,
        label: cli.label.clone(),
    };
    if let Workload::Report(args) = &cli.workload {
        return exit(report::run(args));
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("latchkey-bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.workload {
            Workload::Run(args) => throughput::run(&target, args).await,
            Workload::Cycle(args) => cycle::run(&target, args).await,
            Workload::Contend(args) => contention::run(&target, args).await,
            Workload::Fill(args) => memory::fill(&target, args).await,
            Workload::Idle(args) => memory::idle(&target, args).await,
            Workload::Startup(args) => startup::run(&target, args).await,
            Workload::Report(_) => Ok(()),
        }
    });
    // Idle connections and stuck waits are dropped with the runtime, without waiting for them.
    runtime.shutdown_background();
    exit(result)
}

fn exit(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
