//! Recording driven by the control plane (`startRecording`, docs/rules.md "Record"): while a
//! version carries recording settings (`RuleSet.recording`), forwarded request/answer pairs
//! that pass its filter are copied as they stream (the capture of [`crate::record`]) and
//! queued here; the report loop sends them to the control plane, which stores each as a
//! disabled rule.
//!
//! Nothing is copied or locked for a request that is not recorded: the filter is compiled once
//! per version, and the queue's lock is taken only by a worker that has just copied a pair.
//! The queue is bounded ([`MAX_WAITING`]) and so is each start of a recording (its `limit`,
//! per data plane), so a busy proxy cannot grow memory or flood the report stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mockplane_proto::convert::Recording;

use crate::record::Recorded;

/// Pairs waiting for a report at most; more are dropped and counted.
pub(crate) const MAX_WAITING: usize = 1_000;

/// Pairs sent per report at most (and at most [`BYTES_PER_REPORT`] of bodies, unless one
/// pair alone is larger).
pub(crate) const PER_REPORT: usize = 100;

/// Body bytes sent per report, beyond the first pair.
pub(crate) const BYTES_PER_REPORT: usize = 1 << 20;

/// A version's recording settings, compiled once when the version is installed.
#[derive(Debug)]
pub(crate) struct Filter {
    methods: Vec<String>,
    prefix: Option<String>,
    regex: Option<regex::Regex>,
    limit: u32,
    started_ms: u64,
    /// Where recorded pairs go: the data plane's queue, shared by every version.
    pub(crate) queue: Arc<RecordQueue>,
}

impl Filter {
    /// Compiles `settings`; the error names the field (a NACK's text).
    pub(crate) fn new(settings: Recording, queue: Arc<RecordQueue>) -> Result<Filter, String> {
        let regex = settings
            .path_regex
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| format!("recording.path_regex: {e}"))?;
        Ok(Filter {
            methods: settings.methods,
            prefix: settings.path_prefix,
            regex,
            limit: settings.limit,
            started_ms: settings.started_ms,
            queue,
        })
    }

    /// Whether the exchange of `method` on `target` (path and query) is recorded.
    pub(crate) fn wants(&self, method: &str, target: &str) -> bool {
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && self.prefix.as_deref().is_none_or(|p| path.starts_with(p))
            && self.regex.as_ref().is_none_or(|r| r.is_match(path))
            && !self.queue.spent(self)
    }

    /// Queues a recorded pair for the next report.
    pub(crate) fn keep(&self, recorded: Recorded) {
        self.queue.push(self, recorded);
    }
}

/// Recorded pairs waiting for the report loop.
#[derive(Debug, Default)]
pub(crate) struct RecordQueue {
    inner: Mutex<Waiting>,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct Waiting {
    pairs: VecDeque<Recorded>,
    /// The recording start counted (`started_ms`) and the pairs kept since it.
    started_ms: u64,
    kept: u32,
}

impl RecordQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `filter`'s recording has kept its `limit` of pairs already.
    fn spent(&self, filter: &Filter) -> bool {
        if filter.limit == 0 {
            return false;
        }
        let w = self.lock();
        w.started_ms == filter.started_ms && w.kept >= filter.limit
    }

    fn push(&self, filter: &Filter, recorded: Recorded) {
        let mut w = self.lock();
        if w.started_ms != filter.started_ms {
            w.started_ms = filter.started_ms;
            w.kept = 0;
        }
        if filter.limit > 0 && w.kept >= filter.limit {
            return;
        }
        if w.pairs.len() >= MAX_WAITING {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        w.kept += 1;
        w.pairs.push_back(recorded);
    }

    /// The oldest waiting pairs, for one report: at most [`PER_REPORT`], and no more bodies
    /// than [`BYTES_PER_REPORT`] beyond the first.
    pub(crate) fn take(&self) -> Vec<Recorded> {
        let mut w = self.lock();
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(next) = w.pairs.front() {
            if taken.len() == PER_REPORT || (!taken.is_empty() && bytes + next.body.len() > BYTES_PER_REPORT)
            {
                break;
            }
            bytes += next.body.len();
            taken.extend(w.pairs.pop_front());
        }
        taken
    }

    /// Pairs dropped since the start because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A recorded pair as the report carries it.
pub(crate) fn to_wire(r: Recorded) -> mockplane_proto::report::RecordedExchange {
    mockplane_proto::report::RecordedExchange {
        method: r.method,
        target: r.target,
        status: u32::from(r.status),
        headers: r
            .headers
            .into_iter()
            .filter(|(n, _)| crate::record::recorded_header(n))
            .map(|(name, value)| mockplane_proto::report::Header { name, value: value.into_bytes() })
            .collect(),
        body: r.body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(target: &str, body: usize) -> Recorded {
        Recorded {
            method: "GET".into(),
            target: target.into(),
            status: 200,
            headers: Vec::new(),
            body: vec![b'x'; body],
        }
    }

    fn filter(settings: Recording, queue: &Arc<RecordQueue>) -> Filter {
        Filter::new(settings, queue.clone()).unwrap()
    }

    #[test]
    fn the_filter_takes_methods_and_a_prefix_or_a_regex_of_the_path() {
        let queue = Arc::new(RecordQueue::default());
        let f = filter(
            Recording {
                methods: vec!["GET".into()],
                path_prefix: Some("/api/".into()),
                ..Default::default()
            },
            &queue,
        );
        assert!(f.wants("GET", "/api/items?page=2"));
        assert!(!f.wants("POST", "/api/items"));
        assert!(!f.wants("GET", "/health"));
        let r = filter(Recording { path_regex: Some("^/v[0-9]+/".into()), ..Default::default() }, &queue);
        assert!(r.wants("DELETE", "/v2/x") && !r.wants("GET", "/x?/v2/"));
        let e =
            Filter::new(Recording { path_regex: Some("(".into()), ..Default::default() }, queue).unwrap_err();
        assert!(e.starts_with("recording.path_regex: "), "{e}");
    }

    #[test]
    fn a_recording_keeps_its_limit_per_start_and_reports_take_them_in_bounded_batches() {
        let queue = Arc::new(RecordQueue::default());
        let first = filter(Recording { limit: 3, started_ms: 1, ..Default::default() }, &queue);
        for i in 0..5 {
            if first.wants("GET", "/") {
                first.keep(pair(&format!("/{i}"), 10));
            }
        }
        let taken: Vec<String> = queue.take().into_iter().map(|r| r.target).collect();
        assert_eq!(taken, ["/0", "/1", "/2"], "the oldest, up to the limit");
        assert!(!first.wants("GET", "/"), "spent");
        let again = filter(Recording { started_ms: 2, ..Default::default() }, &queue);
        assert!(again.wants("GET", "/"), "a new start counts anew");
        for i in 0..(MAX_WAITING + 5) {
            again.keep(pair(&format!("/{i}"), if i < 3 { BYTES_PER_REPORT / 2 } else { 1 }));
        }
        assert_eq!(queue.dropped(), 5);
        assert_eq!(queue.take().len(), 2, "a batch stays under its bytes");
        assert_eq!(queue.take().len(), PER_REPORT);
    }
}
