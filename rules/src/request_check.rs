//! A rule's `validate` block, compiled: the checks a selected request must pass before the
//! rule answers, and the problem document (RFC 9457) a request that fails them gets instead.
//!
//! Parameters are checked first, in the order path, query, headers, cookies; any failure
//! there answers `400`. Then the body, read as JSON: a failure answers `422`. At most
//! [`MAX_REPORTED`] failures are listed. Everything that can be prepared is prepared when the
//! rule is compiled (schemas, how each parameter's text is read, lower-cased header names); a
//! request that passes allocates only the JSON values its parameters are read into, and one
//! that fails allocates its answer.

use std::fmt::Write as _;

use serde_json::{Number, Value};

use crate::error::{Errors, Place};
use crate::model::{RequestValidation, ValueCheck};
use crate::path::PathParams;
use crate::request::RequestContext;
use crate::response::RenderBuffers;
use crate::schema::Schema;

/// The most failures a problem document lists.
pub(crate) const MAX_REPORTED: usize = 10;

/// Where a parameter is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum In {
    Path,
    Query,
    Header,
    Cookie,
}

impl In {
    fn name(self) -> &'static str {
        match self {
            In::Path => "path",
            In::Query => "query",
            In::Header => "header",
            In::Cookie => "cookie",
        }
    }
}

/// How a parameter's text becomes the JSON value its schema judges, from the schema's `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    /// A string as it is.
    Text,
    /// A number when the text is one, else the string (which the schema then refuses).
    Number,
    /// `true` / `false`, else the string.
    Boolean,
    /// No single type: a number or boolean when the text reads as one, else the string.
    Any,
    /// Every value of the parameter (repeated, or one comma-separated value), each read so.
    Array(Box<Read>),
}

impl Read {
    fn of(schema: Option<&Value>) -> Read {
        let Some(schema) = schema else { return Read::Text };
        let ty = match schema.get("type") {
            Some(Value::String(t)) => Some(t.as_str()),
            // `[integer, "null"]`: the first type that is not null.
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        };
        match ty {
            Some("string") => Read::Text,
            Some("integer" | "number") => Read::Number,
            Some("boolean") => Read::Boolean,
            Some("array") => Read::Array(Box::new(match Read::of(schema.get("items")) {
                Read::Array(_) => Read::Text,
                item => item,
            })),
            _ => Read::Any,
        }
    }

    fn value(&self, text: &str) -> Value {
        let number = || {
            // Only what a JSON number looks like: `1e3` yes, ` 12`, `+1`, `0x10` no.
            serde_json::from_str::<Number>(text)
                .ok()
                .filter(|_| text.bytes().all(|b| !b.is_ascii_whitespace()))
        };
        match self {
            Read::Text | Read::Array(_) => Value::String(text.to_owned()),
            Read::Number => number().map_or_else(|| Value::String(text.to_owned()), Value::Number),
            Read::Boolean => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(text.to_owned()),
            },
            Read::Any => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => number().map_or_else(|| Value::String(text.to_owned()), Value::Number),
            },
        }
    }
}

#[derive(Debug, Clone)]
struct ParamCheck {
    place: In,
    /// Lower-cased for headers.
    name: Box<str>,
    required: bool,
    read: Read,
    schema: Option<Schema>,
}

/// A compiled [`RequestValidation`].
#[derive(Debug, Clone)]
pub(crate) struct RequestCheck {
    params: Vec<ParamCheck>,
    body: Option<(bool, Option<Schema>)>,
}

/// One failure: where, and what is wrong.
struct Failure {
    /// `query`, `header`, …, or `body`.
    place: &'static str,
    /// The parameter's name; empty for the body.
    name: String,
    /// A JSON pointer into the value (`/items/0/id`); empty for the whole value.
    pointer: String,
    message: String,
}

