//! A stub's `request` into a [`RequestMatch`]: URL forms, method, named values (headers,
//! query, cookies, form) and body patterns. Anything without an equivalent skips the stub.

use std::collections::BTreeMap;

use base64::Engine as _;
use mockplane_rules::model::{
    BodyMatch, MethodMatch, PathMatch, PathMatchSpec, RequestMatch, UrlMatch, ValueMatch, ValueMatchSpec,
};
use serde_json::{Map, Value};

use super::{join, skip, Cx, Skip};

const REQUEST_KEYS: &[&str] = &[
    "url",
    "urlPath",
    "urlPattern",
    "urlPathPattern",
    "urlPathTemplate",
    "pathParameters",
    "method",
    "headers",
    "queryParameters",
    "cookies",
    "formParameters",
    "bodyPatterns",
    "basicAuthCredentials",
    "host",
];

pub(super) fn convert(r: &Map<String, Value>, place: &str, cx: &mut Cx<'_>) -> Result<RequestMatch, Skip> {
    let at = |key: &str| join(place, key);
    if let Some(key) = r.keys().find(|k| !REQUEST_KEYS.contains(&k.as_str())) {
        let what = match key.as_str() {
            "customMatcher" => "custom matchers are Java extensions",
            "multipartPatterns" => "multipart matching has no equivalent",
            "scheme" | "port" | "clientIp" => "mockplane does not match on this request property",
            _ => "not a request field mockplane knows",
        };
        return Err(skip(at(key), format!("`{key}`: {what}")));
    }
    let mut m = RequestMatch::default();
    let url_forms: Vec<&str> = ["url", "urlPath", "urlPattern", "urlPathPattern", "urlPathTemplate"]
        .into_iter()
        .filter(|k| r.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    if url_forms.len() > 1 {
        return Err(skip(place, format!("more than one URL form: {}", url_forms.join(", "))));
    }
    if let Some(&form) = url_forms.first() {
        let text = string(r, form, &at(form))?;
        match form {
            "url" => m.url = Some(UrlMatch { exact: Some(text.into()), regex: None }),
            "urlPattern" => m.url = Some(UrlMatch { exact: None, regex: Some(text.into()) }),
            "urlPath" => m.path = Some(explicit_path(|p| p.exact = Some(text.into()))),
            "urlPathPattern" => m.path = Some(explicit_path(|p| p.regex = Some(text.into()))),
            _ => {
                m.path = Some(explicit_path(|p| p.template = Some(text.into())));
                if let Some(params) = r.get("pathParameters").and_then(Value::as_object) {
                    m.url = Some(path_parameters(text, params, &at("pathParameters"))?);
                }
            }
        }
    }
    if r.get("pathParameters").is_some() && url_forms.first() != Some(&"urlPathTemplate") {
        return Err(skip(at("pathParameters"), "pathParameters need urlPathTemplate"));
    }
    match r.get("method").and_then(Value::as_str) {
        None | Some("ANY") => {}
        Some(method) => m.method = Some(MethodMatch::One(method.to_owned())),
    }
    m.headers = named(r, "headers", &at("headers"))?;
    m.query = named(r, "queryParameters", &at("queryParameters"))?;
    m.cookies = named(r, "cookies", &at("cookies"))?;
    m.form = named(r, "formParameters", &at("formParameters"))?;
    if let Some(creds) = r.get("basicAuthCredentials") {
        let place = at("basicAuthCredentials");
        let field = |k: &str| {
            creds.get(k).and_then(Value::as_str).ok_or_else(|| skip(join(&place, k), "must be a string"))
        };
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            field("username")?,
            field("password")?
        ));
        // WireMock compares the whole header ignoring case, so `basic …` is taken too.
        let auth = spec(|s| {
            s.equals = Some(format!("Basic {token}"));
            s.case_insensitive = true;
        });
        let key = m.headers.keys().find(|k| k.eq_ignore_ascii_case("authorization")).cloned();
        match key.and_then(|k| m.headers.remove(&k)) {
            Some(other) => {
                m.headers.insert("Authorization".into(), spec(|s| s.and = Some(vec![other, auth])));
            }
            None => {
                m.headers.insert("Authorization".into(), auth);
            }
        }
    }
    if let Some(host) = r.get("host") {
        let place = at("host");
        match host.get("equalTo").and_then(Value::as_str) {
            Some(h) if host.as_object().is_some_and(|o| o.len() == 1) => m.host = Some(h.to_owned()),
            _ => return Err(skip(place, "only `host: {equalTo: …}` has an equivalent")),
        }
    }
    if let Some(patterns) = r.get("bodyPatterns") {
        let place = at("bodyPatterns");
        let Some(list) = patterns.as_array() else { return Err(skip(place, "must be a list")) };
        let mut all = Vec::new();
        for (i, p) in list.iter().enumerate() {
            if p.get("equalTo").and_then(Value::as_str) == Some("") {
                cx.unsupported(
                    format!("{place}[{i}].equalTo"),
                    "`equalTo: \"\"` matches no request in WireMock (an empty body is no body to it): \
                     imported as a matcher that never holds",
                );
            }
            if let Some(b) = body_pattern(p, &format!("{place}[{i}]"))? {
                all.push(b);
            }
        }
        m.body = match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(BodyMatch { and: Some(all), ..BodyMatch::default() }),
        };
    }
    Ok(m)
}

