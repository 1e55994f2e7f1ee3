//! OpenAPI 3.0 and 3.1 documents (JSON or YAML) as mocks that answer as Prism does.
//!
//! Each operation becomes rules matching its method and path (the document's path template,
//! `/pets/{petId}`, is ours too):
//!
//! - one that answers the operation's default response: the lowest `2xx`, else `default`,
//!   else the lowest code;
//! - per response code, one that answers it when the request says `Prefer: code=404`;
//! - per named example, one for `Prefer: example=cat` (an example of the default response)
//!   and one for `Prefer: code=404, example=cat`.
//!
//! The more a rule's `Prefer` names, the higher its priority, so the most specific one wins.
//! A response's body is its media type's first example (`example`, then `examples`) that matches
//! its schema, else one generated from its schema ([`generate`]); an example that does not match
//! is reported, and served only when asked for by name ([`examples`]). With [`Options::validate`], every rule of an
//! operation carries a `validate` block (its parameters and JSON request body, as standalone
//! JSON Schemas), so an invalid request gets a 400/422 problem document instead.
//!
//! What has no equivalent is listed with its place (`paths./pets.get.callbacks.onEvent`):
//! callbacks, webhooks, security requirements (not enforced), examples by `externalValue`,
//! bodies of media types that are not JSON or text and have no example.

mod document;
mod examples;
mod generate;
mod paths;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use mockplane_rules::model::{
    HeaderValues, MethodMatch, RequestMatch, RequestValidation, Response, Rule, RuleSet, ValueCheck,
    ValueMatch, ValueMatchSpec,
};
use serde_json::Value;

use self::document::invalid;
pub use self::document::{Document, Version};
use self::examples::ExampleCheck;
use self::generate::Generator;
use self::paths::{path_pattern, prefer, PathNames};
use crate::{ImportError, Imported, Unsupported};

/// How to convert.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Give every rule its operation's request validation (parameters and JSON body).
    pub validate: bool,
    /// Generated bodies: `None` makes Prism's static choices (first enum member, first
    /// branch, `"string"`, `0`); a seed draws them, the same for the same seed.
    pub seed: Option<u64>,
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Converts an OpenAPI document's text.
pub fn import(text: &str, options: &Options) -> Result<Imported, ImportError> {
    let doc = Document::parse(text)?;
    import_document(&doc, options)
}

/// Converts a parsed document.
pub fn import_document(doc: &Document, options: &Options) -> Result<Imported, ImportError> {
    let mut cx = Convert {
        doc,
        options,
        rules: Vec::new(),
        unsupported: Vec::new(),
        ids: HashSet::new(),
        operations: HashSet::new(),
        examples: ExampleCheck::default(),
    };
    if let Some(paths) = doc.root.get("paths") {
        let paths = paths.as_object().ok_or_else(|| invalid("paths", "must be an object"))?;
        for (path, item) in paths {
            let place = format!("paths.{path}");
            let item = doc.deref(item, &place).map_err(|m| invalid(&place, m))?;
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    cx.operation(path, method, item, op, &format!("{place}.{method}"))?;
                }
            }
        }
    }
    if let Some(Value::Object(hooks)) = doc.root.get("webhooks") {
        for name in hooks.keys() {
            cx.unsupported(
                format!("webhooks.{name}"),
                "webhooks are requests the API makes, not ones it answers",
            );
        }
    }
    let secured = doc.root.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty())
        || doc
            .root
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty());
    if secured {
        cx.unsupported(
            "components.securitySchemes",
            "security requirements are not enforced: requests without credentials are answered",
        );
    }
    let set = RuleSet { rules: cx.rules.into_iter().map(Arc::new).collect(), ..RuleSet::default() };
    Ok(Imported { set, unsupported: cx.unsupported })
}

struct Convert<'d> {
    doc: &'d Document,
    options: &'d Options,
    rules: Vec<Rule>,
    unsupported: Vec<Unsupported>,
    ids: HashSet<String>,
    /// (method, path) of the operations converted so far.
    operations: HashSet<(String, String)>,
    /// The response schemas compiled so far, to check examples against.
    examples: ExampleCheck,
}

/// One response of an operation, ready to become rules.
struct Answer {
    /// `200`, `404`; `default` answers 200 unless it is chosen by code.
    status: u16,
    /// The document's key: `"200"`, `"4XX"`, `"default"`.
    key: String,
    /// The first example's response, and the named examples' ones.
    first: Response,
    named: Vec<(String, Response)>,
}

impl<'d> Convert<'d> {
    fn unsupported(&mut self, place: impl Into<String>, message: impl Into<String>) {
        self.unsupported.push(Unsupported { place: place.into(), message: message.into() });
    }

