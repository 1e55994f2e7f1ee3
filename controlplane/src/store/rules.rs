//! The rules of each environment and every revision of each rule. A change is committed whole:
//! the rows it touches, one new revision per rule it creates, changes or deletes, the
//! environment's next version and the audit entry, in one transaction, and only if no other
//! change landed since the version it was made against.

use mockplane_rules::model::Rule;
use sqlx::Row;

use super::{audit, now_ms, rule_from_json, EnvSettings, Store, StoreError};

/// A rule as stored: its current revision.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    /// The rule's id.
    pub rule_id: String,
    /// Its place in the rule set's order.
    pub position: i64,
    /// Its current revision (1 for a new rule).
    pub revision: i64,
    /// The rule.
    pub rule: Rule,
    /// When its current revision was made, in milliseconds since the epoch.
    pub updated_at: i64,
}

/// One revision of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The rule's id.
    pub rule_id: String,
    /// 1 for the rule's first, then counting up.
    pub revision: i64,
    /// The rule as this revision made it; `None` when this revision deleted it.
    pub rule: Option<Rule>,
    /// Who made it: the API key's name.
    pub author: String,
    /// When, in milliseconds since the epoch.
    pub created_at: i64,
    /// The environment version that carried it.
    pub environment_version: i64,
}

/// A change to an environment's rules and settings, validated by the caller.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The environment (its row id).
    pub environment_id: i64,
    /// The environment version the change was made against: another change landing first
    /// makes this one a conflict, and nothing is written.
    pub expected_version: i64,
    /// Rules created or changed, each with its position.
    pub upserts: Vec<(&'a Rule, i64)>,
    /// Rules whose position alone changed.
    pub moves: Vec<(&'a str, i64)>,
    /// Rules deleted, by id.
    pub deletes: Vec<&'a str>,
    /// New settings, when they change.
    pub settings: Option<&'a EnvSettings>,
    /// Who: the API key's name.
    pub actor: &'a str,
    /// The mutation, for the audit log.
    pub action: &'a str,
    /// What it targets, for the audit log.
    pub target: &'a str,
    /// Details for the audit log.
    pub details: serde_json::Value,
}

/// What a commit made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedVersion {
    /// The environment's new version.
    pub version: i64,
    /// The new revision of each rule created, changed or deleted, by rule id.
    pub revisions: Vec<(String, i64)>,
}

