//! `mockplane-loadtest compare`: mockplane side by side with the servers its users would
//! otherwise pick (nginx `return 200` as the floor, Envoy `direct_response`, WireMock,
//! MockServer), on the same scenarios, in one run.
//!
//! Every server is pinned to one core and the load generator (`mockplane-loadtest run`, this
//! executable) to the other. All servers are started first and stay up for the whole run, so
//! the JVM peers are warmed once; then rounds interleave every server within each scenario, so
//! drift on a shared machine hits them alike. Each measurement is a closed-loop run (req/s, and
//! the server's CPU µs per request from /proc/PID/stat) followed by an open-loop run at a fixed
//! offered rate (latency percentiles, coordinated omission corrected by the generator). The
//! report (report.rs) takes medians over rounds.

mod http;
mod loadgen;
mod peer;
mod report;
mod scenario;
mod stubs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use loadgen::Load;
pub use peer::Kind;
use peer::{Instance, Programs, Spec};
pub use scenario::Scenario;

/// The options of `mockplane-loadtest compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Peers to run, comma-separated: nginx, envoy, wiremock, mockserver, mockplane
    #[arg(long, value_delimiter = ',', default_value = "nginx,envoy,wiremock,mockserver,mockplane")]
    pub peers: Vec<String>,
    /// A smoke run: one round and a 2 s JVM warm-up (figures not for publishing)
    #[arg(long)]
    pub quick: bool,
    /// Interleaved rounds (default 3, so that the median outvotes one stalled round; 1 with --quick)
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Seconds of each measurement, closed and open loop each (default 1)
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Seconds of load that warm each JVM peer before the measured rounds, then more until its CPU
    /// per request holds still, at most half as long again (default 30; 2 with --quick)
    #[arg(long)]
    pub warmup: Option<f64>,
    /// The open loop's offered rate, requests per second
    #[arg(long, default_value_t = 5000)]
    pub rate: u64,
    /// Connections of the load generator
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,
    /// The core every server is pinned to
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// The core the load generator is pinned to
    #[arg(long, default_value_t = 1)]
    pub client_core: usize,
    /// Where the table (compare.md), the raw rounds (compare.tsv) and the SVG charts go
    #[arg(long, default_value = "docs/benchmarks")]
    pub out: PathBuf,
    /// Where installed peers are cached and the servers' files and logs are written
    #[arg(long, default_value = "target/compare-peers")]
    pub peers_dir: PathBuf,
    /// The mockplane binary (default: `mockplane` beside this executable)
    #[arg(long)]
    pub mockplane: Option<PathBuf>,
}

/// What went wrong for the whole run (a single peer's failure only skips that peer).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("--peers: unknown peer {0:?} (known: nginx, envoy, wiremock, mockserver, mockplane)")]
    UnknownPeer(String),
    #[error("--{0} must be greater than zero")]
    NotPositive(&'static str),
    #[error("no peer could be started; see the messages above")]
    NoPeers,
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("drawing {path}: {message}")]
    Chart { path: PathBuf, message: String },
    #[error("finding this executable (the load generator): {0}")]
    CurrentExe(std::io::Error),
}

/// The run's settings, resolved from the options.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rounds: usize,
    pub measure: Duration,
    pub warmup: Duration,
    pub rate: u64,
    pub connections: usize,
    pub server_core: usize,
    pub client_core: usize,
}

/// One measurement: a closed-loop run and an open-loop run of one scenario on one server.
#[derive(Debug, Clone)]
pub struct Sample {
    pub round: usize,
    pub closed: loadgen::Outcome,
    /// The server's CPU µs per request during the closed-loop run.
    pub cpu_us: f64,
    pub open: loadgen::Outcome,
}

/// What a (server, scenario) cell of the report holds.
#[derive(Debug, Clone)]
pub enum Cell {
    /// The peer cannot express the scenario.
    NotApplicable,
    /// The peer answered the scenario's request wrongly: not measured.
    WrongAnswer(String),
    /// A run failed.
    Failed(String),
    Measured(Vec<Sample>),
}

/// Everything the report is made from.
#[derive(Debug)]
pub struct Results {
    pub settings: Settings,
    /// Server labels, in row order.
    pub rows: Vec<String>,
    pub cells: BTreeMap<(usize, Scenario), Cell>,
    /// Peers skipped and rounds that failed, with why.
    pub skipped: Vec<String>,
    pub command: String,
}

