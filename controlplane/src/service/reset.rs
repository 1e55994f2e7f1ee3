//! Resets through the service: scenario state or the journal of every data plane of an
//! environment, recorded in the store as a version of the environment and pushed as that
//! version (docs/xds.md, "Resets").

use crate::reset::{Reset, ResetError};
use crate::store::ResetCommit;

use super::{Change, Service, ServiceError, ServiceEvent};

impl Reset {
    /// The mutation's name, in the audit log and in [`ServiceEvent::RulesChanged`].
    pub fn action(self) -> &'static str {
        match self {
            Reset::Scenarios => "resetScenarios",
            Reset::Journal => "resetJournal",
        }
    }
}

impl Service {
    /// Resets `what` on every data plane of the environment `path`:
    ///
    /// 1. the store records it as the environment's next version, with the new epochs and an
    ///    audit entry (`resetScenarios` or `resetJournal`, naming `actor`), in one transaction;
    /// 2. that version is pushed: the rules in force, unchanged (nothing validated or encoded
    ///    again), carrying the reset's epoch moved on; every later version carries it too, and
    ///    a restarted control plane takes the epochs from the store;
    /// 3. for [`Reset::Journal`], the control plane's own copy of the environment's journal
    ///    ([`Service::reports`]) is emptied at once, and entries the data planes journaled
    ///    before they applied the reset are not taken from their reports.
    ///
    /// Returns the change, with no rule changed or deleted; the data planes have applied the
    /// reset once they ACK its `version_info` (`NodeRegistry`). Subscribers get
    /// [`ServiceEvent::RulesChanged`] with the action [`Reset::action`]. Refused with
    /// `NotFound` for an environment that does not exist, and `Conflict` for one whose stored
    /// rules this control plane does not serve (refused when loaded).
    pub async fn reset(&self, actor: &str, path: &str, what: Reset) -> Result<Change, ServiceError> {
        let _writer = self.writer(path).await;
        let env = self.environment(path).await?;
        let not_served = |e: ResetError| {
            match e {
            ResetError::BadEnvironment(e) => super::invalid("environment", e.to_string()),
            ResetError::NotServed(_) => ServiceError::Conflict(format!(
                "{path} is not served (its stored rules were refused when the control plane started): there is nothing to reset"
            )),
        }
        };
        let served = self.cache.resets(path).map_err(not_served)?;
        // The store's and the cache's agree; the newer of each is the safe one to move on from.
        let current = mockplane_proto::convert::ResetEpochs {
            scenarios: served.scenarios.max(env.resets.scenarios),
            journal: served.journal.max(env.resets.journal),
        };
        let resets = what.next_epochs(current, crate::store::now_ms().max(0) as u64);
        let version = self
            .store
            .commit_reset(ResetCommit {
                environment_id: env.id,
                expected_version: env.version,
                resets,
                actor,
                action: what.action(),
                target: path,
            })
            .await?;
        // Its changes wait for this one; only a project deleted meanwhile (which does not wait)
        // takes the environment away, and then there is nothing left to reset.
        let prepared = self.cache.prepare_reset(path, what, resets).map_err(not_served)?;
        let snapshot = self.cache.publish(prepared, Some(version as u64));
        if what == Reset::Journal {
            self.reports.reset_journal(path, resets.journal);
        }
        let change = Change {
            environment: path.to_owned(),
            version,
            version_info: snapshot.version_info.clone(),
            changed: Vec::new(),
            deleted: Vec::new(),
        };
        self.emit(ServiceEvent::RulesChanged {
            actor: actor.to_owned(),
            action: what.action().to_owned(),
            change: change.clone(),
        });
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mockplane_proto::convert::ResetEpochs;
    use mockplane_proto::report::{JournalEntry, Report};
    use mockplane_rules::model::Rule;
    use mockplane_rules::{Format, RuleSet};

    use super::*;
    use crate::cache::SnapshotCache;
    use crate::store::testing::{on_both_engines, TestDb};
    use crate::store::Engine;

    const ENV: &str = "shop/staging";

    on_both_engines!(
        a_reset_is_stored_as_a_version_audited_and_pushed_with_the_same_rules,
        a_journal_reset_empties_the_control_plane_s_journal_and_drops_what_came_before_it,
        a_restarted_service_pushes_the_stored_epochs_at_the_same_version,
        only_an_environment_served_here_can_be_reset,
    );

    async fn open(db: &TestDb) -> Service {
        Service::new(db.open().await, Arc::new(SnapshotCache::new()))
    }

    async fn with_a_rule(engine: Engine) -> (Service, TestDb) {
        let dir = TestDb::new(engine);
        let service = open(&dir).await;
        service.create_project("alice", "shop", "").await.unwrap();
        service.create_environment("alice", "shop", "staging", "").await.unwrap();
        let set = RuleSet::parse(
            "rules:\n  - { id: a, match: { path: /a }, response: { body: a } }\n",
            Format::Yaml,
        )
        .unwrap();
        service.create_rule("alice", ENV, Rule::clone(&set.rules[0]), None).await.unwrap();
        (service, dir)
    }

    fn entry(target: &str) -> JournalEntry {
        JournalEntry { target: target.into(), ..Default::default() }
    }

    async fn a_reset_is_stored_as_a_version_audited_and_pushed_with_the_same_rules(engine: Engine) {
        let (service, _dir) = with_a_rule(engine).await;
        let before = service.cache().get(ENV).unwrap();
        let mut events = service.subscribe();
        let change = service.reset("bob", ENV, Reset::Scenarios).await.unwrap();
        assert_eq!((change.version, change.changed.len(), change.deleted.len()), (2, 0, 0));
        let pushed = service.cache().get(ENV).unwrap();
        assert_eq!((pushed.serial, pushed.version_info.as_str()), (2, change.version_info.as_str()));
        assert!(pushed.version_info.starts_with("2-"), "{}", pushed.version_info);
        assert!(Arc::ptr_eq(&pushed.rules, &before.rules), "the rules in force, not a copy");
        let epoch = pushed.resets.scenarios;
        assert!(epoch > 1_600_000_000_000 && pushed.resets.journal == 0, "{:?}", pushed.resets);
        // In the store: the version and the epochs, and who did it.
        let env = service.environment(ENV).await.unwrap();
        assert_eq!((env.version, env.resets), (2, pushed.resets));
        let audit = &service.store().audit_log(1, None).await.unwrap()[0];
        assert_eq!(
            (audit.actor.as_str(), audit.action.as_str(), audit.target.as_str()),
            ("bob", "resetScenarios", ENV)
        );
        assert_eq!(audit.details["resets"]["scenarios"], epoch);
        assert_eq!(audit.details["version"], 2);
        match events.recv().await.unwrap() {
            ServiceEvent::RulesChanged { actor, action, change: told } => {
                assert_eq!((actor.as_str(), action.as_str()), ("bob", "resetScenarios"));
                assert_eq!(told, change);
            }
            other => panic!("{other:?}"),
        }
        // A journal reset keeps the scenario epoch; a later edit carries both, at the next serial.
        let journal = service.reset("bob", ENV, Reset::Journal).await.unwrap();
        assert_eq!(journal.version, 3);
        let resets = service.cache().get(ENV).unwrap().resets;
        assert_eq!(resets.scenarios, epoch);
        assert!(resets.journal > 0);
        let set = RuleSet::parse("rules:\n  - { id: b, response: { body: b } }\n", Format::Yaml).unwrap();
        let edit = service.create_rule("alice", ENV, Rule::clone(&set.rules[0]), None).await.unwrap();
        assert_eq!(edit.version, 4);
        assert_eq!(service.cache().get(ENV).unwrap().resets, resets);
        let again = service.reset("bob", ENV, Reset::Scenarios).await.unwrap();
        assert_eq!(again.version, 5);
        assert!(service.cache().get(ENV).unwrap().resets.scenarios > epoch, "an epoch only grows");
    }

    async fn a_journal_reset_empties_the_control_plane_s_journal_and_drops_what_came_before_it(
        engine: Engine,
    ) {
        let (service, _dir) = with_a_rule(engine).await;
        let reports = service.reports().clone();
        let v1 = service.cache().get(ENV).unwrap();
        let report = |target: &str, applied: u64| Report {
            journal: vec![entry(target)],
            journal_reset: Some(applied),
            ..Default::default()
        };
        reports.add(&v1, "dp-1", &report("/before", 0));
        assert_eq!(reports.entries(ENV).len(), 1);
        service.reset("bob", ENV, Reset::Journal).await.unwrap();
        assert!(reports.entries(ENV).is_empty(), "emptied at once");
        let v2 = service.cache().get(ENV).unwrap();
        // A data plane that had not applied the reset yet reports entries from before it.
        reports.add(&v2, "dp-2", &report("/late", 0));
        reports.add(&v2, "dp-1", &report("/after", v2.resets.journal));
        let held: Vec<String> = reports.entries(ENV).iter().map(|r| r.entry.target.clone()).collect();
        assert_eq!(held, ["/after"]);
    }

    async fn a_restarted_service_pushes_the_stored_epochs_at_the_same_version(engine: Engine) {
        let (service, dir) = with_a_rule(engine).await;
        service.reset("bob", ENV, Reset::Scenarios).await.unwrap();
        service.reset("bob", ENV, Reset::Journal).await.unwrap();
        let before = service.cache().get(ENV).unwrap();
        drop(service);
        let restarted = open(&dir).await;
        assert_eq!(restarted.load().await.unwrap(), 1);
        let after = restarted.cache().get(ENV).unwrap();
        assert_eq!(after.resets, before.resets, "no epoch goes back, none is lost");
        assert_eq!(after.version_info, before.version_info, "the same version: data planes need nothing");
        let next = restarted.reset("bob", ENV, Reset::Journal).await.unwrap();
        assert_eq!(next.version, 4);
        let resets = restarted.cache().get(ENV).unwrap().resets;
        assert!(resets.journal > before.resets.journal && resets.scenarios == before.resets.scenarios);
    }

    async fn only_an_environment_served_here_can_be_reset(engine: Engine) {
        let (service, dir) = with_a_rule(engine).await;
        assert!(matches!(
            service.reset("bob", "shop/prod", Reset::Journal).await,
            Err(ServiceError::NotFound(_))
        ));
        for bad in ["shop", "a/b/c"] {
            let e = service.reset("bob", bad, Reset::Journal).await.unwrap_err();
            assert!(matches!(e, ServiceError::Invalid(_)), "{bad}: {e}");
        }
        // A service that has not loaded the stored rules (as when they were refused) serves none.
        let unloaded = open(&dir).await;
        let e = unloaded.reset("bob", ENV, Reset::Scenarios).await.unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e}");
        // Nothing was recorded by the refusals.
        let env = service.environment(ENV).await.unwrap();
        assert_eq!((env.version, env.resets), (1, ResetEpochs::default()));
        assert_eq!(service.store().audit_log(1, None).await.unwrap()[0].action, "createRule");
    }
}
