//! What a request must be for a rule to answer it: path, method, query, headers, cookies, body.

use serde::{Deserialize, Serialize};

use super::*;

/// The predicates a request must satisfy. Every predicate present must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// `GET`, `[GET, HEAD]`, or `ANY` / `*`. Absent means any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodMatch>,
    /// `api.example.com` or `*.example.com` (the Host header, port ignored, case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The path, without the query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
    /// Query parameters by name (case-sensitive names, percent-decoded values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, ValueMatch>,
    /// Headers by name (case-insensitive names, multi-valued).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, ValueMatch>,
    /// Cookies by name, from the `Cookie` header(s).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cookies: BTreeMap<String, ValueMatch>,
    /// The request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyMatch>,
    /// The client address must be one of these addresses or CIDR blocks (IPv4 or IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<Vec<String>>,
    /// A GraphQL operation, in a POST JSON body or a GET `?query=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql: Option<GraphqlMatch>,
    /// The whole request target, path and query as sent (`/search?q=a`), exact or by regex:
    /// WireMock's `url` and `urlPattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<UrlMatch>,
    /// Form parameters of an `application/x-www-form-urlencoded` body, by name (case-sensitive
    /// names, percent-decoded values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub form: BTreeMap<String, ValueMatch>,
}

/// How the whole request target (path and `?query`) is matched: exactly one field set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UrlMatch {
    /// The target equals this (`/search?q=a`: the query in the same order, not decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The target matches this regex, anchored at both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// One method, a list of methods, or any (`ANY` or `*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MethodMatch {
    /// A single method name, or `ANY` / `*`.
    One(String),
    /// Any of these methods.
    AnyOf(Vec<String>),
}

/// How the path is matched. A plain string is an exact path, or a template if it contains `{`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PathMatch {
    /// `/hello` (exact) or `/users/{id}` (template).
    Short(String),
    /// The explicit form, one of its fields set.
    Explicit(PathMatchSpec),
}

/// The explicit path forms: exactly one field must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PathMatchSpec {
    /// The path equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The path starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Segments with named parameters: `/users/{id}`, `/files/{*rest}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// A regular expression, anchored at both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// A matcher for a query parameter, header or cookie. A plain string means `equals`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ValueMatch {
    /// Shorthand for `{ equals: "…" }`.
    Equals(String),
    /// The explicit form, one operator set.
    Spec(Box<ValueMatchSpec>),
}

/// The explicit value matcher: exactly one of `equals`, `contains`, `regex`, `present`, `absent`,
/// `not`, `and`, `or`, `has_exactly`, `includes` must be set. Against a multi-valued header or parameter, `equals`, `contains` and `regex`
/// hold when any value satisfies them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ValueMatchSpec {
    /// A value equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// A value contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A value matches this regex (anchored at both ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `present: true`: at least one value exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    /// `absent: true`: no value exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
    /// Holds when the inner matcher does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<ValueMatch>,
    /// Every inner matcher holds (each against all the values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<ValueMatch>>,
    /// At least one inner matcher holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Vec<ValueMatch>>,
    /// The name occurs exactly as many times as there are matchers, and each matcher holds
    /// for one of its values (WireMock's `hasExactly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_exactly: Option<Vec<ValueMatch>>,
    /// The name occurs, and each matcher holds for one of its values (WireMock's `includes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<ValueMatch>>,
    /// With `equals` or `contains`: compare ignoring ASCII case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub case_insensitive: bool,
}

/// A matcher for the body (or, inside `jsonpath` and `graphql.variables`, for a JSON value).
/// Exactly one operator must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BodyMatch {
    /// The body equals this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The body contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// The body matches this regex, anchored at both ends like every regex in the model
    /// (write `(?s).*needle.*` to search anywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The body is JSON equal to this value (see `ignore_array_order`, `ignore_extra_elements`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_json")]
    pub json: Option<serde_json::Value>,
    /// With `json`: arrays compare as multisets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_array_order: bool,
    /// With `json`: the body may have object members and array elements beyond those given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_extra_elements: bool,
    /// A JSONPath (RFC 9535) that must select something in the JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonpath: Option<String>,
    /// The body is JSON valid against this JSON Schema (draft 4 to 2020-12, by its `$schema`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_json")]
    pub json_schema: Option<serde_json::Value>,
    /// With `jsonpath`: one selected value must satisfy this matcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Box<BodyMatch>>,
    /// Every matcher holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<BodyMatch>>,
    /// At least one matcher holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Vec<BodyMatch>>,
    /// The matcher does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<BodyMatch>>,
}

/// Matches a GraphQL request. All fields are optional; those present must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GraphqlMatch {
    /// `query`, `mutation` or `subscription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<GraphqlOperation>,
    /// The operation's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A JSON matcher applied to the `variables` object (`{}` when the request has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BodyMatch>,
}

/// A GraphQL operation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphqlOperation {
    /// `query { … }` or an anonymous `{ … }`.
    Query,
    /// `mutation { … }`.
    Mutation,
    /// `subscription { … }`.
    Subscription,
}
