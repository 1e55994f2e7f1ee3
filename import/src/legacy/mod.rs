//! The original design's export format, version 1.0 (docs/import.md, "The original 1.0
//! export"): `{"version": "1.0", "data": {"project", "environments", "rules"}}`.
//!
//! No sample of that format survives, so its shape here is inferred from its field names and
//! written down in docs/import.md. The reading is strict about names (an unknown field is an
//! error with its place, so a misread document is never half-imported) and lenient about
//! forms whose intent is clear (`delay: 100`, `{"fixed": 100}` and `{"type": "fixed", "ms":
//! 100}` are one delay). The converter writes the mockplane rule set as a JSON document and
//! reads it with [`RuleSet::from_value`], so it depends on the model's field names only, not on
//! its Rust types. Script matchers have no equivalent: each such rule is imported disabled and
//! reported.

mod response;
#[cfg(test)]
mod tests;

use serde_json::{json, Map, Value};

use mockplane_rules::RuleSet;

use crate::{ImportError, Imported, Unsupported};

/// The `version` this module reads.
pub const VERSION: &str = "1.0";

/// Whether a parsed document looks like a 1.0 export: `"version": "1.0"` beside `"data"`.
pub fn is_legacy(doc: &Value) -> bool {
    doc.get("version").and_then(Value::as_str) == Some(VERSION) && doc.get("data").is_some()
}

/// A 1.0 export read from JSON text; see [`convert`].
pub fn convert_text(text: &str, environment: Option<&str>) -> Result<Converted, ImportError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        invalid("the document", format!("not JSON (line {}, column {}): {e}", e.line(), e.column()))
    })?;
    convert(&doc, environment)
}

/// What a 1.0 export became: the rules and what could not be mapped, and where each rule
/// came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The rule set and the unsupported items.
    pub imported: Imported,
    /// For each rule of `imported.set`, its index in `data.rules`: the document may hold rules
    /// of other environments, which are left out.
    pub origins: Vec<usize>,
}

impl Converted {
    /// A place in the converted rule set (`rules[2].match.path`) as the place of the same rule
    /// in the document (`data.rules[5].match.path`); other places unchanged.
    pub fn source_place(&self, place: &str) -> String {
        let renamed = place.strip_prefix("rules[").and_then(|rest| {
            let (n, rest) = rest.split_once(']')?;
            let origin = self.origins.get(n.parse::<usize>().ok()?)?;
            Some(format!("data.rules[{origin}]{rest}"))
        });
        renamed.unwrap_or_else(|| place.to_owned())
    }
}

/// Converts a parsed 1.0 export. `environment` picks one of the document's environments by
/// name (or id); it may be left out when the document has at most one.
pub fn convert(doc: &Value, environment: Option<&str>) -> Result<Converted, ImportError> {
    let top = object(doc, "", &["version", "data", "exported_at"])?;
    match top.get("version") {
        Some(Value::String(v)) if v == VERSION => {}
        Some(other) => {
            return Err(invalid("version", format!("expected \"{VERSION}\", found {}", show(other))));
        }
        None => return Err(invalid("version", "missing: a 1.0 export starts with \"version\": \"1.0\"")),
    }
    let data = top.get("data").ok_or_else(|| invalid("data", "missing"))?;
    let data = object(data, "data", &["project", "environments", "rules"])?;

    let project = match data.get("project") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(p) => {
            let p = object(p, "data.project", &["id", "name", "description"])?;
            Some(string(p.get("name"), "data.project.name")?)
        }
    };
    let environments = environments(data.get("environments"))?;
    let chosen = choose(&environments, environment)?;

    let mut set = Map::new();
    if let Some(project) = project {
        set.insert("project".into(), json!(project));
    }
    if let Some(env) = chosen {
        set.insert("environment".into(), json!(env.name));
        if !env.variables.is_empty() {
            set.insert("variables".into(), Value::Object(env.variables.clone()));
        }
    }
    let mut unsupported = Vec::new();
    let mut rules = Vec::new();
    let mut origins = Vec::new();
    let list = match data.get("rules") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => &list[..],
        Some(other) => {
            return Err(invalid("data.rules", format!("expected a list of rules, found {}", show(other))))
        }
    };
    for (i, rule) in list.iter().enumerate() {
        let place = format!("data.rules[{i}]");
        let r = object(rule, &place, RULE_FIELDS)?;
        if !applies_to(r, &place, chosen, &environments)? {
            continue;
        }
        rules.push(convert_rule(r, i, &place, &mut unsupported)?);
        origins.push(i);
    }
    set.insert("rules".into(), Value::Array(rules));
    let set = RuleSet::from_value(Value::Object(set)).map_err(|e| {
        // The converter writes only fields the model has; what is refused here is a value
        // (a status that is not a number) that came through as the document wrote it.
        let first = e.errors.first();
        let converted = Converted { imported: Imported::default(), origins: origins.clone() };
        invalid(
            converted.source_place(first.map_or("", |e| e.path.as_str())),
            first.map_or_else(String::new, |e| e.message.clone()),
        )
    })?;
    Ok(Converted { imported: Imported { set, unsupported }, origins })
}

