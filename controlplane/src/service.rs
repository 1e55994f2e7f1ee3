//! The service: the one place that joins the store, the snapshot cache and the API. A change
//! (from GraphQL, the CLI or the first start's demo rules) goes through [`Service`]:
//!
//! 1. the environment's rules in force are edited copy-on-write (a one-rule edit shares every
//!    other rule with the version before, so comparing, validating and encoding cost only the
//!    edit);
//! 2. the result is validated, compiled and encoded by the snapshot cache, not yet published:
//!    a refused change is refused with every error and its place, and nothing is stored;
//! 3. the store commits it in one transaction (rows, revisions, the environment's version, the
//!    audit entry), guarded by the version it was made against;
//! 4. the cache publishes it with the store's version, and every data plane of the
//!    environment gets it; subscribers get an event.
//!
//! Changes to one environment are made one at a time; reads never wait.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use mockplane_rules::model::Rule;
use mockplane_rules::{RuleSet, RuleSetError, ValidationError};
use tokio::sync::broadcast;

use crate::cache::{SetError, SnapshotCache};
use crate::reports::ReportStore;
use crate::store::{Commit, Environment, Project, Revision, Store, StoreError, StoredRule};

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// What it names does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// It clashes with what exists.
    #[error("{0}")]
    Conflict(String),
    /// The input is not acceptable: every problem with its place in the input.
    #[error(transparent)]
    Invalid(RuleSetError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::Invalid(what) => {
                ServiceError::Invalid(RuleSetError::from(vec![ValidationError::new("input", what)]))
            }
            other => ServiceError::Store(other),
        }
    }
}

fn invalid(place: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(RuleSetError::from(vec![ValidationError::new(place, message)]))
}

/// How [`Service::apply_rules`] combines a rule set with the rules in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// The set becomes the environment's rules and settings: rules not in it are deleted.
    Replace,
    /// Rules of the set replace the ones with the same id, or are added at the end; others
    /// stay. Variables and upstreams are merged key by key; a `cors` block replaces the one in
    /// force.
    Merge,
}

/// A rule of an environment, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRecord {
    /// `project/environment`.
    pub environment: String,
    /// The rule.
    pub rule: Arc<Rule>,
    /// Its place in the rule set's order.
    pub position: i64,
    /// Its current revision.
    pub revision: i64,
    /// When its current revision was made, in milliseconds since the epoch.
    pub updated_at: i64,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `project/environment`.
    pub environment: String,
    /// The environment's new version in the store.
    pub version: i64,
    /// The xDS version pushed to its data planes (`version_info`).
    pub version_info: String,
    /// The rules created or changed, as they are now.
    pub changed: Vec<RuleRecord>,
    /// The rules deleted, by id.
    pub deleted: Vec<String>,
}

/// What subscribers are told.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceEvent {
    /// An environment's rules or settings changed and a new version was pushed.
    RulesChanged {
        /// Who: the API key's name.
        actor: String,
        /// The mutation.
        action: String,
        /// What it did.
        change: Change,
    },
    /// An environment was created (with no rules) or deleted.
    EnvironmentCreated(String),
    /// See `EnvironmentCreated`.
    EnvironmentDeleted(String),
}

/// Events buffered per subscriber; a slower one misses the oldest and is told how many.
const EVENTS: usize = 1024;

/// The control plane's service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    store: Store,
    cache: Arc<SnapshotCache>,
    /// What the data planes reported (see [`Service::reports`]).
    reports: Arc<ReportStore>,
    events: broadcast::Sender<ServiceEvent>,
    /// One writer at a time per environment.
    writers: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// What an edit proposes: the whole next rule set, what changed in it, and the audit details.
struct Proposal {
    set: RuleSet,
    /// Rule ids created or changed.
    changed: Vec<String>,
    deleted: Vec<String>,
    settings_changed: bool,
    details: serde_json::Value,
}

/// Splits `project/environment`.
pub fn split_environment(path: &str) -> Result<(&str, &str), ServiceError> {
    match path.split_once('/') {
        Some((p, e)) if !p.is_empty() && !e.is_empty() && !e.contains('/') => Ok((p, e)),
        _ => {
            Err(invalid("environment", format!("an environment is named project/environment, got {path:?}")))
        }
    }
}

use edits::{combine, index_of, rebase, refuse_files, renumber, rule_set, settings_of};

