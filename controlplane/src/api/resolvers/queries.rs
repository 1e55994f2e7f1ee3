//! The queries of the domain: projects and environments, rules (paged) and their revisions,
//! nodes and the versions in force, `explain`, API keys and the audit log.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object};
use mockplane_rules::{CompileOptions, Header, Request, RequestContext, RuleTable};

use super::types::{
    ApiKey, AuditEntry, Environment, EnvironmentVersions, Explanation, Node, Project, Rule, RuleRevision,
};
use super::{domain, refused, Domain};
use crate::api::errors::ApiError;
use crate::api::{requires_role, Role};

/// The most rules one page of `rules` holds.
const MAX_PAGE: usize = 1000;

/// Which rules `rules` lists.
#[derive(InputObject, Debug, Default)]
pub struct RuleFilter {
    /// Only this project's environments.
    pub project: Option<String>,
    /// Only this environment (`project/environment`).
    pub environment: Option<String>,
    /// Only rules with this tag.
    pub tag: Option<String>,
    /// Only enabled (true) or disabled (false) rules.
    pub enabled: Option<bool>,
}

/// Projects and environments.
#[derive(Default)]
pub struct EnvironmentQueries;

#[Object]
impl EnvironmentQueries {
    /// Every project, by name.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<Project>, ApiError> {
        let d = domain(ctx)?;
        Ok(d.service
            .projects()
            .await
            .map_err(|e| refused(e, "name"))?
            .into_iter()
            .map(Project::from)
            .collect())
    }

    /// One project, or null.
    async fn project(&self, ctx: &Context<'_>, name: String) -> Result<Option<Project>, ApiError> {
        let d = domain(ctx)?;
        Ok(d.service.store().project(&name).await.map_err(ApiError::internal)?.map(Project::from))
    }

    /// Every environment, or a project's.
    async fn environments(
        &self,
        ctx: &Context<'_>,
        project: Option<String>,
    ) -> Result<Vec<Environment>, ApiError> {
        let d = domain(ctx)?;
        if let Some(name) = &project {
            ensure_project(d, name).await?;
        }
        let envs = d.service.store().environments(project.as_deref()).await.map_err(ApiError::internal)?;
        Ok(envs.into_iter().map(Environment::from).collect())
    }

    /// One environment (`project/environment`), or null.
    async fn environment(&self, ctx: &Context<'_>, path: String) -> Result<Option<Environment>, ApiError> {
        let d = domain(ctx)?;
        match d.service.environment(&path).await {
            Ok(env) => Ok(Some(env.into())),
            Err(crate::service::ServiceError::NotFound(_)) => Ok(None),
            Err(e) => Err(refused(e, "path")),
        }
    }
}

async fn ensure_project(d: &Domain, name: &str) -> Result<(), ApiError> {
    match d.service.store().project(name).await.map_err(ApiError::internal)? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("project {name:?} not found"))),
    }
}

/// Rules and their revisions.
#[derive(Default)]
pub struct RuleQueries;

