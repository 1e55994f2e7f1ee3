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
mod sys;

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
    /// Seconds of load that warm each JVM peer at least before the measured rounds; then more, in
    /// 5 s steps, until its JIT compiler is idle for two steps (default 30; 2 with --quick)
    #[arg(long)]
    pub warmup: Option<f64>,
    /// The most seconds of warm-up a JVM peer gets, whether or not its JIT is idle by then
    /// (default 240; 2 with --quick)
    #[arg(long)]
    pub warmup_max: Option<f64>,
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
    pub warmup_max: Duration,
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
    /// How each JVM peer was warmed, in row order.
    pub warmups: Vec<Warmup>,
    pub command: String,
}

/// How a JVM peer was warmed before its measured rounds.
#[derive(Debug, Clone)]
pub struct Warmup {
    pub label: String,
    pub seconds: f64,
    pub requests: u64,
    /// CPU µs per request of the warm-up mix in the last steps.
    pub cpu_us: Vec<f64>,
    /// Whether its JIT compiler was idle by the end (else `--warmup-max` was reached).
    pub settled: bool,
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
    // Measured here: WireMock's JIT falls idle after about 80 s of load on one core (sooner
    // with its compiler threads on the other core).
    let warm = settings.warmup_max.as_secs_f64().min(settings.warmup.as_secs_f64().max(50.0));
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
    let warmup = args.warmup.unwrap_or(if args.quick { 2.0 } else { 30.0 }).max(0.0);
    let settings = Settings {
        rounds: args.rounds.unwrap_or(if args.quick { 1 } else { 3 }),
        measure: Duration::from_secs_f64(positive("seconds", args.seconds.unwrap_or(1.0))?),
        warmup: Duration::from_secs_f64(warmup),
        warmup_max: Duration::from_secs_f64(
            args.warmup_max.unwrap_or(if args.quick { 2.0 } else { 240.0 }).max(warmup),
        ),
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
    sys::kill_servers_on_signal();
    // Servers run in their own directories: every path they are given is absolute.
    let mockplane = absolute(&args.mockplane.clone().unwrap_or_else(|| exe.with_file_name("mockplane")));
    let peers_dir = absolute(&args.peers_dir);
    let all_specs = specs(&kinds);

    eprintln!(
        "plan: {} servers on core {}, the load generator on core {}; {} round(s) of every scenario, \
         {:.1} s closed loop ({} connections) + {:.1} s open loop at {} req/s per measurement; \
         JVM peers warmed at least {:.0} s each, until their JIT is idle; about {:.0} s in all",
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
    let mut warmups = Vec::new();
    for (row, instance) in &instances {
        if !instance.spec.kind.is_jvm() || settings.warmup.is_zero() {
            continue;
        }
        let scenarios: Vec<Scenario> = measured.iter().filter(|(r, _)| r == row).map(|(_, s)| *s).collect();
        let mix = peers_dir.join("run").join(slug(&instance.spec.label)).join("warm-up-mix.yaml");
        match warm(&exe, instance, &scenarios, &mix, &settings, hz) {
            Ok(Some(warmup)) => warmups.push(warmup),
            Ok(None) => {}
            Err(why) => {
                eprintln!("  warm-up of {}: {why}", instance.spec.label);
                failures.push(format!("{}, warm-up: {why}", instance.spec.label));
            }
        }
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
    let results = Results { settings, rows, cells, skipped, warmups, command: command_line() };
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
        mix: None,
    }
}

/// A JVM peer is warm when its JIT compiler threads used at most this share of its CPU time in
/// each of the last [`SETTLED_STEPS`] warm-up steps: it has compiled what the load needs.
pub const JIT_IDLE_SHARE: f64 = 0.01;
const SETTLED_STEPS: usize = 2;
const WARM_STEP: Duration = Duration::from_secs(5);

/// Warms a JVM peer with a mix of all its scenarios' requests (one of each in turn) for at least
/// `--warmup` seconds, then in 5 s steps until its JIT compiler threads fall idle (at most
/// [`JIT_IDLE_SHARE`] of its CPU in two steps running), for at most `--warmup-max` seconds.
///
/// Measured here, WireMock on one core serving the four scenarios takes about 80 s of load to
/// fall from 1,200 to 58 µs per request, with its compiler threads using a tenth of the core
/// all along and then, at once, nothing; its CPU per request also holds still for 15 s at a time
/// on the way down, so a plateau of the figure itself is no sign of being warm. The compiler
/// threads run on the load generator's core during the warm-up (the compiled code does not
/// depend on where it was compiled; it arrives sooner) and go back to the server's core before
/// the measured rounds. Then the request journal that grew during the warm-up is cleared, so
/// that WireMock with its journal on is measured as a test suite that resets it sees it.
fn warm(
    exe: &Path,
    instance: &Instance,
    scenarios: &[Scenario],
    mix: &Path,
    settings: &Settings,
    hz: f64,
) -> Result<Option<Warmup>, String> {
    let Some(&first) = scenarios.first() else { return Ok(None) };
    let label = &instance.spec.label;
    std::fs::write(mix, warm_up_mix(scenarios)).map_err(|e| format!("writing {}: {e}", mix.display()))?;
    eprintln!(
        "warming {label}: at least {:.0} s, until its JIT compiler is idle (at most {:.0} s) ...",
        settings.warmup.as_secs_f64(),
        settings.warmup_max.as_secs_f64()
    );
    let started = Instant::now();
    let mut requests = 0;
    let mut steps: Vec<(f64, f64)> = Vec::new();
    let outcome = loop {
        // Compiler threads may come and go (HotSpot starts them as its queue needs): pin each step.
        let jit_before: u64 = instance
            .jit_threads()
            .into_iter()
            .map(|(tid, ticks)| {
                let _ = sys::pin_thread(tid, settings.client_core);
                ticks
            })
            .sum();
        let mut load = load_for(instance, first, settings, WARM_STEP, None);
        load.mix = Some(mix);
        let before = instance.cpu_ticks();
        // The mix holds the miss's 404s beside 200s: the status classes are not checked here.
        let step = loadgen::run(exe, &load, "2xx")?;
        let cpu = instance.cpu_ticks().saturating_sub(before);
        let jit = instance.jit_threads().iter().map(|(_, t)| t).sum::<u64>().saturating_sub(jit_before);
        if step.requests == 0 {
            return Err("no request was answered".into());
        }
        requests += step.requests;
        let cpu_us = cpu as f64 * 1e6 / hz / step.requests as f64;
        let jit_share = jit as f64 / cpu.max(1) as f64;
        eprintln!(
            "  {label}: {cpu_us:.1} µs CPU/req, JIT {:.1} % of its CPU, after {:.0} s",
            jit_share * 100.0,
            started.elapsed().as_secs_f64()
        );
        steps.push((cpu_us, jit_share));
        if started.elapsed() >= settings.warmup && settled(&steps) {
            break true;
        }
        if started.elapsed() + WARM_STEP > settings.warmup_max {
            eprintln!(
                "  {label}: its JIT compiler is still at work after {:.0} s; measuring anyway",
                settings.warmup_max.as_secs_f64()
            );
            break false;
        }
    };
    for (tid, _) in instance.jit_threads() {
        sys::pin_thread(tid, settings.server_core)
            .map_err(|e| format!("pinning JIT thread {tid} back to core {}: {e}", settings.server_core))?;
    }
    instance.clear_request_log()?;
    let last = steps.len().saturating_sub(SETTLED_STEPS);
    Ok(Some(Warmup {
        label: label.clone(),
        seconds: started.elapsed().as_secs_f64(),
        requests,
        cpu_us: steps[last..].iter().map(|(cpu, _)| *cpu).collect(),
        settled: outcome,
    }))
}

/// Whether the JIT share of the last [`SETTLED_STEPS`] steps (CPU µs per request, JIT share of
/// the CPU) was at most [`JIT_IDLE_SHARE`].
fn settled(steps: &[(f64, f64)]) -> bool {
    steps.len() >= SETTLED_STEPS
        && steps[steps.len() - SETTLED_STEPS..].iter().all(|(_, jit)| *jit <= JIT_IDLE_SHARE)
}

/// The warm-up's request mix (`run --mix`): each scenario's request once in turn.
fn warm_up_mix(scenarios: &[Scenario]) -> String {
    let mut yaml = String::from("requests:\n");
    for scenario in scenarios {
        yaml.push_str(&format!("  - name: {}\n    path: {}\n", scenario.id(), scenario.path()));
        if !scenario.headers().is_empty() {
            yaml.push_str("    headers:\n");
            for (name, value) in scenario.headers() {
                yaml.push_str(&format!("      {name}: {value}\n"));
            }
        }
    }
    yaml
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jvm_is_warm_only_after_two_steps_with_its_jit_compiler_idle() {
        // WireMock's warm-up as measured: a tenth of its CPU in the JIT, then (almost) none.
        assert!(!settled(&[(468.0, 0.16), (61.0, 0.028)]));
        assert!(!settled(&[(60.1, 0.002)]), "one step is not enough");
        assert!(settled(&[(61.0, 0.028), (60.1, 0.002), (59.4, 0.002)]));
        assert!(!settled(&[(60.1, 0.002), (59.4, 0.002), (58.0, 0.05)]), "the JIT woke up again");
    }

    #[test]
    fn the_warm_up_mix_is_a_mix_file_the_load_generator_reads_with_every_scenarios_request() {
        let dir = std::env::temp_dir().join(format!("warm-up-mix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("mix.yaml");
        let scenarios = [Scenario::Static, Scenario::Miss, Scenario::RegexHeader];
        std::fs::write(&file, warm_up_mix(&scenarios)).expect("write");
        let specs = crate::run::mix::read_mix_file(&file).expect("the mix file reads");
        std::fs::remove_dir_all(&dir).ok();
        let paths: Vec<&str> = specs.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["/static", "/nothing/here", "/orders/1042"]);
        assert_eq!(specs[2].headers, vec![("x-tenant".to_owned(), "acme".to_owned())]);
    }
}