const RULE_FIELDS: &[&str] = &[
    "id",
    "name",
    "environment",
    "environments",
    "match",
    "response",
    "priority",
    "enabled",
    "tags",
    "created_at",
    "updated_at",
];

/// One environment of the document.
#[derive(Debug)]
struct Environment {
    id: Option<String>,
    name: String,
    variables: Map<String, Value>,
}

fn environments(list: Option<&Value>) -> Result<Vec<Environment>, ImportError> {
    let list = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(invalid("data.environments", format!("expected a list, found {}", show(other))));
        }
    };
    let mut out: Vec<Environment> = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let place = format!("data.environments[{i}]");
        let env = match e {
            Value::String(name) => Environment { id: None, name: name.clone(), variables: Map::new() },
            _ => {
                let o = object(e, &place, &["id", "name", "description", "variables"])?;
                let variables = match o.get("variables") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(vars)) => {
                        let mut out = Map::new();
                        for (k, v) in vars {
                            out.insert(k.clone(), json!(scalar(v, &format!("{place}.variables.{k}"))?));
                        }
                        out
                    }
                    Some(other) => {
                        return Err(invalid(
                            format!("{place}.variables"),
                            format!("expected a map, found {}", show(other)),
                        ));
                    }
                };
                let id = o.get("id").map(|v| scalar(v, &format!("{place}.id"))).transpose()?;
                Environment { id, name: string(o.get("name"), &format!("{place}.name"))?, variables }
            }
        };
        if let Some(first) = out.iter().position(|other| other.name == env.name) {
            return Err(invalid(
                format!("{place}.name"),
                format!("the name {:?} is also data.environments[{first}]'s", env.name),
            ));
        }
        out.push(env);
    }
    Ok(out)
}

/// The environment to import: the one named, the only one, or none when there are none.
fn choose<'e>(
    environments: &'e [Environment],
    wanted: Option<&str>,
) -> Result<Option<&'e Environment>, ImportError> {
    let names = || environments.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ");
    if let Some(wanted) = wanted {
        if let Some(env) = environments.iter().find(|e| e.name == wanted || e.id.as_deref() == Some(wanted)) {
            return Ok(Some(env));
        }
    }
    match environments {
        [] => Ok(None),
        [only] => Ok(Some(only)),
        _ => Err(invalid(
            "data.environments",
            match wanted {
                Some(w) => format!(
                    "the document has no environment {w:?}; it has {}: name one of them with --env PROJECT/NAME",
                    names()
                ),
                None => format!(
                    "the document has {} environments ({}): name the one to import with --env PROJECT/NAME",
                    environments.len(),
                    names()
                ),
            },
        )),
    }
}

/// Whether a rule belongs to the chosen environment: it names it (by name or id) in
/// `environment` or `environments`, or names none (a rule of every environment).
fn applies_to(
    rule: &Map<String, Value>,
    place: &str,
    chosen: Option<&Environment>,
    all: &[Environment],
) -> Result<bool, ImportError> {
    let mut named = Vec::new();
    if let Some(one) = rule.get("environment").filter(|v| !v.is_null()) {
        named.push((scalar(one, &format!("{place}.environment"))?, format!("{place}.environment")));
    }
    match rule.get("environments") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (j, e) in list.iter().enumerate() {
                let at = format!("{place}.environments[{j}]");
                named.push((scalar(e, &at)?, at));
            }
        }
        Some(other) => {
            return Err(invalid(
                format!("{place}.environments"),
                format!("expected a list, found {}", show(other)),
            ));
        }
    }
    if named.is_empty() {
        return Ok(true);
    }
    let is = |env: &Environment, n: &str| env.name == n || env.id.as_deref() == Some(n);
    for (name, at) in &named {
        if !all.iter().any(|env| is(env, name)) {
            return Err(invalid(at.clone(), format!("no environment {name:?} in data.environments")));
        }
    }
    Ok(chosen.is_none_or(|env| named.iter().any(|(n, _)| is(env, n))))
}

