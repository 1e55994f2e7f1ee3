//! The snapshot cache: per environment (`project/environment`), the rule set in force, its
//! version and its encoded xDS resource.
//!
//! Setting a rule set validates it with the data plane's own compiler first, so a set the
//! control plane accepts is one every data plane can load; a refused set changes nothing and
//! reaches no data plane. The resource is encoded once per version, not once per stream.
//! Every xDS stream of the environment watches its cell and is woken by a new version.
//!
//! The environments it holds are those the operator set rules for: looking up or subscribing
//! to any other name creates nothing, so a client cannot grow the cache by inventing names.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use mockplane_proto::convert::ResetEpochs;
use mockplane_proto::names::NameError;

use mockplane_rules::{RuleSet, RuleSetError};

use crate::reset::{Reset, ResetError};
use crate::reuse::EnvReuse;
use tokio::sync::watch;

/// One version of an environment's rules.
#[derive(Debug)]
pub struct EnvSnapshot {
    /// The environment, `project/environment`.
    pub environment: String,
    /// Counts up from 1 for each accepted rule set of this environment.
    pub serial: u64,
    /// The xDS `version_info`: the serial and a hash of the content (`3-5f0c…`), so that a
    /// control plane restarted on the same rules recognises a data plane's version as its own
    /// and a different rule set never shares a version string with the old one.
    pub version_info: String,
    /// The rules.
    pub rules: Arc<RuleSet>,
    /// The encoded resource pushed to the data planes.
    pub resource: mockplane_proto::wkt::Any,
    /// When the version was set.
    pub created_at: SystemTime,
    /// The reset epochs it carries: those of the environment's last reset of each kind (see
    /// [`SnapshotCache::reset`]), zero before any.
    pub resets: ResetEpochs,
    /// The rule ids, built the first time a report asks (most versions are never asked).
    rule_ids: OnceLock<rustc_hash::FxHashSet<String>>,
}

impl EnvSnapshot {
    /// Whether this version has a rule with this id.
    pub fn has_rule(&self, id: &str) -> bool {
        self.rule_ids.get_or_init(|| self.rules.rules.iter().map(|r| r.id.clone()).collect()).contains(id)
    }
}

/// Why a rule set was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// The environment name is not `project/environment` (or too long, or unprintable).
    #[error(transparent)]
    BadEnvironment(#[from] NameError),
    /// The rules do not compile.
    #[error("the rules were refused:\n{0}")]
    Invalid(#[from] RuleSetError),
}

type Cell = watch::Sender<Option<Arc<EnvSnapshot>>>;

/// A version validated, compiled and encoded, not yet in force (see [`SnapshotCache::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    environment: String,
    rules: Arc<RuleSet>,
    resource: mockplane_proto::wkt::Any,
    /// The reset epochs it carries.
    resets: ResetEpochs,
    /// The reset it asks for, if that is what it is (for the log).
    reset: Option<Reset>,
}

/// Milliseconds since the epoch, by the clock (0 before it).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The rule sets in force, per environment.
#[derive(Debug, Default)]
pub struct SnapshotCache {
    cells: Mutex<HashMap<String, Cell>>,
    /// Per environment, what the next version can reuse of the last accepted one.
    reuse: Mutex<HashMap<String, Arc<Mutex<EnvReuse>>>>,
    pause: Option<fn()>,
}

/// Checks that `environment` reads `project/environment` (see [`mockplane_proto::names`]).
pub fn check_environment(environment: &str) -> Result<(), SetError> {
    Ok(mockplane_proto::names::check_environment(environment)?)
}

impl SnapshotCache {
    /// An empty cache.
    pub fn new() -> Self {
        SnapshotCache::default()
    }

    /// An empty cache whose validation and encoding call `pause` between rules (see
    /// `CompileOptions::pause`): for a control plane that shares its cores with others.
    pub fn paced(pause: fn()) -> Self {
        SnapshotCache { pause: Some(pause), ..SnapshotCache::default() }
    }

    /// The environment's cell, created for a version being set.
    fn cell<R>(&self, environment: &str, f: impl FnOnce(&Cell) -> R) -> R {
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        let cell = cells.entry(environment.to_owned()).or_insert_with(|| watch::channel(None).0);
        f(cell)
    }

