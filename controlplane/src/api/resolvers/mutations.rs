//! The mutations of the domain, verb first, one input object each. Each goes through the
//! [`Service`](crate::service::Service) (validated by the rules compiler, stored as one
//! transaction, pushed as one xDS version) and returns what it changed with the version that
//! carries it. The author of every revision and audit entry is the calling key's name.

use std::collections::BTreeMap;

use async_graphql::{Context, InputObject, Json, Object, SimpleObject};

use super::types::{
    parse_rule, ApiKey, ApplyMode, ApplyRulesPayload, ChangeInfo, DeleteRulePayload, Environment, Project,
    Rule, RulePayload, Variable,
};
use super::{domain, refused};
use crate::api::auth::principal;
use crate::api::errors::ApiError;
use crate::api::{requires_role, Role};
use crate::service::Change;
use crate::store::{EnvironmentPatch, ProjectPatch};

/// `createProject`'s input.
#[derive(InputObject, Debug)]
pub struct CreateProjectInput {
    /// Its name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Free text.
    #[graphql(default)]
    pub description: String,
}

/// `updateProject`'s input.
#[derive(InputObject, Debug)]
pub struct UpdateProjectInput {
    /// The project.
    pub name: String,
    /// A new description.
    pub description: Option<String>,
}

/// `deleteProject`'s input.
#[derive(InputObject, Debug)]
pub struct DeleteProjectInput {
    /// The project; its environments and their rules go with it.
    pub name: String,
}

/// What `deleteProject` returns.
#[derive(SimpleObject, Debug)]
pub struct DeleteProjectPayload {
    /// The project as it was.
    pub project: Project,
    /// Its environments, deleted with it (their data planes keep their last rules).
    pub deleted_environments: Vec<String>,
}

/// `createEnvironment`'s input.
#[derive(InputObject, Debug)]
pub struct CreateEnvironmentInput {
    /// Its project.
    pub project: String,
    /// Its name in the project.
    pub name: String,
    /// Free text.
    #[graphql(default)]
    pub description: String,
    /// Its template variables (`{{env.NAME}}`).
    #[graphql(default)]
    pub variables: Vec<Variable>,
}

/// `updateEnvironment`'s input: what is absent stays.
#[derive(InputObject, Debug)]
pub struct UpdateEnvironmentInput {
    /// `project/environment`.
    pub path: String,
    /// A new description.
    pub description: Option<String>,
    /// Its template variables, all of them (a new version is pushed).
    pub variables: Option<Vec<Variable>>,
}

/// What `createEnvironment` and `updateEnvironment` return.
#[derive(SimpleObject, Debug)]
pub struct EnvironmentPayload {
    /// The environment as it is now.
    pub environment: Environment,
    /// The version pushed, when the change reached its data planes (null when only its
    /// description changed).
    pub change: Option<ChangeInfo>,
}

/// `deleteEnvironment`'s input.
#[derive(InputObject, Debug)]
pub struct DeleteEnvironmentInput {
    /// `project/environment`; its rules and their revisions go with it.
    pub path: String,
}

/// Projects and environments.
#[derive(Default)]
pub struct EnvironmentMutations;

#[Object]
impl EnvironmentMutations {
    /// Creates a project.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> Result<Project, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let p = d.service.create_project(&who.key_name, &input.name, &input.description).await;
        Ok(p.map_err(|e| refused(e, "input.name"))?.into())
    }

    /// Changes a project's description.
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        input: UpdateProjectInput,
    ) -> Result<Project, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let patch = ProjectPatch { description: input.description };
        let p = d.service.store().update_project(&input.name, &patch, &who.key_name).await;
        Ok(p.map_err(|e| refused(e.into(), "input"))?.into())
    }

    /// Deletes a project with its environments; their data planes keep serving their last rules.
    async fn delete_project(
        &self,
        ctx: &Context<'_>,
        input: DeleteProjectInput,
    ) -> Result<DeleteProjectPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let (project, deleted_environments) = d
            .service
            .delete_project(&who.key_name, &input.name)
            .await
            .map_err(|e| refused(e, "input.name"))?;
        Ok(DeleteProjectPayload { project: project.into(), deleted_environments })
    }

    /// Creates an environment, with no rules, served at once (an empty rule set).
    async fn create_environment(
        &self,
        ctx: &Context<'_>,
        input: CreateEnvironmentInput,
    ) -> Result<EnvironmentPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let variables = variables(&input.variables)?;
        let env = d
            .service
            .create_environment(&who.key_name, &input.project, &input.name, &input.description)
            .await
            .map_err(|e| refused(e, "input"))?;
        let path = env.path();
        if variables.is_empty() {
            return Ok(EnvironmentPayload { environment: env.into(), change: None });
        }
        let change = d
            .service
            .set_variables(&who.key_name, &path, variables)
            .await
            .map_err(|e| refused(e, "input.variables"))?;
        environment_payload(d, &path, Some(&change)).await
    }

    /// Changes an environment's description or variables.
    async fn update_environment(
        &self,
        ctx: &Context<'_>,
        input: UpdateEnvironmentInput,
    ) -> Result<EnvironmentPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let env = d.service.environment(&input.path).await.map_err(|e| refused(e, "input.path"))?;
        let vars = input.variables.as_deref().map(variables).transpose()?;
        if input.description.is_some() {
            let patch = EnvironmentPatch { description: input.description };
            d.service
                .store()
                .update_environment(&env.project, &env.name, &patch, &who.key_name)
                .await
                .map_err(|e| refused(e.into(), "input"))?;
        }
        let change = match vars {
            Some(vars) => Some(
                d.service
                    .set_variables(&who.key_name, &input.path, vars)
                    .await
                    .map_err(|e| refused(e, "input.variables"))?,
            ),
            None => None,
        };
        environment_payload(d, &input.path, change.as_ref()).await
    }

    /// Deletes an environment and its rules; its data planes keep serving their last rules.
    async fn delete_environment(
        &self,
        ctx: &Context<'_>,
        input: DeleteEnvironmentInput,
    ) -> Result<Environment, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let env = d
            .service
            .delete_environment(&who.key_name, &input.path)
            .await
            .map_err(|e| refused(e, "input.path"))?;
        Ok(env.into())
    }
}

