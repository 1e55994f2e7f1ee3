//! What pipelines need beside the mutations: what an `applyRules` would change, without
//! changing anything (`previewRules`, behind `mockplane apply --dry-run` and `mockplane diff`),
//! and an environment's whole rule set as a rules file (`ruleSet`, behind `mockplane export`).

use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject};
use mockplane_rules::{Format, RuleSet};

use super::types::ApplyMode;
use super::{domain, refused};
use crate::api::errors::ApiError;

/// A rule set, in one of two forms (as `applyRules` takes it).
#[derive(InputObject, Debug)]
pub struct RuleSetInput {
    /// As JSON (`{rules: [...], variables: {...}}`).
    pub rule_set: Option<Json<serde_json::Value>>,
    /// Or as the text of a rules file, YAML or JSON.
    pub text: Option<String>,
}

impl RuleSetInput {
    /// The rule set, parsed as `mockplane validate` parses a file; errors placed under `place`.
    pub(crate) fn parse(&self, place: &str) -> Result<(RuleSet, String), ApiError> {
        parse_rule_set(self.rule_set.as_ref(), self.text.as_deref(), place)
    }
}

/// A rule set given as JSON or as a rules file's text (exactly one), parsed as `mockplane
/// validate` parses a file; errors placed under `place.ruleSet` or `place.text`, which is
/// returned for the errors found later.
pub(crate) fn parse_rule_set(
    rule_set: Option<&Json<serde_json::Value>>,
    text: Option<&str>,
    place: &str,
) -> Result<(RuleSet, String), ApiError> {
    let (text, format, place) = match (rule_set, text) {
        (Some(json), None) => (json.0.to_string(), Format::Json, format!("{place}.ruleSet")),
        (None, Some(text)) => {
            let format = if text.trim_start().starts_with('{') { Format::Json } else { Format::Yaml };
            (text.to_owned(), format, format!("{place}.text"))
        }
        _ => {
            return Err(ApiError::invalid(
                place,
                "give exactly one of ruleSet (JSON) and text (YAML or JSON)",
            ))
        }
    };
    let set = RuleSet::parse(&text, format).map_err(|e| ApiError::rules_refused(&e, &place))?;
    Ok((set, place))
}

/// One rule a change would create or change.
#[derive(SimpleObject, Debug)]
pub struct RuleDiff {
    /// The rule.
    pub id: String,
    /// As it is now (null: it would be created).
    pub before: Option<Json<serde_json::Value>>,
    /// As it would be.
    pub after: Json<serde_json::Value>,
}

/// What an `applyRules` would do.
#[derive(SimpleObject, Debug)]
pub struct RulesPreview {
    /// The rules it would create or change, in their new order.
    pub changed: Vec<RuleDiff>,
    /// The rules it would delete, as they are now.
    pub deleted: Vec<Json<serde_json::Value>>,
    /// Whether the variables, upstreams or CORS block would change.
    pub settings_changed: bool,
}

/// The text format of a rules file.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesFormat {
    /// YAML, as rules files are usually written.
    Yaml,
    /// JSON.
    Json,
}

fn json<T: serde::Serialize>(v: &T) -> Json<serde_json::Value> {
    Json(serde_json::to_value(v).unwrap_or_default())
}

/// The pipeline queries.
#[derive(Default)]
pub struct PipelineQueries;

#[Object]
impl PipelineQueries {
    /// What `applyRules` with this input would create, change and delete, validated as it
    /// would be (every error with its place); nothing is stored or pushed.
    async fn preview_rules(
        &self,
        ctx: &Context<'_>,
        environment: String,
        input: RuleSetInput,
        #[graphql(default_with = "ApplyMode::Replace")] mode: ApplyMode,
    ) -> Result<RulesPreview, ApiError> {
        let d = domain(ctx)?;
        let (set, place) = input.parse("input")?;
        let mode = match mode {
            ApplyMode::Replace => crate::service::ApplyMode::Replace,
            ApplyMode::Merge => crate::service::ApplyMode::Merge,
        };
        let p = d.service.preview_rules(&environment, set, mode).await.map_err(|e| refused(e, &place))?;
        Ok(RulesPreview {
            changed: p
                .changed
                .iter()
                .map(|c| RuleDiff {
                    id: c.after.id.clone(),
                    before: c.before.as_deref().map(json),
                    after: json(&*c.after),
                })
                .collect(),
            deleted: p.deleted.iter().map(|r| json(&**r)).collect(),
            settings_changed: p.settings_changed,
        })
    }

    /// The rule set of an environment in force, as a rules file: `mockplane export` writes it,
    /// and `applyRules` (or `mockplane import`) of it gives an identical environment.
    async fn rule_set(
        &self,
        ctx: &Context<'_>,
        environment: String,
        #[graphql(default_with = "RulesFormat::Yaml")] format: RulesFormat,
    ) -> Result<String, ApiError> {
        let d = domain(ctx)?;
        let set = d.service.rule_set(&environment).await.map_err(|e| refused(e, "environment"))?;
        match format {
            RulesFormat::Yaml => serde_yaml_ng::to_string(&*set).map_err(ApiError::internal),
            RulesFormat::Json => serde_json::to_string_pretty(&*set).map_err(ApiError::internal),
        }
    }
}
