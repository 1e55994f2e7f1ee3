//! `mockplane`: the one user-facing binary. `mockplane up` runs a control plane with its store
//! and a data plane; `mockplane dataplane` serves mock rules, from a file or from a control
//! plane; `mockplane controlplane` pushes a rules file to data planes over xDS; `mockplane
//! validate` checks a rules file and lists every error with its place; `apply`, `diff`, `get`,
//! `explain`, `verify`, `rollback`, `export` and `import` drive a control plane's API.

// Unsafe code only in `alloc` (the allocator's C API).
#![deny(unsafe_code)]
#![deny(rust_2018_idioms)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mockplane_dataplane::codec::Limits;
use mockplane_dataplane::{DataPlaneConfig, IoDriver, SnapshotStore, XdsClientConfig};

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

mod client;
mod controlplane;
mod up;

mod alloc;

#[derive(Subcommand)]
enum Command {
    /// The quick start: a control plane with its store and a data plane connected to it over
    /// xDS, in one process.
    Up(up::UpArgs),
    /// Serve mock rules: a thread-per-core HTTP/1.1 server with admin endpoints.
    Dataplane(Box<DataplaneArgs>),
    /// Serve rule snapshots to data planes over xDS (gRPC), from a rules file.
    Controlplane(controlplane::ControlplaneArgs),
    /// Check a rules file (or another format's file, as `import` would convert it); print
    /// every error with its place, and what a conversion could not import.
    Validate {
        /// The rules file (YAML, or JSON when it ends in .json), or the source `--from` names.
        file: PathBuf,
        /// The file's format; by default recognised from the document.
        #[arg(long, value_enum)]
        from: Option<client::ImportSource>,
        /// For a document holding several environments: the one to check (`project/name`).
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        convert: client::ConvertOptions,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// Where the rules come from: exactly one of a file or a control plane (checked in `main`, to
/// say so in words). The flags that only mean something with a control plane are refused with
/// a file, rather than silently ignored.
#[derive(clap::Args)]
struct DataplaneArgs {
    /// The rules file to serve; reloaded when it changes on disk.
    #[arg(long, conflicts_with = "control_plane")]
    rules: Option<PathBuf>,
    /// Serve an OpenAPI 3.0/3.1 document as mocks (converted once, at start; docs/import.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["control_plane", "rules"])]
    openapi: Option<PathBuf>,
    /// With --openapi: validate requests against the document (400/422 problem+json).
    #[arg(long, requires = "openapi")]
    openapi_validate: bool,
    /// Serve WireMock stub mappings: a root holding mappings/ and __files/, or a mappings
    /// folder; reloaded when a file under it changes.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["rules", "control_plane", "upstream"])]
    wiremock: Option<PathBuf>,
    /// Answer WireMock's admin API (/__admin/mappings, /__admin/requests/count, …) on the
    /// admin listener, for WireMock client libraries; alone, serve only the stubs it adds.
    #[arg(long, conflicts_with_all = ["rules", "control_plane", "upstream"])]
    wiremock_admin: bool,
    /// With --wiremock: render every response as a template, as WireMock's
    /// --global-response-templating does.
    #[arg(long)]
    global_templating: bool,
    /// Take rules from this control plane (xDS), e.g. http://127.0.0.1:18000. Repeat it (or
    /// give a comma-separated list) for replicas: the data plane moves to the next when the
    /// one in use goes away, serving the rules in force meanwhile.
    #[arg(long, requires = "environment", value_delimiter = ',', value_name = "URL")]
    control_plane: Vec<String>,
    /// With --control-plane: the environment served, project/environment.
    #[arg(long, conflicts_with = "rules")]
    environment: Option<String>,
    /// With --control-plane: this data plane's id (default: the host name).
    #[arg(long, conflicts_with = "rules")]
    node_id: Option<String>,
    /// With --control-plane: where the last good snapshot is kept, so that a restart serves
    /// without the control plane.
    #[arg(long, conflicts_with = "rules")]
    state_dir: Option<PathBuf>,
    /// With --control-plane: refuse (NACK) rule sets with more rules than this; 0: no limit.
    #[arg(long, default_value_t = 100_000, conflicts_with = "rules")]
    max_rules: usize,
    /// With --control-plane: seconds between reports of hit counts and journal entries.
    #[arg(long, default_value_t = 1.0, conflicts_with = "rules")]
    report_interval: f64,
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
    /// Journal entries kept per worker (up to 1,712 bytes each, taken as they arrive); 0 turns the journal off.
    #[arg(long, default_value_t = 4_096)]
    journal: usize,
    /// io_uring submission queue entries per worker (~100 bytes of memory each).
    #[arg(long, default_value_t = mockplane_dataplane::driver::DEFAULT_RING_ENTRIES)]
    uring_entries: u32,
    /// Free 16 KiB I/O buffers each worker keeps for its connections.
    #[arg(long, default_value_t = mockplane_dataplane::buffers::DEFAULT_POOLED_BUFFERS)]
    pooled_buffers: usize,
    /// Forward the requests no rule matches to this service (`host:port`, or a URL such as
    /// `https://api.internal:8443`): the one-flag sidecar, mocking what the rules match and
    /// passing the rest through.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "control_plane")]
    upstream: Option<String>,
    /// Record forwarded requests and their answers as rules into this file (rewritten as new
    /// ones arrive), to serve later without the upstream.
    #[arg(long, value_name = "FILE", conflicts_with = "control_plane")]
    record: Option<PathBuf>,
    /// With --record: only requests with this method (repeat for several; default all).
    #[arg(long, value_name = "METHOD", requires = "record")]
    record_method: Vec<String>,
    /// With --record: only requests whose target starts with this.
    #[arg(long, value_name = "PREFIX", requires = "record")]
    record_path: Option<String>,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    max_body: usize,
    /// Seconds an idle keep-alive connection (or an upgraded tunnel silent both ways) stays open.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Seconds a client may take to send a request head.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a client may take to send a whole request body, however it trickles in.
    #[arg(long, default_value_t = 30)]
    body_timeout: u64,
    /// Seconds a write may wait for a client that does not read its answers; then the
    /// connection is closed.
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// Open connections per worker beyond which new ones are closed.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds requests in flight may take to finish on shutdown.
    #[arg(long, default_value_t = 10)]
    drain_timeout: u64,
    /// Do not pin workers to cores.
    #[arg(long)]
    no_pin: bool,
    /// Ignore the request header `x-mockplane-explain: all` (which makes a 404 check every
    /// rule, a cost that grows with the table): for data planes that untrusted clients reach.
    #[arg(long)]
    no_explain_header: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Dataplane(args) = &cli.command {
        if args.rules.is_none()
            && args.openapi.is_none()
            && args.control_plane.is_empty()
            && args.upstream.is_none()
            && args.wiremock.is_none()
            && !args.wiremock_admin
        {
            use clap::CommandFactory as _;
            let mut cli = Cli::command();
            cli.build();
            let dataplane =
                cli.find_subcommand_mut("dataplane").expect("the dataplane subcommand is defined");
            dataplane
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "one of --rules FILE, --openapi FILE, --wiremock DIR or --control-plane URL (with --environment) \
                     is needed: where the rules come from (or --upstream HOST:PORT alone, to pass everything through)",
                )
                .exit();
        }
    }
    init_logging(cli.log_format);
    if matches!(cli.command, Command::Up(_) | Command::Controlplane(_)) {
        // A control plane holds a connection per data plane: thousands, past the usual 1,024.
        match mockplane_controlplane::server::raise_open_file_limit() {
            Ok(limit) => tracing::debug!(limit, "open files"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the limit of open files"),
        }
    }
    match cli.command {
        Command::Up(args) => up::run(args),
        Command::Dataplane(args) => run_dataplane(*args),
        Command::Controlplane(args) => controlplane::run(args),
        Command::Validate { file, from, env, convert } => {
            client::validate(&file, from, env.as_deref(), &convert)
        }
        Command::Client(command) => client::run(command),
    }
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: escape codes in a file, a pipe or a log
    // collector are noise. NO_COLOR (https://no-color.org) turns them off at a terminal too.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        // When the log's reader goes away, tracing-subscriber reports the failed write with
        // `eprintln!`, which panics on the same broken stderr: that killed the thread logging
        // (the xDS client, the signal handler, so SIGTERM then hung) or the whole process. A
        // data plane must outlive its log reader.
        .log_internal_errors(false);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run_dataplane(args: DataplaneArgs) -> ExitCode {
    let xds = match (args.control_plane.split_first(), &args.environment) {
        (Some((url, failover)), Some(environment)) => {
            if !(args.report_interval > 0.0 && args.report_interval.is_finite()) {
                tracing::error!("--report-interval must be a positive number of seconds");
                return ExitCode::FAILURE;
            }
            let node_id = args.node_id.clone().unwrap_or_else(host_name);
            let mut xds = XdsClientConfig::new(url.clone(), environment.clone(), node_id);
            xds.failover = failover.to_vec();
            xds.state_dir = args.state_dir.clone();
            xds.max_rules = args.max_rules;
            xds.report_interval = Duration::from_secs_f64(args.report_interval);
            Some(xds)
        }
        _ => None,
    };
    let wiremock = (args.wiremock.is_some() || args.wiremock_admin).then(|| {
        mockplane_dataplane::wiremock::WireMockSource {
            dir: args.wiremock.clone(),
            options: mockplane_import::wiremock::Options { global_templating: args.global_templating },
        }
    });
    let config = DataPlaneConfig {
        rules: args.rules,
        wiremock,
        wiremock_admin: args.wiremock_admin,
        xds,
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
        sidecar_upstream: args.upstream.clone(),
        record: args.record.clone().map(|file| mockplane_dataplane::record::RecordSettings {
            file,
            methods: args.record_method.clone(),
            path_prefix: args.record_path.clone(),
        }),
        journal_capacity: args.journal,
        uring_entries: args.uring_entries,
        pooled_buffers: args.pooled_buffers,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        header_timeout: Duration::from_secs(args.header_timeout),
        max_connections: args.max_connections,
        drain_timeout: Duration::from_secs(args.drain_timeout),
        explain_header: !args.no_explain_header,
        body_timeout: Duration::from_secs(args.body_timeout),
        write_timeout: Duration::from_secs(args.write_timeout),
        release_memory: Some(alloc::release_freed_memory),
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
    let openapi = match &args.openapi {
        None => None,
        Some(file) => match client::openapi_rules(file, args.openapi_validate) {
            Ok(set) => Some((set, file.display().to_string())),
            Err(message) => {
                tracing::error!("{message}");
                return ExitCode::FAILURE;
            }
        },
    };
    let running = match mockplane_dataplane::start(config, SnapshotStore::new()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some((set, source)) = openapi {
        let rules = set.rules.len();
        if let Err(e) = running.store().install(set, format!("openapi:{source}"), None) {
            tracing::error!("{source}: the converted rules: {e}");
            running.shutdown_handle().shutdown();
            running.wait();
            return ExitCode::FAILURE;
        }
        tracing::info!(rules, "serving {source}");
    }
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

/// The host name, the default node id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("mockplane-{}", std::process::id()))
}
