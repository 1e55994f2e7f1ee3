//! The rules in force: one immutable [`Snapshot`] behind an `ArcSwap`, replaced whole.
//!
//! A new snapshot is compiled off the hot path (by the file watcher now, by the xDS client
//! later) and swapped in at once: a request sees the old table or the new one, never a mix, and
//! a connection in flight keeps the snapshot it started the request with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use std::borrow::Cow;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use mockplane_proto::convert::ResetEpochs;
use mockplane_rules::{CompileOptions, Format, RuleCache, RuleSet, RuleSetError, RuleTable, StateStore};

use crate::hits::RuleHits;

/// A compiled rule set and what is known of where it came from.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases with every swap.
    pub version: u64,
    /// The control plane's `version_info` for these rules; `None` in static (file) mode.
    pub config_version: Option<String>,
    /// The compiled table.
    pub table: RuleTable,
    /// The rule set it was compiled from (served by `/config`).
    pub rules: SnapshotRules,
    /// Where it came from: a file path, or the control plane.
    pub source: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// The reset epochs its resource carried (zero for rules from a file); those applied so
    /// far are [`SnapshotStore::applied_resets`].
    pub resets: ResetEpochs,
    /// The recording its resource asked for, compiled (`None`: not recording).
    pub(crate) recording: Option<crate::recording::Filter>,
    /// Hits of its rules, by the workers that served them.
    pub(crate) hits: RuleHits,
}

/// The rule set a snapshot was compiled from, for `/config`.
#[derive(Debug)]
pub enum SnapshotRules {
    /// The `RuleSet` resource as received from the control plane, or as encoded from a rules
    /// file, decoded only on demand. Encoded, a rule takes a tenth of the memory its parsed
    /// model does (~4 KB): keeping the model made a 1,000-rule data plane 4 MB bigger.
    Wire(mockplane_proto::wkt::Any),
}

impl SnapshotRules {
    /// The rule set.
    pub fn rule_set(&self) -> Result<Cow<'_, RuleSet>, String> {
        match self {
            SnapshotRules::Wire(any) => {
                mockplane_proto::convert::rule_set_from_any(any).map(Cow::Owned).map_err(|e| e.to_string())
            }
        }
    }
}

/// The current snapshot, shared by every worker, and the state that survives swaps.
#[derive(Debug, Clone, Default)]
pub struct SnapshotStore {
    current: Arc<ArcSwapOption<Snapshot>>,
    state: StateStore,
    /// Which compiled rule of the table in force came from which encoded rule: a version from
    /// the control plane decodes and compiles only the rules that are not in it.
    cache: Arc<Mutex<RuleCache<Bytes>>>,
    link: Arc<Mutex<Option<LinkStatus>>>,
    file: Arc<Mutex<Option<FileStatus>>>,
    retired: Arc<Mutex<Retired>>,
    /// The newest reset epochs applied or adopted, each the greatest seen; `None` until rules
    /// from a control plane are installed (see [`crate::xds`]).
    resets: Arc<Mutex<Option<ResetEpochs>>>,
    /// The workers a new snapshot has hit counters for (0 until the data plane starts).
    workers: Arc<AtomicUsize>,
    /// Called on the installing thread after a swap, and after old tables are freed.
    release_memory: Arc<std::sync::OnceLock<fn()>>,
    /// `--upstream`: every rules file installed forwards what its rules do not match here.
    sidecar: Arc<std::sync::OnceLock<String>>,
    /// Pairs recorded for the control plane, waiting for the report loop.
    recorded: Arc<crate::recording::RecordQueue>,
}

/// Replaced snapshots some worker may still serve from, and the hit counts of those freed.
/// Swaps, frees and readers of the counts take this lock (never a worker), so a reader sees
/// every table's counts exactly once.
#[derive(Debug, Default)]
struct Retired {
    snapshots: Vec<Arc<Snapshot>>,
    /// Hits counted in tables since freed, by rule id.
    hits: BTreeMap<String, [u64; 6]>,
}

/// The rules file, in static mode, as `/readyz` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileStatus {
    /// The file.
    pub path: String,
    /// Its latest edit, if it was refused: the rules in force are then an earlier version of
    /// the file. Cleared when an edit is taken.
    pub refused_edit: Option<RefusedEdit>,
}

/// An edit of the rules file that was refused.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefusedEdit {
    /// Every problem found, with its place.
    pub error: String,
    /// When it was seen, RFC 3339.
    pub at: String,
    /// The version still serving.
    pub serving_version: Option<u64>,
}

