//! `mockplane-loadtest run`: the load generator this project's performance figures rest on.
//!
//! Each worker thread drives its connections from one epoll loop ([`worker`]); requests are
//! serialized once before the run ([`mix`]) and copied into each connection's write buffer,
//! responses are read only as far as their framing ([`http`]), and latencies go into a
//! per-worker hdrhistogram ([`tally`]) merged at the end ([`report`]). Nothing on the request
//! path allocates, locks or formats.

pub mod args;
mod conn;
pub mod http;
pub mod mix;
pub mod report;
mod sys;
pub mod tally;
pub mod target;
mod worker;

use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

pub use args::{OutputFormat, RunArgs};
pub use report::{decode_histogram, percentile_spectrum, Report};

use mix::{Mix, RequestSpec};
use report::{Latency, MixCount, Mode, StatusClasses};
use tally::Tally;
use worker::{Progress, WorkerPlan};

/// A run that could not start or finish.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error(transparent)]
    Mix(#[from] mix::MixError),
    #[error("{0}")]
    Invalid(String),
    #[error("worker {index}: {source}")]
    Worker { index: usize, source: std::io::Error },
}

/// Runs the load test `args` describes; `progress` shows a live line on stderr.
pub fn run(args: &RunArgs, progress: bool) -> Result<Report, RunError> {
    let target = target::resolve(&args.url, args.allow_remote)?;
    let specs = match &args.mix {
        Some(path) => mix::read_mix_file(path)?,
        None => vec![command_line_request(args, &target.path)?],
    };
    let mix = Arc::new(Mix::prepare(specs, &target.authority).map_err(RunError::Invalid)?);
    let threads = args.threads as usize;
    let connections = args.connections as usize;
    if connections < threads {
        return Err(RunError::Invalid(format!(
            "--connections {connections} is fewer than --threads {threads}: every thread needs a connection"
        )));
    }
    if let Some(pin) = &args.pin {
        if pin.0.len() < threads {
            return Err(RunError::Invalid(format!(
                "--pin lists {} core(s) for {threads} thread(s): give one core per thread",
                pin.0.len()
            )));
        }
    }

    let progress_counts = Arc::new(Progress::new(threads));
    let start = Instant::now();
    let deadline = args.duration.map(|d| start + d);
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let share =
                |total: u64| total / threads as u64 + u64::from((index as u64) < total % threads as u64);
            let plan = WorkerPlan {
                index,
                addr: target.addr,
                mix: Arc::clone(&mix),
                connections: share(connections as u64) as usize,
                depth: args.pipeline as usize,
                // Each thread runs rate/threads, its schedule shifted by index/rate so that
                // the threads' requests interleave evenly.
                schedule: args.rate.map(|rate| {
                    (rate / threads as f64, start + Duration::from_secs_f64(index as f64 / rate))
                }),
                quota: args.requests.map(share),
                deadline,
                timeout: args.timeout,
                pin: args.pin.as_ref().map(|p| p.0[index]),
                progress: Arc::clone(&progress_counts),
            };
            std::thread::Builder::new()
                .name(format!("loadtest-{index}"))
                .spawn(move || worker::run(plan))
                .expect("spawning a worker thread")
        })
        .collect();

    if progress {
        show_progress(&handles, &progress_counts, start, args.duration);
    }
    let mut total = Tally::new(mix.prepared.len());
    let mut ended = start;
    for (index, h) in handles.into_iter().enumerate() {
        let (tally, end) = h
            .join()
            .map_err(|_| RunError::Worker { index, source: std::io::Error::other("the worker panicked") })?
            .map_err(|source| RunError::Worker { index, source })?;
        total.merge(&tally);
        ended = ended.max(end);
    }
    let duration_s = match deadline {
        Some(d) if ended >= d => (d - start).as_secs_f64(),
        _ => (ended - start).as_secs_f64(),
    };
    Ok(Report {
        mode: if args.rate.is_some() { Mode::Open } else { Mode::Closed },
        duration_s,
        requests: total.requests,
        rps: if duration_s > 0.0 { total.requests as f64 / duration_s } else { 0.0 },
        target_rps: args.rate,
        late: total.late,
        errors: total.errors,
        status: StatusClasses::from_counts(total.status),
        latency_us: if total.hist.is_empty() { Latency::default() } else { Latency::of(&total.hist) },
        histogram: report::encode_histogram(&total.hist),
        url: args.url.clone(),
        connections: args.connections,
        threads: args.threads,
        pipeline: args.pipeline,
        unfinished: total.unfinished,
        mix: mix
            .specs
            .iter()
            .zip(&total.sent_by_entry)
            .map(|(s, n)| MixCount { name: s.name.clone(), sent: *n })
            .collect(),
    })
}

/// The one request of `-m`, `-H` and `-d`.
fn command_line_request(args: &RunArgs, path: &str) -> Result<RequestSpec, RunError> {
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(RunError::Invalid(format!("--header {h:?}: expected NAME: VALUE")));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let spec = RequestSpec {
        name: format!("{} {path}", args.method),
        method: args.method.clone(),
        path: path.to_owned(),
        headers,
        body: args.body.clone(),
        weight: 1,
    };
    mix::validate(&spec).map_err(|(field, message)| {
        let flag = match field {
            "method" => "--method",
            "headers" => "--header",
            "path" => "the URL's path",
            other => other,
        };
        RunError::Invalid(format!("{flag}: {message}"))
    })?;
    Ok(spec)
}

/// A line on stderr, rewritten every second while the workers run: elapsed time, responses,
/// the rate of the last second, and errors.
fn show_progress(
    handles: &[std::thread::JoinHandle<std::io::Result<(Tally, Instant)>>],
    progress: &Progress,
    start: Instant,
    duration: Option<Duration>,
) {
    let mut stderr = std::io::stderr();
    let (mut last_at, mut last_responses) = (start, 0);
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        if now.duration_since(last_at) < Duration::from_secs(1) {
            continue;
        }
        let (responses, errors) = progress.totals();
        let rate = (responses - last_responses) as f64 / now.duration_since(last_at).as_secs_f64();
        let of = duration.map(|d| format!("/{:.0}s", d.as_secs_f64())).unwrap_or_default();
        let _ = write!(
            stderr,
            "\r\x1b[2K{:.0}s{of}  {responses} responses  {rate:.0} req/s  {errors} errors",
            now.duration_since(start).as_secs_f64()
        );
        let _ = stderr.flush();
        (last_at, last_responses) = (now, responses);
    }
    let _ = write!(stderr, "\r\x1b[2K");
    let _ = stderr.flush();
}

/// Whether a progress line belongs on stderr: only when a person is watching it.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