impl Service {
    /// A service over `store`, publishing to `cache`. Call [`Service::load`] before serving.
    pub fn new(store: Store, cache: Arc<SnapshotCache>) -> Self {
        Service {
            store,
            cache,
            reports: Arc::default(),
            events: broadcast::channel(EVENTS).0,
            writers: Arc::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The snapshot cache it publishes to.
    pub fn cache(&self) -> &Arc<SnapshotCache> {
        &self.cache
    }

    /// What the data planes reported: hit counts, misses, per-node figures, the journal and
    /// its queries (`requests`, `verify`, `metrics`, `subscribe_requests`). The control plane
    /// that serves xDS must take its reports here, sharing it as it shares the cache (see
    /// [`Service::control_plane`]); a journal reset ([`Service::reset`]) empties the
    /// environment's journal in it.
    pub fn reports(&self) -> &Arc<ReportStore> {
        &self.reports
    }

    /// The xDS side of this service, with `limits`: it pushes from the service's cache and
    /// takes reports into the service's report store.
    pub fn control_plane(&self, limits: crate::Limits) -> crate::ControlPlane {
        crate::ControlPlane {
            cache: self.cache.clone(),
            reports: self.reports.clone(),
            ..crate::ControlPlane::with_limits(limits)
        }
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: ServiceEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// Publishes every stored environment's rules, each at its stored version. An environment
    /// whose stored rules no longer compile (a newer compiler refusing what an older one took)
    /// is left out with an error in the log, and the others are served.
    pub async fn load(&self) -> Result<usize, ServiceError> {
        self.spawn_recorder();
        let mut loaded = 0;
        for env in self.store.environments(None).await? {
            let rules = self.store.rules(env.id).await?.into_iter().map(|r| Arc::new(r.rule)).collect();
            let path = env.path();
            self.cache.restore_resets(&path, env.resets);
            self.cache.restore_recording(&path, env.recording.clone());
            match self.cache.prepare(&path, rule_set(&env, rules), None) {
                Ok(prepared) => {
                    self.cache.publish(prepared, Some(env.version as u64));
                    loaded += 1;
                }
                Err(e) => {
                    tracing::error!(environment = %path, error = %e, "stored rules refused; the environment is not served")
                }
            }
        }
        Ok(loaded)
    }

    // --- projects and environments ---------------------------------------------------------

    /// Every project.
    pub async fn projects(&self) -> Result<Vec<Project>, ServiceError> {
        Ok(self.store.projects().await?)
    }

    /// Creates a project.
    pub async fn create_project(
        &self,
        actor: &str,
        name: &str,
        description: &str,
    ) -> Result<Project, ServiceError> {
        Ok(self.store.create_project(name, description, actor).await?)
    }

    /// Deletes a project with its environments; their data planes keep their last rules and
    /// are refused when they reconnect.
    pub async fn delete_project(
        &self,
        actor: &str,
        name: &str,
    ) -> Result<(Project, Vec<String>), ServiceError> {
        let (project, environments) = self.store.delete_project(name, actor).await?;
        for env in &environments {
            self.cache.remove(env);
            self.reports.forget_environment(env);
            self.emit(ServiceEvent::EnvironmentDeleted(env.clone()));
        }
        Ok((project, environments))
    }

    /// Creates an environment with no rules: its data planes can connect at once (and 404).
    pub async fn create_environment(
        &self,
        actor: &str,
        project: &str,
        name: &str,
        description: &str,
    ) -> Result<Environment, ServiceError> {
        let env = self.store.create_environment(project, name, description, actor).await?;
        let prepared = self
            .cache
            .prepare(&env.path(), rule_set(&env, Vec::new()), None)
            .map_err(|e| self.set_error(e, None))?;
        self.cache.publish(prepared, Some(env.version as u64));
        self.emit(ServiceEvent::EnvironmentCreated(env.path()));
        Ok(env)
    }

    /// Deletes an environment; see [`Service::delete_project`].
    pub async fn delete_environment(&self, actor: &str, path: &str) -> Result<Environment, ServiceError> {
        let (project, name) = split_environment(path)?;
        let _writer = self.writer(path).await;
        let env = self.store.delete_environment(project, name, actor).await?;
        self.cache.remove(path);
        self.reports.forget_environment(path);
        self.emit(ServiceEvent::EnvironmentDeleted(path.to_owned()));
        Ok(env)
    }

    /// The environment `project/environment`.
    pub async fn environment(&self, path: &str) -> Result<Environment, ServiceError> {
        let (project, name) = split_environment(path)?;
        self.store
            .environment(project, name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("environment {path:?}")))
    }

    // --- rules -----------------------------------------------------------------------------

    /// The rules of an environment, in order, with their revisions.
    pub async fn rules(&self, path: &str) -> Result<Vec<RuleRecord>, ServiceError> {
        let env = self.environment(path).await?;
        Ok(self.store.rules(env.id).await?.into_iter().map(|r| record(path, r)).collect())
    }

    /// One rule.
    pub async fn rule(&self, path: &str, rule_id: &str) -> Result<RuleRecord, ServiceError> {
        let env = self.environment(path).await?;
        self.store
            .rule(env.id, rule_id)
            .await?
            .map(|r| record(path, r))
            .ok_or_else(|| ServiceError::NotFound(format!("rule {rule_id:?} in {path}")))
    }

    /// Every revision of a rule, oldest first.
    pub async fn revisions(&self, path: &str, rule_id: &str) -> Result<Vec<Revision>, ServiceError> {
        let env = self.environment(path).await?;
        let revisions = self.store.revisions(env.id, rule_id).await?;
        if revisions.is_empty() {
            return Err(ServiceError::NotFound(format!("rule {rule_id:?} in {path}")));
        }
        Ok(revisions)
    }

    /// Adds a rule, at `position` in the order (the end when `None`).
    pub async fn create_rule(
        &self,
        actor: &str,
        path: &str,
        rule: Rule,
        position: Option<usize>,
    ) -> Result<Change, ServiceError> {
        let id = rule.id.clone();
        self.change(actor, path, "createRule", Some(&id), |set| {
            if set.rules.iter().any(|r| r.id == id) {
                return Err(ServiceError::Conflict(format!("{path} has a rule {id:?}; update it instead")));
            }
            let at = position.unwrap_or(set.rules.len()).min(set.rules.len());
            set.rules.insert(at, Arc::new(rule));
            Ok((vec![id.clone()], vec![], Some(at), serde_json::json!({ "rule": id })))
        })
        .await
    }

    /// Replaces a rule's definition (same id, same place).
    pub async fn update_rule(
        &self,
        actor: &str,
        path: &str,
        rule_id: &str,
        rule: Rule,
    ) -> Result<Change, ServiceError> {
        self.change(actor, path, "updateRule", Some(rule_id), |set| {
            if rule.id != rule_id {
                return Err(invalid(
                    "rule.id",
                    format!(
                        "a rule's id cannot change ({rule_id:?} to {:?}): delete it and create the other",
                        rule.id
                    ),
                ));
            }
            let at = index_of(set, path, rule_id)?;
            set.rules[at] = Arc::new(rule);
            Ok((vec![rule_id.to_owned()], vec![], Some(at), serde_json::json!({ "rule": rule_id })))
        })
        .await
    }

    /// Turns a rule on or off.
    pub async fn set_enabled(
        &self,
        actor: &str,
        path: &str,
        rule_id: &str,
        enabled: bool,
    ) -> Result<Change, ServiceError> {
        let action = if enabled { "enableRule" } else { "disableRule" };
        self.change(actor, path, action, Some(rule_id), |set| {
            let at = index_of(set, path, rule_id)?;
            if set.rules[at].enabled == enabled {
                return Ok((
                    vec![],
                    vec![],
                    Some(at),
                    serde_json::json!({ "rule": rule_id, "unchanged": true }),
                ));
            }
            Arc::make_mut(&mut set.rules[at]).enabled = enabled;
            Ok((vec![rule_id.to_owned()], vec![], Some(at), serde_json::json!({ "rule": rule_id })))
        })
        .await
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, actor: &str, path: &str, rule_id: &str) -> Result<Change, ServiceError> {
        self.change(actor, path, "deleteRule", Some(rule_id), |set| {
            let at = index_of(set, path, rule_id)?;
            set.rules.remove(at);
            Ok((vec![], vec![rule_id.to_owned()], None, serde_json::json!({ "rule": rule_id })))
        })
        .await
    }

    /// Brings back revision `revision` of a rule as its next revision (also of a deleted rule,
    /// which comes back at the end of the order).
    pub async fn rollback_rule(
        &self,
        actor: &str,
        path: &str,
        rule_id: &str,
        revision: i64,
    ) -> Result<Change, ServiceError> {
        let env = self.environment(path).await?;
        let Some(old) = self.store.revision(env.id, rule_id, revision).await? else {
            return Err(ServiceError::NotFound(format!("revision {revision} of rule {rule_id:?} in {path}")));
        };
        let Some(rule) = old.rule else {
            return Err(invalid(
                "revision",
                format!("revision {revision} of {rule_id:?} deleted it; roll back to a revision before it"),
            ));
        };
        self.change(actor, path, "rollbackRule", Some(rule_id), |set| {
            let at = match set.rules.iter().position(|r| r.id == rule_id) {
                Some(at) => {
                    set.rules[at] = Arc::new(rule);
                    at
                }
                None => {
                    set.rules.push(Arc::new(rule));
                    set.rules.len() - 1
                }
            };
            Ok((
                vec![rule_id.to_owned()],
                vec![],
                Some(at),
                serde_json::json!({ "rule": rule_id, "to_revision": revision }),
            ))
        })
        .await
    }

    /// Applies a whole rule set to an environment, as one change and one version.
    pub async fn apply_rules(
        &self,
        actor: &str,
        path: &str,
        incoming: RuleSet,
        mode: ApplyMode,
    ) -> Result<Change, ServiceError> {
        let action = match mode {
            ApplyMode::Replace => "applyRules(replace)",
            ApplyMode::Merge => "applyRules(merge)",
        };
        // Merged, the rules sit at other places than in the set given: errors are named after
        // the set given (`rules[2]` of the file), from where each rule of the result came.
        let mut from_input: Vec<Option<usize>> = Vec::new();
        let result = self
            .change_set(actor, path, action, |set| {
                let (changed, deleted) = combine(set, &incoming, mode);
                let at: HashMap<&str, usize> =
                    incoming.rules.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
                from_input = set.rules.iter().map(|r| at.get(r.id.as_str()).copied()).collect();
                let details = serde_json::json!({ "changed": changed, "deleted": deleted });
                Ok((changed, deleted, details))
            })
            .await;
        result.map_err(|e| match e {
            ServiceError::Invalid(e) => ServiceError::Invalid(renumber(e, &from_input)),
            other => other,
        })
    }

    /// Sets an environment's variables (readable from templates as `{{env.NAME}}`).
    pub async fn set_variables(
        &self,
        actor: &str,
        path: &str,
        variables: BTreeMap<String, String>,
    ) -> Result<Change, ServiceError> {
        self.change_set(actor, path, "updateEnvironment", |set| {
            set.variables = variables;
            Ok((vec![], vec![], serde_json::json!({ "variables": set.variables })))
        })
        .await
    }

    /// A change about one rule: `edit` changes the rule set in force and says what it changed
    /// and which index the rule is at, so that its errors are named after the input (`rule…`).
    async fn change(
        &self,
        actor: &str,
        path: &str,
        action: &str,
        rule: Option<&str>,
        edit: impl FnOnce(
            &mut RuleSet,
        )
            -> Result<(Vec<String>, Vec<String>, Option<usize>, serde_json::Value), ServiceError>,
    ) -> Result<Change, ServiceError> {
        let target = match rule {
            Some(rule) => format!("{path}/{rule}"),
            None => path.to_owned(),
        };
        self.commit(actor, path, action, &target, edit).await
    }

    /// A change to the whole rule set; errors keep their `rules[i]` places.
    async fn change_set(
        &self,
        actor: &str,
        path: &str,
        action: &str,
        edit: impl FnOnce(&mut RuleSet) -> Result<(Vec<String>, Vec<String>, serde_json::Value), ServiceError>,
    ) -> Result<Change, ServiceError> {
        self.commit(actor, path, action, path, |set| {
            let (changed, deleted, details) = edit(set)?;
            Ok((changed, deleted, None, details))
        })
        .await
    }

    async fn commit(
        &self,
        actor: &str,
        path: &str,
        action: &str,
        target: &str,
        edit: impl FnOnce(
            &mut RuleSet,
        )
            -> Result<(Vec<String>, Vec<String>, Option<usize>, serde_json::Value), ServiceError>,
    ) -> Result<Change, ServiceError> {
        let _writer = self.writer(path).await;
        let env = self.environment(path).await?;
        // The rules in force: the cache holds them as last published (which is the store's
        // version, since every change of this environment goes through here, one at a time).
        let current =
            self.cache.get(path).filter(|s| s.serial == env.version as u64).map(|s| s.rules.clone());
        let current = match current {
            Some(rules) => rules,
            None => {
                let rules = self.store.rules(env.id).await?.into_iter().map(|r| Arc::new(r.rule)).collect();
                Arc::new(rule_set(&env, rules))
            }
        };
        let mut set = RuleSet::clone(&current);
        let old_settings = settings_of(&set);
        let (changed, deleted, index, details) = edit(&mut set)?;
        // The errors of a one-rule change are named after its input (`rule.match.path`).
        let name_errors = |e: RuleSetError| match index {
            Some(i) => rebase(e, i, "rule"),
            None => e,
        };
        let settings_changed = settings_of(&set) != old_settings;
        let proposal = Proposal { set, changed, deleted, settings_changed, details };
        refuse_files(&proposal.set).map_err(|e| match e {
            ServiceError::Invalid(e) => ServiceError::Invalid(name_errors(e)),
            other => other,
        })?;
        let prepared = self.cache.prepare(path, proposal.set.clone(), None).map_err(|e| match e {
            SetError::Invalid(e) => ServiceError::Invalid(name_errors(e)),
            other => self.set_error(other, None),
        })?;
        // What the store must write: the changed rules with their places, the rules whose
        // place alone moved, the deleted ones.
        let old_at: HashMap<&str, usize> =
            current.rules.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
        let changed_ids: std::collections::HashSet<&str> =
            proposal.changed.iter().map(String::as_str).collect();
        let mut upserts = Vec::with_capacity(proposal.changed.len());
        let mut moves = Vec::new();
        for (i, rule) in proposal.set.rules.iter().enumerate() {
            if changed_ids.contains(rule.id.as_str()) {
                upserts.push((&**rule, i as i64));
            } else if old_at.get(rule.id.as_str()) != Some(&i) {
                moves.push((rule.id.as_str(), i as i64));
            }
        }
        let settings = settings_of(&proposal.set);
        let committed = self
            .store
            .commit(Commit {
                environment_id: env.id,
                expected_version: env.version,
                upserts,
                moves,
                deletes: proposal.deleted.iter().map(String::as_str).collect(),
                settings: proposal.settings_changed.then_some(&settings),
                actor,
                action,
                target,
                details: proposal.details.clone(),
            })
            .await?;
        let snapshot = self.cache.publish(prepared, Some(committed.version as u64));
        let revision_of: HashMap<&str, i64> =
            committed.revisions.iter().map(|(id, r)| (id.as_str(), *r)).collect();
        let now = crate::store::now_ms();
        let changed = proposal
            .set
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| changed_ids.contains(r.id.as_str()))
            .map(|(i, r)| RuleRecord {
                environment: path.to_owned(),
                rule: r.clone(),
                position: i as i64,
                revision: revision_of.get(r.id.as_str()).copied().unwrap_or_default(),
                updated_at: now,
            })
            .collect();
        let change = Change {
            environment: path.to_owned(),
            version: committed.version,
            version_info: snapshot.version_info.clone(),
            changed,
            deleted: proposal.deleted,
        };
        self.emit(ServiceEvent::RulesChanged {
            actor: actor.to_owned(),
            action: action.to_owned(),
            change: change.clone(),
        });
        Ok(change)
    }

    fn set_error(&self, e: SetError, _path: Option<&str>) -> ServiceError {
        match e {
            SetError::Invalid(e) => ServiceError::Invalid(e),
            SetError::BadEnvironment(e) => invalid("environment", e.to_string()),
        }
    }

    /// The lock that makes changes to `path` one at a time.
    async fn writer(&self, path: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
            writers.entry(path.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

fn record(path: &str, r: StoredRule) -> RuleRecord {
    RuleRecord {
        environment: path.to_owned(),
        rule: Arc::new(r.rule),
        position: r.position,
        revision: r.revision,
        updated_at: r.updated_at,
    }
}

mod edits;
mod preview;
mod recording;
mod replica;
mod reset;
#[cfg(test)]
mod tests;

pub use replica::{CatchUp, Known};
