//! The control plane's store: projects, environments, the rules of each environment with every
//! revision kept, API keys, and an audit log of every change.
//!
//! SQLite embedded by default (a file in the data folder, WAL), PostgreSQL for replicas that
//! share one database ([`postgres`]), both through sqlx's `Any` driver: one migrations folder
//! per engine and the same statements (hand-written SQL with `$N` placeholders, 64-bit
//! integers, JSON as text). Migrations are embedded in the binary and run when the store opens.
//!
//! The store keeps what it is given; it does not judge rules. The service
//! ([`crate::service`]) validates a change with the data plane's own compiler before it asks
//! the store to commit it, and a commit is one transaction: the rows, their revisions, the
//! environment's new version and the audit entry, or nothing.

mod keys;
pub mod postgres;
mod projects;
mod recording;
mod resets;
mod rules;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use mockplane_rules::model::{Cors, Rule};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

pub use keys::{ApiKey, NewApiKey, Role};
pub use postgres::{ChangeFeed, FeedEvent, Location};
pub use projects::{Environment, EnvironmentPatch, Project, ProjectPatch};
pub use recording::RecordingCommit;
pub use resets::ResetCommit;
pub use rules::{Commit, CommittedVersion, Revision, StoredRule};

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What was asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// It would clash with what exists (a name taken, a version moved on).
    #[error("{0}")]
    Conflict(String),
    /// The input is not acceptable (an empty name, a weak key).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("the store failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("the store's schema could not be migrated: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database's location is not one the store can open (`--database-url`).
    #[error("{0}")]
    Location(String),
    /// The database server could not be reached or refused the connection.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// Where, its password left out.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A stored value does not read back (a rule the model no longer accepts, say).
    #[error("the store holds {0}")]
    Corrupt(String),
}

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A file, for one control plane.
    Sqlite,
    /// A server, which several control planes may share.
    Postgres,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    /// The PostgreSQL URL, for the listener of [`Store::change_feed`].
    url: Option<std::sync::Arc<str>>,
}

/// The environment-level settings of a rule set: what a rules file holds besides its rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSettings {
    /// Readable from templates as `{{env.NAME}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Named upstreams for `forward` rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, mockplane_rules::model::Upstream>,
    /// Where requests no rule matches go (sidecar mode); absent: the 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<mockplane_rules::model::Unmatched>,
    /// The CORS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Scenarios that do not start in `Started`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scenarios: BTreeMap<String, mockplane_rules::model::Scenario>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Its number, increasing.
    pub id: i64,
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// The API key's name (or `bootstrap`, `import` for what the process itself did).
    pub actor: String,
    /// The mutation (`createRule`, `applyRules`, …).
    pub action: String,
    /// What it changed: `project`, `project/environment`, `project/environment/rule`, a key.
    pub target: String,
    /// The details, as JSON.
    pub details: serde_json::Value,
}

/// An embedded migration.
fn migration(version: i64, description: &'static str, sql: &'static str) -> Migration {
    Migration::new(
        version,
        Cow::Borrowed(description),
        MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(sql),
        false,
    )
}

/// The migrations of the SQLite dialect, embedded.
fn sqlite_migrations() -> Migrator {
    Migrator::with_migrations(vec![
        migration(1, "initial", include_str!("migrations/sqlite/0001_initial.sql")),
        migration(2, "reset epochs", include_str!("migrations/sqlite/0002_reset_epochs.sql")),
        migration(3, "recording", include_str!("migrations/sqlite/0003_recording.sql")),
    ])
}

impl Store {
    /// Opens the store at `location` and brings its schema up to date: `postgres://…` (or
    /// `postgresql://…`) is a PostgreSQL database, `sqlite://PATH` or a bare path a SQLite file
    /// (created when missing). See [`Location::parse`].
    pub async fn open(location: &str) -> Result<Store, StoreError> {
        match Location::parse(location)? {
            Location::Sqlite(path) => Self::open_sqlite(&path).await,
            Location::Postgres(url) => Self::open_postgres(&url).await,
        }
    }

    /// Which engine it is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A transaction that writes. On SQLite it takes the write lock at its start (`BEGIN
    /// IMMEDIATE`, waiting up to the busy timeout for another writer): a deferred one that read
    /// first and writes later fails at once with "database is locked" when another connection
    /// wrote in between, since its snapshot is stale then (seen as a flaky store test in CI).
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.pool.begin().await?,
        })
    }

    /// Opens (creating when missing) the SQLite store at `path`, in WAL mode, and brings its
    /// schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            // SQLite takes one writer at a time; a few connections serve concurrent reads.
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Per connection: cascades on delete, and wait for a writer instead of failing.
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        // Persistent for the file: readers do not block the writer, nor it them.
        sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        sqlite_migrations().run(&pool).await?;
        Ok(Store { pool, engine: Engine::Sqlite, url: None })
    }

    /// The audit log, newest first: at most `limit` entries older than `before` (an entry id).
    pub async fn audit_log(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, details FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let details: String = row.try_get("details")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    details: serde_json::from_str(&details).map_err(|e| {
                        StoreError::Corrupt(format!("an audit entry whose details are not JSON: {e}"))
                    })?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Who made the last change to the environment `path` (`project/environment`) or one of
    /// its rules, and by which mutation, from the audit log.
    pub async fn last_change_to(&self, path: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT actor, action FROM audit_log \
             WHERE target = $1 OR substr(target, 1, CAST($2 AS INTEGER)) = $3 ORDER BY id DESC LIMIT 1",
        )
        .bind(path)
        .bind(path.len() as i64 + 1)
        .bind(format!("{path}/"))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("actor")?, r.try_get("action")?))).transpose()
    }
}

/// Records a change in the audit log, inside the caller's transaction.
async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &str,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)")
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(details.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A rule from its stored JSON.
fn rule_from_json(json: &str, what: &str) -> Result<Rule, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("{what} that no longer reads as a rule: {e}")))
}

/// Whether an error is a uniqueness violation (a name taken), across engines.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A column of `row` that is a role.
fn role_of(row: &AnyRow) -> Result<Role, StoreError> {
    let role: String = row.try_get("role")?;
    Role::from_str(&role).map_err(|_| StoreError::Corrupt(format!("an API key with the role {role:?}")))
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
