//! File-backed mode: one rules file serves one environment, and every change to the file that
//! compiles becomes the next version. An invalid edit is refused with every error in the log
//! and the last good version stays. This is how teams keep their rules in git.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mockplane_rules::{Format, RuleSet};

use crate::cache::{EnvSnapshot, SetError, SnapshotCache};

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
    let rules = RuleSet::parse(&text, Format::from_file_name(&path.to_string_lossy()))
        .map_err(|e| refused(SetError::Invalid(e)))?;
    if let Some(named) = &rules.environment {
        let qualified = rules.project.as_ref().map_or(named.clone(), |p| format!("{p}/{named}"));
        if qualified != environment && named != environment {
            tracing::warn!(file = %path.display(), names = %qualified, serving = %environment, "the rules file names another environment; serving it as --environment says");
        }
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    cache.set(environment, rules, Some(base_dir)).map_err(refused)
}

/// What tells a file changed: its modification time and size.
type Stamp = Option<(Option<std::time::SystemTime>, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).ok().map(|m| (m.modified().ok(), m.len()))
}

/// Watches a rules file. Created before the first load, so that an edit made between the
/// load and the start of the watch is not missed.
#[derive(Debug)]
pub struct RulesFileWatch {
    path: PathBuf,
    last: Stamp,
}

impl RulesFileWatch {
    /// Notes the file's state now.
    pub fn new(path: PathBuf) -> Self {
        let last = stamp(&path);
        RulesFileWatch { path, last }
    }

    /// Checks the file every `every` and loads it again when its size or modification time
    /// changed. Runs until the task is dropped.
    pub async fn run(mut self, cache: Arc<SnapshotCache>, environment: String, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = stamp(&self.path);
            if now == self.last {
                continue;
            }
            self.last = now;
            // Validating and encoding a large set takes a while: keep it off the runtime's
            // threads, which serve the xDS streams.
            let (c, e, p) = (cache.clone(), environment.clone(), self.path.clone());
            let loaded = tokio::task::spawn_blocking(move || load_rules_file(&c, &e, &p)).await;
            let Ok(loaded) = loaded else {
                tracing::error!(path = %self.path.display(), "loading the rules file panicked; the last good version stays");
                continue;
            };
            match loaded {
                Ok(s) => {
                    tracing::info!(path = %self.path.display(), version = %s.version_info, "rules file changed: new version pushed")
                }
                Err(e) => {
                    tracing::error!(error = %e, "rules file changed but was refused; the last good version stays")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, body: &str) {
        let text =
            format!("rules:\n  - id: a\n    match: {{ path: /a }}\n    response: {{ body: {body:?} }}\n");
        std::fs::write(path, text).unwrap();
    }

    fn body(cache: &SnapshotCache) -> String {
        let s = cache.get("shop/staging").unwrap();
        s.rules.rules[0].response.as_ref().unwrap().body.clone().unwrap()
    }

    #[tokio::test]
    async fn edits_become_versions_and_invalid_edits_are_refused_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yaml");
        write(&path, "one");
        let cache = Arc::new(SnapshotCache::new());
        let watch = RulesFileWatch::new(path.clone());
        load_rules_file(&cache, "shop/staging", &path).unwrap();
        let watcher =
            tokio::spawn(watch.run(cache.clone(), "shop/staging".into(), Duration::from_millis(20)));
        // The edit changes the size too: some file systems keep modification times to the second.
        write(&path, "second");
        for _ in 0..200 {
            if body(&cache) == "second" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(body(&cache), "second");
        assert_eq!(cache.get("shop/staging").unwrap().serial, 2);

        std::fs::write(&path, "rules:\n  - id: a\n    match: { path: { regex: '(' } }\n    response: {}\n")
            .unwrap();
        let e = load_rules_file(&SnapshotCache::new(), "shop/staging", &path).unwrap_err();
        assert!(e.to_string().contains("rules[0].match.path"), "{e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            (body(&cache).as_str(), cache.get("shop/staging").unwrap().serial),
            ("second", 2),
            "the last good version stays"
        );
        watcher.abort();
    }
}