fn explicit_path(set: impl FnOnce(&mut PathMatchSpec)) -> PathMatch {
    let mut spec = PathMatchSpec::default();
    set(&mut spec);
    PathMatch::Explicit(spec)
}

fn spec(set: impl FnOnce(&mut ValueMatchSpec)) -> ValueMatch {
    let mut s = ValueMatchSpec::default();
    set(&mut s);
    ValueMatch::Spec(Box::new(s))
}

fn string<'v>(r: &'v Map<String, Value>, key: &str, place: &str) -> Result<&'v str, Skip> {
    r.get(key).and_then(Value::as_str).ok_or_else(|| skip(place, "must be a string"))
}

/// `pathParameters` as a regex over the whole target: the template with each constrained
/// parameter's pattern in its segment. The template itself stays the path, so the
/// parameters are still captured for response templates.
fn path_parameters(template: &str, params: &Map<String, Value>, place: &str) -> Result<UrlMatch, Skip> {
    let mut regex = String::new();
    for (i, segment) in template.split('/').enumerate() {
        if i > 0 {
            regex.push('/');
        }
        let name = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        let Some(name) = name else {
            regex.push_str(&regex_escape(segment));
            continue;
        };
        let Some(pattern) = params.get(name) else {
            regex.push_str("[^/?]+");
            continue;
        };
        let here = join(place, name);
        let obj = pattern
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| skip(&here, "one operator expected"))?;
        let (op, v) = obj.iter().next().expect("one entry");
        let text = v.as_str().ok_or_else(|| skip(join(&here, op), "must be a string"))?;
        let part = match op.as_str() {
            "equalTo" => regex_escape(text),
            "matches" => format!("(?:{text})"),
            "contains" => format!("[^/?]*{}[^/?]*", regex_escape(text)),
            _ => return Err(skip(join(&here, op), format!("`{op}` on a path parameter has no equivalent"))),
        };
        regex.push_str(&part);
    }
    if let Some(name) = params.keys().find(|n| !template.contains(&format!("{{{n}}}"))) {
        return Err(skip(join(place, name), "no such parameter in urlPathTemplate"));
    }
    regex.push_str("(?:\\?.*)?");
    Ok(UrlMatch { exact: None, regex: Some(regex) })
}

fn regex_escape(text: &str) -> String {
    regex_syntax::escape(text)
}

/// A map of names to WireMock multi-value patterns.
fn named(r: &Map<String, Value>, key: &str, place: &str) -> Result<BTreeMap<String, ValueMatch>, Skip> {
    let mut out = BTreeMap::new();
    let Some(v) = r.get(key) else { return Ok(out) };
    let Some(map) = v.as_object() else { return Err(skip(place, "must be an object")) };
    for (name, pattern) in map {
        if let Some(m) = multi_value_pattern(pattern, &join(place, name))? {
            out.insert(name.clone(), m);
        }
    }
    Ok(out)
}