    /// The environment's cell, if it has one: never created by a lookup.
    fn existing<R>(&self, environment: &str, f: impl FnOnce(&Cell) -> R) -> Option<R> {
        let cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells.get(environment).map(f)
    }

    /// Validates and compiles `rules`; if they are good, makes them the environment's next
    /// version and wakes every stream subscribed to it. `file:` bodies are read relative to
    /// `base_dir` and inlined (see [`inline_files`]), since a data plane cannot read the
    /// control plane's files.
    pub fn set(
        &self,
        environment: &str,
        rules: RuleSet,
        base_dir: Option<&Path>,
    ) -> Result<Arc<EnvSnapshot>, SetError> {
        let prepared = self.prepare(environment, rules, base_dir)?;
        Ok(self.publish(prepared, None))
    }

    /// Validates, compiles and encodes `rules` as the environment's next version without
    /// publishing it: a caller that must record the change elsewhere first (the store)
    /// publishes it after, or drops it and nothing reached a data plane. Versions of one
    /// environment are prepared one at a time, each reusing what the last one prepared.
    pub fn prepare(
        &self,
        environment: &str,
        mut rules: RuleSet,
        base_dir: Option<&Path>,
    ) -> Result<Prepared, SetError> {
        check_environment(environment)?;
        if let Some(dir) = base_dir {
            inline_files(&mut rules, dir);
        }
        let reuse = self.reuse_of(environment);
        let mut reuse = reuse.lock().unwrap_or_else(|p| p.into_inner());
        let rules = Arc::new(rules);
        let resource = reuse.accept(&rules, base_dir, self.pause)?;
        Ok(Prepared {
            environment: environment.to_owned(),
            rules,
            resource,
            resets: reuse.resets(),
            reset: None,
        })
    }

    /// Makes a new version of `environment` that asks every data plane serving it to reset
    /// `what` (docs/xds.md, "Resets"), and publishes it: [`SnapshotCache::prepare_reset`] with
    /// that reset's epoch moved to the clock's milliseconds (or one past the previous epoch,
    /// if the clock went back), numbered after the version before. For a control plane
    /// without a store (file-backed mode, tests); `Service::reset` also records it.
    ///
    /// For the control plane's own copy of the journal, see `ControlPlane::reset`, which
    /// calls this and also empties the environment's journal in the `ReportStore`.
    pub fn reset(&self, environment: &str, what: Reset) -> Result<Arc<EnvSnapshot>, ResetError> {
        let current = self.resets(environment)?;
        let prepared = self.prepare_reset(environment, what, what.next_epochs(current, now_ms()))?;
        Ok(self.publish(prepared, None))
    }

    /// The reset epochs the next version of `environment` carries: those of its last reset of
    /// each kind. Refused for an environment that has no rules here.
    pub fn resets(&self, environment: &str) -> Result<ResetEpochs, ResetError> {
        mockplane_proto::names::check_environment(environment)?;
        let reuse =
            self.existing_reuse(environment).ok_or_else(|| ResetError::NotServed(environment.to_owned()))?;
        let resets = reuse.lock().unwrap_or_else(|p| p.into_inner()).resets();
        Ok(resets)
    }

    /// The rules of `environment` last prepared, unchanged and not encoded or validated again,
    /// carrying `resets` (the epochs of `what` moved on: see [`Reset::next_epochs`]), as its
    /// next version, not yet published. Every later version carries these epochs too, so a
    /// data plane that was away applies the reset when it returns; one restarted from its
    /// persisted snapshot does not apply it again. Refused for an environment that has no
    /// rules here.
    pub fn prepare_reset(
        &self,
        environment: &str,
        what: Reset,
        resets: ResetEpochs,
    ) -> Result<Prepared, ResetError> {
        mockplane_proto::names::check_environment(environment)?;
        let not_served = || ResetError::NotServed(environment.to_owned());
        let reuse = self.existing_reuse(environment).ok_or_else(not_served)?;
        let mut reuse = reuse.lock().unwrap_or_else(|p| p.into_inner());
        let (rules, resource) = reuse.with_resets(resets).ok_or_else(not_served)?;
        Ok(Prepared { environment: environment.to_owned(), rules, resource, resets, reset: Some(what) })
    }

