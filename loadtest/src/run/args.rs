//! The flags of `mockplane-loadtest run`, named as oha names them where they mean the same.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table on stdout.
    Text,
    /// One JSON object on stdout (docs/loadtest.md shows its keys).
    Json,
}

/// Load one HTTP/1.1 server with keep-alive requests, closed loop (`-c` connections as fast as
/// they go) or open loop (`-q` requests per second), and report throughput, latency
/// percentiles, errors and status classes.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("bound").args(["duration", "requests"]).multiple(true).required(true)))]
pub struct RunArgs {
    /// The target, http://HOST:PORT/PATH. Only loopback addresses unless --allow-remote; with
    /// --mix, only HOST:PORT is used.
    pub url: String,

    /// How long to run, e.g. 10s, 500ms, 2m (a bare number is seconds).
    #[arg(short = 'z', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// How many requests to send (failed connection attempts count); with -z, whichever ends
    /// first.
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Connections, spread over the threads.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,

    /// Open loop: requests per second in all, sent on schedule whatever the answers do; latency
    /// counts from each request's scheduled time. Without it, closed loop.
    #[arg(short = 'q', long, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Requests in flight per connection (HTTP/1.1 pipelining); 1 is none.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pipeline: u32,

    /// The request method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,

    /// A request header, `NAME: VALUE` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// The request body.
    #[arg(short = 'd', long)]
    pub body: Option<String>,

    /// A file (YAML, or JSON when named *.json) of weighted requests to send instead of one.
    #[arg(long, conflicts_with_all = ["method", "headers", "body"])]
    pub mix: Option<PathBuf>,

    /// Worker threads, each with its own event loop and share of the connections and rate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,

    /// Pin worker thread i to the i-th core of this list, e.g. 1 or 2,3 or 0-3.
    #[arg(long, value_name = "CORES", value_parser = parse_cores)]
    pub pin: Option<CoreList>,

    /// A request unanswered (or a connect unfinished) after this long counts as a timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// text: a table; json: one JSON object.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output_format: OutputFormat,

    /// Allow a target that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}

/// Cores to pin worker threads to, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

/// `10s`, `500ms`, `2m`, `1h`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    let secs = n * scale;
    if !(secs > 0.0 && secs < 1e9) {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("{text:?} is not a rate above zero (requests per second)")),
    }
}

fn parse_cores(text: &str) -> Result<CoreList, String> {
    let mut cores = Vec::new();
    for part in text.split(',') {
        let bad = || format!("{part:?} is not a core or a range of cores (e.g. 1, 2,3 or 0-3)");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cores.extend(a..=b);
            }
            None => cores.push(part.trim().parse().map_err(|_| bad())?),
        }
    }
    Ok(CoreList(cores))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_oha_writes_them() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn core_lists_take_singles_and_ranges() {
        assert_eq!(parse_cores("1"), Ok(CoreList(vec![1])));
        assert_eq!(parse_cores("0-2,5"), Ok(CoreList(vec![0, 1, 2, 5])));
        assert!(parse_cores("3-1").is_err());
        assert!(parse_cores("a").is_err());
    }
}
