//! `mockplane`: the one user-facing binary. `mockplane dataplane` serves mock rules;
//! `mockplane validate` checks a rules file and lists every error with its place.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mockplane_dataplane::codec::Limits;
use mockplane_dataplane::{DataPlaneConfig, IoDriver, SnapshotStore};
use mockplane_rules::{CompileOptions, Format, RuleSet};

#[derive(Parser)]
#[command(name = "mockplane", version, about = "A fast mock server and fault-injecting proxy.")]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DriverArg {
    Auto,
    Uring,
    Epoll,
}

#[derive(Subcommand)]
enum Command {
    /// Serve mock rules: a thread-per-core HTTP/1.1 server with admin endpoints.
    Dataplane(DataplaneArgs),
    /// Check a rules file; print every error with its place.
    Validate {
        /// The rules file (YAML, or JSON when it ends in .json).
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct DataplaneArgs {
    /// The rules file to serve; reloaded when it changes on disk.
    #[arg(long)]
    rules: PathBuf,
    /// Where traffic is served.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Where the admin endpoints (/healthz, /readyz, /metrics, /config, /journal) are served.
    #[arg(long, default_value = "127.0.0.1:9901")]
    admin: SocketAddr,
    /// Worker threads (one runtime and listener each); default one per core.
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// The I/O driver.
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    io_driver: DriverArg,
    /// Journal entries kept per worker; 0 turns the journal off.
    #[arg(long, default_value_t = 10_000)]
    journal: usize,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    max_body: usize,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Seconds a client may take to send a request head.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Open connections per worker beyond which new ones are closed.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds requests in flight may take to finish on shutdown.
    #[arg(long, default_value_t = 10)]
    drain_timeout: u64,
    /// Do not pin workers to cores.
    #[arg(long)]
    no_pin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Dataplane(args) => run_dataplane(args),
        Command::Validate { file } => validate(&file),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run_dataplane(args: DataplaneArgs) -> ExitCode {
    let config = DataPlaneConfig {
        rules: Some(args.rules),
        listen: args.listen,
        admin: args.admin,
        workers: args.workers,
        pin_workers: !args.no_pin,
        io_driver: match args.io_driver {
            DriverArg::Auto => IoDriver::Auto,
            DriverArg::Uring => IoDriver::Uring,
            DriverArg::Epoll => IoDriver::Epoll,
        },
        limits: Limits { max_body: args.max_body, ..Limits::default() },
        journal_capacity: args.journal,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        header_timeout: Duration::from_secs(args.header_timeout),
        max_connections: args.max_connections,
        drain_timeout: Duration::from_secs(args.drain_timeout),
        ..DataPlaneConfig::default()
    };
    let signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let running = match mockplane_dataplane::start(config, SnapshotStore::new()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = running.shutdown_handle();
    let mut signals = signals;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            tracing::info!(signal = sig, "shutting down: finishing requests in flight");
            handle.shutdown();
        }
    });
    running.wait();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

fn validate(file: &PathBuf) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let result = RuleSet::parse(&text, Format::from_file_name(&file.to_string_lossy())).and_then(|set| {
        let options = CompileOptions { base_dir: file.parent().map(PathBuf::from), ..Default::default() };
        mockplane_rules::validate(&set, &options).map(|_| set.rules.len())
    });
    match result {
        Ok(n) => {
            println!("{}: {n} rules, valid", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}