/// The link to the control plane, as `/readyz` reports it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LinkStatus {
    /// The control plane's URL.
    pub url: String,
    /// Whether the xDS stream is open. While it is not, the rules in force may be stale.
    pub connected: bool,
    /// Why the last connection attempt or stream failed.
    pub last_error: Option<String>,
    /// The last version refused (NACKed), and why.
    pub last_nack: Option<String>,
    /// Why the control plane refused this data plane's reports, if it did on this connection.
    pub last_report_error: Option<String>,
}

/// Why a rules file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The rules were refused.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        source: RuleSetError,
    },
}

impl SnapshotStore {
    /// An empty store: no table yet, so the data plane is not ready.
    pub fn new() -> Self {
        SnapshotStore::default()
    }

    /// Has `release` called on the installing thread after every swap and after old tables
    /// are freed: compiling a rule set frees much of what it allocated, and an allocator that
    /// returns memory lazily keeps it while that thread sleeps. The binary passes its
    /// allocator's "give it back now" (see `cli/src/alloc.rs`). Set once; later calls do
    /// nothing.
    pub fn set_release_memory(&self, release: fn()) {
        let _ = self.release_memory.set(release);
    }

    /// Makes every rules file installed from now on forward the requests its rules do not
    /// match to `endpoint` (`host:port`): the one-flag sidecar (see [`crate::sidecar`]).
    pub fn set_sidecar_upstream(&self, endpoint: String) {
        let _ = self.sidecar.set(endpoint);
    }

    pub(crate) fn release_memory(&self) {
        if let Some(release) = self.release_memory.get() {
            release();
        }
    }

    /// Sizes the hit counters of every snapshot built from now on for `workers` workers.
    pub(crate) fn set_workers(&self, workers: usize) {
        self.workers.store(workers, Ordering::Relaxed);
    }

    /// Hits of every rule that has any, by rule id and status class ([`crate::stats::STATUS_CLASSES`]),
    /// across every version of the rules since the start.
    pub fn rule_counts(&self) -> BTreeMap<String, [u64; 6]> {
        let retired = self.lock_retired();
        let mut totals = retired.hits.clone();
        // Under the lock: a swap moves the current snapshot to `retired` under it too.
        for s in retired.snapshots.iter().chain(self.current.load().as_ref()) {
            s.hits.add_to(&s.table, &mut totals);
        }
        totals
    }

