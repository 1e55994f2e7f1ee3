//! GraphQL requests and [`GraphqlMatch`].
//!
//! # Which requests are GraphQL
//!
//! [`RequestContext::graphql`] recognises, once per request:
//! - a `POST` whose body is a JSON object with a string `query`, an optional `operationName`
//!   (a string, or `null`) and optional `variables` (an object, `null`, or a string holding a
//!   JSON object, as some older clients send);
//! - a `GET` with `?query=`, and optionally `operationName=` and `variables=` (a JSON object, as
//!   text). Only the first value of each parameter counts.
//!
//! The query must parse as a GraphQL executable document. The operation is the one named by
//! `operationName`, else the document's only operation, as the GraphQL specification's
//! *GetOperation* says; an empty `operationName` counts as absent. A document that does not
//! parse, an `operationName` naming no operation (an anonymous operation has no name), several
//! operations without `operationName`, or fields of the wrong JSON type make the request
//! not a GraphQL request: every `graphql` matcher fails on it. An anonymous `{ … }` is a query.
//!
//! # Matching
//!
//! Each field of a [`GraphqlMatch`] that is set must hold: `operation` compares the operation
//! type, `name` the operation's name (an anonymous operation has none, so any `name` fails), and
//! `variables` is a body matcher applied to the variables object (`{}` when the request has
//! none), e.g. `{ json: { id: "1" }, ignore_extra_elements: true }`. A matcher with no field set
//! is refused, and `name` must be a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`).

use async_graphql_parser::types::{DocumentOperations, OperationType};
use serde_json::{Map, Value};

use crate::body::BodyMatcher;
use crate::error::{Errors, Place};
use crate::model::{GraphqlMatch, GraphqlOperation};
use crate::request::RequestContext;

/// The GraphQL operation a request carries: its type, name and variables.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlRequest {
    pub(crate) operation: GraphqlOperation,
    pub(crate) name: Option<String>,
    pub(crate) variables: Value,
}

impl GraphqlRequest {
    /// The operation type; an anonymous `{ … }` is a query.
    pub fn operation(&self) -> GraphqlOperation {
        self.operation
    }

    /// The operation's name; `None` for an anonymous operation.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The variables: always a JSON object, `{}` when the request sent none.
    pub fn variables(&self) -> &Value {
        &self.variables
    }
}

impl RequestContext<'_> {
    /// The GraphQL operation of this request, worked out once: a `POST` whose body is a JSON
    /// object with a string `query` (and optional `operationName`, `variables`), or a `GET` with
    /// `?query=` (and `operationName`, `variables` as JSON text). `None` when the request is not
    /// a GraphQL request, its document does not parse, or its operation cannot be chosen.
    pub fn graphql(&self) -> Option<&GraphqlRequest> {
        self.graphql.get_or_init(|| self.parse_graphql()).as_ref()
    }

    fn parse_graphql(&self) -> Option<GraphqlRequest> {
        match self.req.method {
            "POST" => {
                let body = self.body_json()?.as_object()?;
                let query = body.get("query")?.as_str()?;
                let name = match body.get("operationName") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(_) => return None,
                };
                let variables = match body.get("variables") {
                    None | Some(Value::Null) => Value::Object(Map::new()),
                    Some(v @ Value::Object(_)) => v.clone(),
                    Some(Value::String(s)) => variables_from_text(s)?,
                    Some(_) => return None,
                };
                build(query, name, variables)
            }
            "GET" => {
                let query = self.query_values("query").next()?;
                let name = self.query_values("operationName").next();
                let variables = match self.query_values("variables").next() {
                    None => Value::Object(Map::new()),
                    Some(text) => variables_from_text(text)?,
                };
                build(query, name, variables)
            }
            _ => None,
        }
    }
}

/// Variables sent as JSON text: an object, or `null` / nothing for none.
fn variables_from_text(text: &str) -> Option<Value> {
    if text.trim().is_empty() {
        return Some(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Null => Some(Value::Object(Map::new())),
        v @ Value::Object(_) => Some(v),
        _ => None,
    }
}

/// Parses the document and picks the operation (GraphQL's *GetOperation*).
fn build(query: &str, name: Option<&str>, variables: Value) -> Option<GraphqlRequest> {
    let doc = async_graphql_parser::parse_query(query).ok()?;
    let name = name.filter(|n| !n.is_empty());
    let (ty, name) = match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => (op.node.ty, None),
        // The only operation is anonymous, so no name can designate it.
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(ops), Some(n)) => {
            let (key, op) = ops.iter().find(|(k, _)| k.as_str() == n)?;
            (op.node.ty, Some(key.to_string()))
        }
        (DocumentOperations::Multiple(ops), None) => {
            let mut it = ops.iter();
            let (key, op) = it.next()?;
            if it.next().is_some() {
                return None;
            }
            (op.node.ty, Some(key.to_string()))
        }
    };
    let operation = match ty {
        OperationType::Query => GraphqlOperation::Query,
        OperationType::Mutation => GraphqlOperation::Mutation,
        OperationType::Subscription => GraphqlOperation::Subscription,
    };
    Some(GraphqlRequest { operation, name, variables })
}

/// A compiled, validated [`GraphqlMatch`].
#[derive(Debug, Clone)]
pub(crate) struct GraphqlMatcher {
    operation: Option<GraphqlOperation>,
    name: Option<String>,
    variables: Option<Box<BodyMatcher>>,
}

impl GraphqlMatcher {
    /// Validates and compiles; on any problem pushes every error, with its place, and returns
    /// `None`.
    pub(crate) fn compile(
        spec: &GraphqlMatch,
        path: &Place<'_>,
        errors: &mut Errors,
    ) -> Option<GraphqlMatcher> {
        let before = errors.len();
        if spec.operation.is_none() && spec.name.is_none() && spec.variables.is_none() {
            errors.push(path, "set at least one of operation, name, variables");
        }
        if let Some(name) = &spec.name {
            if !is_graphql_name(name) {
                errors.push(
                    format!("{path}.name"),
                    format!(
                        "{name:?} is not a GraphQL name (letters, digits and _, not starting \
                         with a digit)"
                    ),
                );
            }
        }
        let variables = spec
            .variables
            .as_ref()
            .and_then(|v| BodyMatcher::compile(v, &path.field("variables"), errors))
            .map(Box::new);
        if errors.len() != before {
            return None;
        }
        Some(GraphqlMatcher { operation: spec.operation, name: spec.name.clone(), variables })
    }

    /// Whether the request is a GraphQL request satisfying every field set.
    pub(crate) fn matches(&self, cx: &RequestContext<'_>) -> bool {
        let Some(g) = cx.graphql() else { return false };
        self.operation.is_none_or(|op| op == g.operation)
            && self.name.as_deref().is_none_or(|n| g.name.as_deref() == Some(n))
            && self.variables.as_ref().is_none_or(|m| m.matches_value(&g.variables))
    }

    /// One line: `graphql mutation named CreateUser, variables is JSON {"id":"1"}`.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::from("graphql ");
        out.push_str(match self.operation {
            Some(GraphqlOperation::Query) => "query",
            Some(GraphqlOperation::Mutation) => "mutation",
            Some(GraphqlOperation::Subscription) => "subscription",
            None => "operation",
        });
        if let Some(n) = &self.name {
            out.push_str(" named ");
            out.push_str(n);
        }
        if let Some(m) = &self.variables {
            out.push_str(", variables ");
            out.push_str(&m.predicate());
        }
        out
    }
}

/// `[_A-Za-z][_0-9A-Za-z]*`.
fn is_graphql_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests;