impl RequestCheck {
    /// Compiles `spec` at `place` (`rules[3].validate`). `template` is the names of the rule's
    /// path template parameters, `None` when its path is not a template.
    pub(crate) fn compile<'n>(
        spec: &RequestValidation,
        place: &Place<'_>,
        template: Option<impl Iterator<Item = &'n str>>,
        errors: &mut Errors,
    ) -> Option<RequestCheck> {
        let before = errors.len();
        let names: Vec<&str> = template.map(Iterator::collect).unwrap_or_default();
        let mut params = Vec::new();
        for (field, at, map) in [
            ("path", In::Path, &spec.path),
            ("query", In::Query, &spec.query),
            ("headers", In::Header, &spec.headers),
            ("cookies", In::Cookie, &spec.cookies),
        ] {
            let field_place = place.field(field);
            for (name, check) in map {
                let here = field_place.key(name);
                if name.is_empty() {
                    errors.push(here, "a parameter name must not be empty");
                    continue;
                }
                if at == In::Path && !names.contains(&name.as_str()) {
                    let have = if names.is_empty() {
                        "the rule's match.path is not a template with parameters".to_owned()
                    } else {
                        format!("its template has {}", names.join(", "))
                    };
                    errors.push(here, format!("no path parameter {name:?}: {have}"));
                    continue;
                }
                let Some(schema) = compile_schema(check, &here, errors) else { continue };
                let name: Box<str> =
                    if at == In::Header { name.to_ascii_lowercase().into() } else { name.as_str().into() };
                params.push(ParamCheck {
                    place: at,
                    name,
                    // A path parameter that matched is always there.
                    required: check.required && at != In::Path,
                    read: Read::of(check.schema.as_ref()),
                    schema,
                });
            }
        }
        let body = spec.body.as_ref().and_then(|check| {
            compile_schema(check, &place.field("body"), errors).map(|schema| (check.required, schema))
        });
        (errors.len() == before).then_some(RequestCheck { params, body })
    }

    /// Whether the body must be read to check a request.
    pub(crate) fn reads_body(&self) -> bool {
        self.body.is_some()
    }

    /// Checks the request; on failure, renders the problem document into `out` and returns its
    /// status (400 or 422).
    pub(crate) fn run(
        &self,
        cx: &RequestContext<'_>,
        params: &PathParams<'_, '_>,
        out: &mut RenderBuffers,
    ) -> Option<u16> {
        let mut failures: Vec<Failure> = Vec::new();
        for p in &self.params {
            if failures.len() >= MAX_REPORTED {
                break;
            }
            self.check_param(p, cx, params, &mut failures);
        }
        let status = if !failures.is_empty() {
            400
        } else if let Some((required, schema)) = &self.body {
            check_body(*required, schema.as_ref(), cx, &mut failures);
            if failures.is_empty() {
                return None;
            }
            422
        } else {
            return None;
        };
        render_problem(status, &failures, out);
        Some(status)
    }

    fn check_param(
        &self,
        p: &ParamCheck,
        cx: &RequestContext<'_>,
        params: &PathParams<'_, '_>,
        failures: &mut Vec<Failure>,
    ) {
        let fail = |failures: &mut Vec<Failure>, pointer: String, message: String| {
            failures.push(Failure { place: p.place.name(), name: p.name.to_string(), pointer, message })
        };
        // The parameter read as its schema says: an array gathers every value (repeated, or
        // one comma-separated), anything else reads the first.
        let mut value: Option<Value> = None;
        let mut take = |text: &str| match (&p.read, &mut value) {
            (Read::Array(item), Some(Value::Array(items))) => {
                items.extend(text.split(',').map(|t| item.value(t)))
            }
            (Read::Array(item), None) => {
                value = Some(Value::Array(text.split(',').map(|t| item.value(t)).collect()))
            }
            (read, None) => value = Some(read.value(text)),
            (_, Some(_)) => {}
        };
        match p.place {
            In::Path => {
                if let Some((_, raw)) = params.iter().find(|(n, _)| *n == &*p.name) {
                    take(&percent_decoded(raw));
                }
            }
            In::Query => cx.query_values(&p.name).for_each(&mut take),
            In::Header => cx.req.header_values(&p.name).for_each(|v| take(&String::from_utf8_lossy(v))),
            In::Cookie => cx.cookie_values(&p.name).for_each(&mut take),
        }
        let Some(value) = value else {
            if p.required {
                fail(
                    failures,
                    String::new(),
                    format!("the {} parameter {:?} is required", p.place.name(), p.name),
                );
            }
            return;
        };
        let Some(schema) = &p.schema else { return };
        for (pointer, message) in schema.failures(&value, MAX_REPORTED - failures.len().min(MAX_REPORTED)) {
            fail(failures, pointer, message);
        }
    }
}

