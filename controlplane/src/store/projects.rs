//! Projects and their environments. An environment is named `project/environment` on the xDS
//! link; both names are short identifiers, fixed once created (a data plane subscribes by them).

use mockplane_proto::convert::ResetEpochs;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::postgres::notify;
use super::resets::epoch;
use super::{audit, is_unique_violation, now_ms, EnvSettings, Store, StoreError};

/// A project: a group of environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its row id.
    pub id: i64,
    /// Its name, unique.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When it was created and last changed, in milliseconds since the epoch.
    pub created_at: i64,
    /// See `created_at`.
    pub updated_at: i64,
}

/// What `update_project` may change.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    /// A new description.
    pub description: Option<String>,
}

/// An environment: the rules one set of data planes serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// Its row id.
    pub id: i64,
    /// Its project's name.
    pub project: String,
    /// Its name, unique in its project.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Variables, upstreams and CORS policy of its rule set.
    pub settings: EnvSettings,
    /// Counts the committed changes to its rules and settings, and its resets (0: none yet).
    pub version: i64,
    /// The epochs of its last reset of each kind (zero: never), which every version pushed
    /// to its data planes carries (see [`super::ResetCommit`]).
    pub resets: ResetEpochs,
    /// What its data planes record, while it records (see [`super::RecordingCommit`]).
    pub recording: Option<mockplane_proto::convert::Recording>,
    /// When it was created and last changed, in milliseconds since the epoch.
    pub created_at: i64,
    /// See `created_at`.
    pub updated_at: i64,
}

impl Environment {
    /// `project/environment`, its name on the xDS link.
    pub fn path(&self) -> String {
        format!("{}/{}", self.project, self.name)
    }
}

/// What `update_environment` may change (its settings change through a rules commit, which
/// validates them and pushes a new version).
#[derive(Debug, Clone, Default)]
pub struct EnvironmentPatch {
    /// A new description.
    pub description: Option<String>,
}

/// Checks a project or environment name: 1 to 64 characters of letters, digits, `.`, `_`, `-`.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "a {what} name is 1 to 64 letters, digits, '.', '_' or '-', got {name:?}"
        )))
    }
}