fn convert_rule(
    r: &Map<String, Value>,
    index: usize,
    place: &str,
    unsupported: &mut Vec<Unsupported>,
) -> Result<Value, ImportError> {
    let mut out = Map::new();
    let id = match r.get("id") {
        None | Some(Value::Null) => format!("rule-{}", index + 1),
        Some(v) => scalar(v, &format!("{place}.id"))?,
    };
    out.insert("id".into(), json!(id));
    if let Some(name) = r.get("name").filter(|v| !v.is_null()) {
        out.insert("name".into(), json!(string(Some(name), &format!("{place}.name"))?));
    }
    if let Some(p) = r.get("priority").filter(|v| !v.is_null()) {
        let priority = p.as_i64().and_then(|p| i32::try_from(p).ok()).ok_or_else(|| {
            invalid(format!("{place}.priority"), format!("expected a whole number, found {}", show(p)))
        })?;
        out.insert("priority".into(), json!(priority));
    }
    let mut enabled = match r.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid(
                format!("{place}.enabled"),
                format!("expected true or false, found {}", show(other)),
            ));
        }
    };
    match r.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tags)) => {
            let tags = tags
                .iter()
                .enumerate()
                .map(|(j, t)| scalar(t, &format!("{place}.tags[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert("tags".into(), json!(tags));
        }
        // A comma-separated string is a list of tags.
        Some(Value::String(tags)) => {
            let tags: Vec<&str> = tags.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
            out.insert("tags".into(), json!(tags));
        }
        Some(other) => {
            return Err(invalid(
                format!("{place}.tags"),
                format!("expected a list of strings, found {}", show(other)),
            ));
        }
    }
    let (matcher, script) = convert_match(r.get("match"), &format!("{place}.match"))?;
    if script {
        unsupported.push(Unsupported {
            place: format!("{place}.match"),
            message: format!(
                "script matchers are not supported (mockplane has no scripting); the rule {id:?} is imported disabled, with the rest of its match: rewrite the match and enable it"
            ),
        });
        enabled = false;
    }
    if !enabled {
        out.insert("enabled".into(), json!(false));
    }
    if !matcher.is_empty() {
        out.insert("match".into(), Value::Object(matcher));
    }
    let response = match r.get("response") {
        None | Some(Value::Null) => Map::new(),
        Some(v) => response::convert(v, &format!("{place}.response"))?,
    };
    out.insert("response".into(), Value::Object(response));
    Ok(Value::Object(out))
}

/// A rule's `match` in mockplane's terms, and whether it was a script matcher.
fn convert_match(m: Option<&Value>, place: &str) -> Result<(Map<String, Value>, bool), ImportError> {
    let mut out = Map::new();
    let Some(m) = m.filter(|v| !v.is_null()) else {
        return Ok((out, false));
    };
    let m = object(m, place, &["type", "method", "path", "query", "headers", "ip_whitelist", "script"])?;
    let kind = match m.get("type") {
        None | Some(Value::Null) => "simple".to_owned(),
        Some(Value::String(t)) => t.to_ascii_lowercase(),
        Some(other) => {
            return Err(invalid(
                format!("{place}.type"),
                format!("expected simple, regex or script, found {}", show(other)),
            ));
        }
    };
    let regex = match kind.as_str() {
        "simple" => false,
        "regex" => true,
        "script" => false,
        other => {
            return Err(invalid(
                format!("{place}.type"),
                format!("expected simple, regex or script, found {other:?}"),
            ));
        }
    };
    let script = kind == "script";
    if m.contains_key("script") && !script {
        return Err(invalid(
            format!("{place}.script"),
            format!("a script is only read with \"type\": \"script\", not {kind:?}"),
        ));
    }
    match m.get("method") {
        None | Some(Value::Null) => {}
        Some(Value::String(method)) => {
            out.insert("method".into(), json!(method.to_ascii_uppercase()));
        }
        Some(Value::Array(list)) => {
            let methods = list
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    string(Some(v), &format!("{place}.method[{j}]")).map(|m| m.to_ascii_uppercase())
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.insert("method".into(), json!(methods));
        }
        Some(other) => {
            return Err(invalid(
                format!("{place}.method"),
                format!("expected a method or a list of methods, found {}", show(other)),
            ));
        }
    }
    if let Some(path) = m.get("path").filter(|v| !v.is_null()) {
        let path = string(Some(path), &format!("{place}.path"))?;
        out.insert("path".into(), if regex { json!({ "regex": path }) } else { simple_path(&path) });
    }
    for field in ["query", "headers"] {
        let Some(values) = m.get(field).filter(|v| !v.is_null()) else { continue };
        let at = format!("{place}.{field}");
        let Value::Object(values) = values else {
            return Err(invalid(at, format!("expected a map of names to values, found {}", show(values))));
        };
        let mut matchers = Map::new();
        for (name, value) in values {
            let value = scalar(value, &format!("{at}.{name}"))?;
            matchers.insert(name.clone(), if regex { json!({ "regex": value }) } else { json!(value) });
        }
        out.insert(field.into(), Value::Object(matchers));
    }
    match m.get("ip_whitelist") {
        None | Some(Value::Null) => {}
        // One address, or several separated by commas.
        Some(Value::String(ips)) => {
            let ips: Vec<&str> = ips.split(',').map(str::trim).filter(|ip| !ip.is_empty()).collect();
            out.insert("client_ip".into(), json!(ips));
        }
        Some(Value::Array(list)) => {
            let ips = list
                .iter()
                .enumerate()
                .map(|(j, v)| string(Some(v), &format!("{place}.ip_whitelist[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert("client_ip".into(), json!(ips));
        }
        Some(other) => {
            return Err(invalid(
                format!("{place}.ip_whitelist"),
                format!("expected a list of addresses or CIDR blocks, found {}", show(other)),
            ));
        }
    }
    Ok((out, script))
}

/// A simple path: exact, a template (`/users/{id}`, or `/users/:id` in Express's style), or a
/// prefix when it ends in `*` (`/static/*`).
fn simple_path(path: &str) -> Value {
    if let Some(prefix) = path.strip_suffix('*') {
        return json!({ "prefix": prefix });
    }
    if path.split('/').any(|s| s.len() > 1 && s.starts_with(':')) {
        let template: Vec<String> = path
            .split('/')
            .map(|s| match s.strip_prefix(':') {
                Some(name) if !name.is_empty() => format!("{{{name}}}"),
                _ => s.to_owned(),
            })
            .collect();
        return json!(template.join("/"));
    }
    json!(path)
}

/// `v` as an object whose every key is one of `allowed`; an unknown key is an error at its
/// place that lists the known ones.
pub(crate) fn object<'v>(
    v: &'v Value,
    place: &str,
    allowed: &[&str],
) -> Result<&'v Map<String, Value>, ImportError> {
    let Value::Object(map) = v else {
        let at = if place.is_empty() { "the document" } else { place };
        return Err(invalid(at, format!("expected a map, found {}", show(v))));
    };
    if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        let at = if place.is_empty() { key.clone() } else { format!("{place}.{key}") };
        return Err(invalid(at, format!("unknown field {key:?}, expected one of {}", allowed.join(", "))));
    }
    Ok(map)
}

/// A required string.
pub(crate) fn string(v: Option<&Value>, place: &str) -> Result<String, ImportError> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(invalid(place, "missing")),
        Some(other) => Err(invalid(place, format!("expected a string, found {}", show(other)))),
    }
}

/// A string, or a number or boolean written as one (`"id": 7` is the id `"7"`).
pub(crate) fn scalar(v: &Value, place: &str) -> Result<String, ImportError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(invalid(place, format!("expected a string, found {}", show(other)))),
    }
}

/// A value as an error message shows it: short, and saying what kind it is.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a map".to_owned(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

pub(crate) fn invalid(place: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Invalid { place: place.into(), message: message.into() }
}
