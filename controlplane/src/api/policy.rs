//! The schema extension that enforces the API's rules on every operation, HTTP or WebSocket,
//! before anything executes: a caller is present, its role covers every field the operation
//! selects ([`super::roles`]), the depth and complexity are within [`ApiLimits`]; and every
//! error that leaves the API carries an `extensions.code` ([`super::errors`]).

use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe, NextValidation,
};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::futures_util::StreamExt as _;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};

use super::auth::{forbidden, Principal};
use super::errors::{code_of, server_error, ApiError, Code};
use super::limits::ApiLimits;
use super::roles::RoleTable;

/// Installs the checks on a schema (see [`super::finish_schema`]).
pub(crate) struct Policy {
    pub(crate) limits: ApiLimits,
    /// Filled once the schema is built: the table is read from the schema's own SDL.
    pub(crate) roles: Arc<OnceLock<RoleTable>>,
}

impl ExtensionFactory for Policy {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PolicyCheck { limits: self.limits, roles: self.roles.clone(), operation: Mutex::new(None) })
    }
}

/// One per request.
struct PolicyCheck {
    limits: ApiLimits,
    roles: Arc<OnceLock<RoleTable>>,
    /// The operation the request names, seen before the document is parsed.
    operation: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for PolicyCheck {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        tag(&mut response.errors);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut r| {
                tag(&mut r.errors);
                r
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self.operation.lock().unwrap_or_else(|p| p.into_inner()) = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await.map_err(|mut e| {
            if e.message.starts_with("The recursion depth of the query") {
                let mut too_deep = server_error(
                    Code::TooDeep,
                    format!("the query is nested too deep; this API allows {} levels", self.limits.max_depth),
                );
                too_deep.locations = e.locations;
                return too_deep;
            }
            set_code(&mut e, Code::ParseFailed);
            e
        })?;
        // The transport puts the caller in every request; a request without one (a schema
        // executed directly, or a transport that forgot) is refused, not let through.
        let principal = ctx
            .data::<Principal>()
            .map_err(|_| server_error(Code::Unauthenticated, "this call carries no API key"))?;
        let operation = self.operation.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let need = match self.roles.get() {
            Some(table) => table.need(&doc, operation.as_deref()),
            None => RoleTable::default().need(&doc, operation.as_deref()),
        };
        if principal.role < need.role {
            return Err(forbidden(principal, need.role, need.field.as_deref()).to_server_error());
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await.map_err(|mut errors| {
            for e in &mut errors {
                set_code(e, Code::ValidationFailed);
            }
            errors
        })?;
        if result.depth > self.limits.max_depth {
            return Err(vec![server_error(
                Code::TooDeep,
                format!(
                    "the query nests fields {} levels deep; this API allows {}",
                    result.depth, self.limits.max_depth
                ),
            )]);
        }
        if result.complexity > self.limits.max_complexity {
            return Err(vec![server_error(
                Code::TooComplex,
                format!(
                    "the query's complexity is {}; this API allows {} (each field counts 1, lists by their size)",
                    result.complexity, self.limits.max_complexity
                ),
            )]);
        }
        Ok(result)
    }
}

fn set_code(e: &mut ServerError, code: Code) {
    if code_of(e).is_none() {
        e.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
    }
}

/// Gives a code to every error that has none: async-graphql's own refusals of an argument
/// are invalid input; anything else a resolver raised without [`ApiError`] is internal.
fn tag(errors: &mut [ServerError]) {
    for e in errors {
        if code_of(e).is_some() {
            continue;
        }
        let code = if e.message.starts_with("Invalid value for argument")
            || e.message.starts_with("Failed to parse")
        {
            Code::InvalidInput
        } else if e.path.is_empty() {
            // A request-level refusal (an unknown operation name, a missing one).
            Code::ValidationFailed
        } else {
            tracing::warn!(message = %e.message, "a resolver returned an error without a code; use ApiError");
            Code::Internal
        };
        set_code(e, code);
    }
}

/// The error a transport refuses a call with before it reaches the schema.
pub(crate) fn refusal(err: &ApiError) -> Response {
    Response::from_errors(vec![err.to_server_error()])
}