fn variables(list: &[Variable]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut map = BTreeMap::new();
    for (i, v) in list.iter().enumerate() {
        if map.insert(v.name.clone(), v.value.clone()).is_some() {
            return Err(ApiError::invalid(
                format!("input.variables[{i}].name"),
                format!("{:?} is given twice", v.name),
            ));
        }
    }
    Ok(map)
}

async fn environment_payload(
    d: &super::Domain,
    path: &str,
    change: Option<&Change>,
) -> Result<EnvironmentPayload, ApiError> {
    let env = d.service.environment(path).await.map_err(|e| refused(e, "input.path"))?;
    Ok(EnvironmentPayload { environment: env.into(), change: change.map(ChangeInfo::from) })
}

/// `createRule`'s input.
#[derive(InputObject, Debug)]
pub struct CreateRuleInput {
    /// `project/environment`.
    pub environment: String,
    /// The rule, as in a rules file (docs/rules.md): `{id: "hello", match: {path: "/hello"}, response: {body: "hi"}}`.
    pub rule: Json<serde_json::Value>,
    /// Where in the rule set's order (0 first); at the end when absent.
    pub position: Option<i32>,
}

/// `updateRule`'s input.
#[derive(InputObject, Debug)]
pub struct UpdateRuleInput {
    /// `project/environment`.
    pub environment: String,
    /// The rule to change.
    pub id: String,
    /// The whole rule as it should be (its `id` may be left out; if given it must be `id`).
    pub rule: Json<serde_json::Value>,
}

/// The input of `deleteRule`, `enableRule` and `disableRule`.
#[derive(InputObject, Debug)]
pub struct RuleRefInput {
    /// `project/environment`.
    pub environment: String,
    /// The rule.
    pub id: String,
}

/// `rollbackRule`'s input.
#[derive(InputObject, Debug)]
pub struct RollbackRuleInput {
    /// `project/environment`.
    pub environment: String,
    /// The rule.
    pub id: String,
    /// The revision to bring back (see `ruleRevisions`); a deleted rule comes back too.
    pub revision: i64,
}

/// `applyRules`' input: a whole rule set, as in a rules file, in one of two forms.
#[derive(InputObject, Debug)]
pub struct ApplyRulesInput {
    /// `project/environment`.
    pub environment: String,
    /// The rule set as JSON (`{rules: [...], variables: {...}}`).
    pub rule_set: Option<Json<serde_json::Value>>,
    /// Or the rule set as the text of a rules file, YAML or JSON.
    pub text: Option<String>,
    /// Replace what is in force, or merge into it.
    #[graphql(default_with = "ApplyMode::Replace")]
    pub mode: ApplyMode,
}

/// Rules.
#[derive(Default)]
pub struct RuleMutations;

#[Object]
impl RuleMutations {
    /// Adds a rule to an environment.
    async fn create_rule(&self, ctx: &Context<'_>, input: CreateRuleInput) -> Result<RulePayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let rule = parse_rule(&input.rule.0, "input.rule")?;
        let position = match input.position {
            Some(p) if p < 0 => {
                return Err(ApiError::invalid("input.position", format!("must be 0 or more, got {p}")))
            }
            p => p.map(|p| p as usize),
        };
        let change = d
            .service
            .create_rule(&who.key_name, &input.environment, rule, position)
            .await
            .map_err(|e| refused(e, "input"))?;
        one_rule(change)
    }

