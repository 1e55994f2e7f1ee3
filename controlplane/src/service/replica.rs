//! Replicas: several control planes (each a [`Service`] with its own snapshot cache and its own
//! data planes) sharing one PostgreSQL store.
//!
//! Each replica follows the store's change feed ([`crate::store::ChangeFeed`]: LISTEN/NOTIFY
//! carrying only `ENVIRONMENT_ID:VERSION`) and, on a notification it does not already have,
//! after its listener reconnects, and once when it starts following, catches up
//! ([`Service::catch_up`]): it lists every environment with its version and re-reads those
//! newer than what its cache publishes, so a notification lost while disconnected loses
//! nothing. What it re-reads it publishes to its own cache (its data planes get it over xDS)
//! and tells its subscribers, as if the change had been made through it.
//!
//! Two replicas never interleave a change: each commit is guarded by the version it was made
//! against (`UPDATE … WHERE version = $expected`; PostgreSQL re-checks that condition on the
//! row after a concurrent writer commits, so one of two changes against the same version
//! updates nothing and is refused as a conflict). Catching up takes the environment's writer
//! lock, so that a replica's own commit and its re-read of another's never publish out of
//! order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use mockplane_rules::model::Rule;

use super::{record, rule_set, split_environment, Change, Service, ServiceError, ServiceEvent};
use crate::store::{ChangeFeed, FeedEvent};

/// How long a replica waits before trying again when the store does not answer.
const RETRY: Duration = Duration::from_millis(500);

/// What a catch-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Environments published at a newer version (or for the first time), `project/environment`.
    pub published: Vec<String>,
    /// Environments no longer in the store, no longer served.
    pub removed: Vec<String>,
}

/// What a replica knows of the environments it serves: `project/environment` to its row id, so
/// that one deleted and created again under the same name is seen as new.
pub type Known = HashMap<String, i64>;

impl Service {
    /// Follows the store's change feed in a task of its own, catching up at once and on every
    /// change another replica makes (see the module's notes), until the task is aborted.
    /// `None` for a SQLite store, which one control plane owns. Call after [`Service::load`].
    pub async fn follow_store(&self) -> Result<Option<tokio::task::JoinHandle<()>>, ServiceError> {
        let Some(feed) = self.store.change_feed().await? else { return Ok(None) };
        let service = self.clone();
        Ok(Some(tokio::spawn(async move { service.follow(feed).await })))
    }

    async fn follow(self, mut feed: ChangeFeed) {
        let mut known = Known::new();
        loop {
            // The listener listens before this read, so nothing committed after it is missed.
            while let Err(e) = self.catch_up(&mut known).await {
                tracing::warn!(error = %e, "cannot read the store's changes; trying again");
                tokio::time::sleep(RETRY).await;
            }
            loop {
                match feed.next().await {
                    Ok(FeedEvent::Changed(Some((id, version)))) if self.has(&known, id, version) => {}
                    Ok(FeedEvent::Changed(_)) => break,
                    Ok(FeedEvent::Reconnected) => {
                        tracing::info!("the store's change feed reconnected; reading what was missed");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the store's change feed failed; trying again");
                        tokio::time::sleep(RETRY).await;
                        break;
                    }
                }
            }
            // A burst of notifications is one catch-up.
            while feed.next_buffered().is_some() {}
        }
    }

    /// Whether this replica already publishes `version` of the environment `id` (its own
    /// change, notified back to it).
    fn has(&self, known: &Known, id: i64, version: i64) -> bool {
        known
            .iter()
            .find(|(_, known_id)| **known_id == id)
            .and_then(|(path, _)| self.cache.get(path))
            .is_some_and(|s| s.serial >= version as u64)
    }

