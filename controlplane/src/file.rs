//! File-backed mode: one rules file serves one environment, and every change to the file that
//! compiles becomes the next version. An invalid edit is refused with every error in the log
//! and the last good version stays. This is how teams keep their rules in git.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mockplane_rules::{Format, RuleSet};

use crate::cache::{inline_files, EnvSnapshot, SetError, SnapshotCache};

/// Why a rules file did not become a version.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It was refused.
    #[error("{path}: {source}")]
    Refused {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        source: SetError,
    },
}

/// Reads `path` and makes it the next version of `environment`.
pub fn load_rules_file(
    cache: &SnapshotCache,
    environment: &str,
    path: &Path,
) -> Result<Arc<EnvSnapshot>, FileError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| FileError::Read { path: path.to_owned(), source })?;
    let refused = |source: SetError| FileError::Refused { path: path.to_owned(), source };
    let mut rules = RuleSet::parse(&text, Format::from_file_name(&path.to_string_lossy()))
        .map_err(|e| refused(SetError::Invalid(e)))?;
    if let Some(named) = &rules.environment {
        let qualified = rules.project.as_ref().map_or(named.clone(), |p| format!("{p}/{named}"));
        if qualified != environment && named != environment {
            tracing::warn!(file = %path.display(), names = %qualified, serving = %environment, "the rules file names another environment; serving it as --environment says");
        }
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    inline_files(&mut rules, base_dir);
    cache.set(environment, rules, Some(base_dir)).map_err(refused)
}

/// Checks `path` every `every` and loads it again when its size or modification time changed.
/// Runs until the task is dropped.
pub async fn watch_rules_file(
    cache: Arc<SnapshotCache>,
    environment: String,
    path: PathBuf,
    every: Duration,
) {
    let stamp = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
    let mut last = stamp(&path);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&path);
        if now == last {
            continue;
        }
        last = now;
        // Validating and encoding a large set takes a while: keep it off the runtime's threads,
        // which serve the xDS streams.
        let (c, e, p) = (cache.clone(), environment.clone(), path.clone());
        let loaded = tokio::task::spawn_blocking(move || load_rules_file(&c, &e, &p)).await;
        let Ok(loaded) = loaded else {
            tracing::error!(path = %path.display(), "loading the rules file panicked; the last good version stays");
            continue;
        };
        match loaded {
            Ok(s) => {
                tracing::info!(path = %path.display(), version = %s.version_info, "rules file changed: new version pushed")
            }
            Err(e) => {
                tracing::error!(error = %e, "rules file changed but was refused; the last good version stays")
            }
        }
    }
}