/// The servers measured for the chosen kinds: each small table on the four small scenarios, a
/// 10k-rule table of each kind on the big-table hit (mockplane's 10k row on all five), and
/// mockplane also with 1k rules. WireMock runs with its journal on (its default) and off; its
/// 10k table with the journal off.
pub fn specs(kinds: &[Kind]) -> Vec<Spec> {
    use Scenario::*;
    let small = vec![Static, Template, Miss, RegexHeader];
    let spec = |kind, label: &str, filler, journal, scenarios: Vec<Scenario>| Spec {
        kind,
        label: label.to_owned(),
        filler,
        journal,
        scenarios,
    };
    let mut specs = Vec::new();
    for &kind in kinds {
        match kind {
            Kind::Nginx => {
                specs.push(spec(kind, "nginx return 200", 0, false, small.clone()));
                specs.push(spec(kind, "nginx, 10k locations", scenario::FILLER_RULES, false, vec![Table10k]));
            }
            Kind::Envoy => {
                specs.push(spec(kind, "Envoy direct_response", 0, false, small.clone()));
                specs.push(spec(kind, "Envoy, 10k routes", scenario::FILLER_RULES, false, vec![Table10k]));
            }
            Kind::WireMock => {
                specs.push(spec(kind, "WireMock, journal on", 0, true, small.clone()));
                specs.push(spec(kind, "WireMock, journal off", 0, false, small.clone()));
                specs.push(spec(
                    kind,
                    "WireMock, journal off, 10k stubs",
                    scenario::FILLER_RULES,
                    false,
                    vec![Table10k],
                ));
            }
            Kind::MockServer => {
                specs.push(spec(kind, "MockServer", 0, false, small.clone()));
                specs.push(spec(
                    kind,
                    "MockServer, 10k expectations",
                    scenario::FILLER_RULES,
                    false,
                    vec![Table10k],
                ));
            }
            Kind::Mockplane => {
                specs.push(spec(kind, "mockplane, 3 rules", 0, false, small.clone()));
                specs.push(spec(kind, "mockplane, 1k rules", 1_000, false, small.clone()));
                let mut all = small.clone();
                all.push(Table10k);
                specs.push(spec(kind, "mockplane, 10k rules", scenario::FILLER_RULES, false, all));
            }
        }
    }
    specs
}

/// How long the run will take, roughly: measurements, JVM warm-ups and starts.
fn estimate(specs: &[Spec], settings: &Settings) -> Duration {
    let cells: usize = specs.iter().map(|s| s.scenarios.len()).sum();
    let per_cell = 2.0 * (settings.measure.as_secs_f64() + 0.3);
    // A JVM's warm-up, and the steps until it holds still (typically two).
    let jvms = specs.iter().filter(|s| s.kind.is_jvm()).count() as f64;
    let warm = settings.warmup.as_secs_f64() + (2.0 * 3.3_f64).min(settings.warmup.as_secs_f64() / 2.0);
    let starts: f64 = specs.iter().map(|s| if s.kind.is_jvm() { 8.0 } else { 1.0 }).sum();
    Duration::from_secs_f64(cells as f64 * per_cell * settings.rounds as f64 + jvms * warm + starts)
}