    /// Brings this replica's cache up to the store: every environment whose stored version is
    /// newer than the one published here (or not published here) is re-read and published at
    /// its stored version; every one no longer stored stops being served. Subscribers are told
    /// as for a change made here ([`ServiceEvent`]). An environment whose stored rules do not
    /// compile here is left out with an error in the log, as [`Service::load`] does.
    pub async fn catch_up(&self, known: &mut Known) -> Result<CatchUp, ServiceError> {
        let mut done = CatchUp::default();
        let stored = self.store.environments(None).await?;
        let mut in_store = HashSet::with_capacity(stored.len());
        for env in stored {
            let path = env.path();
            in_store.insert(path.clone());
            let _writer = self.writer(&path).await;
            if known.get(&path).is_some_and(|id| *id != env.id) {
                // Deleted and created again under the same name since the last look.
                self.forget(&path, known);
                done.removed.push(path.clone());
            }
            let have = self.cache.get(&path);
            if have.as_ref().is_some_and(|s| s.serial >= env.version as u64) {
                known.insert(path, env.id);
                continue;
            }
            if self.republish(&path, have.as_deref(), known).await? {
                done.published.push(path);
            }
        }
        let gone: Vec<String> =
            self.cache.environments().into_iter().filter(|path| !in_store.contains(path)).collect();
        for path in gone {
            let _writer = self.writer(&path).await;
            self.forget(&path, known);
            done.removed.push(path);
        }
        Ok(done)
    }

    /// Re-reads `path` and publishes it at its stored version; whether it did (not when it is
    /// gone meanwhile, or refused).
    async fn republish(
        &self,
        path: &str,
        have: Option<&crate::EnvSnapshot>,
        known: &mut Known,
    ) -> Result<bool, ServiceError> {
        let (project, name) = split_environment(path)?;
        let Some((env, stored)) = self.store.environment_with_rules(project, name).await? else {
            return Ok(false);
        };
        let rules: Vec<Arc<Rule>> = stored.iter().map(|r| Arc::new(r.rule.clone())).collect();
        self.cache.restore_resets(path, env.resets);
        self.cache.restore_recording(path, env.recording.clone());
        let prepared = match self.cache.prepare(path, rule_set(&env, rules), None) {
            Ok(prepared) => prepared,
            Err(e) => {
                tracing::error!(environment = %path, error = %e, "stored rules refused; the environment is not served");
                return Ok(false);
            }
        };
        let snapshot = self.cache.publish(prepared, Some(env.version as u64));
        known.insert(path.to_owned(), env.id);
        tracing::info!(environment = %path, version = %snapshot.version_info, "caught up with a change made through another control plane");
        if have.is_some_and(|h| env.resets.journal > h.resets.journal) {
            self.reports.reset_journal(path, env.resets.journal);
        }
        let Some(have) = have else {
            self.emit(ServiceEvent::EnvironmentCreated(path.to_owned()));
            return Ok(true);
        };
        // What changed since the version this replica had, rule by rule.
        let before: HashMap<&str, &Arc<Rule>> = have.rules.rules.iter().map(|r| (r.id.as_str(), r)).collect();
        let changed = stored
            .into_iter()
            .filter(|r| before.get(r.rule_id.as_str()).is_none_or(|old| ***old != r.rule))
            .map(|r| record(path, r))
            .collect();
        let now: HashSet<&str> = snapshot.rules.rules.iter().map(|r| r.id.as_str()).collect();
        let deleted =
            have.rules.rules.iter().filter(|r| !now.contains(r.id.as_str())).map(|r| r.id.clone()).collect();
        let (actor, action) = self.store.last_change_to(path).await?.unwrap_or_default();
        self.emit(ServiceEvent::RulesChanged {
            actor,
            action,
            change: Change {
                environment: path.to_owned(),
                version: env.version,
                version_info: snapshot.version_info.clone(),
                changed,
                deleted,
            },
        });
        Ok(true)
    }

    /// Stops serving `path`, as a delete made here does.
    fn forget(&self, path: &str, known: &mut Known) {
        known.remove(path);
        if self.cache.remove(path) {
            self.reports.forget_environment(path);
            self.emit(ServiceEvent::EnvironmentDeleted(path.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests;