/// `hasExactly`/`includes`, or one string pattern. `None`: WireMock's `anything`.
pub(super) fn multi_value_pattern(v: &Value, place: &str) -> Result<Option<ValueMatch>, Skip> {
    for (key, build) in [("hasExactly", true), ("includes", false)] {
        if let Some(list) = v.get(key) {
            let here = join(place, key);
            let list = list.as_array().ok_or_else(|| skip(&here, "must be a list"))?;
            let mut out = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                match value_pattern(p, &format!("{here}[{i}]"))? {
                    Some(m) => out.push(m),
                    None => out.push(spec(|s| s.present = Some(true))),
                }
            }
            return Ok(Some(spec(
                |s| if build { s.has_exactly = Some(out) } else { s.includes = Some(out) },
            )));
        }
    }
    value_pattern(v, place)
}

/// One WireMock string pattern as a value matcher.
pub(super) fn value_pattern(v: &Value, place: &str) -> Result<Option<ValueMatch>, Skip> {
    let Some(obj) = v.as_object() else { return Err(skip(place, "a pattern must be an object")) };
    let ci = obj.get("caseInsensitive").and_then(Value::as_bool).unwrap_or(false);
    let Some((op, arg)) = obj.iter().find(|(k, _)| *k != "caseInsensitive") else {
        return Err(skip(place, "no operator"));
    };
    let here = join(place, op);
    let text = || arg.as_str().map(str::to_owned).ok_or_else(|| skip(&here, "must be a string"));
    let list = |arg: &Value| -> Result<Vec<ValueMatch>, Skip> {
        let list = arg.as_array().ok_or_else(|| skip(&here, "must be a list"))?;
        let mut out = Vec::new();
        for (i, p) in list.iter().enumerate() {
            out.push(
                value_pattern(p, &format!("{here}[{i}]"))?
                    .unwrap_or_else(|| spec(|s| s.regex = Some("(?s).*".into()))),
            );
        }
        Ok(out)
    };
    let m = match op.as_str() {
        "equalTo" if ci => {
            let t = text()?;
            spec(|s| {
                s.equals = Some(t);
                s.case_insensitive = true;
            })
        }
        "equalTo" => ValueMatch::Equals(text()?),
        // WireMock's `contains ""` holds for any value, as `present` does.
        "contains" => match text()? {
            t if t.is_empty() => spec(|s| s.present = Some(true)),
            t => spec(|s| s.contains = Some(t)),
        },
        "doesNotContain" => match text()? {
            t if t.is_empty() => spec(|s| s.absent = Some(true)),
            t => spec(|s| s.not = Some(spec(|n| n.contains = Some(t)))),
        },
        "matches" => {
            let t = text()?;
            spec(|s| s.regex = Some(t))
        }
        "doesNotMatch" => {
            let t = text()?;
            spec(|s| s.not = Some(spec(|n| n.regex = Some(t))))
        }
        "absent" => match arg.as_bool() {
            Some(true) => spec(|s| s.absent = Some(true)),
            Some(false) => spec(|s| s.present = Some(true)),
            None => return Err(skip(&here, "must be true or false")),
        },
        "anything" => return Ok(None),
        "and" => {
            let l = list(arg)?;
            spec(|s| s.and = Some(l))
        }
        "or" => {
            let l = list(arg)?;
            spec(|s| s.or = Some(l))
        }
        "not" => {
            let inner =
                value_pattern(arg, &here)?.unwrap_or_else(|| spec(|s| s.regex = Some("(?s).*".into())));
            spec(|s| s.not = Some(inner))
        }
        other => {
            return Err(skip(here, format!("`{other}` has no equivalent for a header, parameter or cookie")))
        }
    };
    if ci && op != "equalTo" {
        return Err(skip(
            join(place, "caseInsensitive"),
            format!("only equalTo takes caseInsensitive, not {op}"),
        ));
    }
    Ok(Some(m))
}

