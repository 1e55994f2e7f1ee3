//! Drives `mockplane-loadtest run` (this same executable) pinned to the client core, and reads
//! its JSON report: the load generator's JSON output is the contract between the two, so the
//! harness measures exactly what a user running `run` by hand would see.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// One load: where, how long, closed loop or a fixed rate.
#[derive(Debug, Clone)]
pub struct Load<'a> {
    pub url: String,
    pub headers: &'a [(&'a str, &'a str)],
    pub duration: Duration,
    pub connections: usize,
    /// `Some(rate)`: open loop at that many requests per second.
    pub rate: Option<u64>,
    pub core: usize,
    /// A mix file (`run --mix`): its requests instead of the URL's path and `headers`.
    pub mix: Option<&'a Path>,
}

/// What the harness keeps of one run's report.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub requests: u64,
    pub rps: f64,
    /// Requests sent behind their intended time (open loop).
    pub late: u64,
    /// Connection, reset, timeout and parse errors together.
    pub errors: u64,
    /// Answers in status classes other than the expected one.
    pub unexpected_status: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// The serialized histogram (base64), for the percentile spectrum.
    pub histogram: String,
}

/// Runs the generator once and parses its report. `expected_class` is "2xx" or "4xx".
pub fn run(exe: &Path, load: &Load<'_>, expected_class: &str) -> Result<Outcome, String> {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(load.core.to_string()).arg(exe).arg("run");
    command.arg("-z").arg(format!("{}ms", load.duration.as_millis()));
    command.arg("-c").arg(load.connections.to_string());
    if let Some(rate) = load.rate {
        command.arg("-q").arg(rate.to_string());
    }
    if let Some(mix) = load.mix {
        command.arg("--mix").arg(mix);
    } else {
        for (name, value) in load.headers {
            command.arg("-H").arg(format!("{name}: {value}"));
        }
    }
    command.args(["--output-format", "json"]).arg(&load.url);
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("starting the load generator ({}): {e}", exe.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("the load generator failed ({}): {}", out.status, stderr.trim()));
    }
    let report: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the load generator's JSON report does not parse: {e}"))?;
    parse(&report, expected_class)
}

fn parse(report: &Value, expected_class: &str) -> Result<Outcome, String> {
    let number = |pointer: &str| -> Result<f64, String> {
        report
            .pointer(pointer)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("the load generator's report has no number at {pointer}"))
    };
    let errors = match report.pointer("/errors") {
        Some(Value::Object(kinds)) => kinds.values().filter_map(Value::as_u64).sum(),
        _ => return Err("the load generator's report has no errors object".into()),
    };
    let unexpected_status = match report.pointer("/status") {
        Some(Value::Object(classes)) => {
            classes.iter().filter(|(class, _)| *class != expected_class).filter_map(|(_, n)| n.as_u64()).sum()
        }
        _ => return Err("the load generator's report has no status object".into()),
    };
    Ok(Outcome {
        requests: number("/requests")? as u64,
        rps: number("/rps")?,
        late: report.pointer("/late").and_then(Value::as_u64).unwrap_or(0),
        errors,
        unexpected_status,
        p50_us: number("/latency_us/p50")?,
        p90_us: number("/latency_us/p90")?,
        p99_us: number("/latency_us/p99")?,
        p999_us: number("/latency_us/p999")?,
        max_us: number("/latency_us/max")?,
        histogram: report.pointer("/histogram").and_then(Value::as_str).unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_in_the_contracts_shape_parses_and_counts_other_statuses() {
        let report = serde_json::json!({
            "mode": "open", "duration_s": 2.0, "requests": 10000, "rps": 5000.0, "target_rps": 5000,
            "late": 3, "errors": { "connect": 0, "reset": 1, "timeout": 0, "parse": 0 },
            "status": { "1xx": 0, "2xx": 9990, "3xx": 0, "4xx": 9, "5xx": 0 },
            "latency_us": { "p50": 50, "p90": 70, "p99": 120, "p999": 400, "max": 900, "mean": 55.5 },
            "histogram": "HISTFAAAA"
        });
        let outcome = parse(&report, "2xx").expect("parses");
        assert_eq!(
            (outcome.requests, outcome.late, outcome.errors, outcome.unexpected_status),
            (10000, 3, 1, 9)
        );
        assert_eq!(outcome.p99_us, 120.0);
        assert!(parse(&serde_json::json!({ "requests": 1 }), "2xx").is_err());
    }
}
