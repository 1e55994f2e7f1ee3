//! The rules in force: one immutable [`Snapshot`] behind an `ArcSwap`, replaced whole.
//!
//! A new snapshot is compiled off the hot path (by the file watcher now, by the xDS client
//! later) and swapped in at once: a request sees the old table or the new one, never a mix, and
//! a connection in flight keeps the snapshot it started the request with.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use mockplane_rules::{CompileOptions, Format, RuleSet, RuleSetError, RuleTable, StateStore};

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
    pub rules: RuleSet,
    /// Where it came from: a file path, or the control plane.
    pub source: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
}

/// The current snapshot, shared by every worker, and the state that survives swaps.
#[derive(Debug, Clone, Default)]
pub struct SnapshotStore {
    current: Arc<ArcSwapOption<Snapshot>>,
    state: StateStore,
    link: Arc<Mutex<Option<LinkStatus>>>,
    retired: Arc<Mutex<Vec<Arc<Snapshot>>>>,
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

    /// The current snapshot, if any.
    pub fn load(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// The shared swap cell, for per-worker caches.
    pub fn cell(&self) -> &Arc<ArcSwapOption<Snapshot>> {
        &self.current
    }

    /// The state (scenarios, counters) shared by every table of this store.
    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// The link to the control plane; `None` in static mode.
    pub fn link(&self) -> Option<LinkStatus> {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Updates the link status.
    pub(crate) fn update_link(&self, f: impl FnOnce(&mut LinkStatus)) {
        f(self.link.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(LinkStatus::default))
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
        let options = CompileOptions { base_dir, state: self.state.clone(), pause: Some(crate::pace::pause) };
        let table = RuleTable::compile(&rules, &options)?;
        let version = self.load().map_or(1, |s| s.version + 1);
        let previous = self.current.swap(Some(Arc::new(Snapshot {
            version,
            config_version,
            table,
            rules,
            source,
            loaded_at: SystemTime::now(),
        })));
        // Workers hold the snapshot they serve from; whoever lets go last would free it, and a
        // table of 10,000 rules takes milliseconds to free. Keep the old one here so that the
        // last holder is this thread (see `reap`), never a worker in the middle of a request.
        if let Some(previous) = previous {
            self.retired.lock().unwrap_or_else(|p| p.into_inner()).push(previous);
        }
        self.reap();
        Ok(version)
    }

    /// Frees the retired snapshots that no worker uses any more, on the calling thread. Called
    /// after every install and periodically by the thread that installs (the file watcher,
    /// the xDS client).
    pub fn reap(&self) {
        let free: Vec<Arc<Snapshot>> = {
            let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
            // A retired snapshot is no longer in the swap cell, so nobody can take a new
            // reference to it: a count of 1 (ours) stays 1.
            let (free, kept) =
                std::mem::take(&mut *retired).into_iter().partition(|s| Arc::strong_count(s) == 1);
            *retired = kept;
            free
        };
        for snapshot in free {
            if let Ok(Snapshot { table, mut rules, .. }) = Arc::try_unwrap(snapshot) {
                // One rule at a time, yielding to the workers now and then (see `pace`).
                table.drop_paced(crate::pace::pause);
                while let Some(rule) = rules.rules.pop() {
                    drop(rule);
                    crate::pace::pause();
                }
            }
        }
    }

    /// How many replaced snapshots are still held by some worker.
    pub fn retired(&self) -> usize {
        self.retired.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Reads, compiles and installs a rules file.
    pub fn install_file(&self, path: &Path) -> Result<u64, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        let invalid = |source| LoadError::Invalid { path: path.to_owned(), source };
        let rules =
            RuleSet::parse(&text, Format::from_file_name(&path.to_string_lossy())).map_err(invalid)?;
        let base_dir = path.parent().map(Path::to_path_buf);
        self.install(rules, path.display().to_string(), base_dir).map_err(invalid)
    }
}

/// Watches a rules file and installs it again whenever it changes. An invalid edit is logged
/// with every error and the last good version keeps serving.
pub(crate) fn watch_file(store: SnapshotStore, path: PathBuf, every: Duration, stop: Arc<AtomicBool>) {
    let stamp = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
    let mut last = stamp(&path);
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(every);
        store.reap();
        let now = stamp(&path);
        if now == last {
            continue;
        }
        last = now;
        match store.install_file(&path) {
            Ok(version) => {
                tracing::info!(path = %path.display(), version, "rules file changed: new version in force")
            }
            Err(e) => {
                tracing::error!(error = %e, "rules file changed but was refused; the previous version keeps serving")
            }
        }
    }
}
