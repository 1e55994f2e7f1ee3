//! The recording settings of an environment (`startRecording`, docs/rules.md "Record"):
//! starting or stopping a recording is a version of the environment, like a reset, so the
//! version carrying the settings never shares its serial with another change, and it is in the
//! audit log. The settings are kept with the environment, as JSON, so that a restarted control
//! plane pushes them on.

use mockplane_proto::convert::Recording;

use super::{audit, now_ms, Store, StoreError};

/// A recording started or stopped, against the environment's version `expected_version`.
#[derive(Debug)]
pub struct RecordingCommit<'a> {
    /// The environment (its row id).
    pub environment_id: i64,
    /// The version it was made against: another change landing first makes this a conflict.
    pub expected_version: i64,
    /// The settings from now on; `None` stops the recording.
    pub recording: Option<&'a Recording>,
    /// Who: the API key's name (`recording` when the control plane stops at the limit).
    pub actor: &'a str,
    /// The mutation, for the audit log (`startRecording`, `stopRecording`).
    pub action: &'a str,
    /// `project/environment`, for the audit log.
    pub target: &'a str,
}

/// The settings as JSON.
fn json(r: &Recording) -> serde_json::Value {
    serde_json::json!({
        "methods": r.methods,
        "pathPrefix": r.path_prefix,
        "pathRegex": r.path_regex,
        "limit": r.limit,
        "startedMs": r.started_ms,
    })
}

/// The settings read from their column (NULL: not recording).
pub(super) fn read(column: Option<String>) -> Result<Option<Recording>, StoreError> {
    let Some(text) = column else { return Ok(None) };
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("recording settings that do not read back: {what}"));
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| corrupt(&e.to_string()))?;
    let text_of = |key: &str| v.get(key).and_then(|s| s.as_str()).map(str::to_owned);
    Ok(Some(Recording {
        methods: v["methods"]
            .as_array()
            .ok_or_else(|| corrupt("no methods"))?
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect(),
        path_prefix: text_of("pathPrefix"),
        path_regex: text_of("pathRegex"),
        limit: v["limit"].as_u64().and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
        started_ms: v["startedMs"].as_u64().unwrap_or(0),
    }))
}

impl Store {
    /// Records a recording started or stopped in one transaction: the environment's next
    /// version with its settings, and the audit entry. Returns the version.
    pub async fn commit_recording(&self, c: RecordingCommit<'_>) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let version = c.expected_version + 1;
        let settings = c.recording.map(json);
        let bumped = sqlx::query(
            "UPDATE environments SET version = $1, updated_at = $2, recording = $3 WHERE id = $4 AND version = $5",
        )
        .bind(version)
        .bind(now_ms())
        .bind(settings.as_ref().map(|s| s.to_string()))
        .bind(c.environment_id)
        .bind(c.expected_version)
        .execute(&mut *tx)
        .await?;
        if bumped.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the environment changed while the recording was being started or stopped; try again".into(),
            ));
        }
        let details = serde_json::json!({ "recording": settings, "version": version });
        audit(&mut tx, c.actor, c.action, c.target, details).await?;
        super::postgres::notify(&mut tx, self.engine, c.environment_id, Some(version)).await?;
        tx.commit().await?;
        Ok(version)
    }
}
