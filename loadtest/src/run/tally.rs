//! What one worker counts while it runs, merged into the report at the end. Counting is
//! plain arithmetic on the worker's own memory: nothing is shared on the request path.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::report::Errors;

/// The highest latency the histogram holds (an hour, in µs); longer ones are clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// One worker's counts.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latencies in µs, 3 significant digits.
    pub hist: Histogram<u64>,
    pub requests: u64,
    pub late: u64,
    pub errors: Errors,
    /// Responses by status class, 1xx first.
    pub status: [u64; 5],
    pub unfinished: u64,
    /// Requests sent, by index into the mix.
    pub sent_by_entry: Vec<u64>,
}

impl Tally {
    pub fn new(entries: usize) -> Tally {
        Tally {
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds"),
            requests: 0,
            late: 0,
            errors: Errors::default(),
            status: [0; 5],
            unfinished: 0,
            sent_by_entry: vec![0; entries],
        }
    }

    /// A final response of `status` (100..=599) that took `latency`.
    pub fn response(&mut self, status: u16, latency: Duration) {
        self.requests += 1;
        self.status[usize::from(status / 100 - 1)] += 1;
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_LATENCY_US);
        self.hist.saturating_record(us);
    }

    /// An interim (1xx) response.
    pub fn interim(&mut self) {
        self.status[0] += 1;
    }

    pub fn merge(&mut self, other: &Tally) {
        self.hist.add(&other.hist).expect("histograms of the same bounds add up");
        self.requests += other.requests;
        self.late += other.late;
        self.errors.add(&other.errors);
        for (a, b) in self.status.iter_mut().zip(other.status) {
            *a += b;
        }
        self.unfinished += other.unfinished;
        for (a, b) in self.sent_by_entry.iter_mut().zip(&other.sent_by_entry) {
            *a += b;
        }
    }
}
