//! Recording through the service (docs/rules.md, "Record"): starting or stopping a recording
//! is recorded in the store as a version of the environment and pushed as that version (the
//! rules unchanged, carrying `RuleSet.recording`), like a reset; the pairs the data planes
//! record come back on their report streams and are stored here, each as a new, disabled rule
//! (author `recording`, tag `recorded`) that a user reviews and enables with `enableRule`.

use mockplane_proto::convert::Recording;

use crate::recording::{rule_id, rule_name, rule_of, Pair, RECORDED_TAG, RECORDING_ACTOR};
use crate::reset::ResetError;
use crate::store::RecordingCommit;

use super::{Change, Service, ServiceError, ServiceEvent};

/// The most methods a recording names.
const MAX_METHODS: usize = 16;

impl Service {
    /// Starts (or restarts with new settings) the recording of the environment `path`; the
    /// change is a new version, audited as `startRecording`. `recording.started_ms` is set
    /// here. Refused with `Invalid` (naming the field, `pathRegex`) for bad settings, `NotFound` for an
    /// environment that does not exist, `Conflict` for one not served here.
    pub async fn start_recording(
        &self,
        actor: &str,
        path: &str,
        mut recording: Recording,
    ) -> Result<Change, ServiceError> {
        check(&recording)?;
        recording.started_ms = crate::store::now_ms().max(0) as u64;
        self.spawn_recorder();
        self.commit_recording(actor, path, Some(recording), "startRecording").await
    }

    /// Stops the recording of the environment `path` (a new version, audited as
    /// `stopRecording`); pairs still on their way are not stored.
    pub async fn stop_recording(&self, actor: &str, path: &str) -> Result<Change, ServiceError> {
        self.commit_recording(actor, path, None, "stopRecording").await
    }

    async fn commit_recording(
        &self,
        actor: &str,
        path: &str,
        recording: Option<Recording>,
        action: &str,
    ) -> Result<Change, ServiceError> {
        let _writer = self.writer(path).await;
        let env = self.environment(path).await?;
        let not_served = |e: ResetError| {
            match e {
            ResetError::BadEnvironment(e) => super::invalid("environment", e.to_string()),
            ResetError::NotServed(_) => ServiceError::Conflict(format!(
                "{path} is not served (its stored rules were refused when the control plane started): there is nothing to record"
            )),
        }
        };
        // An environment not served here is refused before anything is stored.
        self.cache.resets(path).map_err(not_served)?;
        let version = self
            .store
            .commit_recording(RecordingCommit {
                environment_id: env.id,
                expected_version: env.version,
                recording: recording.as_ref(),
                actor,
                action,
                target: path,
            })
            .await?;
        let prepared = self.cache.prepare_recording(path, recording).map_err(not_served)?;
        let snapshot = self.cache.publish(prepared, Some(version as u64));
        let change = Change {
            environment: path.to_owned(),
            version,
            version_info: snapshot.version_info.clone(),
            changed: Vec::new(),
            deleted: Vec::new(),
        };
        self.emit(ServiceEvent::RulesChanged {
            actor: actor.to_owned(),
            action: action.to_owned(),
            change: change.clone(),
        });
        Ok(change)
    }

    /// Starts the task that stores recorded pairs, once per service (later calls do nothing).
    /// Called when stored rules are loaded and when a recording starts.
    pub(crate) fn spawn_recorder(&self) {
        let Some(mut pairs) = self.reports.recorded().take_receiver() else { return };
        let service = self.clone();
        tokio::spawn(async move {
            while let Some(pair) = pairs.recv().await {
                service.store_recorded(pair).await;
            }
        });
    }

    /// Stores one recorded pair as a disabled rule, unless the environment has stopped
    /// recording, has a rule for the same request already, or has reached its limit.
    async fn store_recorded(&self, pair: Pair) {
        let Pair { environment, exchange } = pair;
        let Some(recording) = self.cache.recording(&environment) else { return };
        let inbox = self.reports.recorded();
        if recording.limit > 0 && inbox.stored(&environment, recording.started_ms) >= recording.limit {
            return;
        }
        let Some(snapshot) = self.cache.get(&environment) else { return };
        let name = rule_name(&exchange.method, &exchange.target);
        let rules = &snapshot.rules.rules;
        if rules.iter().any(|r| r.name.as_deref() == Some(&name) && r.tags.iter().any(|t| t == RECORDED_TAG))
        {
            return;
        }
        let (path, _) = mockplane_rules::request::split_target(&exchange.target);
        let base = rule_id(&exchange.method, path);
        let id = std::iter::once(base.clone())
            .chain((2..).map(|n| format!("{base}-{n}")))
            .find(|id| !rules.iter().any(|r| &*r.id == id))
            .expect("an unbounded sequence of ids has a free one");
        match self.create_rule(RECORDING_ACTOR, &environment, rule_of(id.clone(), &exchange), None).await {
            Ok(_) => {
                tracing::info!(environment, rule = id, request = name, "recorded");
                let stored = inbox.count(&environment, recording.started_ms);
                if recording.limit > 0 && stored >= recording.limit {
                    match self.stop_recording(RECORDING_ACTOR, &environment).await {
                        Ok(_) => tracing::info!(
                            environment,
                            limit = recording.limit,
                            "recording stopped at its limit"
                        ),
                        Err(e) => {
                            tracing::warn!(environment, error = %e, "cannot stop the recording at its limit")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(environment, request = name, error = %e, "recorded pair not stored"),
        }
    }
}

/// Checks recording settings; errors name their place in the mutation's input (`pathRegex`).
fn check(r: &Recording) -> Result<(), ServiceError> {
    if r.path_prefix.is_some() && r.path_regex.is_some() {
        return Err(super::invalid("pathRegex", "give pathPrefix or pathRegex, not both"));
    }
    if let Some(prefix) = &r.path_prefix {
        if !prefix.starts_with('/') {
            return Err(super::invalid("pathPrefix", format!("must start with '/', got {prefix:?}")));
        }
    }
    if let Some(regex) = &r.path_regex {
        regex::Regex::new(regex).map_err(|e| super::invalid("pathRegex", e.to_string()))?;
    }
    if r.methods.len() > MAX_METHODS {
        return Err(super::invalid("methods", format!("at most {MAX_METHODS} methods")));
    }
    for (i, m) in r.methods.iter().enumerate() {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(super::invalid(
                &format!("methods[{i}]"),
                format!("a method is upper-case letters (GET, POST), got {m:?}"),
            ));
        }
    }
    Ok(())
}
