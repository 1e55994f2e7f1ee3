//! What a run measured, as a user reads it (a table) and as a program reads it (one JSON
//! object). The JSON shape is a contract: `mockplane-loadtest compare` and scripts read it,
//! and the histogram in it (hdrhistogram V2 + deflate, base64) lets runs be merged.

use std::fmt::Write as _;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Closed loop (as fast as the connections go) or open loop (a fixed rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Closed,
    Open,
}

/// Requests that got no response, by why; `connect` counts failed connection attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    pub connect: u64,
    pub reset: u64,
    pub timeout: u64,
    pub parse: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.parse
    }

    pub fn add(&mut self, other: &Errors) {
        self.connect += other.connect;
        self.reset += other.reset;
        self.timeout += other.timeout;
        self.parse += other.parse;
    }
}

/// Responses by status class (1xx counts interim responses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClasses {
    #[serde(rename = "1xx")]
    pub c1xx: u64,
    #[serde(rename = "2xx")]
    pub c2xx: u64,
    #[serde(rename = "3xx")]
    pub c3xx: u64,
    #[serde(rename = "4xx")]
    pub c4xx: u64,
    #[serde(rename = "5xx")]
    pub c5xx: u64,
}

impl StatusClasses {
    pub fn from_counts(c: [u64; 5]) -> StatusClasses {
        StatusClasses { c1xx: c[0], c2xx: c[1], c3xx: c[2], c4xx: c[3], c5xx: c[4] }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        Latency {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// How often one request of the mix was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixCount {
    pub name: String,
    pub sent: u64,
}

/// Everything a run measured. The keys up to `histogram` are the contract; the rest describe
/// the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub mode: Mode,
    pub duration_s: f64,
    /// Responses received (of any status).
    pub requests: u64,
    pub rps: f64,
    pub target_rps: Option<f64>,
    /// Open loop: requests sent more than 1 ms after their intended send time.
    pub late: u64,
    pub errors: Errors,
    pub status: StatusClasses,
    pub latency_us: Latency,
    /// hdrhistogram V2 + deflate serialization of the latencies (µs), base64.
    pub histogram: String,
    pub url: String,
    pub connections: u32,
    pub threads: u32,
    pub pipeline: u32,
    /// Requests still waiting for their response when the duration ran out (not errors).
    pub unfinished: u64,
    pub mix: Vec<MixCount>,
}

/// A histogram that cannot be read back.
#[derive(Debug, Error)]
pub enum HistogramError {
    #[error("the histogram is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("the histogram is not an hdrhistogram V2 serialization: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
}

/// The base64 of a V2 + deflate serialization.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads back what [`encode_histogram`] wrote (or a plain V2 serialization), e.g. to merge
/// the histograms of several runs with `Histogram::add`.
pub fn decode_histogram(base64_text: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(base64_text.trim())?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(HistogramError::Decode)
}

/// The latency percentile spectrum of a report's `histogram`, for charts: `(percentile,
/// latency_us)` pairs from 0 up to 100, denser towards the tail (hdrhistogram's quantile
/// iteration, five steps per halving of the distance to 100%). Empty when the text is not a
/// histogram; [`decode_histogram`] says why.
pub fn percentile_spectrum(histogram_base64: &str) -> Vec<(f64, u64)> {
    let Ok(h) = decode_histogram(histogram_base64) else { return Vec::new() };
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(5).map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to())).collect()
}

impl Report {
    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mode = match (self.mode, self.target_rps) {
            (Mode::Open, Some(rate)) => format!("open loop at {rate} req/s"),
            _ => "closed loop".to_owned(),
        };
        let _ = writeln!(
            out,
            "{} — {mode}, {} connections, {} thread(s), pipeline {}",
            self.url, self.connections, self.threads, self.pipeline
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "  duration     {:>12.3} s", self.duration_s);
        let _ = writeln!(out, "  requests     {:>12}", self.requests);
        let _ = writeln!(out, "  throughput   {:>12.1} req/s", self.rps);
        if self.mode == Mode::Open {
            let _ =
                writeln!(out, "  late         {:>12}   (sent > 1 ms after their intended time)", self.late);
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  latency (µs{})",
            if self.mode == Mode::Open { ", from the intended send time" } else { "" }
        );
        let l = &self.latency_us;
        for (name, v) in [("p50", l.p50), ("p90", l.p90), ("p99", l.p99), ("p99.9", l.p999), ("max", l.max)] {
            let _ = writeln!(out, "    {name:<8} {v:>10}");
        }
        let _ = writeln!(out, "    {:<8} {:>10.1}", "mean", l.mean);
        let _ = writeln!(out);
        let s = &self.status;
        let _ = writeln!(
            out,
            "  status       1xx {}  2xx {}  3xx {}  4xx {}  5xx {}",
            s.c1xx, s.c2xx, s.c3xx, s.c4xx, s.c5xx
        );
        let e = &self.errors;
        let _ = writeln!(
            out,
            "  errors       connect {}  reset {}  timeout {}  parse {}",
            e.connect, e.reset, e.timeout, e.parse
        );
        if self.unfinished > 0 {
            let _ =
                writeln!(out, "  unfinished   {:>12}   (in flight when the time ran out)", self.unfinished);
        }
        if self.mix.len() > 1 {
            let _ = writeln!(out);
            let _ = writeln!(out, "  sent by request");
            for m in &self.mix {
                let _ = writeln!(out, "    {:>10}  {}", m.sent, m.name);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_its_json_form_and_gives_a_spectrum() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let text = encode_histogram(&h);
        let back = decode_histogram(&text).unwrap();
        assert_eq!(
            (back.len(), back.max(), back.value_at_quantile(0.5)),
            (h.len(), h.max(), h.value_at_quantile(0.5))
        );
        let spectrum = percentile_spectrum(&text);
        assert!(spectrum.len() > 10);
        assert!(spectrum.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "{spectrum:?}");
        let (last_p, last_v) = *spectrum.last().unwrap();
        assert_eq!(last_p, 100.0);
        assert_eq!(last_v, h.highest_equivalent(10_000));
        assert!(percentile_spectrum("not base64!").is_empty());
        assert!(decode_histogram("aGVsbG8=").is_err());
    }
}