#[Object]
impl RuleQueries {
    /// Rules, filtered, in environment then rule-set order, a page at a time: `first` rules
    /// (at most 1,000; 100 when absent) after the cursor `after`.
    #[graphql(complexity = "first.unwrap_or(100).clamp(1, MAX_PAGE as i32) as usize * child_complexity")]
    async fn rules(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: RuleFilter,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<usize, Rule, EmptyFields, EmptyFields>, ApiError> {
        let d = domain(ctx)?;
        let first = match first {
            None => 100,
            Some(n) if n >= 0 && n as usize <= MAX_PAGE => n as usize,
            Some(n) => return Err(ApiError::invalid("first", format!("must be 0 to {MAX_PAGE}, got {n}"))),
        };
        let start = match after.as_deref() {
            None => 0,
            Some(cursor) => {
                cursor.parse::<usize>().map_err(|_| {
                    ApiError::invalid(
                        "after",
                        format!("{cursor:?} is not a cursor this API gave (an endCursor)"),
                    )
                })? + 1
            }
        };
        let paths = match (&filter.environment, &filter.project) {
            (Some(env), _) => {
                let env = d.service.environment(env).await.map_err(|e| refused(e, "filter.environment"))?;
                if filter.project.as_ref().is_some_and(|p| *p != env.project) {
                    vec![]
                } else {
                    vec![env.path()]
                }
            }
            (None, project) => {
                if let Some(name) = project {
                    ensure_project(d, name).await?;
                }
                let envs =
                    d.service.store().environments(project.as_deref()).await.map_err(ApiError::internal)?;
                envs.iter().map(|e| e.path()).collect()
            }
        };
        let mut matching = Vec::new();
        for path in &paths {
            let rules = d.service.rules(path).await.map_err(|e| refused(e, "filter"))?;
            matching.extend(rules.into_iter().filter(|r| {
                filter.tag.as_ref().is_none_or(|t| r.rule.tags.contains(t))
                    && filter.enabled.is_none_or(|e| r.rule.enabled == e)
            }));
        }
        let total = matching.len();
        let end = start.saturating_add(first).min(total);
        let mut page = Connection::new(start > 0, end < total);
        if start < total {
            page.edges
                .extend(matching.drain(start..end).enumerate().map(|(i, r)| Edge::new(start + i, Rule(r))));
        }
        Ok(page)
    }

    /// One rule of an environment, or null.
    async fn rule(
        &self,
        ctx: &Context<'_>,
        environment: String,
        id: String,
    ) -> Result<Option<Rule>, ApiError> {
        let d = domain(ctx)?;
        match d.service.rule(&environment, &id).await {
            Ok(r) => Ok(Some(Rule(r))),
            Err(crate::service::ServiceError::NotFound(what)) if what.starts_with("rule") => Ok(None),
            Err(e) => Err(refused(e, "environment")),
        }
    }

    /// Every revision of a rule, the first first (a deleted rule's too).
    async fn rule_revisions(
        &self,
        ctx: &Context<'_>,
        environment: String,
        id: String,
    ) -> Result<Vec<RuleRevision>, ApiError> {
        let d = domain(ctx)?;
        let revisions = d.service.revisions(&environment, &id).await.map_err(|e| refused(e, "id"))?;
        Ok(revisions.into_iter().map(RuleRevision).collect())
    }

    /// Which rule of an environment would answer a request, and the rules that came closest,
    /// each with what it lacked: computed on the control plane's own compiled table of the
    /// version in force (as a data plane's `POST /explain`). It changes nothing: no scenario
    /// moves, no budget is spent.
    async fn explain(
        &self,
        ctx: &Context<'_>,
        environment: String,
        request: ExplainInput,
        #[graphql(default = 10)] limit: i32,
    ) -> Result<Explanation, ApiError> {
        let d = domain(ctx)?;
        if !request.path.starts_with('/') {
            return Err(ApiError::invalid(
                "request.path",
                format!("must start with '/', got {:?}", request.path),
            ));
        }
        let table = explain_table(d, &environment).await?;
        let headers: Vec<Header<'_>> =
            request.headers.iter().map(|h| Header { name: &h.name, value: h.value.as_bytes() }).collect();
        let method = request.method.as_deref().unwrap_or("GET");
        let body = request.body.as_deref().unwrap_or("");
        let mut req = Request::new(method, &request.path, &headers, body.as_bytes());
        if let Some(ip) = &request.client_ip {
            let ip = ip
                .parse()
                .map_err(|_| ApiError::invalid("request.clientIp", format!("{ip:?} is not an IP address")))?;
            req = req.with_client_ip(ip);
        }
        let cx = RequestContext::new(&req);
        let explanation = table.explain(&cx);
        Ok(Explanation::new(&explanation, limit.clamp(0, 100) as usize))
    }
}

/// A request for `explain`.
#[derive(InputObject, Debug)]
pub struct ExplainInput {
    /// `GET` when absent.
    pub method: Option<String>,
    /// The request target: a path with an optional `?query`.
    pub path: String,
    /// Its headers.
    #[graphql(default)]
    pub headers: Vec<HeaderInput>,
    /// Its body, as text.
    pub body: Option<String>,
    /// The client's address, for `clientIp` matchers.
    pub client_ip: Option<String>,
}

/// One header.
#[derive(InputObject, Debug)]
pub struct HeaderInput {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The compiled table of the version of `environment` in force, built once per version.
async fn explain_table(d: &Domain, environment: &str) -> Result<Arc<RuleTable>, ApiError> {
    let Some(snapshot) = d.service.cache().get(environment) else {
        // Not served: either it does not exist, or it has no version yet.
        d.service.environment(environment).await.map_err(|e| refused(e, "environment"))?;
        return Err(ApiError::NotFound(format!("environment {environment:?} has no rules in force")));
    };
    if let Some((version, table)) =
        d.explain_tables.lock().unwrap_or_else(|p| p.into_inner()).get(environment)
    {
        if *version == snapshot.version_info {
            return Ok(table.clone());
        }
    }
    let rules = snapshot.rules.clone();
    // Compiling 10,000s of rules takes milliseconds of CPU: not on the runtime's threads.
    let table = tokio::task::spawn_blocking(move || RuleTable::compile(&rules, &CompileOptions::default()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("the rules in force did not compile again: {e}")))?;
    let table = Arc::new(table);
    d.explain_tables
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(environment.to_owned(), (snapshot.version_info.clone(), table.clone()));
    Ok(table)
}

/// Data planes and the versions they serve.
#[derive(Default)]
pub struct NodeQueries;

#[Object]
impl NodeQueries {
    /// The data planes this control plane knows (connected or not), or an environment's.
    async fn nodes(&self, ctx: &Context<'_>, environment: Option<String>) -> Result<Vec<Node>, ApiError> {
        let d = domain(ctx)?;
        let mut nodes = match &environment {
            Some(env) => d.control.registry.nodes_in(env),
            None => d.control.registry.nodes(),
        };
        nodes.sort_by(|a, b| (&a.environment, &a.id).cmp(&(&b.environment, &b.id)));
        Ok(nodes.into_iter().map(Node).collect())
    }