    /// Sets the reset epochs the next version of `environment` carries to `resets` where they
    /// are newer than those it has: for epochs kept elsewhere (the store) across a restart,
    /// before the environment's first version is prepared, so that the data planes see no
    /// epoch go back and none that was missed is lost.
    pub fn restore_resets(&self, environment: &str, resets: ResetEpochs) {
        let reuse = self.reuse_of(environment);
        let mut reuse = reuse.lock().unwrap_or_else(|p| p.into_inner());
        reuse.restore_resets(resets);
    }

    /// The rules of `environment` last prepared, unchanged, carrying the recording settings
    /// `recording` (`None`: stop recording) as its next version, not yet published (see
    /// [`SnapshotCache::prepare_reset`]). Refused for an environment that has no rules here.
    pub fn prepare_recording(
        &self,
        environment: &str,
        recording: Option<mockplane_proto::convert::Recording>,
    ) -> Result<Prepared, ResetError> {
        mockplane_proto::names::check_environment(environment)?;
        let not_served = || ResetError::NotServed(environment.to_owned());
        let reuse = self.existing_reuse(environment).ok_or_else(not_served)?;
        let mut reuse = reuse.lock().unwrap_or_else(|p| p.into_inner());
        let resets = reuse.resets();
        let (rules, resource) = reuse.with_recording(recording).ok_or_else(not_served)?;
        Ok(Prepared { environment: environment.to_owned(), rules, resource, resets, reset: None })
    }

    /// What the data planes of `environment` record, while it records.
    pub fn recording(&self, environment: &str) -> Option<mockplane_proto::convert::Recording> {
        let reuse = self.existing_reuse(environment)?;
        let recording = reuse.lock().unwrap_or_else(|p| p.into_inner()).recording().cloned();
        recording
    }

    /// Sets the recording settings the next version of `environment` carries: for settings
    /// kept in the store across a restart, before its first version is prepared.
    pub fn restore_recording(
        &self,
        environment: &str,
        recording: Option<mockplane_proto::convert::Recording>,
    ) {
        let reuse = self.reuse_of(environment);
        reuse.lock().unwrap_or_else(|p| p.into_inner()).restore_recording(recording);
    }

    /// What the next version of `environment` reuses of the last one, created for a version
    /// being prepared. One version of an environment is prepared at a time: each reuses what
    /// the last one accepted.
    fn reuse_of(&self, environment: &str) -> Arc<Mutex<EnvReuse>> {
        let mut all = self.reuse.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(environment.to_owned()).or_default().clone()
    }

    /// [`SnapshotCache::reuse_of`], never created.
    fn existing_reuse(&self, environment: &str) -> Option<Arc<Mutex<EnvReuse>>> {
        self.reuse.lock().unwrap_or_else(|p| p.into_inner()).get(environment).cloned()
    }

    /// Makes a prepared version the environment's version in force and wakes its streams.
    /// `serial` numbers it (the store's version of the environment, so that numbers continue
    /// across restarts); `None` counts on from the version before.
    pub fn publish(&self, prepared: Prepared, serial: Option<u64>) -> Arc<EnvSnapshot> {
        let Prepared { environment, rules, resource, resets, reset } = prepared;
        // FxHash: a third of a megabyte per version, where SipHash took ~0.3 ms; this needs no
        // resistance to chosen inputs, only to tell versions apart.
        let mut hasher = rustc_hash::FxHasher::default();
        resource.value.hash(&mut hasher);
        let hash = hasher.finish();
        let snapshot = self.cell(&environment, |cell| {
            let serial = serial.unwrap_or_else(|| cell.borrow().as_ref().map_or(1, |s| s.serial + 1));
            let snapshot = Arc::new(EnvSnapshot {
                environment: environment.clone(),
                serial,
                version_info: format!("{serial}-{hash:016x}"),
                rules,
                resource,
                created_at: SystemTime::now(),
                resets,
                rule_ids: OnceLock::new(),
            });
            cell.send_replace(Some(snapshot.clone()));
            snapshot
        });
        match reset {
            Some(what) => {
                tracing::info!(environment, version = %snapshot.version_info, reset = what.name(), "reset asked of every data plane")
            }
            None => {
                tracing::info!(environment, version = %snapshot.version_info, rules = snapshot.rules.rules.len(), "new rule-set version")
            }
        }
        snapshot
    }

