//! API keys: random 256-bit secrets handed out once (`mp_…`), stored only as their SHA-256,
//! each with a name (recorded as the author of what it changes) and a role.
//!
//! A fast hash is the right one here: the secret has 256 bits of entropy, so there is nothing
//! for a slow password hash to protect, and every API call hashes the key it carries.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{audit, is_unique_violation, now_ms, role_of, Store, StoreError};

/// What a key may do; each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Query and subscribe.
    Viewer,
    /// Also change projects, environments and rules.
    Editor,
    /// Also manage API keys.
    Admin,
}

impl Role {
    /// `viewer`, `editor` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}: expected viewer, editor or admin")),
        }
    }
}

/// An API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its row id.
    pub id: i64,
    /// Its name, unique: the author recorded for what it changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created, in milliseconds since the epoch.
    pub created_at: i64,
    /// The name of the key that created it (`bootstrap` for the first).
    pub created_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A key just created: the secret is shown this once and never stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key's record.
    pub key: ApiKey,
    /// The key itself, `mp_` and 43 characters.
    pub secret: String,
}

/// The shortest key accepted from outside (`--api-key`, `MOCKPLANE_API_KEY`).
const MIN_IMPORTED_KEY: usize = 20;

fn hash_key(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    // A generator seeded from the OS for each key: keys are rare, and none shares a stream.
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    format!("mp_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn api_key_of(row: &sqlx::any::AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role_of(row)?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const KEY_COLUMNS: &str = "SELECT id, name, role, created_at, created_by, revoked_at FROM api_keys";

impl Store {
    /// Creates a key named `name` with `role`; its secret is returned this once.
    pub async fn create_api_key(&self, name: &str, role: Role, actor: &str) -> Result<NewApiKey, StoreError> {
        let secret = new_secret();
        let key = self.insert_key(name, role, &secret, actor).await?;
        Ok(NewApiKey { key, secret })
    }

    /// Stores a key given from outside (the operator's `--api-key`): at least 20 characters.
    pub async fn import_api_key(
        &self,
        name: &str,
        role: Role,
        secret: &str,
        actor: &str,
    ) -> Result<ApiKey, StoreError> {
        if secret.chars().count() < MIN_IMPORTED_KEY
            || secret.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(StoreError::Invalid(format!(
                "an API key is at least {MIN_IMPORTED_KEY} characters without spaces; generate one with e.g. `openssl rand -base64 32`"
            )));
        }
        self.insert_key(name, role, secret, actor).await
    }

    async fn insert_key(
        &self,
        name: &str,
        role: Role,
        secret: &str,
        actor: &str,
    ) -> Result<ApiKey, StoreError> {
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
            return Err(StoreError::Invalid(format!(
                "an API key's name is 1 to 64 printable characters, got {name:?}"
            )));
        }
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO api_keys (name, role, key_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(hash_key(secret))
        .bind(now_ms())
        .bind(actor)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "an API key named {name:?} exists, or the same key does"
                )))
            }
            other => other?,
        };
        audit(&mut tx, actor, "createApiKey", name, serde_json::json!({ "role": role.as_str() })).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{KEY_COLUMNS} WHERE name = $1")))
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        let key = api_key_of(&row)?;
        tx.commit().await?;
        Ok(key)
    }

    /// The key `secret` is, if it exists and is not revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{KEY_COLUMNS} WHERE key_hash = $1 AND revoked_at IS NULL"
        )))
        .bind(hash_key(secret))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_key_of).transpose()
    }

    /// Every key, revoked ones included, by name.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{KEY_COLUMNS} ORDER BY name")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(api_key_of).collect()
    }

    /// Whether any key exists (revoked or not): the first start creates one.
    pub async fn has_api_keys(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Revokes the key named `name`: it authenticates nothing from now on.
    pub async fn revoke_api_key(&self, name: &str, actor: &str) -> Result<ApiKey, StoreError> {
        let mut tx = self.write_tx().await?;
        let revoked =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(name)
                .execute(&mut *tx)
                .await?;
        if revoked.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("an unrevoked API key named {name:?}")));
        }
        audit(&mut tx, actor, "revokeApiKey", name, serde_json::json!({})).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{KEY_COLUMNS} WHERE name = $1")))
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        let key = api_key_of(&row)?;
        tx.commit().await?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_url_safe() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 43);
        assert!(
            a.starts_with("mp_")
                && a[3..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn roles_order_by_what_they_may_do() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        for role in [Role::Viewer, Role::Editor, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("viewer, editor or admin"));
    }
}