fn check_body(required: bool, schema: Option<&Schema>, cx: &RequestContext<'_>, failures: &mut Vec<Failure>) {
    let fail = |failures: &mut Vec<Failure>, pointer: String, message: String| {
        failures.push(Failure { place: "body", name: String::new(), pointer, message })
    };
    if cx.req.body.is_empty() {
        if required {
            fail(failures, String::new(), "the request body is required".to_owned());
        }
        return;
    }
    let Some(schema) = schema else { return };
    match cx.body_json() {
        None => fail(failures, String::new(), "the request body is not JSON".to_owned()),
        Some(v) => {
            for (pointer, message) in schema.failures(v, MAX_REPORTED) {
                fail(failures, pointer, message);
            }
        }
    }
}

fn compile_schema(check: &ValueCheck, place: &Place<'_>, errors: &mut Errors) -> Option<Option<Schema>> {
    match &check.schema {
        None => Some(None),
        Some(v) => match Schema::compile(v) {
            Ok(s) => Some(Some(s)),
            Err(e) => {
                errors.push(place.field("schema"), e);
                None
            }
        },
    }
}

/// A path segment with `%XX` escapes decoded (lossily, when they do not spell UTF-8).
fn percent_decoded(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('%') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The problem document: `{"type", "title", "status", "detail", "errors": [{"in", "name",
/// "pointer", "message"}]}`, with `content-type: application/problem+json`.
fn render_problem(status: u16, failures: &[Failure], out: &mut RenderBuffers) {
    out.head.clear();
    out.body.clear();
    let first = &failures[0];
    let mut detail = String::new();
    match first.place {
        "body" if first.pointer.is_empty() => detail.push_str("body: "),
        "body" => {
            let _ = write!(detail, "body at {}: ", first.pointer);
        }
        place => {
            let _ = write!(detail, "{place} parameter {:?}", first.name);
            if !first.pointer.is_empty() {
                let _ = write!(detail, " at {}", first.pointer);
            }
            detail.push_str(": ");
        }
    }
    detail.push_str(&first.message);
    let errors: Vec<Value> = failures
        .iter()
        .map(|f| {
            let mut m = serde_json::Map::new();
            m.insert("in".into(), f.place.into());
            if !f.name.is_empty() {
                m.insert("name".into(), f.name.clone().into());
            }
            m.insert("pointer".into(), f.pointer.clone().into());
            m.insert("message".into(), f.message.clone().into());
            Value::Object(m)
        })
        .collect();
    let title = if status == 400 { "Invalid request parameters" } else { "Invalid request body" };
    let doc = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors,
    });
    serde_json::to_writer(&mut out.body, &doc).expect("a JSON value serializes into a Vec");
    let _ = write!(
        Head(&mut out.head),
        "HTTP/1.1 {status} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n",
        crate::response::reason_phrase(status),
        out.body.len()
    );
}