    /// Per environment: the version in force and which data planes have applied it.
    async fn cluster_info(&self, ctx: &Context<'_>) -> Result<Vec<EnvironmentVersions>, ApiError> {
        let d = domain(ctx)?;
        let mut paths = d.service.cache().environments();
        for node in d.control.registry.nodes() {
            if !paths.contains(&node.environment) {
                paths.push(node.environment);
            }
        }
        paths.sort();
        Ok(paths
            .into_iter()
            .map(|path| {
                EnvironmentVersions::new(
                    d.service.cache().get(&path),
                    d.control.registry.nodes_in(&path),
                    path,
                )
            })
            .collect())
    }
}

/// API keys and the audit log.
#[derive(Default)]
pub struct KeyQueries;

#[Object]
impl KeyQueries {
    /// Every API key, revoked ones too (never their secrets). Admin only.
    #[graphql(directive = requires_role::apply(Role::Admin))]
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>, ApiError> {
        let d = domain(ctx)?;
        Ok(d.service
            .store()
            .api_keys()
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(ApiKey::from)
            .collect())
    }

    /// Every mutation that changed something, newest first: `limit` entries (at most 1,000)
    /// older than the entry numbered `before`.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] limit: i32,
        before: Option<i64>,
    ) -> Result<Vec<AuditEntry>, ApiError> {
        let d = domain(ctx)?;
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid("limit", format!("must be 1 to 1000, got {limit}")));
        }
        let entries =
            d.service.store().audit_log(i64::from(limit), before).await.map_err(ApiError::internal)?;
        Ok(entries.into_iter().map(AuditEntry::from).collect())
    }
}
