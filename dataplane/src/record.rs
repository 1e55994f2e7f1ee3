//! Record mode (`mockplane dataplane --record FILE`): forwarded request/answer pairs become
//! rules, written to a rules file that a data plane can serve as it is.
//!
//! A worker copies an answer it forwards (status, end-to-end headers, body up to
//! [`MAX_RECORDED_BODY`]) while it streams it, and sends the pair to a writer thread over a
//! channel; the worker never touches the file. The writer keeps the first answer per method and
//! target, and rewrites the file (a temporary file, then a rename: a reader never sees half of
//! it) after each batch of new pairs. Replayed, each rule answers its request as the upstream
//! did: the method, the exact path and every query parameter must match (the rule is built by
//! `mockplane_rules::recorded`, as the control plane's recording builds its own).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;

use mockplane_rules::model::Rule;
use mockplane_rules::recorded::recorded_rule;
use mockplane_rules::{Format, RuleSet};

/// Answers with a larger body are not recorded (a rules file is no place for them).
pub const MAX_RECORDED_BODY: usize = 1024 * 1024;

/// What to record, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    /// The rules file written (JSON when it ends in `.json`, else YAML).
    pub file: PathBuf,
    /// Only these methods; empty: every method.
    pub methods: Vec<String>,
    /// Only paths starting with this.
    pub path_prefix: Option<String>,
}

/// One forwarded exchange, as recorded.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A data plane's recorder: the filter, and the channel to its writer thread.
#[derive(Debug)]
pub(crate) struct Recorder {
    settings: RecordSettings,
    tx: mpsc::Sender<Recorded>,
}

impl Recorder {
    /// Starts the writer thread; it ends when the recorder is dropped.
    pub(crate) fn start(settings: RecordSettings) -> std::io::Result<Arc<Recorder>> {
        let (tx, rx) = mpsc::channel();
        let file = settings.file.clone();
        std::thread::Builder::new().name("mockplane-record".into()).spawn(move || write_loop(file, rx))?;
        Ok(Arc::new(Recorder { settings, tx }))
    }

    /// Whether a request with `method` and `target` is recorded.
    pub(crate) fn wants(&self, method: &str, target: &str) -> bool {
        (self.settings.methods.is_empty() || self.settings.methods.iter().any(|m| m == method))
            && self.settings.path_prefix.as_deref().is_none_or(|p| target.starts_with(p))
    }

    pub(crate) fn send(&self, recorded: Recorded) {
        let _ = self.tx.send(recorded);
    }
}

/// An answer being copied as it streams.
pub(crate) struct Capture {
    pub(crate) recorded: Recorded,
    too_big: bool,
}

impl Capture {
    pub(crate) fn new(recorded: Recorded) -> Capture {
        Capture { recorded, too_big: false }
    }

    /// Appends body bytes, giving up past [`MAX_RECORDED_BODY`].
    pub(crate) fn add(&mut self, bytes: &[u8]) {
        if self.too_big {
            return;
        }
        if self.recorded.body.len() + bytes.len() > MAX_RECORDED_BODY {
            self.too_big = true;
            self.recorded.body = Vec::new();
            return;
        }
        self.recorded.body.extend_from_slice(bytes);
    }

    /// The pair, unless its body was too large to keep.
    pub(crate) fn finish(self) -> Option<Recorded> {
        (!self.too_big).then_some(self.recorded)
    }
}

fn write_loop(file: PathBuf, rx: mpsc::Receiver<Recorded>) {
    let format = Format::from_file_name(&file.to_string_lossy());
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut set = RuleSet::default();
    while let Ok(first) = rx.recv() {
        let mut changed = false;
        for r in std::iter::once(first).chain(rx.try_iter()) {
            if seen.insert((r.method.clone(), r.target.clone())) {
                let rule = rule_of(r, set.rules.len());
                set.rules.push(Arc::new(rule));
                changed = true;
            }
        }
        if !changed {
            continue;
        }
        let text = match format {
            Format::Json => set.to_json(),
            Format::Yaml => set.to_yaml(),
        };
        let tmp = file.with_extension("recording");
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &file));
        match written {
            Ok(()) => tracing::info!(file = %file.display(), rules = set.rules.len(), "recorded"),
            Err(e) => tracing::error!(file = %file.display(), error = %e, "cannot write the recording"),
        }
    }
}

/// Header fields of an answer that a recorded rule repeats (the rest are not even captured).
pub(crate) fn recorded_header(name: &str) -> bool {
    mockplane_rules::recorded::repeated_header(name)
}

fn rule_of(r: Recorded, n: usize) -> Rule {
    let headers = r.headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    recorded_rule(format!("recorded-{}", n + 1), &r.method, &r.target, r.status, headers, &r.body)
}
