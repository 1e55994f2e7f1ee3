//! The one error shape of the GraphQL API: a top-level GraphQL error whose
//! `extensions.code` says what kind of failure it is, so a client branches on the code and
//! shows the message. Invalid input lists every problem with its place in
//! `extensions.errors: [{place, message}]`, as `mockplane validate` prints them.
//!
//! | code | when | HTTP status, when nothing ran |
//! |---|---|---|
//! | `UNAUTHENTICATED` | no API key, or one the store does not know | 401 |
//! | `FORBIDDEN` | the key's role is below what a field needs | 403 |
//! | `INVALID_INPUT` | the input is refused (every problem listed with its place) | 200 |
//! | `NOT_FOUND` | what the input names does not exist | 200 |
//! | `CONFLICT` | the change collides with the current state (a name taken, a stale revision) | 200 |
//! | `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED` | the document does not parse, or does not fit the schema | 400 |
//! | `QUERY_TOO_DEEP`, `QUERY_TOO_COMPLEX` | over [`ApiLimits`](super::ApiLimits) | 400 |
//! | `BAD_REQUEST` | not a GraphQL request (not JSON, no `query`) | 400 |
//! | `PAYLOAD_TOO_LARGE` | the body is over [`ApiLimits::max_body_bytes`](super::ApiLimits) | 413 |
//! | `INTERNAL` | a fault of the control plane; the details are in its log, not in the answer | 500 |
//!
//! Resolvers return `Result<T, ApiError>` (async-graphql turns it into the error above with
//! `?`); [`ApiError::from`] a [`RuleSetError`] gives `INVALID_INPUT` with every error of the
//! rule set.

use async_graphql::{ErrorExtensions, ServerError};
use mockplane_rules::RuleSetError;

/// The codes of `extensions.code`, as a client sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// No API key, or an unknown one.
    Unauthenticated,
    /// The key's role is too weak.
    Forbidden,
    /// The input is refused; `extensions.errors` lists every problem.
    InvalidInput,
    /// What the input names does not exist.
    NotFound,
    /// The change collides with the current state.
    Conflict,
    /// The document does not parse.
    ParseFailed,
    /// The document does not fit the schema.
    ValidationFailed,
    /// Nested deeper than the limit.
    TooDeep,
    /// More complex than the limit.
    TooComplex,
    /// Not a GraphQL request.
    BadRequest,
    /// The body is over the limit.
    PayloadTooLarge,
    /// A fault of the control plane.
    Internal,
}

impl Code {
    /// Every code, for the metrics' outcome label.
    pub const ALL: [Code; 12] = [
        Code::Unauthenticated,
        Code::Forbidden,
        Code::InvalidInput,
        Code::NotFound,
        Code::Conflict,
        Code::ParseFailed,
        Code::ValidationFailed,
        Code::TooDeep,
        Code::TooComplex,
        Code::BadRequest,
        Code::PayloadTooLarge,
        Code::Internal,
    ];

    /// As it appears in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::InvalidInput => "INVALID_INPUT",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::ParseFailed => "GRAPHQL_PARSE_FAILED",
            Code::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Code::TooDeep => "QUERY_TOO_DEEP",
            Code::TooComplex => "QUERY_TOO_COMPLEX",
            Code::BadRequest => "BAD_REQUEST",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::Internal => "INTERNAL",
        }
    }

    /// The code `extensions.code` names, if it is one of ours.
    pub fn parse(code: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The HTTP status of an answer refused with this code before anything ran.
    pub fn http_status(self) -> u16 {
        match self {
            Code::Unauthenticated => 401,
            Code::Forbidden => 403,
            Code::ParseFailed
            | Code::ValidationFailed
            | Code::TooDeep
            | Code::TooComplex
            | Code::BadRequest => 400,
            Code::PayloadTooLarge => 413,
            Code::Internal => 500,
            Code::InvalidInput | Code::NotFound | Code::Conflict => 200,
        }
    }
}

/// One problem of an invalid input, at its place (`rules[3].match.path`, `input.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a path into the input; empty for the input as a whole.
    pub place: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl Problem {
    /// A problem at `place`.
    pub fn new(place: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { place: place.into(), message: message.into() }
    }
}

/// What a resolver (or the transport) refuses a call with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No API key, or an unknown one.
    #[error("{0}")]
    Unauthenticated(String),
    /// The key's role is too weak.
    #[error("{0}")]
    Forbidden(String),
    /// The input is refused: every problem, each with its place.
    #[error("{}", invalid_summary(.0))]
    InvalidInput(Vec<Problem>),
    /// What the input names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change collides with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A fault of the control plane. The text goes to the log; the client is told only that
    /// it happened, so that no internal detail leaks through the API.
    #[error("internal error; the control plane's log has the details")]
    Internal(String),
}