/// One entry of `bodyPatterns`. `None`: WireMock's `anything`.
pub(super) fn body_pattern(v: &Value, place: &str) -> Result<Option<BodyMatch>, Skip> {
    let Some(obj) = v.as_object() else { return Err(skip(place, "a pattern must be an object")) };
    const OPTIONS: &[&str] = &[
        "caseInsensitive",
        "ignoreArrayOrder",
        "ignoreExtraElements",
        "enablePlaceholders",
        "schemaVersion",
    ];
    let Some((op, arg)) = obj.iter().find(|(k, _)| !OPTIONS.contains(&k.as_str())) else {
        return Err(skip(place, "no operator"));
    };
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
    let here = join(place, op);
    let text = || arg.as_str().map(str::to_owned).ok_or_else(|| skip(&here, "must be a string"));
    let body = |set: &dyn Fn(&mut BodyMatch)| {
        let mut b = BodyMatch::default();
        set(&mut b);
        b
    };
    let list = |arg: &Value| -> Result<Vec<BodyMatch>, Skip> {
        let list = arg.as_array().ok_or_else(|| skip(&here, "must be a list"))?;
        let mut out = Vec::new();
        for (i, p) in list.iter().enumerate() {
            out.push(
                body_pattern(p, &format!("{here}[{i}]"))?
                    .unwrap_or_else(|| body(&|b| b.contains = Some(String::new()))),
            );
        }
        Ok(out)
    };
    if flag("enablePlaceholders") {
        return Err(skip(join(place, "enablePlaceholders"), "JsonUnit placeholders have no equivalent"));
    }
    let m = match op.as_str() {
        "equalTo" if flag("caseInsensitive") => {
            let t = text()?;
            body(&|b| b.regex = Some(format!("(?is){}", regex_escape(&t))))
        }
        // WireMock sees no body at all when the request has none, so `equalTo ""` matches no
        // request: kept as a matcher that never holds (the converter reports it).
        "equalTo" if arg.as_str() == Some("") => body(&|b| {
            b.not = Some(Box::new(BodyMatch { regex: Some("(?s).*".into()), ..BodyMatch::default() }))
        }),
        "equalTo" => {
            let t = text()?;
            body(&|b| b.equals = Some(t.clone()))
        }
        "binaryEqualTo" => {
            let t = text()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(t.as_bytes())
                .map_err(|e| skip(&here, format!("not base64: {e}")))?;
            let t = String::from_utf8(bytes)
                .map_err(|_| skip(&here, "a body that is not UTF-8 cannot be compared"))?;
            body(&|b| b.equals = Some(t.clone()))
        }
        "contains" => {
            let t = text()?;
            body(&|b| b.contains = Some(t.clone()))
        }
        "doesNotContain" => {
            let t = text()?;
            body(&|b| b.not = Some(Box::new(BodyMatch { contains: Some(t.clone()), ..BodyMatch::default() })))
        }
        "matches" => {
            let t = text()?;
            body(&|b| b.regex = Some(t.clone()))
        }
        "doesNotMatch" => {
            let t = text()?;
            body(&|b| b.not = Some(Box::new(BodyMatch { regex: Some(t.clone()), ..BodyMatch::default() })))
        }
        "absent" if arg.as_bool() == Some(true) => body(&|b| b.equals = Some(String::new())),
        "anything" => return Ok(None),
        "equalToJson" => {
            let json = match arg {
                Value::String(s) => {
                    serde_json::from_str::<Value>(s).map_err(|e| skip(&here, format!("not JSON: {e}")))?
                }
                other => other.clone(),
            };
            if json.to_string().contains("${json-unit.") {
                return Err(skip(&here, "JsonUnit placeholders have no equivalent"));
            }
            body(&|b| {
                b.json = Some(json.clone());
                b.ignore_array_order = flag("ignoreArrayOrder");
                b.ignore_extra_elements = flag("ignoreExtraElements");
            })
        }
        "matchesJsonPath" => match arg {
            Value::String(path) => body(&|b| b.jsonpath = Some(path.clone())),
            Value::Object(o) => {
                let path = o
                    .get("expression")
                    .and_then(Value::as_str)
                    .ok_or_else(|| skip(join(&here, "expression"), "must be a string"))?;
                let mut rest = o.clone();
                rest.remove("expression");
                if rest.len() == 1 && rest.get("absent") == Some(&Value::Bool(true)) {
                    return Ok(Some(jsonpath_absent(path)));
                }
                let inner = match rest.is_empty() {
                    true => None,
                    false => jsonpath_sub(&Value::Object(rest), &here)?,
                };
                body(&|b| {
                    b.jsonpath = Some(path.to_owned());
                    b.matches = inner.clone().map(Box::new);
                })
            }
            _ => return Err(skip(here, "must be a string or {expression, …}")),
        },
        "and" => {
            let l = list(arg)?;
            body(&|b| b.and = Some(l.clone()))
        }
        "or" => {
            let l = list(arg)?;
            body(&|b| b.or = Some(l.clone()))
        }
        "not" => {
            let inner =
                body_pattern(arg, &here)?.unwrap_or_else(|| body(&|b| b.contains = Some(String::new())));
            body(&|b| b.not = Some(Box::new(inner.clone())))
        }
        "matchesJsonSchema" => {
            let mut schema = match arg {
                Value::String(s) => {
                    serde_json::from_str::<Value>(s).map_err(|e| skip(&here, format!("not JSON: {e}")))?
                }
                other => other.clone(),
            };
            // WireMock's `schemaVersion` (default V202012) says the draft; mockplane reads it
            // from `$schema`, so a schema without one gets it written in.
            let draft = match obj.get("schemaVersion").and_then(Value::as_str).unwrap_or("V202012") {
                "V4" => "http://json-schema.org/draft-04/schema#",
                "V6" => "http://json-schema.org/draft-06/schema#",
                "V7" => "http://json-schema.org/draft-07/schema#",
                "V201909" => "https://json-schema.org/draft/2019-09/schema",
                "V202012" => "https://json-schema.org/draft/2020-12/schema",
                other => {
                    return Err(skip(join(place, "schemaVersion"), format!("unknown schema version {other}")))
                }
            };
            if let Some(obj) = schema.as_object_mut() {
                obj.entry("$schema").or_insert_with(|| Value::from(draft));
            }
            body(&|b| b.json_schema = Some(schema.clone()))
        }
        "equalToXml" | "matchesXPath" => {
            return Err(skip(here, format!("`{op}`: XML matching has no equivalent")))
        }
        other => return Err(skip(here, format!("`{other}` has no equivalent for a body"))),
    };
    Ok(Some(m))
}

/// `matchesJsonPath` with `absent: true`, as WireMock judges it: the body is JSON and the
/// path selects nothing, or only `null` or an empty list (WireMock sees no value in either).
fn jsonpath_absent(path: &str) -> BodyMatch {
    let json = |v: Value| BodyMatch { json: Some(v), ..BodyMatch::default() };
    let no_value = BodyMatch {
        or: Some(vec![json(Value::Null), json(Value::Array(Vec::new()))]),
        ..BodyMatch::default()
    };
    let some_value = BodyMatch {
        jsonpath: Some(path.to_owned()),
        matches: Some(Box::new(BodyMatch { not: Some(Box::new(no_value)), ..BodyMatch::default() })),
        ..BodyMatch::default()
    };
    BodyMatch {
        and: Some(vec![
            BodyMatch { jsonpath: Some("$".into()), ..BodyMatch::default() },
            BodyMatch { not: Some(Box::new(some_value)), ..BodyMatch::default() },
        ]),
        ..BodyMatch::default()
    }
}

/// The sub-matcher of `matchesJsonPath`: judged on each selected value, as `matches`.
fn jsonpath_sub(v: &Value, place: &str) -> Result<Option<BodyMatch>, Skip> {
    body_pattern(v, place)
}