    fn lock_retired(&self) -> std::sync::MutexGuard<'_, Retired> {
        self.retired.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current snapshot, if any.
    pub fn load(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// The shared swap cell, for per-worker caches.
    pub fn cell(&self) -> &Arc<ArcSwapOption<Snapshot>> {
        &self.current
    }

    /// Pairs recorded for the control plane, waiting for the report loop.
    pub(crate) fn recorded(&self) -> &crate::recording::RecordQueue {
        &self.recorded
    }

    /// The state (scenarios, counters) shared by every table of this store.
    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// The newest reset epochs applied or adopted so far; `None` before any rules from a
    /// control plane.
    pub fn applied_resets(&self) -> Option<ResetEpochs> {
        *self.resets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `resets` as applied: each epoch becomes the greater of it and the one recorded.
    pub(crate) fn note_resets(&self, resets: ResetEpochs) {
        let mut applied = self.resets.lock().unwrap_or_else(|p| p.into_inner());
        let was = applied.unwrap_or_default();
        *applied = Some(ResetEpochs {
            scenarios: was.scenarios.max(resets.scenarios),
            journal: was.journal.max(resets.journal),
        });
    }

    /// The link to the control plane; `None` in static mode.
    pub fn link(&self) -> Option<LinkStatus> {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Updates the link status.
    pub(crate) fn update_link(&self, f: impl FnOnce(&mut LinkStatus)) {
        f(self.link.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(LinkStatus::default))
    }

    /// The rules file and its last refused edit; `None` unless serving from a file.
    pub fn file(&self) -> Option<FileStatus> {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records how loading the rules file at `path` went: a refusal is kept for `/readyz`
    /// until a load succeeds.
    pub(crate) fn note_file(&self, path: &Path, loaded: Result<u64, &LoadError>) {
        let refused_edit = loaded.err().map(|e| RefusedEdit {
            error: e.to_string(),
            at: chrono::DateTime::<chrono::Utc>::from(SystemTime::now()).to_rfc3339(),
            serving_version: self.load().map(|s| s.version),
        });
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(FileStatus { path: path.display().to_string(), refused_edit });
    }

    /// Compiles `rules` and swaps it in as the next version. On error nothing changes.
    pub fn install(
        &self,
        rules: RuleSet,
        source: String,
        base_dir: Option<PathBuf>,
    ) -> Result<u64, RuleSetError> {
        self.install_versioned(rules, source, base_dir, None)
    }

    /// [`SnapshotStore::install`], for rules that carry the control plane's version.
    pub fn install_versioned(
        &self,
        rules: RuleSet,
        source: String,
        base_dir: Option<PathBuf>,
        config_version: Option<String>,
    ) -> Result<u64, RuleSetError> {
        let table = RuleTable::compile(&rules, &self.compile_options(base_dir))?;
        let encoded = mockplane_proto::convert::rule_set_to_any_paced(&rules, Some(crate::pace::pause));
        drop(rules);
        Ok(self.swap_in(
            table,
            SnapshotRules::Wire(encoded),
            source,
            config_version,
            ResetEpochs::default(),
            None,
        ))
    }

    /// Decodes, checks, compiles and swaps in a `RuleSet` resource from the control plane,
    /// reusing the compiled rules of the table in force whose encoded bytes are unchanged:
    /// only new or edited rules are decoded and compiled (see `mockplane_rules::reuse`).
    /// `max_rules` (0: no limit) refuses larger sets. On error (the text a NACK carries)
    /// nothing changes.
    pub fn install_resource(
        &self,
        resource: &mockplane_proto::wkt::Any,
        max_rules: usize,
        source: String,
        config_version: Option<String>,
    ) -> Result<u64, String> {
        use mockplane_proto::convert::{rule_from_bytes, split_rule_set};
        let split = split_rule_set(resource).map_err(|e| e.to_string())?;
        let resets = split.resets;
        let recording =
            split.recording.map(|r| crate::recording::Filter::new(r, self.recorded.clone())).transpose()?;
        let options = self.compile_options(None);
        let current = self.load();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut build = cache.begin(split.head, current.as_ref().map(|s| &s.table), &options);
        build.reserve(split.rules.len());
        for (i, bytes) in split.rules.into_iter().enumerate() {
            build
                .push(bytes.clone(), || {
                    crate::pace::pause();
                    rule_from_bytes(&bytes, i)
                })
                .map_err(|e| e.to_string())?;
        }
        if max_rules > 0 && build.len() > max_rules {
            return Err(format!(
                "the rule set has {} rules, more than this data plane's --max-rules {max_rules}",
                build.len(),
            ));
        }
        let table = build.finish().map_err(|e| e.to_string())?;
        drop(cache);
        drop(current);
        Ok(self.swap_in(
            table,
            SnapshotRules::Wire(resource.clone()),
            source,
            config_version,
            resets,
            recording,
        ))
    }

    fn compile_options(&self, base_dir: Option<PathBuf>) -> CompileOptions {
        CompileOptions { base_dir, state: self.state.clone(), pause: Some(crate::pace::pause) }
    }

    fn swap_in(
        &self,
        table: RuleTable,
        rules: SnapshotRules,
        source: String,
        config_version: Option<String>,
        resets: ResetEpochs,
        recording: Option<crate::recording::Filter>,
    ) -> u64 {
        let version = self.load().map_or(1, |s| s.version + 1);
        let hits = RuleHits::new(table.len(), self.workers.load(Ordering::Relaxed));
        // Upstream names resolve here, off the workers, before any request can need them.
        crate::upstream::resolve::prepare(&table);
        let next = Arc::new(Snapshot {
            version,
            config_version,
            table,
            rules,
            source,
            loaded_at: SystemTime::now(),
            resets,
            recording,
            hits,
        });
        // Workers hold the snapshot they serve from; whoever lets go last would free it, and a
        // table of 10,000 rules takes milliseconds to free. Keep the old one here so that the
        // last holder is this thread (see `reap`), never a worker in the middle of a request.
        {
            let mut retired = self.lock_retired();
            if let Some(previous) = self.current.swap(Some(next)) {
                retired.snapshots.push(previous);
            }
        }
        self.reap();
        self.release_memory();
        version
    }

    /// Frees the retired snapshots that no worker uses any more, on the calling thread. Called
    /// after every install and periodically by the thread that installs (the file watcher,
    /// the xDS client).
    pub fn reap(&self) {
        let mut free = Vec::new();
        {
            let mut retired = self.lock_retired();
            let Retired { snapshots, hits } = &mut *retired;
            // A retired snapshot is no longer in the swap cell, so nobody can take a new
            // reference to it: once ours is the only one, no worker counts in it any more.
            for snapshot in std::mem::take(snapshots) {
                match Arc::try_unwrap(snapshot) {
                    Ok(snapshot) => {
                        // Its last counts (`try_unwrap` saw every worker's drop) join the
                        // totals under the same lock that readers take: none is lost or
                        // counted twice.
                        snapshot.hits.add_to(&snapshot.table, hits);
                        free.push(snapshot);
                    }
                    Err(held) => snapshots.push(held),
                }
            }
        }
        let freed = !free.is_empty();
        for Snapshot { table, .. } in free {
            // One rule at a time, yielding to the workers now and then (see `pace`).
            table.drop_paced(crate::pace::pause);
        }
        if freed {
            self.release_memory();
        }
    }

    /// How many replaced snapshots are still held by some worker.
    pub fn retired(&self) -> usize {
        self.lock_retired().snapshots.len()
    }

    /// Reads, compiles and installs a rules file.
    pub fn install_file(&self, path: &Path) -> Result<u64, LoadError> {
        let installed = (|| {
            let text = std::fs::read_to_string(path)
                .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
            let invalid = |source| LoadError::Invalid { path: path.to_owned(), source };
            let mut rules =
                RuleSet::parse(&text, Format::from_file_name(&path.to_string_lossy())).map_err(invalid)?;
            if let Some(endpoint) = self.sidecar.get() {
                crate::sidecar::apply(&mut rules, endpoint);
            }
            let base_dir = path.parent().map(Path::to_path_buf);
            self.install(rules, path.display().to_string(), base_dir).map_err(invalid)
        })();
        // The file's text and what parsing it left are freed by now, installed or refused.
        self.release_memory();
        installed
    }
}

/// What tells a rules file's versions apart: its modification time and length.
pub(crate) type FileStamp = (Option<std::time::SystemTime>, u64);

/// The stamp of `path` now, `None` when it cannot be read.
pub(crate) fn file_stamp(path: &Path) -> Option<FileStamp> {
    std::fs::metadata(path).ok().map(|m| (m.modified().ok(), m.len()))
}

/// Watches a rules file and installs it again whenever it changes from `loaded` (its stamp
/// when it was last read). An invalid edit is logged with every error and the last good
/// version keeps serving.
pub(crate) fn watch_file(
    store: SnapshotStore,
    path: PathBuf,
    loaded: Option<FileStamp>,
    every: Duration,
    stop: Arc<AtomicBool>,
) {
    watch(store, path, loaded, every, stop, file_stamp, |store, path| store.install_file(path))
}

/// [`watch_file`] for any source with a stamp (a file, a WireMock folder) and a way to
/// install it.
pub(crate) fn watch(
    store: SnapshotStore,
    path: PathBuf,
    loaded: Option<FileStamp>,
    every: Duration,
    stop: Arc<AtomicBool>,
    stamp: fn(&Path) -> Option<FileStamp>,
    install: impl Fn(&SnapshotStore, &Path) -> Result<u64, LoadError>,
) {
    let mut last = loaded;
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(every);
        store.reap();
        let now = stamp(&path);
        if now == last {
            continue;
        }
        last = now;
        let loaded = install(&store, &path);
        store.note_file(&path, loaded.as_ref().copied());
        match loaded {
            Ok(version) => {
                tracing::info!(path = %path.display(), version, "rules file changed: new version in force")
            }
            Err(e) => {
                tracing::error!(error = %e, "rules file changed but was refused; the previous version keeps serving")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_proto::convert::{rule_set_from_any, rule_set_to_any};
    use mockplane_proto::{config as pb, wkt::Any};
    use prost::Message;

    const RULES: &str = r#"
variables: { REGION: eu }
rules:
  - { id: a, match: { path: /a }, response: { template: true, body: "a {{env.REGION}}" } }
  - { id: seq, match: { path: /seq }, sequence: { responses: [ { body: one }, { body: two } ] } }
  - { id: b, match: { path: /b }, response: { body: b } }
"#;

    fn set(yaml: &str) -> RuleSet {
        RuleSet::from_yaml(yaml).unwrap()
    }

    fn body(store: &SnapshotStore, path: &str) -> Option<String> {
        use mockplane_rules::{RenderBuffers, Reply, Request, RequestContext};
        let snapshot = store.load()?;
        let req = Request::new("GET", path, &[], b"");
        let cx = RequestContext::new(&req);
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
        let mut buffers = RenderBuffers::default();
        let answer = snapshot.table.respond(&cx, SystemTime::now(), &mut rng, &mut buffers)?;
        Some(match answer.reply {
            Reply::Static(s) => String::from_utf8_lossy(s.body()).into_owned(),
            Reply::Rendered { .. } => String::from_utf8_lossy(&buffers.body).into_owned(),
            other => format!("{other:?}"),
        })
    }

    /// What the data plane answered before `install_resource`: decode all, then compile all.
    fn whole_error(any: &Any, max_rules: usize) -> String {
        let rules = match rule_set_from_any(any) {
            Ok(rules) => rules,
            Err(e) => return e.to_string(),
        };
        if max_rules > 0 && rules.rules.len() > max_rules {
            return format!(
                "the rule set has {} rules, more than this data plane's --max-rules {max_rules}",
                rules.rules.len()
            );
        }
        RuleTable::compile(&rules, &CompileOptions::default()).unwrap_err().to_string()
    }

    #[test]
    fn a_version_from_the_control_plane_reuses_unchanged_rules_and_takes_the_edit() {
        let store = SnapshotStore::new();
        let install = |set: &RuleSet| {
            store.install_resource(&rule_set_to_any(set), 0, "cp".into(), Some("v".into())).unwrap()
        };
        install(&set(RULES));
        assert_eq!(body(&store, "/seq").as_deref(), Some("one"));
        let edited = set(&RULES.replace("body: b }", "body: B }"));
        install(&edited);
        assert_eq!(store.cache.lock().unwrap().len(), 3);
        assert_eq!(body(&store, "/b").as_deref(), Some("B"), "the edit is in force");
        assert_eq!(body(&store, "/a").as_deref(), Some("a eu"));
        assert_eq!(body(&store, "/seq").as_deref(), Some("two"), "the sequence went on");
        // `/config` shows the rule set in force.
        let snapshot = store.load().unwrap();
        assert_eq!(*snapshot.rules.rule_set().unwrap(), edited);
        assert_eq!(snapshot.config_version.as_deref(), Some("v"));
    }

    #[test]
    fn a_refused_version_is_refused_with_the_text_of_a_whole_decode_and_compile() {
        let store = SnapshotStore::new();
        let good = rule_set_to_any(&set(RULES));
        store.install_resource(&good, 0, "cp".into(), None).unwrap();
        // A new rule that does not compile.
        let bad_regex = set(&RULES.replace("path: /b }", "path: { regex: \"(\" } }")).rules.remove(2);
        let mut bad = set(RULES);
        bad.rules.push(bad_regex.clone());
        // A new rule that does not convert (fault type 9).
        let mut wire = pb::RuleSet::from(&set(RULES));
        let mut unknown = pb::Rule::from(&*bad_regex);
        unknown.id = "x".into();
        unknown.r#match = None;
        unknown.response = Some(pb::Response {
            faults: vec![pb::Fault { r#type: 9, ..Default::default() }],
            ..Default::default()
        });
        wire.rules.insert(1, unknown);
        let unconvertible =
            Any { type_url: mockplane_proto::RULE_SET_TYPE_URL.into(), value: wire.encode_to_vec().into() };
        // A duplicate id across a kept rule and a new one.
        let mut dup = set(RULES);
        let mut a = dup.rules[0].clone();
        Arc::make_mut(&mut a).priority = 3;
        dup.rules.push(a);
        for (any, max_rules, expected) in [
            (rule_set_to_any(&bad), 0, "rules[3].match.path"),
            (unconvertible, 0, "rules[1].response.faults[0].type: unknown fault type 9"),
            (rule_set_to_any(&dup), 0, r#"rules[3].id: duplicate id "a" (first used by rules[0])"#),
            (rule_set_to_any(&dup), 2, "more than this data plane's --max-rules 2"),
        ] {
            let e = store.install_resource(&any, max_rules, "cp".into(), None).unwrap_err();
            assert_eq!(e, whole_error(&any, max_rules));
            assert!(e.contains(expected), "{e}");
        }
        assert_eq!(store.load().unwrap().version, 1, "nothing was swapped in");
        assert_eq!(body(&store, "/b").as_deref(), Some("b"));
    }

    #[test]
    fn an_edit_between_the_load_and_the_watchers_start_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yaml");
        let one = "rules:\n  - { id: a, match: { path: /a }, response: { body: one } }\n";
        std::fs::write(&path, one).unwrap();
        let store = SnapshotStore::new();
        let loaded = file_stamp(&path);
        store.install_file(&path).unwrap();
        // The edit lands before the watcher thread has looked at the file at all.
        std::fs::write(&path, one.replace("body: one", "body: two!")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (store, path, stop) = (store.clone(), path.clone(), stop.clone());
            std::thread::spawn(move || watch_file(store, path, loaded, Duration::from_millis(10), stop))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while body(&store, "/a").as_deref() != Some("two!") {
            assert!(std::time::Instant::now() < deadline, "the edit was never installed");
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Release);
        watcher.join().unwrap();
    }
}