    /// Replaces a rule with a new revision of it.
    async fn update_rule(&self, ctx: &Context<'_>, input: UpdateRuleInput) -> Result<RulePayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let mut json = input.rule.0;
        if let Some(obj) = json.as_object_mut() {
            obj.entry("id").or_insert_with(|| serde_json::Value::String(input.id.clone()));
        }
        let rule = parse_rule(&json, "input.rule")?;
        let change = d
            .service
            .update_rule(&who.key_name, &input.environment, &input.id, rule)
            .await
            .map_err(|e| refused(e, "input"))?;
        one_rule(change)
    }

    /// Deletes a rule (its revisions are kept: `rollbackRule` brings it back).
    async fn delete_rule(
        &self,
        ctx: &Context<'_>,
        input: RuleRefInput,
    ) -> Result<DeleteRulePayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let change = d
            .service
            .delete_rule(&who.key_name, &input.environment, &input.id)
            .await
            .map_err(|e| refused(e, "input"))?;
        Ok(DeleteRulePayload { id: input.id, change: ChangeInfo::from(&change) })
    }

    /// Turns a rule on.
    async fn enable_rule(&self, ctx: &Context<'_>, input: RuleRefInput) -> Result<RulePayload, ApiError> {
        set_enabled(ctx, input, true).await
    }

    /// Turns a rule off: it stays, and no request matches it.
    async fn disable_rule(&self, ctx: &Context<'_>, input: RuleRefInput) -> Result<RulePayload, ApiError> {
        set_enabled(ctx, input, false).await
    }

    /// Brings back an earlier revision of a rule, as a new revision.
    async fn rollback_rule(
        &self,
        ctx: &Context<'_>,
        input: RollbackRuleInput,
    ) -> Result<RulePayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let change = d
            .service
            .rollback_rule(&who.key_name, &input.environment, &input.id, input.revision)
            .await
            .map_err(|e| refused(e, "input"))?;
        one_rule(change)
    }

    /// A whole rule set for an environment, as one atomic change: every rule is validated
    /// first, and nothing is stored or pushed unless all are valid.
    async fn apply_rules(
        &self,
        ctx: &Context<'_>,
        input: ApplyRulesInput,
    ) -> Result<ApplyRulesPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let (set, place) =
            super::pipeline::parse_rule_set(input.rule_set.as_ref(), input.text.as_deref(), "input")?;
        let mode = match input.mode {
            ApplyMode::Replace => crate::service::ApplyMode::Replace,
            ApplyMode::Merge => crate::service::ApplyMode::Merge,
        };
        let change = d
            .service
            .apply_rules(&who.key_name, &input.environment, set, mode)
            .await
            .map_err(|e| refused(e, &place))?;
        Ok(change.into())
    }
}

async fn set_enabled(ctx: &Context<'_>, input: RuleRefInput, enabled: bool) -> Result<RulePayload, ApiError> {
    let (d, who) = (domain(ctx)?, principal(ctx)?);
    let change = d
        .service
        .set_enabled(&who.key_name, &input.environment, &input.id, enabled)
        .await
        .map_err(|e| refused(e, "input"))?;
    one_rule(change)
}

fn one_rule(mut change: Change) -> Result<RulePayload, ApiError> {
    let info = ChangeInfo::from(&change);
    let rule = change.changed.pop().ok_or_else(|| ApiError::internal("a one-rule change changed no rule"))?;
    Ok(RulePayload { rule: Rule(rule), change: info })
}

/// `createApiKey`'s input.
#[derive(InputObject, Debug)]
pub struct CreateApiKeyInput {
    /// Its name: recorded as the author of what it changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// What `createApiKey` returns.
#[derive(SimpleObject, Debug)]
pub struct CreateApiKeyPayload {
    /// The key.
    pub api_key: ApiKey,
    /// Its secret, for `Authorization: Bearer …`: shown this once, stored only hashed.
    pub secret: String,
}

/// `revokeApiKey`'s input.
#[derive(InputObject, Debug)]
pub struct RevokeApiKeyInput {
    /// The key's name.
    pub name: String,
}

/// API keys: admin only.
#[derive(Default)]
pub struct KeyMutations;

#[Object]
impl KeyMutations {
    /// Creates an API key and shows its secret, once.
    #[graphql(directive = requires_role::apply(Role::Admin))]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<CreateApiKeyPayload, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let key = d
            .service
            .store()
            .create_api_key(&input.name, input.role.into(), &who.key_name)
            .await
            .map_err(|e| refused(e.into(), "input.name"))?;
        Ok(CreateApiKeyPayload { api_key: key.key.into(), secret: key.secret })
    }

    /// Revokes an API key: calls with it are refused from now on (a WebSocket already open
    /// keeps the key it connected with until it closes).
    #[graphql(directive = requires_role::apply(Role::Admin))]
    async fn revoke_api_key(&self, ctx: &Context<'_>, input: RevokeApiKeyInput) -> Result<ApiKey, ApiError> {
        let (d, who) = (domain(ctx)?, principal(ctx)?);
        let key = d
            .service
            .store()
            .revoke_api_key(&input.name, &who.key_name)
            .await
            .map_err(|e| refused(e.into(), "input.name"))?;
        Ok(key.into())
    }
}
