//! `importWireMock` (docs/import.md, "WireMock mappings"): WireMock stubs given as JSON
//! become an environment's rules, as `mockplane import --from wiremock` does from files;
//! what has no equivalent comes back in `unsupported`, each with its place.

use async_graphql::types::Json;
use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::types::{ApplyRulesPayload, ChangeInfo, Rule};
use super::{domain, refused};
use crate::api::auth::principal;
use crate::api::errors::ApiError;

/// `importWireMock`'s input.
#[derive(InputObject, Debug)]
pub struct ImportWireMockInput {
    /// `project/environment`: its rules are replaced by the stubs'.
    pub environment: String,
    /// One stub, or `{"mappings": [...]}`. A `bodyFileName` cannot be read here: such a stub
    /// is reported in `unsupported` (import the folder with the CLI instead).
    pub mappings: Json<serde_json::Value>,
    /// Render every response as a template, as WireMock's `--global-response-templating`.
    #[graphql(default)]
    pub global_templating: bool,
}

/// A part of the stubs that was not imported.
#[derive(SimpleObject, Debug, Clone)]
pub struct UnsupportedPart {
    /// Where, in the stubs: `mappings[3].request.bodyPatterns[0].matchesXPath`.
    pub place: String,
    /// What it is and why it has no equivalent.
    pub message: String,
}

/// What `importWireMock` returns.
#[derive(SimpleObject, Debug)]
pub struct ImportWireMockPayload {
    /// The rules created or changed.
    pub changed: Vec<Rule>,
    /// The rules deleted, by id.
    pub deleted: Vec<String>,
    /// The version that carries it.
    pub change: ChangeInfo,
    /// What was not imported, in the order of the stubs.
    pub unsupported: Vec<UnsupportedPart>,
}

/// Importing other tools' mocks.
#[derive(Default)]
pub struct WireMockMutations;

#[Object]
impl WireMockMutations {
    /// Replaces an environment's rules by WireMock stubs converted, as one version.
    async fn import_wire_mock(
        &self,
        ctx: &Context<'_>,
        input: ImportWireMockInput,
    ) -> Result<ImportWireMockPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let options = mockplane_import::wiremock::Options { global_templating: input.global_templating };
        let imported = mockplane_import::wiremock::import_value(input.mappings.0, None, &options).map_err(
            |e| match e {
                mockplane_import::ImportError::Invalid { place, message } => ApiError::invalid(
                    format!(
                        "input.mappings{}",
                        if place.is_empty() { String::new() } else { format!(".{place}") }
                    ),
                    message,
                ),
                other => ApiError::invalid("input.mappings", other.to_string()),
            },
        )?;
        let change = d
            .service
            .apply_rules(&who.key_name, &input.environment, imported.set, crate::service::ApplyMode::Replace)
            .await
            .map_err(|e| refused(e, "input"))?;
        let ApplyRulesPayload { changed, deleted, change } = change.into();
        let unsupported = imported
            .unsupported
            .into_iter()
            .map(|u| UnsupportedPart { place: u.place, message: u.message })
            .collect();
        Ok(ImportWireMockPayload { changed, deleted, change, unsupported })
    }
}
