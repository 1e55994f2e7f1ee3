//! The GraphQL types of the domain: what queries return, what mutations take and return.

use std::sync::Arc;
use std::time::SystemTime;

use async_graphql::{Enum, InputObject, Json, Object, SimpleObject};
use mockplane_rules::model::Rule as ModelRule;

use crate::cache::EnvSnapshot;
use crate::registry::NodeInfo;
use crate::service::{Change, RuleRecord};
use crate::store;

/// Milliseconds since the epoch, as RFC 3339 in UTC.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A project: a group of environments.
#[derive(SimpleObject, Debug, Clone)]
pub struct Project {
    /// Its name, unique.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl From<store::Project> for Project {
    fn from(p: store::Project) -> Self {
        Project {
            name: p.name,
            description: p.description,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A template variable of an environment, `{{env.NAME}}`.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "VariableInput")]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// An environment: the rules one set of data planes serves.
#[derive(SimpleObject, Debug, Clone)]
pub struct Environment {
    /// `project/environment`: its name on the xDS link and in the API.
    pub path: String,
    /// Its project.
    pub project: String,
    /// Its name in its project.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Its template variables.
    pub variables: Vec<Variable>,
    /// Counts the committed changes to its rules and settings.
    pub version: i64,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl From<store::Environment> for Environment {
    fn from(e: store::Environment) -> Self {
        Environment {
            path: e.path(),
            variables: e
                .settings
                .variables
                .iter()
                .map(|(k, v)| Variable { name: k.clone(), value: v.clone() })
                .collect(),
            project: e.project,
            name: e.name,
            description: e.description,
            version: e.version,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// A rule of an environment.
#[derive(Debug, Clone)]
pub struct Rule(pub RuleRecord);

#[Object]
impl Rule {
    /// Its id, unique in its environment.
    async fn id(&self) -> &str {
        &self.0.rule.id
    }
    /// Its environment, `project/environment`.
    async fn environment(&self) -> &str {
        &self.0.environment
    }
    /// Its display name.
    async fn name(&self) -> Option<&str> {
        self.0.rule.name.as_deref()
    }
    /// Whether it serves.
    async fn enabled(&self) -> bool {
        self.0.rule.enabled
    }
    /// Its priority (higher wins).
    async fn priority(&self) -> i32 {
        self.0.rule.priority
    }
    /// Its tags.
    async fn tags(&self) -> &[String] {
        &self.0.rule.tags
    }
    /// Its place in the rule set's order.
    async fn position(&self) -> i64 {
        self.0.position
    }
    /// Its current revision.
    async fn revision(&self) -> i64 {
        self.0.revision
    }
    /// When its current revision was made (RFC 3339).
    async fn updated_at(&self) -> String {
        rfc3339(self.0.updated_at)
    }
    /// The rule, as JSON of the rules file's model (docs/rules.md).
    async fn definition(&self) -> Json<serde_json::Value> {
        Json(serde_json::to_value(&*self.0.rule).unwrap_or_default())
    }
}

/// One revision of a rule.
#[derive(Debug, Clone)]
pub struct RuleRevision(pub store::Revision);

#[Object]
impl RuleRevision {
    /// 1 for the rule's first revision, then counting up.
    async fn revision(&self) -> i64 {
        self.0.revision
    }
    /// Who made it: the API key's name.
    async fn author(&self) -> &str {
        &self.0.author
    }
    /// When (RFC 3339).
    async fn created_at(&self) -> String {
        rfc3339(self.0.created_at)
    }
    /// The environment version that carried it.
    async fn environment_version(&self) -> i64 {
        self.0.environment_version
    }
    /// Whether this revision deleted the rule.
    async fn deleted(&self) -> bool {
        self.0.rule.is_none()
    }
    /// The rule as this revision made it (null when it deleted it).
    async fn definition(&self) -> Option<Json<serde_json::Value>> {
        self.0.rule.as_ref().map(|r| Json(serde_json::to_value(r).unwrap_or_default()))
    }
}

/// A change as committed and pushed.
#[derive(SimpleObject, Debug, Clone)]
pub struct ChangeInfo {
    /// `project/environment`.
    pub environment: String,
    /// The environment's new version.
    pub version: i64,
    /// The xDS version pushed to its data planes (`version_info`): compare with a node's
    /// `ackedVersion`.
    pub xds_version: String,
}

impl From<&Change> for ChangeInfo {
    fn from(c: &Change) -> Self {
        ChangeInfo {
            environment: c.environment.clone(),
            version: c.version,
            xds_version: c.version_info.clone(),
        }
    }
}

/// What a one-rule mutation returns.
#[derive(SimpleObject, Debug, Clone)]
pub struct RulePayload {
    /// The rule as it is now.
    pub rule: Rule,
    /// The version that carries it.
    pub change: ChangeInfo,
}

/// What `deleteRule` returns.
#[derive(SimpleObject, Debug, Clone)]
pub struct DeleteRulePayload {
    /// The rule deleted.
    pub id: String,
    /// The version that carries the deletion.
    pub change: ChangeInfo,
}

/// What `applyRules` returns.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApplyRulesPayload {
    /// The rules created or changed (unchanged ones are not revised).
    pub changed: Vec<Rule>,
    /// The rules deleted, by id.
    pub deleted: Vec<String>,
    /// The version that carries it.
    pub change: ChangeInfo,
}

impl From<Change> for ApplyRulesPayload {
    fn from(c: Change) -> Self {
        ApplyRulesPayload {
            change: ChangeInfo::from(&c),
            changed: c.changed.into_iter().map(Rule).collect(),
            deleted: c.deleted,
        }
    }
}

/// How `applyRules` combines the rule set with the rules in force.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// The set becomes the environment's rules and settings; rules not in it are deleted.
    Replace,
    /// Rules of the set replace those with the same id or are added at the end; others stay.
    Merge,
}

/// An API key (never its secret).
#[derive(SimpleObject, Debug, Clone)]
pub struct ApiKey {
    /// Its name: the author recorded for what it changes.
    pub name: String,
    /// What it may do.
    pub role: crate::api::Role,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// The key that created it.
    pub created_by: String,
    /// When it was revoked, if it was (RFC 3339).
    pub revoked_at: Option<String>,
}

impl From<store::ApiKey> for ApiKey {
    fn from(k: store::ApiKey) -> Self {
        ApiKey {
            name: k.name,
            role: k.role.into(),
            created_at: rfc3339(k.created_at),
            created_by: k.created_by,
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// One entry of the audit log.
#[derive(SimpleObject, Debug, Clone)]
pub struct AuditEntry {
    /// Its number, increasing: pass it as `before` to page back.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// The API key's name.
    pub actor: String,
    /// The mutation.
    pub action: String,
    /// What it changed.
    pub target: String,
    /// The details.
    pub details: Json<serde_json::Value>,
}

impl From<store::AuditEntry> for AuditEntry {
    fn from(e: store::AuditEntry) -> Self {
        AuditEntry {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: Json(e.details),
        }
    }
}

/// When, as RFC 3339 in UTC.
fn system_time(t: SystemTime) -> String {
    rfc3339(t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))
}

/// A data plane, as the control plane knows it.
#[derive(Debug, Clone)]
pub struct Node(pub NodeInfo);

#[Object]
impl Node {
    /// Its id (`Node.id` on the xDS link).
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// The environment it serves.
    async fn environment(&self) -> &str {
        &self.0.environment
    }
    /// Whether its xDS stream is open.
    async fn connected(&self) -> bool {
        self.0.connected
    }
    /// Where its stream comes from (`ip:port`).
    async fn address(&self) -> Option<String> {
        self.0.peer.map(|p| p.to_string())
    }
    /// The last version sent to it.
    async fn sent_version(&self) -> Option<&str> {
        self.0.sent_version.as_deref()
    }
    /// The last version it applied (ACKed).
    async fn acked_version(&self) -> Option<&str> {
        self.0.acked_version.as_deref()
    }
    /// Its last NACK, cleared by the next ACK.
    async fn last_nack(&self) -> Option<Nack> {
        self.0.last_nack.as_ref().map(|n| Nack {
            version: n.version.clone(),
            error: n.error.clone(),
            at: system_time(n.at),
        })
    }
    /// When its current (or last) stream opened (RFC 3339).
    async fn connected_since(&self) -> String {
        system_time(self.0.connected_since)
    }
    /// When it was last heard from (RFC 3339).
    async fn last_seen(&self) -> String {
        system_time(self.0.last_seen)
    }
    /// The mockplane version it runs.
    async fn software_version(&self) -> Option<&str> {
        self.0.metadata.version.as_deref()
    }
    /// Its I/O driver (`io_uring`, `epoll`).
    async fn driver(&self) -> Option<&str> {
        self.0.metadata.io_driver.as_deref()
    }
    /// Its worker threads.
    async fn workers(&self) -> Option<i64> {
        self.0.metadata.workers.map(|w| w as i64)
    }
}

/// A version a data plane refused.
#[derive(SimpleObject, Debug, Clone)]
pub struct Nack {
    /// The version.
    pub version: String,
    /// The data plane's error.
    pub error: String,
    /// When (RFC 3339).
    pub at: String,
}

/// An environment's version in force and its data planes.
#[derive(SimpleObject, Debug, Clone)]
pub struct EnvironmentVersions {
    /// `project/environment`.
    pub environment: String,
    /// The xDS version in force (null when it has none).
    pub version: Option<String>,
    /// How many rules it has.
    pub rules: i64,
    /// Its data planes.
    pub nodes: Vec<Node>,
    /// How many connected data planes have applied the version in force.
    pub in_sync: i64,
    /// How many are connected.
    pub connected: i64,
}

impl EnvironmentVersions {
    pub(crate) fn new(snapshot: Option<Arc<EnvSnapshot>>, nodes: Vec<NodeInfo>, environment: String) -> Self {
        let version = snapshot.as_ref().map(|s| s.version_info.clone());
        let connected = nodes.iter().filter(|n| n.connected).count() as i64;
        let in_sync =
            nodes.iter().filter(|n| n.connected && version.is_some() && n.acked_version == version).count()
                as i64;
        EnvironmentVersions {
            environment,
            rules: snapshot.map_or(0, |s| s.rules.rules.len() as i64),
            version,
            in_sync,
            connected,
            nodes: nodes.into_iter().map(Node).collect(),
        }
    }
}

/// What `explain` found.
#[derive(SimpleObject, Debug, Clone)]
pub struct Explanation {
    /// The rule that would answer the request now, or null (a 404).
    pub selected: Option<String>,
    /// The rules that did not match, the closest first.
    pub near_misses: Vec<Verdict>,
    /// How many rules were checked (all of them).
    pub checked: i64,
}

impl Explanation {
    pub(crate) fn new(e: &mockplane_rules::Explanation, limit: usize) -> Self {
        Explanation {
            selected: e.selected.clone(),
            near_misses: e.near_misses(limit).into_iter().map(Verdict::from).collect(),
            checked: e.rules.len() as i64,
        }
    }
}

/// Why one rule did not match.
#[derive(SimpleObject, Debug, Clone)]
pub struct Verdict {
    /// The rule.
    pub rule_id: String,
    /// Whether its path fits the request.
    pub path_matched: bool,
    /// How many of its predicates held.
    pub passed: i64,
    /// How many it has.
    pub total: i64,
    /// The first predicate that failed.
    pub failed: Option<Mismatch>,
}

impl From<&mockplane_rules::RuleVerdict> for Verdict {
    fn from(v: &mockplane_rules::RuleVerdict) -> Self {
        Verdict {
            rule_id: v.rule_id.clone(),
            path_matched: v.path_matched,
            passed: v.passed as i64,
            total: v.total as i64,
            failed: v.failed.as_ref().map(|m| Mismatch {
                predicate: m.predicate.clone(),
                expected: m.expected.clone(),
                actual: m.actual.clone(),
            }),
        }
    }
}

/// A predicate that failed.
#[derive(SimpleObject, Debug, Clone)]
pub struct Mismatch {
    /// Where it is in the rule: `match.path`, `match.headers.x-token`.
    pub predicate: String,
    /// What it requires.
    pub expected: String,
    /// What the request had.
    pub actual: String,
}

/// A rule from its JSON, as a rules file would hold it.
pub(crate) fn parse_rule(json: &serde_json::Value, place: &str) -> Result<ModelRule, crate::api::ApiError> {
    let set = serde_json::json!({ "rules": [json] }).to_string();
    let mut parsed = mockplane_rules::RuleSet::parse(&set, mockplane_rules::Format::Json)
        .map_err(|e| crate::api::ApiError::rules_refused(&rebase(e, place), ""))?;
    let rule = parsed.rules.pop().expect("one rule in, one rule out");
    Ok(Arc::try_unwrap(rule).unwrap_or_else(|shared| ModelRule::clone(&shared)))
}

/// `rules[0]…` places renamed to `place…`.
fn rebase(e: mockplane_rules::RuleSetError, place: &str) -> mockplane_rules::RuleSetError {
    mockplane_rules::RuleSetError::from(
        e.errors
            .into_iter()
            .map(|v| match v.path.strip_prefix("rules[0]") {
                Some(rest) => mockplane_rules::ValidationError::new(format!("{place}{rest}"), v.message),
                None => mockplane_rules::ValidationError::new(place.to_owned(), v.message),
            })
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_read_as_rfc3339_in_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(super::rfc3339(1_796_342_400_000), "2026-12-04T00:00:00.000Z");
    }
}