    fn operation(
        &mut self,
        path: &str,
        method: &str,
        item: &'d Value,
        op: &'d Value,
        place: &str,
    ) -> Result<(), ImportError> {
        let doc = self.doc;
        if let Some(Value::Object(callbacks)) = op.get("callbacks") {
            for name in callbacks.keys() {
                self.unsupported(
                    format!("{place}.callbacks.{name}"),
                    "callbacks are requests the API makes, not ones it answers",
                );
            }
        }
        // Some documents tell two operations on one path apart with a fragment
        // (`/files/{id}#get_shared_link`); a request never carries one.
        let path = path.split('#').next().unwrap_or(path);
        let method_path = (method.to_owned(), path.to_owned());
        if !self.operations.insert(method_path) {
            self.unsupported(
                place,
                format!(
                    "a second {} {path}: requests get the first one's answers",
                    method.to_ascii_uppercase()
                ),
            );
            return Ok(());
        }
        let (path_match, names) = path_pattern(path);
        let validate =
            if self.options.validate { Some(self.validation(item, op, place, &names)?) } else { None };

        let responses = op.get("responses").and_then(Value::as_object);
        let mut answers = Vec::new();
        for (key, response) in responses.into_iter().flatten() {
            let here = format!("{place}.responses.{key}");
            let Some(status) = status_of(key) else {
                self.unsupported(&here, format!("{key:?} is not a status code"));
                continue;
            };
            let response = doc.deref(response, &here).map_err(|m| invalid(&here, m))?;
            answers.push(self.answer(key, status, response, &here));
        }
        answers.sort_by_key(|a| (a.key == "default", a.status));
        let chosen = answers
            .iter()
            .position(|a| (200..300).contains(&a.status) && a.key != "default")
            .or_else(|| answers.iter().position(|a| a.key == "default"))
            .or(if answers.is_empty() { None } else { Some(0) });

        let base = match op.get("operationId").and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() => id.to_owned(),
            _ => format!("{} {path}", method.to_ascii_uppercase()),
        };
        let name = op.get("summary").and_then(Value::as_str).map(str::to_owned);
        let tags: Vec<String> = op
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        let mut rule = |id: String, priority: i32, prefer: Option<String>, response: Response| {
            let mut headers = BTreeMap::new();
            if let Some(regex) = prefer {
                headers.insert(
                    "prefer".to_owned(),
                    ValueMatch::Spec(Box::new(ValueMatchSpec {
                        regex: Some(regex),
                        ..ValueMatchSpec::default()
                    })),
                );
            }
            let id = self.unique_id(id);
            self.rules.push(Rule {
                id,
                name: name.clone(),
                priority,
                enabled: true,
                tags: tags.clone(),
                matcher: RequestMatch {
                    method: Some(MethodMatch::One(method.to_ascii_uppercase())),
                    path: Some(path_match.clone()),
                    headers,
                    ..RequestMatch::default()
                },
                response: Some(response),
                sequence: None,
                forward: None,
                times: None,
                scenario: None,
                validate: validate.clone(),
            });
        };
        let Some(chosen) = chosen else {
            // No responses at all: the operation still exists, and answers 200 with no body.
            rule(base, 0, None, Response::default());
            return Ok(());
        };
        rule(base.clone(), 0, None, answers[chosen].first.clone());
        for (i, a) in answers.iter().enumerate() {
            let code = (a.key != "default").then(|| a.status.to_string());
            if let Some(code) = &code {
                rule(format!("{base} code={code}"), 1, Some(prefer(&[("code", code)])), a.first.clone());
            }
            for (example, response) in &a.named {
                if i == chosen {
                    rule(
                        format!("{base} example={example}"),
                        2,
                        Some(prefer(&[("example", example)])),
                        response.clone(),
                    );
                }
                if let Some(code) = &code {
                    rule(
                        format!("{base} code={code} example={example}"),
                        3,
                        Some(prefer(&[("code", code), ("example", example)])),
                        response.clone(),
                    );
                }
            }
        }
        Ok(())
    }

    /// A rule id not used yet: at most 200 characters, no control characters.
    fn unique_id(&mut self, id: String) -> String {
        let mut id: String = id.chars().map(|c| if c.is_control() { ' ' } else { c }).take(190).collect();
        if self.ids.contains(&id) {
            let stem = id.clone();
            let mut n = 2;
            while self.ids.contains(&id) {
                id = format!("{stem} ~{n}");
                n += 1;
            }
        }
        self.ids.insert(id.clone());
        id
    }

    fn answer(&mut self, key: &str, status: u16, response: &'d Value, place: &str) -> Answer {
        let doc = self.doc;
        let mut headers = BTreeMap::new();
        if let Some(Value::Object(defined)) = response.get("headers") {
            for (name, header) in defined {
                if name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-length") {
                    continue;
                }
                let Ok(header) = doc.deref(header, place) else { continue };
                let value = header.get("example").cloned().or_else(|| {
                    header.get("schema").and_then(|s| Generator::new(doc, self.options.seed).value(s))
                });
                let text = match value {
                    Some(Value::String(s)) => s,
                    Some(Value::Null) | None => continue,
                    Some(other) => other.to_string(),
                };
                if !text.contains(['\r', '\n']) {
                    headers.insert(name.to_ascii_lowercase(), HeaderValues::One(text));
                }
            }
        }
        let base = Response { status, headers, ..Response::default() };
        let content = response.get("content").and_then(Value::as_object).filter(|c| !c.is_empty());
        let Some(content) = content else {
            return Answer { status, key: key.to_owned(), first: base, named: Vec::new() };
        };
        // JSON first, as Prism picks it when the request does not say what it accepts.
        let (media, body) = content
            .iter()
            .find(|(m, _)| is_json(m))
            .or_else(|| content.iter().next())
            .expect("content is not empty");
        let here = format!("{place}.content.{media}");
        let with_body = |value: &Value| -> Option<Response> { body_response(&base, media, value) };

        // A JSON example that breaks its schema is not the default answer: the first one that
        // fits is, else a generated body. A named one is still served when asked for by name.
        let schema = body.get("schema").filter(|_| is_json(media));
        let mut broken: Vec<(String, String, Option<String>)> = Vec::new();
        let mut check = |example_place: &str, value: &Value, name: Option<&str>| -> bool {
            let error = schema.and_then(|s| self.examples.first_error(doc, s, value));
            if let Some(error) = error {
                broken.push((example_place.to_owned(), error, name.map(str::to_owned)));
                return false;
            }
            true
        };
        let mut named = Vec::new();
        let mut first = None;
        let mut skipped = Vec::new();
        if let Some(example) = body.get("example") {
            if check(&format!("{here}.example"), example, None) {
                first = with_body(example);
            }
        }
        if let Some(Value::Object(examples)) = body.get("examples") {
            for (name, example) in examples {
                let example_place = format!("{here}.examples.{name}");
                let example = match doc.deref(example, &example_place) {
                    Ok(e) => e,
                    Err(m) => {
                        skipped.push((example_place, m));
                        continue;
                    }
                };
                let Some(value) = example.get("value") else {
                    if example.get("externalValue").is_some() {
                        skipped.push((example_place, "an externalValue example is not fetched".to_owned()));
                    }
                    continue;
                };
                let fits = check(&example_place, value, Some(name));
                match with_body(value) {
                    Some(r) => {
                        if first.is_none() && fits {
                            first = Some(r.clone());
                        }
                        named.push((name.clone(), r));
                    }
                    None => skipped
                        .push((example_place, format!("a non-text example of {media} cannot be served"))),
                }
            }
        }
        for (example_place, message) in skipped {
            self.unsupported(example_place, message);
        }
        let instead = if first.is_some() {
            "the response's first example that does match is served instead"
        } else {
            "a body generated from the schema is served instead"
        };
        for (example_place, error, name) in broken {
            let by_name = match name {
                Some(name) => format!(" (`Prefer: example={name}` still serves it as written)"),
                None => String::new(),
            };
            self.unsupported(example_place, format!("does not match its schema {error}; {instead}{by_name}"));
        }
        if first.is_none() {
            let generated = match body.get("schema") {
                Some(s) if is_json(media) => {
                    let (value, complaint) = self.examples.generate(doc, s, self.options.seed);
                    if let Some(complaint) = complaint {
                        self.unsupported(format!("{here}.schema"), complaint);
                    }
                    value
                }
                Some(s) => Generator::new(doc, self.options.seed).value(s),
                None => None,
            };
            first = match generated {
                Some(v) if is_json(media) || (v.is_string() && media.starts_with("text/")) => with_body(&v),
                Some(_) => {
                    self.unsupported(
                        &here,
                        format!("no example, and a body of type {media} cannot be generated from the schema"),
                    );
                    None
                }
                None => None,
            };
        }
        let first = first.unwrap_or_else(|| {
            let mut r = base.clone();
            if !is_json(media) {
                r.headers.insert("content-type".into(), HeaderValues::One(media.clone()));
            }
            r
        });
        Answer { status, key: key.to_owned(), first, named }
    }

    /// The operation's `validate` block: its parameters (path-level ones too, overridden by the
    /// operation's own) and its JSON request body.
    fn validation(
        &mut self,
        item: &'d Value,
        op: &'d Value,
        place: &str,
        names: &PathNames,
    ) -> Result<RequestValidation, ImportError> {
        let doc = self.doc;
        let mut params: Vec<(String, String, &'d Value, String)> = Vec::new();
        for (source, source_place) in
            [(item, place.rsplit_once('.').map_or(place, |p| p.0).to_owned()), (op, place.to_owned())]
        {
            for (i, p) in source.get("parameters").and_then(Value::as_array).into_iter().flatten().enumerate()
            {
                let here = format!("{source_place}.parameters[{i}]");
                let p = doc.deref(p, &here).map_err(|m| invalid(&here, m))?;
                let (Some(name), Some(at)) =
                    (p.get("name").and_then(Value::as_str), p.get("in").and_then(Value::as_str))
                else {
                    return Err(invalid(here, "a parameter needs `name` and `in`"));
                };
                params.retain(|(n, a, _, _)| !(n == name && a == at));
                params.push((name.to_owned(), at.to_owned(), p, here));
            }
        }
        let mut v = RequestValidation::default();
        for (name, at, p, here) in params {
            let required = p.get("required") == Some(&Value::Bool(true));
            let schema = match p.get("schema") {
                Some(s) => Some(doc.standalone_schema(s).map_err(|m| invalid(format!("{here}.schema"), m))?),
                None => {
                    if p.get("content").is_some() {
                        self.unsupported(
                            format!("{here}.content"),
                            "a parameter described by `content` is checked only for presence",
                        );
                    }
                    None
                }
            };
            let check = ValueCheck { required, schema };
            match at.as_str() {
                "path" => match names.renamed(&name) {
                    Some(ours) => {
                        v.path.insert(ours, check);
                    }
                    None => self.unsupported(here, format!("path parameter {name:?} is not a whole segment of the path, so it is not checked")),
                },
                "query" => {
                    v.query.insert(name, check);
                }
                // OpenAPI ignores these three as parameters: they are the protocol's.
                "header" if ["accept", "content-type", "authorization"].contains(&name.to_ascii_lowercase().as_str()) => {}
                "header" => {
                    v.headers.insert(name, check);
                }
                "cookie" => {
                    v.cookies.insert(name, check);
                }
                other => return Err(invalid(format!("{here}.in"), format!("{other:?} is not path, query, header or cookie"))),
            }
        }
        if let Some(body) = op.get("requestBody") {
            let here = format!("{place}.requestBody");
            let body = doc.deref(body, &here).map_err(|m| invalid(&here, m))?;
            let required = body.get("required") == Some(&Value::Bool(true));
            let content = body.get("content").and_then(Value::as_object);
            let all_json = content.is_some_and(|c| !c.is_empty() && c.keys().all(|m| is_json(m)));
            let schema = content.and_then(|c| c.values().find_map(|m| m.get("schema")));
            if all_json {
                let schema = match schema {
                    Some(s) => {
                        Some(doc.standalone_schema(s).map_err(|m| invalid(format!("{here}.content"), m))?)
                    }
                    None => None,
                };
                v.body = Some(ValueCheck { required, schema });
            } else {
                let types: Vec<&str> = content.into_iter().flatten().map(|(m, _)| m.as_str()).collect();
                self.unsupported(
                    &here,
                    format!("only JSON request bodies are validated, not {}", types.join(", ")),
                );
            }
        }
        Ok(v)
    }
}

/// A response with `value` as its body in media type `media`, or `None` when a non-JSON
/// media type's value is not text.
fn body_response(base: &Response, media: &str, value: &Value) -> Option<Response> {
    let mut r = base.clone();
    if is_json(media) {
        // `*/*` (any type) is answered as plain JSON.
        if media != "application/json" && media != "*/*" {
            r.headers.insert("content-type".into(), HeaderValues::One(media.to_owned()));
        }
        r.json = Some(value.clone());
        return Some(r);
    }
    let Value::String(text) = value else { return None };
    r.headers.insert("content-type".into(), HeaderValues::One(media.to_owned()));
    r.body = Some(text.clone());
    Some(r)
}

fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

/// `"200"` → 200, `"4XX"` → 400, `"default"` → 200.
fn status_of(key: &str) -> Option<u16> {
    if key == "default" {
        return Some(200);
    }
    let upper = key.to_ascii_uppercase();
    let n: u16 = match upper.strip_suffix("XX") {
        Some(d) => d.parse::<u16>().ok()? * 100,
        None => upper.parse().ok()?,
    };
    (100..=599).contains(&n).then_some(n)
}

#[cfg(test)]
mod tests;
