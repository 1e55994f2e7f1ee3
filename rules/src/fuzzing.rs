//! What the fuzz targets (the `mockplane-fuzz` crate) need of this crate's private parts: the
//! body matchers, the JSON body view and the JSONPath parser, each behind a thin wrapper so
//! that none of them becomes public API. Hidden from the docs; nothing else should use it.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::error::{Errors, Place};
use crate::model::BodyMatch;
use crate::request::{Request, RequestContext};
use crate::ValidationError;

/// A compiled body matcher (`match.body` of a rule).
#[derive(Debug)]
pub struct BodyMatcher(crate::body::BodyMatcher);

impl BodyMatcher {
    /// Compiles `spec` as the rule compiler does, or lists every problem (at `body…`).
    pub fn compile(spec: &BodyMatch) -> Result<BodyMatcher, Vec<ValidationError>> {
        let mut errors = Errors::default();
        match crate::body::BodyMatcher::compile(spec, &Place::Root("body"), &mut errors) {
            Some(m) if errors.list.is_empty() => Ok(BodyMatcher(m)),
            _ => Err(errors.list),
        }
    }

    /// The verdict on a `POST /` request with this body, as selection reaches it (the body
    /// view first, the full parse when the view does not cover the body).
    pub fn matches_body(&self, body: &[u8]) -> bool {
        let req = Request::new("POST", "/", &[], body);
        let cx = RequestContext::new(&req);
        self.0.matches(&cx)
    }

    /// The verdict on a JSON value (what a JSONPath selected, GraphQL variables).
    pub fn matches_value(&self, v: &Value) -> bool {
        self.0.matches_value(v)
    }

    /// Whether every operator reads the body as JSON, so that on a JSON body
    /// [`BodyMatcher::matches_body`] and [`BodyMatcher::matches_value`] of its parse agree.
    pub fn reads_json_only(&self) -> bool {
        self.0.reads_json_only()
    }
}

/// A request body parsed as JSON the way matching and templates parse it (simd-json, nesting
/// bounded); `None` when it is not JSON.
pub fn parse_json(body: &[u8]) -> Option<Value> {
    crate::request::parse_json(body)
}

/// Whether the flat body view reads `body` as the full parse does; `None` when the view does
/// not cover the body.
pub fn view_agrees(body: &[u8]) -> Option<bool> {
    crate::body::view_agrees(body)
}

/// A JSONPath parsed as rules and templates parse one (nesting bounded).
pub fn parse_jsonpath(path: &str) -> Result<JsonPath, String> {
    crate::jsonpath::parse(path)
}