/// `write!` into a byte buffer.
struct Head<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Head<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::request::{Header, Request};

    fn check(spec: Value, template: &[&str]) -> RequestCheck {
        let spec: RequestValidation = serde_json::from_value(spec).expect("valid model");
        let mut errors = Errors::default();
        let c = RequestCheck::compile(
            &spec,
            &Place::Root("validate"),
            Some(template.iter().copied()),
            &mut errors,
        );
        assert!(errors.list.is_empty(), "{:?}", errors.list);
        c.expect("compiled")
    }

    /// The status and problem document for a request, or `None` when it passes.
    fn run(
        c: &RequestCheck,
        target: &str,
        headers: &[Header<'_>],
        body: &[u8],
        params: &[(&str, &str)],
    ) -> Option<(u16, Value)> {
        let req = Request::new("POST", target, headers, body);
        let cx = RequestContext::new(&req);
        let params: PathParams<'_, '_> = params.iter().copied().collect();
        let mut out = RenderBuffers::default();
        let status = c.run(&cx, &params, &mut out)?;
        let head = String::from_utf8(out.head.clone()).expect("ascii");
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.contains("content-type: application/problem+json\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", out.body.len())), "{head}");
        Some((status, serde_json::from_slice(&out.body).expect("JSON")))
    }

    #[test]
    fn parameters_are_read_as_their_schema_types() {
        let c = check(
            json!({"query": {
                "limit": {"required": true, "schema": {"type": "integer", "maximum": 100}},
                "tags": {"schema": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}},
                "flag": {"schema": {"type": "boolean"}}
            }}),
            &[],
        );
        assert!(run(&c, "/p?limit=10", &[], b"", &[]).is_none());
        assert!(run(&c, "/p?limit=10&tags=a,b&flag=true", &[], b"", &[]).is_none());
        assert!(run(&c, "/p?limit=10&tags=a&tags=b", &[], b"", &[]).is_none());
        let (status, doc) = run(&c, "/p?limit=ten", &[], b"", &[]).expect("fails");
        assert_eq!(status, 400);
        assert_eq!(doc["errors"][0]["in"], "query");
        assert_eq!(doc["errors"][0]["name"], "limit");
        assert!(doc["detail"].as_str().unwrap().starts_with("query parameter \"limit\": "), "{doc}");
        let (_, doc) = run(&c, "/p?limit=101&tags=a,c", &[], b"", &[]).expect("fails");
        assert_eq!(doc["errors"].as_array().unwrap().len(), 2, "{doc}");
        assert_eq!(doc["errors"][1]["pointer"], "/1", "{doc}");
        let (_, doc) = run(&c, "/p", &[], b"", &[]).expect("missing");
        assert_eq!(doc["detail"], "query parameter \"limit\": the query parameter \"limit\" is required");
    }

    #[test]
    fn headers_cookies_and_path_parameters() {
        let c = check(
            json!({
                "path": {"id": {"schema": {"type": "integer", "minimum": 1}}},
                "headers": {"X-Api-Key": {"required": true, "schema": {"type": "string", "minLength": 4}}},
                "cookies": {"session": {"required": true}}
            }),
            &["id"],
        );
        let ok =
            [Header { name: "x-api-key", value: b"abcd" }, Header { name: "cookie", value: b"session=1" }];
        assert!(run(&c, "/pets/7", &ok, b"", &[("id", "7")]).is_none());
        let (status, doc) = run(&c, "/pets/0", &ok, b"", &[("id", "0")]).expect("below the minimum");
        assert_eq!((status, &doc["errors"][0]["in"]), (400, &json!("path")));
        let (_, doc) = run(&c, "/pets/7", &ok[..1], b"", &[("id", "7")]).expect("no cookie");
        assert_eq!(doc["errors"][0]["name"], "session");
        let short = [Header { name: "X-API-KEY", value: b"ab" }, ok[1]];
        let (_, doc) = run(&c, "/pets/7", &short, b"", &[("id", "7")]).expect("short key");
        assert_eq!(doc["errors"][0]["name"], "x-api-key");
    }

    #[test]
    fn the_body_is_checked_after_the_parameters_and_answers_422() {
        let c = check(
            json!({
                "query": {"dry": {"schema": {"type": "boolean"}}},
                "body": {"required": true, "schema": {"type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}}
            }),
            &[],
        );
        assert!(run(&c, "/p", &[], br#"{"name":"rex"}"#, &[]).is_none());
        let (status, doc) = run(&c, "/p", &[], br#"{"name":"rex","age":"old"}"#, &[]).expect("bad age");
        assert_eq!(status, 422);
        assert_eq!(
            doc["errors"][0],
            json!({"in": "body", "pointer": "/age", "message": doc["errors"][0]["message"]})
        );
        assert!(doc["detail"].as_str().unwrap().starts_with("body at /age: "), "{doc}");
        assert_eq!(run(&c, "/p", &[], b"", &[]).expect("no body").0, 422);
        assert_eq!(
            run(&c, "/p", &[], b"name=rex", &[]).expect("not JSON").1["errors"][0]["message"],
            "the request body is not JSON"
        );
        // A parameter failure wins: 400, and the body is not looked at.
        assert_eq!(run(&c, "/p?dry=maybe", &[], b"", &[]).expect("bad flag").0, 400);
    }

    #[test]
    fn compile_errors_name_their_place() {
        let spec: RequestValidation = serde_json::from_value(json!({
            "path": {"nope": {}},
            "query": {"q": {"schema": {"type": 5}}}
        }))
        .expect("model");
        let mut errors = Errors::default();
        assert!(RequestCheck::compile(
            &spec,
            &Place::Root("rules[0].validate"),
            Some(["id"].into_iter()),
            &mut errors
        )
        .is_none());
        let list: Vec<String> = errors.list.iter().map(|e| e.to_string()).collect();
        assert_eq!(list.len(), 2, "{list:?}");
        assert!(
            list[0]
                .starts_with("rules[0].validate.path.nope: no path parameter \"nope\": its template has id"),
            "{list:?}"
        );
        assert!(
            list[1].starts_with("rules[0].validate.query.q.schema: invalid JSON Schema at /type"),
            "{list:?}"
        );
    }
}