fn stored_rule(row: &sqlx::any::AnyRow) -> Result<StoredRule, StoreError> {
    let rule_id: String = row.try_get("rule_id")?;
    let body: String = row.try_get("body")?;
    Ok(StoredRule {
        rule: rule_from_json(&body, &format!("rule {rule_id:?}"))?,
        rule_id,
        position: row.try_get("position")?,
        revision: row.try_get("revision")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn revision_of(row: &sqlx::any::AnyRow) -> Result<Revision, StoreError> {
    let rule_id: String = row.try_get("rule_id")?;
    let revision: i64 = row.try_get("revision")?;
    let body: Option<String> = row.try_get("body")?;
    Ok(Revision {
        rule: body
            .map(|b| rule_from_json(&b, &format!("revision {revision} of rule {rule_id:?}")))
            .transpose()?,
        rule_id,
        revision,
        author: row.try_get("author")?,
        created_at: row.try_get("created_at")?,
        environment_version: row.try_get("environment_version")?,
    })
}

impl Store {
    /// The rules of an environment, in order.
    pub async fn rules(&self, environment_id: i64) -> Result<Vec<StoredRule>, StoreError> {
        let rows = sqlx::query(
            "SELECT rule_id, position, revision, body, updated_at FROM rules \
             WHERE environment_id = $1 ORDER BY position, rule_id",
        )
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_rule).collect()
    }

    /// The environment `project/name` and its rules in order, read as of one version: the
    /// version is read again after the rules, and the read repeated if a commit landed in
    /// between (a commit moves both at once, so an unchanged version means rules of that
    /// version). For a replica re-reading what another one changed.
    pub async fn environment_with_rules(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<(super::Environment, Vec<StoredRule>)>, StoreError> {
        loop {
            let Some(env) = self.environment(project, name).await? else { return Ok(None) };
            let rules = self.rules(env.id).await?;
            match self.environment(project, name).await? {
                Some(after) if after.id == env.id && after.version == env.version => {
                    return Ok(Some((env, rules)))
                }
                _ => continue,
            }
        }
    }

    /// One rule of an environment.
    pub async fn rule(&self, environment_id: i64, rule_id: &str) -> Result<Option<StoredRule>, StoreError> {
        let row = sqlx::query(
            "SELECT rule_id, position, revision, body, updated_at FROM rules \
             WHERE environment_id = $1 AND rule_id = $2",
        )
        .bind(environment_id)
        .bind(rule_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stored_rule).transpose()
    }

    /// Every revision of a rule (also of a deleted one), oldest first.
    pub async fn revisions(&self, environment_id: i64, rule_id: &str) -> Result<Vec<Revision>, StoreError> {
        let rows = sqlx::query(
            "SELECT rule_id, revision, body, author, created_at, environment_version FROM rule_revisions \
             WHERE environment_id = $1 AND rule_id = $2 ORDER BY revision",
        )
        .bind(environment_id)
        .bind(rule_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(revision_of).collect()
    }

    /// One revision of a rule.
    pub async fn revision(
        &self,
        environment_id: i64,
        rule_id: &str,
        revision: i64,
    ) -> Result<Option<Revision>, StoreError> {
        let row = sqlx::query(
            "SELECT rule_id, revision, body, author, created_at, environment_version FROM rule_revisions \
             WHERE environment_id = $1 AND rule_id = $2 AND revision = $3",
        )
        .bind(environment_id)
        .bind(rule_id)
        .bind(revision)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(revision_of).transpose()
    }

    /// Commits `change` in one transaction; see [`Commit`].
    pub async fn commit(&self, change: Commit<'_>) -> Result<CommittedVersion, StoreError> {
        let mut tx = self.write_tx().await?;
        let now = now_ms();
        let version = change.expected_version + 1;
        // The version moves first, guarded by the one expected: of two changes made against the
        // same version, one updates no row and gives up before writing anything else.
        let bumped = sqlx::query(
            "UPDATE environments SET version = $1, updated_at = $2 WHERE id = $3 AND version = $4",
        )
        .bind(version)
        .bind(now)
        .bind(change.environment_id)
        .bind(change.expected_version)
        .execute(&mut *tx)
        .await?;
        if bumped.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the environment changed while this change was being made; make it again against the new version"
                    .into(),
            ));
        }
        if let Some(settings) = change.settings {
            let json = serde_json::to_string(settings)
                .map_err(|e| StoreError::Invalid(format!("settings that do not serialize: {e}")))?;
            sqlx::query("UPDATE environments SET settings = $1 WHERE id = $2")
                .bind(json)
                .bind(change.environment_id)
                .execute(&mut *tx)
                .await?;
        }
        let mut revisions = Vec::with_capacity(change.upserts.len() + change.deletes.len());
        for (rule, position) in &change.upserts {
            let body = serde_json::to_string(rule)
                .map_err(|e| StoreError::Invalid(format!("rule {:?} does not serialize: {e}", rule.id)))?;
            let revision = Self::next_revision(&mut tx, change.environment_id, &rule.id).await?;
            sqlx::query(
                "INSERT INTO rules (environment_id, rule_id, position, revision, body, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (environment_id, rule_id) DO UPDATE SET \
                 position = excluded.position, revision = excluded.revision, body = excluded.body, \
                 updated_at = excluded.updated_at",
            )
            .bind(change.environment_id)
            .bind(&rule.id)
            .bind(position)
            .bind(revision)
            .bind(&body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Self::record_revision(&mut tx, &change, &rule.id, revision, Some(&body), now, version).await?;
            revisions.push((rule.id.clone(), revision));
        }
        for (rule_id, position) in &change.moves {
            sqlx::query("UPDATE rules SET position = $1 WHERE environment_id = $2 AND rule_id = $3")
                .bind(position)
                .bind(change.environment_id)
                .bind(rule_id)
                .execute(&mut *tx)
                .await?;
        }
        for rule_id in &change.deletes {
            let deleted = sqlx::query("DELETE FROM rules WHERE environment_id = $1 AND rule_id = $2")
                .bind(change.environment_id)
                .bind(rule_id)
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("rule {rule_id:?}")));
            }
            let revision = Self::next_revision(&mut tx, change.environment_id, rule_id).await?;
            Self::record_revision(&mut tx, &change, rule_id, revision, None, now, version).await?;
            revisions.push(((*rule_id).to_owned(), revision));
        }
        let mut details = change.details.clone();
        if let Some(obj) = details.as_object_mut() {
            obj.insert("version".into(), version.into());
        }
        audit(&mut tx, change.actor, change.action, change.target, details).await?;
        super::postgres::notify(&mut tx, self.engine, change.environment_id, Some(version)).await?;
        tx.commit().await?;
        Ok(CommittedVersion { version, revisions })
    }

    /// The next revision number of a rule: revisions continue across a delete and re-create.
    async fn next_revision(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        environment_id: i64,
        rule_id: &str,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(revision), 0) AS last FROM rule_revisions WHERE environment_id = $1 AND rule_id = $2",
        )
        .bind(environment_id)
        .bind(rule_id)
        .fetch_one(&mut **tx)
        .await?;
        let last: i64 = row.try_get("last")?;
        Ok(last + 1)
    }

    async fn record_revision(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        change: &Commit<'_>,
        rule_id: &str,
        revision: i64,
        body: Option<&str>,
        now: i64,
        version: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rule_revisions (environment_id, rule_id, revision, body, author, created_at, environment_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(change.environment_id)
        .bind(rule_id)
        .bind(revision)
        .bind(body)
        .bind(change.actor)
        .bind(now)
        .bind(version)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
