//! `startRecording` and `stopRecording` (docs/graphql.md, "Recording"): the data planes of an
//! environment record the forwarded request/answer pairs that pass a filter, and the control
//! plane stores each as a new, disabled rule (tag `recorded`) to review and enable.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use mockplane_proto::convert::Recording;

use super::types::ChangeInfo;
use super::{domain, refused};
use crate::api::auth::principal;
use crate::api::errors::ApiError;

/// `startRecording`'s input.
#[derive(InputObject, Debug)]
pub struct StartRecordingInput {
    /// `project/environment`: every data plane serving it records.
    pub environment: String,
    /// Only these methods (`GET`); none: every method.
    #[graphql(default)]
    pub methods: Vec<String>,
    /// Only paths starting with this (`/api/`). Not with `pathRegex`.
    pub path_prefix: Option<String>,
    /// Only paths matching this regular expression. Not with `pathPrefix`.
    pub path_regex: Option<String>,
    /// Stop after this many rules are recorded (and each data plane after sending this many
    /// pairs); 0 or none: no limit.
    pub limit: Option<i32>,
}

/// `stopRecording`'s input.
#[derive(InputObject, Debug)]
pub struct StopRecordingInput {
    /// `project/environment`.
    pub environment: String,
}

/// What starting or stopping a recording returns.
#[derive(SimpleObject, Debug)]
pub struct RecordingPayload {
    /// The version that carries the change: a data plane records (or stops) once it ACKs this
    /// `xdsVersion`.
    pub change: ChangeInfo,
}

/// Recording.
#[derive(Default)]
pub struct RecordingMutations;

#[Object]
impl RecordingMutations {
    /// Records forwarded traffic of the environment's data planes as disabled rules.
    async fn start_recording(
        &self,
        ctx: &Context<'_>,
        input: StartRecordingInput,
    ) -> Result<RecordingPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let limit = match input.limit {
            None => 0,
            Some(l) => u32::try_from(l)
                .map_err(|_| ApiError::invalid("input.limit", format!("must be 0 or more, got {l}")))?,
        };
        let recording = Recording {
            methods: input.methods,
            path_prefix: input.path_prefix,
            path_regex: input.path_regex,
            limit,
            started_ms: 0,
        };
        let change = d
            .service
            .start_recording(&who.key_name, &input.environment, recording)
            .await
            .map_err(|e| refused(e, "input"))?;
        Ok(RecordingPayload { change: ChangeInfo::from(&change) })
    }

    /// Stops the environment's recording; the rules recorded stay, disabled.
    async fn stop_recording(
        &self,
        ctx: &Context<'_>,
        input: StopRecordingInput,
    ) -> Result<RecordingPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let change = d
            .service
            .stop_recording(&who.key_name, &input.environment)
            .await
            .map_err(|e| refused(e, "input"))?;
        Ok(RecordingPayload { change: ChangeInfo::from(&change) })
    }
}