fn invalid_summary(problems: &[Problem]) -> String {
    let n = problems.len();
    let mut text = format!("the input was refused, {n} error{}:", if n == 1 { "" } else { "s" });
    for p in problems {
        if p.place.is_empty() {
            text += &format!("\n  {}", p.message);
        } else {
            text += &format!("\n  {}: {}", p.place, p.message);
        }
    }
    text
}

impl ApiError {
    /// One problem at `place`.
    pub fn invalid(place: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidInput(vec![Problem::new(place, message)])
    }

    /// A refused rule set that sits at `prefix` in the input (`input`, `input.ruleSet`):
    /// `rules[3].match.path` becomes `input.rules[3].match.path`; an empty prefix keeps the
    /// places as `mockplane validate` prints them.
    pub fn rules_refused(err: &RuleSetError, prefix: &str) -> Self {
        let place = |path: &str| match (prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_owned(),
            (false, true) => prefix.to_owned(),
            (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
            (false, false) => format!("{prefix}.{path}"),
        };
        ApiError::InvalidInput(err.errors.iter().map(|e| Problem::new(place(&e.path), &e.message)).collect())
    }

    /// An internal fault; `detail` is logged, never sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }

    /// Its code.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::Forbidden(_) => Code::Forbidden,
            ApiError::InvalidInput(_) => Code::InvalidInput,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::Conflict(_) => Code::Conflict,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// As a GraphQL error with `extensions.code` (and `extensions.errors` for invalid input).
    pub fn to_graphql(&self) -> async_graphql::Error {
        if let ApiError::Internal(detail) = self {
            tracing::error!(detail, "GraphQL API: internal error");
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code().as_str());
            if let ApiError::InvalidInput(problems) = self {
                let list: Vec<async_graphql::Value> = problems
                    .iter()
                    .map(|p| {
                        let mut m = async_graphql::indexmap::IndexMap::new();
                        m.insert(
                            async_graphql::Name::new("place"),
                            async_graphql::Value::from(p.place.as_str()),
                        );
                        m.insert(
                            async_graphql::Name::new("message"),
                            async_graphql::Value::from(p.message.as_str()),
                        );
                        async_graphql::Value::Object(m)
                    })
                    .collect();
                ext.set("errors", list);
            }
        })
    }

    /// As a request-level error (no position, no path).
    pub fn to_server_error(&self) -> ServerError {
        let mut e = self.to_graphql().into_server_error(async_graphql::Pos::default());
        e.locations.clear(); // not at a place in the document
        e
    }
}

/// The same problems, as [`mockplane_rules`] found them: places relative to the rule set.
impl From<RuleSetError> for ApiError {
    fn from(err: RuleSetError) -> Self {
        ApiError::rules_refused(&err, "")
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        err.to_graphql()
    }
}

/// A request-level error with `code` (for the transport's own refusals).
pub(crate) fn server_error(code: Code, message: impl Into<String>) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code.as_str());
    e.extensions = Some(ext);
    e
}

/// The code of an error, if it carries one of ours.
pub(crate) fn code_of(e: &ServerError) -> Option<Code> {
    match e.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(s) => Code::parse(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_rules::ValidationError;

    #[test]
    fn a_refused_rule_set_lists_every_error_with_its_place_under_the_prefix() {
        let err = RuleSetError {
            errors: vec![
                ValidationError::new("rules[0].match.path", "unbalanced '{'"),
                ValidationError::new("", "the document is empty"),
            ],
        };
        let e = ApiError::rules_refused(&err, "input");
        assert_eq!(
            e,
            ApiError::InvalidInput(vec![
                Problem::new("input.rules[0].match.path", "unbalanced '{'"),
                Problem::new("input", "the document is empty"),
            ])
        );
        assert_eq!(
            e.to_string(),
            "the input was refused, 2 errors:\n  input.rules[0].match.path: unbalanced '{'\n  input: the document is empty"
        );
        let json = serde_json::to_value(e.to_server_error()).unwrap();
        assert_eq!(json["extensions"]["code"], "INVALID_INPUT");
        assert_eq!(json["extensions"]["errors"][0]["place"], "input.rules[0].match.path");
        assert_eq!(json["extensions"]["errors"][1]["message"], "the document is empty");
    }

    #[test]
    fn an_internal_error_does_not_send_its_detail() {
        let e = ApiError::internal("disk I/O error at /var/lib/secret.db");
        let json = serde_json::to_value(e.to_server_error()).unwrap();
        assert_eq!(json["extensions"]["code"], "INTERNAL");
        assert!(!json.to_string().contains("secret"), "{json}");
    }
}
