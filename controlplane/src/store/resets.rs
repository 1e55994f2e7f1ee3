//! Resets of an environment's data planes (scenario state, the journal: docs/xds.md,
//! "Resets"). A reset is a version of the environment like a rules change: it moves the
//! environment's version on, so that the xDS version carrying it never shares its serial with
//! a later change, and it is in the audit log. Its epochs are kept with the environment: a
//! restarted control plane pushes them on, so that no data plane sees an epoch go back, and
//! one that was away when the reset was made still applies it when it returns.

use mockplane_proto::convert::ResetEpochs;

use super::{audit, now_ms, Store, StoreError};

/// A reset to record, made against the environment's version `expected_version`.
#[derive(Debug)]
pub struct ResetCommit<'a> {
    /// The environment (its row id).
    pub environment_id: i64,
    /// The environment version the reset was made against: another change landing first
    /// makes this one a conflict, and nothing is written.
    pub expected_version: i64,
    /// The environment's epochs from now on (the reset's own moved on, the other as it was).
    pub resets: ResetEpochs,
    /// Who: the API key's name.
    pub actor: &'a str,
    /// The mutation, for the audit log (`resetScenarios`, `resetJournal`).
    pub action: &'a str,
    /// What it targets, for the audit log: `project/environment`.
    pub target: &'a str,
}

/// An epoch as a column holds it (a signed 64-bit integer; epochs are milliseconds since the
/// epoch, far below its limit).
fn column(epoch: u64) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

/// An epoch read from its column (a negative one, which is never written, reads as none).
pub(super) fn epoch(column: i64) -> u64 {
    u64::try_from(column).unwrap_or(0)
}

impl Store {
    /// Records a reset in one transaction: the environment's next version with its new epochs,
    /// and the audit entry (its details: the epochs and the version). Returns the version.
    pub async fn commit_reset(&self, reset: ResetCommit<'_>) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let version = reset.expected_version + 1;
        let bumped = sqlx::query(
            "UPDATE environments SET version = $1, updated_at = $2, reset_scenarios = $3, reset_journal = $4 \
             WHERE id = $5 AND version = $6",
        )
        .bind(version)
        .bind(now_ms())
        .bind(column(reset.resets.scenarios))
        .bind(column(reset.resets.journal))
        .bind(reset.environment_id)
        .bind(reset.expected_version)
        .execute(&mut *tx)
        .await?;
        if bumped.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the environment changed while this reset was being made; make it again".into(),
            ));
        }
        let details = serde_json::json!({
            "resets": { "scenarios": reset.resets.scenarios, "journal": reset.resets.journal },
            "version": version,
        });
        audit(&mut tx, reset.actor, reset.action, reset.target, details).await?;
        super::postgres::notify(&mut tx, self.engine, reset.environment_id, Some(version)).await?;
        tx.commit().await?;
        Ok(version)
    }
}
