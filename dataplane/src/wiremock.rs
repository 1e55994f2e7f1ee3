//! `--wiremock DIR`: a WireMock mappings folder served directly, converted by
//! `mockplane-import` and reloaded when any file under it changes; and the stubs WireMock's
//! admin API adds at run time (`POST /__admin/mappings`, see `wiremock_admin`), served after
//! the folder's.
//!
//! The stubs are the source of truth: every change (an edit in the folder, a stub added or
//! removed over the admin API) converts the whole list again and installs it as one new
//! version, so WireMock's ordering (priority, then the stub added last) always holds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mockplane_import::wiremock::{self as wm, Document, Options};
use mockplane_rules::{RuleSetError, ValidationError};
use serde_json::{json, Value};

use crate::snapshot::{FileStamp, LoadError, SnapshotStore};

/// Where WireMock stubs come from.
#[derive(Debug, Clone, Default)]
pub struct WireMockSource {
    /// The folder (a root holding `mappings/` and `__files/`, or a `mappings/` folder), if any:
    /// with only the admin API enabled, stubs come from it alone.
    pub dir: Option<PathBuf>,
    /// How stubs are converted.
    pub options: Options,
}

/// The stubs in force: those of the folder, read on each change, and those added at run time.
#[derive(Debug)]
pub struct WireMockStubs {
    source: WireMockSource,
    /// Stubs added over the admin API, oldest first; each with an `id`.
    pub(crate) added: Mutex<Vec<Value>>,
    /// Whether the folder's stubs are served (`DELETE /__admin/mappings` drops them until
    /// `POST /__admin/reset` or the next edit of the folder).
    pub(crate) folder_on: std::sync::atomic::AtomicBool,
}

impl WireMockStubs {
    /// Stubs from `source`, none added yet.
    pub fn new(source: WireMockSource) -> Self {
        WireMockStubs { source, added: Mutex::new(Vec::new()), folder_on: true.into() }
    }

    /// What `/readyz` names as the rules' source.
    pub fn label(&self) -> String {
        match &self.source.dir {
            Some(dir) => format!("wiremock {}", dir.display()),
            None => "wiremock admin API".into(),
        }
    }

    pub(crate) fn added(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.added.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Converts every stub and installs the result as the next version; what could not be
    /// converted is logged, place by place.
    pub fn install(&self, store: &SnapshotStore) -> Result<u64, LoadError> {
        let label = self.label();
        let path = PathBuf::from(&label);
        let (mut documents, files) =
            match (&self.source.dir, self.folder_on.load(std::sync::atomic::Ordering::Acquire)) {
                (Some(dir), true) => wm::read_path(dir).map_err(|e| import_error(dir, e))?,
                _ => (Vec::new(), None),
            };
        let added = self.added().clone();
        if !added.is_empty() {
            documents.push(Document { label: "admin: ".into(), value: json!({ "mappings": added }) });
        }
        let imported = wm::import_documents(documents, files.as_deref(), &self.source.options)
            .map_err(|e| import_error(&path, e))?;
        for u in &imported.unsupported {
            tracing::warn!(place = %u.place, "not imported from WireMock: {}", u.message);
        }
        let base_dir = self.source.dir.clone();
        store.install(imported.set, label, base_dir).map_err(|source| LoadError::Invalid { path, source })
    }
}

fn import_error(path: &Path, e: mockplane_import::ImportError) -> LoadError {
    match e {
        mockplane_import::ImportError::Read { source, .. } => {
            LoadError::Read { path: path.to_owned(), source }
        }
        mockplane_import::ImportError::Invalid { place, message } => LoadError::Invalid {
            path: path.to_owned(),
            source: RuleSetError { errors: vec![ValidationError::new(place, message)] },
        },
    }
}

/// Loads the stubs of `--wiremock DIR` (or none, for `--wiremock-admin` alone) before the
/// workers start, with the folder's stamp taken first (so an edit during the load is seen).
pub(crate) fn start(
    config: &crate::DataPlaneConfig,
    store: &SnapshotStore,
) -> Result<(Option<std::sync::Arc<WireMockStubs>>, Option<FileStamp>), LoadError> {
    let source =
        match (&config.wiremock, config.wiremock_admin && config.rules.is_none() && config.xds.is_none()) {
            (Some(source), _) => source.clone(),
            (None, true) => WireMockSource::default(),
            (None, false) => return Ok((None, None)),
        };
    let stamp = source.dir.as_deref().and_then(folder_stamp);
    let stubs = std::sync::Arc::new(WireMockStubs::new(source));
    let version = stubs.install(store)?;
    let path = PathBuf::from(stubs.label());
    store.note_file(&path, Ok(version));
    tracing::info!(source = %stubs.label(), version, rules = store.load().map_or(0, |s| s.table.len()), "WireMock stubs loaded");
    Ok((Some(stubs), stamp))
}

impl WireMockStubs {
    /// The folder served, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.source.dir.as_deref()
    }

    /// An edit of the folder serves its stubs again (after a `DELETE /__admin/mappings`).
    pub(crate) fn folder_changed(&self, store: &SnapshotStore) -> Result<u64, LoadError> {
        self.folder_on.store(true, std::sync::atomic::Ordering::Release);
        self.install(store)
    }
}

/// The stamp of a folder: the newest modification time under it, and a digest of every
/// file's name, length and time, so that an added, removed or edited file changes it.
pub(crate) fn folder_stamp(dir: &Path) -> Option<FileStamp> {
    use std::hash::{Hash, Hasher};
    fn walk(dir: &Path, newest: &mut Option<std::time::SystemTime>, h: &mut std::hash::DefaultHasher) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(meta) = e.metadata() else { continue };
            let modified = meta.modified().ok();
            *newest = (*newest).max(modified);
            e.file_name().hash(h);
            meta.len().hash(h);
            modified.hash(h);
            if meta.is_dir() {
                walk(&e.path(), newest, h);
            }
        }
    }
    std::fs::metadata(dir).ok()?;
    // Only what the stubs are read from: a root's `mappings/` and `__files/`, or a mappings
    // folder and the `__files/` beside it (other files in a root, such as logs, are not).
    let (mappings, files) = match dir.join("mappings") {
        m if m.is_dir() => (m, dir.join("__files")),
        _ => (dir.to_path_buf(), dir.parent().map(|p| p.join("__files")).unwrap_or_default()),
    };
    let (mut newest, mut h) = (None, std::hash::DefaultHasher::new());
    for folder in [&mappings, &files] {
        if let Ok(meta) = std::fs::metadata(folder) {
            newest = newest.max(meta.modified().ok());
            walk(folder, &mut newest, &mut h);
        }
    }
    Some((newest, h.finish()))
}