fn project_of(row: &AnyRow) -> Result<Project, StoreError> {
    Ok(Project {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn environment_of(row: &AnyRow) -> Result<Environment, StoreError> {
    let settings: String = row.try_get("settings")?;
    Ok(Environment {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("environment settings that do not read back: {e}")))?,
        version: row.try_get("version")?,
        resets: ResetEpochs {
            scenarios: epoch(row.try_get("reset_scenarios")?),
            journal: epoch(row.try_get("reset_journal")?),
        },
        recording: super::recording::read(row.try_get("recording")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const ENVIRONMENT_COLUMNS: &str = "e.id, p.name AS project, e.name, e.description, e.settings, e.version, \
     e.reset_scenarios, e.reset_journal, e.recording, e.created_at, e.updated_at FROM environments e JOIN projects p ON p.id = e.project_id";

impl Store {
    /// Creates a project.
    pub async fn create_project(
        &self,
        name: &str,
        description: &str,
        actor: &str,
    ) -> Result<Project, StoreError> {
        check_name("project", name)?;
        let mut tx = self.write_tx().await?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO projects (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(name)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("a project named {name:?} exists")))
            }
            other => other?,
        };
        audit(&mut tx, actor, "createProject", name, serde_json::json!({ "description": description }))
            .await?;
        let project = Self::project_in(&mut tx, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("project {name:?}")))?;
        tx.commit().await?;
        Ok(project)
    }

    async fn project_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        name: &str,
    ) -> Result<Option<Project>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, description, created_at, updated_at FROM projects WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut **tx)
                .await?;
        row.as_ref().map(project_of).transpose()
    }

    /// Every project, by name.
    pub async fn projects(&self) -> Result<Vec<Project>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, description, created_at, updated_at FROM projects ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(project_of).collect()
    }

    /// The project named `name`.
    pub async fn project(&self, name: &str) -> Result<Option<Project>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, description, created_at, updated_at FROM projects WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(project_of).transpose()
    }

    /// Changes a project's description.
    pub async fn update_project(
        &self,
        name: &str,
        patch: &ProjectPatch,
        actor: &str,
    ) -> Result<Project, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(before) = Self::project_in(&mut tx, name).await? else {
            return Err(StoreError::NotFound(format!("project {name:?}")));
        };
        let description = patch.description.as_deref().unwrap_or(&before.description);
        sqlx::query("UPDATE projects SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description)
            .bind(now_ms())
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "updateProject", name, serde_json::json!({ "description": description }))
            .await?;
        let after = Self::project_in(&mut tx, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("project {name:?}")))?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a project with its environments, their rules and revisions; returns the
    /// environments it had (`project/environment`).
    pub async fn delete_project(
        &self,
        name: &str,
        actor: &str,
    ) -> Result<(Project, Vec<String>), StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(project) = Self::project_in(&mut tx, name).await? else {
            return Err(StoreError::NotFound(format!("project {name:?}")));
        };
        let rows =
            sqlx::query("SELECT id, name, version FROM environments WHERE project_id = $1 ORDER BY name")
                .bind(project.id)
                .fetch_all(&mut *tx)
                .await?;
        let mut envs = Vec::with_capacity(rows.len());
        for row in &rows {
            envs.push(format!("{name}/{}", row.try_get::<String, _>("name")?));
            notify(&mut tx, self.engine, row.try_get("id")?, None).await?;
        }
        sqlx::query("DELETE FROM projects WHERE id = $1").bind(project.id).execute(&mut *tx).await?;
        audit(&mut tx, actor, "deleteProject", name, serde_json::json!({ "environments": envs })).await?;
        tx.commit().await?;
        Ok((project, envs))
    }

    /// Creates an environment of `project`, with no rules yet (version 0).
    pub async fn create_environment(
        &self,
        project: &str,
        name: &str,
        description: &str,
        actor: &str,
    ) -> Result<Environment, StoreError> {
        check_name("environment", name)?;
        let mut tx = self.write_tx().await?;
        let Some(p) = Self::project_in(&mut tx, project).await? else {
            return Err(StoreError::NotFound(format!("project {project:?}")));
        };
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO environments (project_id, name, description, settings, version, created_at, updated_at) \
             VALUES ($1, $2, $3, '{}', 0, $4, $4)",
        )
        .bind(p.id)
        .bind(name)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "project {project:?} has an environment named {name:?}"
                )))
            }
            other => other?,
        };
        let path = format!("{project}/{name}");
        audit(&mut tx, actor, "createEnvironment", &path, serde_json::json!({ "description": description }))
            .await?;
        let env = Self::environment_in(&mut tx, project, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("environment {path:?}")))?;
        notify(&mut tx, self.engine, env.id, Some(env.version)).await?;
        tx.commit().await?;
        Ok(env)
    }

    pub(super) async fn environment_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        project: &str,
        name: &str,
    ) -> Result<Option<Environment>, StoreError> {
        let sql = format!("SELECT {ENVIRONMENT_COLUMNS} WHERE p.name = $1 AND e.name = $2");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(project).bind(name).fetch_optional(&mut **tx).await?;
        row.as_ref().map(environment_of).transpose()
    }

    /// The environment `project/name`.
    pub async fn environment(&self, project: &str, name: &str) -> Result<Option<Environment>, StoreError> {
        let sql = format!("SELECT {ENVIRONMENT_COLUMNS} WHERE p.name = $1 AND e.name = $2");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(project).bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(environment_of).transpose()
    }

    /// Every environment (of `project`, when given), by project and name.
    pub async fn environments(&self, project: Option<&str>) -> Result<Vec<Environment>, StoreError> {
        let rows = match project {
            Some(project) => {
                let sql = format!("SELECT {ENVIRONMENT_COLUMNS} WHERE p.name = $1 ORDER BY p.name, e.name");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(project).fetch_all(&self.pool).await?
            }
            None => {
                let sql = format!("SELECT {ENVIRONMENT_COLUMNS} ORDER BY p.name, e.name");
                sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?
            }
        };
        rows.iter().map(environment_of).collect()
    }

    /// Changes an environment's description.
    pub async fn update_environment(
        &self,
        project: &str,
        name: &str,
        patch: &EnvironmentPatch,
        actor: &str,
    ) -> Result<Environment, StoreError> {
        let path = format!("{project}/{name}");
        let mut tx = self.write_tx().await?;
        let Some(before) = Self::environment_in(&mut tx, project, name).await? else {
            return Err(StoreError::NotFound(format!("environment {path:?}")));
        };
        let description = patch.description.as_deref().unwrap_or(&before.description);
        sqlx::query("UPDATE environments SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description)
            .bind(now_ms())
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "updateEnvironment", &path, serde_json::json!({ "description": description }))
            .await?;
        let after = Self::environment_in(&mut tx, project, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("environment {path:?}")))?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes an environment with its rules and their revisions.
    pub async fn delete_environment(
        &self,
        project: &str,
        name: &str,
        actor: &str,
    ) -> Result<Environment, StoreError> {
        let path = format!("{project}/{name}");
        let mut tx = self.write_tx().await?;
        let Some(env) = Self::environment_in(&mut tx, project, name).await? else {
            return Err(StoreError::NotFound(format!("environment {path:?}")));
        };
        sqlx::query("DELETE FROM environments WHERE id = $1").bind(env.id).execute(&mut *tx).await?;
        audit(&mut tx, actor, "deleteEnvironment", &path, serde_json::json!({ "version": env.version }))
            .await?;
        notify(&mut tx, self.engine, env.id, None).await?;
        tx.commit().await?;
        Ok(env)
    }
}