    /// Stops serving `environment`: its streams end (their data planes keep the rules they
    /// have and are refused when they reconnect), and what it held is freed. Whether it had
    /// rules.
    pub fn remove(&self, environment: &str) -> bool {
        self.reuse.lock().unwrap_or_else(|p| p.into_inner()).remove(environment);
        self.cells.lock().unwrap_or_else(|p| p.into_inner()).remove(environment).is_some()
    }

    /// The version in force for `environment`, if any.
    pub fn get(&self, environment: &str) -> Option<Arc<EnvSnapshot>> {
        self.existing(environment, |cell| cell.borrow().clone()).flatten()
    }

    /// A receiver that sees every new version of `environment` (and the current one); `None`
    /// when the environment has no rules here.
    pub fn subscribe(&self, environment: &str) -> Option<watch::Receiver<Option<Arc<EnvSnapshot>>>> {
        self.existing(environment, |cell| cell.subscribe())
    }

    /// The environments that have a rule set.
    pub fn environments(&self) -> Vec<String> {
        let cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> =
            cells.iter().filter(|(_, c)| c.borrow().is_some()).map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    }
}

/// Replaces every `file:` body with its content (as `base64`), read relative to `base_dir`,
/// so the rule set can travel to data planes that do not share the control plane's disk.
/// A file that cannot be read is left as it is, for the compiler to refuse with its place.
pub fn inline_files(rules: &mut RuleSet, base_dir: &Path) {
    use base64::Engine as _;
    let mut inline = |response: &mut mockplane_rules::model::Response| {
        let Some(file) = &response.file else { return };
        let path = base_dir.join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            response.base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
            response.file = None;
        }
    };
    for rule in &mut rules.rules {
        let has_file = rule.response.as_ref().is_some_and(|r| r.file.is_some())
            || rule.sequence.as_ref().is_some_and(|s| s.responses.iter().any(|r| r.file.is_some()));
        if !has_file {
            continue; // left shared with the versions that hold it
        }
        let rule = Arc::make_mut(rule);
        if let Some(r) = &mut rule.response {
            inline(r);
        }
        if let Some(s) = &mut rule.sequence {
            s.responses.iter_mut().for_each(&mut inline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_rules::Format;

    fn rules(body: &str) -> RuleSet {
        let text =
            format!("rules:\n  - id: a\n    match: {{ path: /a }}\n    response: {{ body: {body:?} }}\n");
        RuleSet::parse(&text, Format::Yaml).unwrap()
    }

    /// `text` is refused by `cache` with exactly the errors of compiling it whole.
    fn assert_refused_as_a_whole_compile(cache: &SnapshotCache, text: &str) {
        let set = RuleSet::parse(text, Format::Yaml).unwrap();
        let whole = mockplane_rules::RuleTable::compile(&set, &Default::default()).unwrap_err();
        match cache.set("shop/staging", set, None) {
            Err(SetError::Invalid(e)) => assert_eq!(e, whole),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_version_that_changes_only_the_cors_block_is_a_new_version_carrying_it() {
        let cache = SnapshotCache::new();
        let one = cache.set("shop/staging", rules("x"), None).unwrap();
        let mut with_cors = rules("x");
        with_cors.cors = Some(mockplane_rules::model::Cors { max_age: Some(60), ..Default::default() });
        let two = cache.set("shop/staging", with_cors.clone(), None).unwrap();
        assert_ne!(one.version_info[2..], two.version_info[2..]);
        let pushed = mockplane_proto::convert::rule_set_from_any(&two.resource).unwrap();
        assert_eq!(pushed, with_cors);
        let three = cache.set("shop/staging", rules("x"), None).unwrap();
        assert_eq!(three.version_info[2..], one.version_info[2..], "turned off again: the first content");
    }

    /// The whole encoding of `set` carrying `resets`, as prost writes the message.
    fn encoded_with(set: &RuleSet, resets: ResetEpochs) -> Vec<u8> {
        use mockplane_proto::config as pb;
        use prost::Message;
        pb::RuleSet { resets: resets.to_wire(), ..pb::RuleSet::from(set) }.encode_to_vec()
    }

    #[test]
    fn a_reset_is_a_new_version_of_the_same_rules_and_later_versions_carry_it() {
        let cache = SnapshotCache::new();
        let one = cache.set("shop/staging", rules("x"), None).unwrap();
        assert_eq!(one.resets, ResetEpochs::default());
        let two = cache.reset("shop/staging", Reset::Scenarios).unwrap();
        assert_eq!(two.serial, 2);
        assert_ne!(two.version_info[2..], one.version_info[2..], "a new version string");
        assert!(Arc::ptr_eq(&two.rules, &one.rules), "the same rules, not a copy");
        assert!(two.resets.scenarios > 1_600_000_000_000 && two.resets.journal == 0, "{:?}", two.resets);
        assert_eq!(two.resource.value.as_ref(), encoded_with(&rules("x"), two.resets).as_slice());
        let three = cache.reset("shop/staging", Reset::Journal).unwrap();
        assert_eq!(three.resets.scenarios, two.resets.scenarios, "the scenario epoch is kept");
        assert!(three.resets.journal > 0);
        let again = cache.reset("shop/staging", Reset::Scenarios).unwrap();
        assert!(again.resets.scenarios > two.resets.scenarios, "an epoch only grows");
        // An edit carries the epochs; the rules decode as they were.
        let four = cache.set("shop/staging", rules("y"), None).unwrap();
        assert_eq!(four.resets, again.resets);
        assert_eq!(four.resource.value.as_ref(), encoded_with(&rules("y"), again.resets).as_slice());
        assert_eq!(mockplane_proto::convert::rule_set_from_any(&four.resource).unwrap(), rules("y"));
    }

    #[test]
    fn an_environment_without_rules_cannot_be_reset() {
        let cache = SnapshotCache::new();
        assert!(matches!(cache.reset("shop/staging", Reset::Journal), Err(ResetError::NotServed(_))));
        assert!(matches!(cache.reset("shop", Reset::Journal), Err(ResetError::BadEnvironment(_))));
        // A refused first set leaves nothing to reset either.
        let bad = RuleSet::parse(
            "rules:\n  - { id: a, match: { path: { regex: '(' } }, response: {} }\n",
            Format::Yaml,
        );
        assert!(cache.set("shop/staging", bad.unwrap(), None).is_err());
        assert!(matches!(cache.reset("shop/staging", Reset::Scenarios), Err(ResetError::NotServed(_))));
        assert!(cache.environments().is_empty());
    }

    #[test]
    fn versions_count_up_and_carry_a_content_hash() {
        let cache = SnapshotCache::new();
        let one = cache.set("shop/staging", rules("x"), None).unwrap();
        let two = cache.set("shop/staging", rules("y"), None).unwrap();
        assert_eq!((one.serial, two.serial), (1, 2));
        assert!(one.version_info.starts_with("1-") && two.version_info.starts_with("2-"));
        assert_ne!(one.version_info[2..], two.version_info[2..]);
        // Another cache (a restarted control plane) gives the same rules the same version.
        let again = SnapshotCache::new().set("shop/staging", rules("x"), None).unwrap();
        assert_eq!(again.version_info, one.version_info);
    }

    #[test]
    fn each_version_is_byte_for_byte_the_whole_encoding_though_unchanged_rules_are_reused() {
        use mockplane_proto::convert::rule_set_to_any;
        let base = "variables: { V: x }\nrules:\n  - { id: a, match: { path: /a }, response: { json: { z: 1, a: [1, 2] } } }\n  - { id: b, match: { path: /b, body: { json: { k: 1, j: 2 } } }, response: { body: b } }\n  - { id: c, match: { path: /c }, response: { body: \"{{env.V}}\", template: true } }\n";
        let versions = [
            base.to_owned(),
            // one rule edited
            base.replace("body: b }", "body: B }"),
            // JSON members reordered: equal to the model, not on the wire
            base.replace("{ z: 1, a: [1, 2] }", "{ a: [1, 2], z: 1 }"),
            base.replace("{ k: 1, j: 2 }", "{ j: 2, k: 1 }"),
            // rules moved and removed, set-level fields changed
            "rules:\n  - { id: c, match: { path: /c }, response: { body: c } }\n  - { id: a, match: { path: /a }, response: { json: { z: 1, a: [1, 2] } } }\n".to_owned(),
            base.replace("V: x", "V: y"),
            base.to_owned(),
            // only the cors block changes
            format!("cors: {{}}\n{base}"),
            format!("cors: {{ allow_origins: [\"https://a.test\"] }}\n{base}"),
            base.to_owned(),
        ];
        let cache = SnapshotCache::new();
        for (i, text) in versions.iter().enumerate() {
            let set = RuleSet::parse(text, Format::Yaml).unwrap();
            let s = cache.set("shop/staging", set.clone(), None).unwrap();
            assert_eq!(s.resource, rule_set_to_any(&set), "version {i}");
            assert_eq!(*s.rules, set);
        }
        // A refused version changes nothing, and the next one still reuses from the last good one.
        let bad = base.replace("body: b }", "body: b, status: 42 }");
        assert!(cache.set("shop/staging", RuleSet::parse(&bad, Format::Yaml).unwrap(), None).is_err());
        let set = RuleSet::parse(&versions[1], Format::Yaml).unwrap();
        assert_eq!(cache.set("shop/staging", set.clone(), None).unwrap().resource, rule_set_to_any(&set));
    }

    #[test]
    fn a_version_made_by_editing_the_last_one_shares_its_rules_and_changes_only_the_edit() {
        use mockplane_proto::convert::rule_set_to_any;
        let text = "rules:\n  - { id: a, match: { path: /a }, response: { json: { z: 1, a: [1, 2] } } }\n  - { id: b, match: { path: /b }, response: { body: b } }\n";
        let cache = SnapshotCache::new();
        let one = cache.set("shop/staging", RuleSet::parse(text, Format::Yaml).unwrap(), None).unwrap();
        // The way an API edits one rule: a copy of the set that shares every rule, and a
        // copy-on-write of the edited one.
        let mut edited = RuleSet::clone(&one.rules);
        Arc::make_mut(&mut edited.rules[1]).response.as_mut().unwrap().body = Some("B".into());
        assert!(Arc::ptr_eq(&edited.rules[0], &one.rules.rules[0]), "rule a is shared");
        let two = cache.set("shop/staging", edited.clone(), None).unwrap();
        assert_eq!(two.resource, rule_set_to_any(&edited), "the whole encoding, with the edit");
        assert_eq!(one.rules.rules[1].response.as_ref().unwrap().body.as_deref(), Some("b"), "v1 untouched");
        let pushed = mockplane_proto::convert::rule_set_from_any(&two.resource).unwrap();
        assert_eq!(pushed.rules[1].response.as_ref().unwrap().body.as_deref(), Some("B"));
        assert_ne!(one.version_info[2..], two.version_info[2..]);
    }

    #[test]
    fn many_changed_rules_encoded_aside_and_a_few_in_line_give_the_same_resource_and_errors() {
        use mockplane_proto::convert::rule_set_to_any;
        // 100 rules changed is over `ENCODE_ASIDE_FROM` (a thread encodes while the caller
        // validates); one rule changed is under it.
        let text = |tag: &str| {
            let mut t = String::from("rules:\n");
            for i in 0..100 {
                t += &format!(
                    "  - {{ id: r{i}, match: {{ path: /r/{i} }}, response: {{ body: \"{tag}{i}\" }} }}\n"
                );
            }
            t
        };
        let cache = SnapshotCache::new();
        for version in [text("a"), text("b"), text("b").replace("\"b7\"", "\"c7\"")] {
            let set = RuleSet::parse(&version, Format::Yaml).unwrap();
            assert_eq!(cache.set("shop/staging", set.clone(), None).unwrap().resource, rule_set_to_any(&set));
        }
        for bad in [
            text("d").replace("path: /r/5 }", "path: { regex: \"(\" } }"),
            text("b").replace("/r/5 }", "r5 }"),
        ] {
            assert_refused_as_a_whole_compile(&cache, &bad);
        }
    }

    #[test]
    fn a_refused_rule_set_is_refused_with_the_errors_of_a_whole_compile() {
        let cache = SnapshotCache::new();
        let text = "upstreams: { u: \"http://x\" }\nrules:\n  - { id: a, response: { body: a } }\n  - { id: f, forward: { upstream: u } }\n";
        cache.set("shop/staging", RuleSet::parse(text, Format::Yaml).unwrap(), None).unwrap();
        for bad in [
            // a duplicate of a kept rule's id
            format!("{text}  - {{ id: a, priority: 2, response: {{ body: a }} }}\n"),
            // the upstream a kept rule names is gone
            text.replace("upstreams: { u: \"http://x\" }", "upstreams: { v: \"http://x\" }"),
            // a cors block beside a kept rule that sets a CORS header itself
            format!(
                "cors: {{}}\n{}",
                text.replace("body: a }", "body: a, headers: { access-control-allow-origin: \"*\" } }")
            ),
        ] {
            assert_refused_as_a_whole_compile(&cache, &bad);
        }
    }

    #[test]
    fn a_refused_rule_set_changes_nothing() {
        let cache = SnapshotCache::new();
        let good = cache.set("shop/staging", rules("x"), None).unwrap();
        let bad = RuleSet::parse(
            "rules:\n  - id: a\n    match: { path: { regex: '(' } }\n    response: {}\n",
            Format::Yaml,
        )
        .unwrap();
        let e = cache.set("shop/staging", bad, None).unwrap_err();
        assert!(e.to_string().contains("rules[0].match.path"), "{e}");
        assert_eq!(cache.get("shop/staging").unwrap().version_info, good.version_info);
    }

    #[test]
    fn environment_names_are_project_slash_environment() {
        let cache = SnapshotCache::new();
        for bad in ["shop", "/staging", "shop/", "a/b/c", ""] {
            assert!(matches!(cache.set(bad, rules("x"), None), Err(SetError::BadEnvironment(_))), "{bad}");
        }
        assert!(cache.environments().is_empty());
    }

    #[test]
    fn looking_up_unknown_environments_creates_nothing() {
        let cache = SnapshotCache::new();
        for i in 0..100 {
            assert!(cache.get(&format!("p/e{i}")).is_none());
            assert!(cache.subscribe(&format!("p/e{i}")).is_none());
        }
        assert_eq!(cache.cells.lock().unwrap().len(), 0);
        let v = cache.set("shop/staging", rules("x"), None).unwrap();
        assert!(v.has_rule("a") && !v.has_rule("b"));
        assert!(cache.subscribe("shop/staging").is_some());
    }

    #[test]
    fn a_set_with_file_bodies_travels_with_their_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), br#"{"ok":true}"#).unwrap();
        let set =
            RuleSet::parse("rules:\n  - id: a\n    response: { file: b.json }\n", Format::Yaml).unwrap();
        let s = SnapshotCache::new().set("shop/staging", set, Some(dir.path())).unwrap();
        let pushed = mockplane_proto::convert::rule_set_from_any(&s.resource).unwrap();
        let r = pushed.rules[0].response.as_ref().unwrap();
        assert_eq!((r.file.as_deref(), r.base64.as_deref()), (None, Some("eyJvayI6dHJ1ZX0=")));
    }

    #[test]
    fn file_bodies_are_inlined() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.bin"), b"\x00\x01hello").unwrap();
        let mut set = RuleSet::parse(
            "rules:\n  - id: a\n    match: { path: /a }\n    response: { file: b.bin }\n",
            Format::Yaml,
        )
        .unwrap();
        inline_files(&mut set, dir.path());
        let r = set.rules[0].response.as_ref().unwrap();
        assert_eq!((r.file.as_deref(), r.base64.as_deref()), (None, Some("AAFoZWxsbw==")));
    }
}