/// Runs the comparison and writes its report.
pub fn run(args: &CompareArgs) -> Result<(), CompareError> {
    let mut kinds = Vec::new();
    for name in &args.peers {
        let kind = Kind::parse(name.trim()).ok_or_else(|| CompareError::UnknownPeer(name.clone()))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let settings = Settings {
        rounds: args.rounds.unwrap_or(if args.quick { 1 } else { 3 }),
        measure: Duration::from_secs_f64(positive("seconds", args.seconds.unwrap_or(1.0))?),
        warmup: Duration::from_secs_f64(args.warmup.unwrap_or(if args.quick { 2.0 } else { 30.0 }).max(0.0)),
        rate: args.rate,
        connections: args.connections,
        server_core: args.server_core,
        client_core: args.client_core,
    };
    if settings.rounds == 0 {
        return Err(CompareError::NotPositive("rounds"));
    }
    if settings.rate == 0 {
        return Err(CompareError::NotPositive("rate"));
    }
    if settings.connections == 0 {
        return Err(CompareError::NotPositive("connections"));
    }
    let exe = std::env::current_exe().map_err(CompareError::CurrentExe)?;
    // Servers run in their own directories: every path they are given is absolute.
    let mockplane = absolute(&args.mockplane.clone().unwrap_or_else(|| exe.with_file_name("mockplane")));
    let peers_dir = absolute(&args.peers_dir);
    let all_specs = specs(&kinds);

    eprintln!(
        "plan: {} servers on core {}, the load generator on core {}; {} round(s) of every scenario, \
         {:.1} s closed loop ({} connections) + {:.1} s open loop at {} req/s per measurement; \
         JVM peers warmed {:.0} s each; about {:.0} s in all",
        all_specs.len(),
        settings.server_core,
        settings.client_core,
        settings.rounds,
        settings.measure.as_secs_f64(),
        settings.connections,
        settings.measure.as_secs_f64(),
        settings.rate,
        settings.warmup.as_secs_f64(),
        estimate(&all_specs, &settings).as_secs_f64()
    );
    for spec in &all_specs {
        let names: Vec<&str> = spec.scenarios.iter().map(|s| s.id()).collect();
        eprintln!("  {:<34} {}", spec.label, names.join(", "));
    }

    let started = Instant::now();
    let mut skipped = Vec::new();
    let mut programs = Programs::default();
    let mut usable = Vec::new();
    for &kind in &kinds {
        match peer::install(kind, &peers_dir, &mockplane, &mut programs) {
            Ok(()) => usable.push(kind),
            Err(why) => {
                eprintln!("skipping {}: {why}", kind.id());
                skipped.push(format!("{}: {why}", kind.id()));
            }
        }
    }

    let specs: Vec<Spec> = all_specs.into_iter().filter(|s| usable.contains(&s.kind)).collect();
    // A row per server that started; the ones that did not are listed under the tables.
    let mut rows: Vec<String> = Vec::new();
    let mut cells = BTreeMap::new();
    let mut instances: Vec<(usize, Instance)> = Vec::new();
    for spec in &specs {
        let dir = peers_dir.join("run").join(slug(&spec.label));
        eprintln!("starting {} ...", spec.label);
        match Instance::start(spec, &programs, &dir, settings.server_core) {
            Ok(instance) => {
                eprintln!("  {} (pid {}) answers on {}", spec.label, instance.pid(), instance.addr);
                instances.push((rows.len(), instance));
                rows.push(spec.label.clone());
            }
            Err(why) => {
                eprintln!("skipping {}: {why}", spec.label);
                skipped.push(format!("{}: {why}", spec.label));
            }
        }
    }
    if instances.is_empty() {
        return Err(CompareError::NoPeers);
    }

    // Each scenario's answer is checked before anything is measured: a peer whose stub does
    // not give the same status and body is reported, not timed.
    let mut measured: Vec<(usize, Scenario)> = Vec::new();
    for (row, instance) in &instances {
        for scenario in Scenario::ALL {
            if !instance.spec.scenarios.contains(&scenario) {
                continue;
            }
            if !stubs::supports(instance.spec.kind, scenario) {
                cells.insert((*row, scenario), Cell::NotApplicable);
                continue;
            }
            match check_answer(instance, scenario) {
                Ok(()) => {
                    cells.insert((*row, scenario), Cell::Measured(Vec::new()));
                    measured.push((*row, scenario));
                }
                Err(why) => {
                    eprintln!("{} does not answer {} as expected: {why}", instance.spec.label, scenario.id());
                    cells.insert((*row, scenario), Cell::WrongAnswer(why));
                }
            }
        }
    }

    let hz = peer::clock_ticks_per_second() as f64;
    let mut failures: Vec<String> = Vec::new();
    for (row, instance) in &instances {
        if !instance.spec.kind.is_jvm() || settings.warmup.is_zero() {
            continue;
        }
        let scenarios: Vec<Scenario> = measured.iter().filter(|(r, _)| r == row).map(|(_, s)| *s).collect();
        warm(&exe, instance, &scenarios, &settings, hz);
    }

    for round in 1..=settings.rounds {
        for scenario in Scenario::ALL {
            for (row, instance) in &instances {
                if !measured.contains(&(*row, scenario)) {
                    continue;
                }
                let sample = measure(&exe, instance, scenario, &settings, hz, round);
                let cell = cells.get_mut(&(*row, scenario)).expect("every measured cell was inserted");
                match (sample, &mut *cell) {
                    (Ok(sample), Cell::Measured(samples)) => {
                        eprintln!(
                            "round {round} {:<14} {:<34} {:>9.0} req/s {:>8.2} µs CPU/req  p99 {:>8.0} µs at {} req/s",
                            scenario.id(),
                            instance.spec.label,
                            sample.closed.rps,
                            sample.cpu_us,
                            sample.open.p99_us,
                            settings.rate
                        );
                        samples.push(sample);
                    }
                    // A failed round is reported; the other rounds still count.
                    (Err(why), _) => {
                        eprintln!("round {round} {} {}: {why}", scenario.id(), instance.spec.label);
                        failures.push(format!(
                            "{}, {}, round {round}: {why}",
                            instance.spec.label,
                            scenario.title()
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    drop(instances);
    // A cell with no round measured shows why.
    for ((row, scenario), cell) in cells.iter_mut() {
        if matches!(cell, Cell::Measured(samples) if samples.is_empty()) {
            let prefix = format!("{}, {}, round", rows[*row], scenario.title());
            let why = failures.iter().find(|f| f.starts_with(&prefix)).cloned().unwrap_or_default();
            *cell = Cell::Failed(why);
        }
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());

    skipped.extend(failures);
    let results = Results { settings, rows, cells, skipped, command: command_line() };
    report::write(&results, &args.out)
}

fn positive(name: &'static str, value: f64) -> Result<f64, CompareError> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(CompareError::NotPositive(name))
    }
}

fn status_class(scenario: Scenario) -> &'static str {
    if scenario.expected_status() == 404 {
        "4xx"
    } else {
        "2xx"
    }
}

fn load_for<'a>(
    instance: &Instance,
    scenario: Scenario,
    settings: &Settings,
    duration: Duration,
    rate: Option<u64>,
) -> Load<'a> {
    Load {
        url: format!("http://{}{}", instance.addr, scenario.path()),
        headers: scenario.headers(),
        duration,
        connections: settings.connections,
        rate,
        core: settings.client_core,
    }
}

/// Warms a JVM peer: `--warmup` seconds of closed-loop load shared by its scenarios, then more
/// in steps of a few seconds until its CPU per request holds still (two steps within 10%), for
/// at most half as long again. The JIT compiles by invocation counts, not by time: on a busy machine
/// the same 30 s serve far fewer requests and leave the peer half-warm, which only flatters us.
fn warm(exe: &Path, instance: &Instance, scenarios: &[Scenario], settings: &Settings, hz: f64) {
    let Some(&first) = scenarios.first() else { return };
    let label = &instance.spec.label;
    eprintln!("warming {label} for {:.0} s ...", settings.warmup.as_secs_f64());
    for scenario in scenarios {
        let load = load_for(instance, *scenario, settings, settings.warmup / scenarios.len() as u32, None);
        if let Err(why) = loadgen::run(exe, &load, status_class(*scenario)) {
            eprintln!("  warm-up of {label} on {}: {why}", scenario.id());
        }
    }
    let step = Duration::from_secs(3);
    let deadline = Instant::now() + settings.warmup / 2;
    let mut last: Option<f64> = None;
    while Instant::now() < deadline {
        let before = instance.cpu_ticks();
        let Ok(outcome) =
            loadgen::run(exe, &load_for(instance, first, settings, step, None), status_class(first))
        else {
            return;
        };
        let cpu_us =
            instance.cpu_ticks().saturating_sub(before) as f64 * 1e6 / hz / outcome.requests.max(1) as f64;
        eprintln!("  {label}: {cpu_us:.1} µs CPU/req, {:.0} req/s", outcome.rps);
        if last.is_some_and(|l| (cpu_us - l).abs() <= 0.1 * l) {
            return;
        }
        last = Some(cpu_us);
    }
    eprintln!("  {label}: CPU per request still moving after the warm-up; measuring anyway");
}

/// A closed-loop run with the server's CPU time read around it, then an open-loop run.
fn measure(
    exe: &Path,
    instance: &Instance,
    scenario: Scenario,
    settings: &Settings,
    hz: f64,
    round: usize,
) -> Result<Sample, String> {
    let class = status_class(scenario);
    let before = instance.cpu_ticks();
    let closed = loadgen::run(exe, &load_for(instance, scenario, settings, settings.measure, None), class)?;
    let after = instance.cpu_ticks();
    if closed.requests == 0 {
        return Err(format!(
            "no request was answered ({} connection errors, {} answers of another status)",
            closed.errors, closed.unexpected_status
        ));
    }
    let open = loadgen::run(
        exe,
        &load_for(instance, scenario, settings, settings.measure, Some(settings.rate)),
        class,
    )?;
    let cpu_us = after.saturating_sub(before) as f64 * 1e6 / hz / closed.requests as f64;
    Ok(Sample { round, closed, cpu_us, open })
}

fn check_answer(instance: &Instance, scenario: Scenario) -> Result<(), String> {
    let answer = http::request(
        instance.addr,
        "GET",
        &scenario.path(),
        scenario.headers(),
        b"",
        Duration::from_secs(10),
    )
    .map_err(|e| format!("GET {}: {e}", scenario.path()))?;
    if answer.status != scenario.expected_status() {
        return Err(format!(
            "GET {} answered {}, not {}",
            scenario.path(),
            answer.status,
            scenario.expected_status()
        ));
    }
    if let Some(expected) = scenario.expected_body() {
        let body = String::from_utf8_lossy(&answer.body);
        if body.trim() != expected {
            return Err(format!("GET {} answered the body {body:?}, not {expected:?}", scenario.path()));
        }
    }
    Ok(())
}

fn slug(label: &str) -> String {
    let mut slug = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_path_buf())
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("mockplane-loadtest {}", args.join(" "))
}
