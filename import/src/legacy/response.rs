//! A 1.0 rule's `response` in mockplane's terms: `status_code`, `content_type` (JSON, XML,
//! HTML, Text, Binary), `body`, `headers` and `delay` (fixed, random, normal, step).

use serde_json::{json, Map, Value};

use super::{invalid, object, scalar, show};
use crate::ImportError;

/// The content types of the 1.0 format, and the `Content-Type` each one sends.
const CONTENT_TYPES: &[(&str, &str)] = &[
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("html", "text/html; charset=utf-8"),
    ("text", "text/plain; charset=utf-8"),
    ("binary", "application/octet-stream"),
];

/// What kind of body a content type holds.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Json,
    Binary,
    Text,
}

pub(super) fn convert(v: &Value, place: &str) -> Result<Map<String, Value>, ImportError> {
    let r = object(v, place, &["status_code", "content_type", "body", "headers", "delay"])?;
    let mut out = Map::new();
    if let Some(status) = r.get("status_code").filter(|v| !v.is_null()) {
        // `"200"` is as clear as `200`; the compiler checks the range.
        let code = match status {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        }
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| {
            invalid(
                format!("{place}.status_code"),
                format!("expected an HTTP status, found {}", show(status)),
            )
        })?;
        out.insert("status".into(), json!(code));
    }
    let mut headers = Map::new();
    match r.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, value) in h {
                let at = format!("{place}.headers.{name}");
                let value = match value {
                    Value::Array(list) => json!(list
                        .iter()
                        .enumerate()
                        .map(|(j, v)| scalar(v, &format!("{at}[{j}]")))
                        .collect::<Result<Vec<_>, _>>()?),
                    v => json!(scalar(v, &at)?),
                };
                headers.insert(name.clone(), value);
            }
        }
        Some(other) => {
            return Err(invalid(
                format!("{place}.headers"),
                format!("expected a map of names to values, found {}", show(other)),
            ));
        }
    }
    let kind = match r.get("content_type").filter(|v| !v.is_null()) {
        None => None,
        Some(Value::String(t)) => {
            let (kind, header) = content_type(t)
                .ok_or_else(|| invalid(format!("{place}.content_type"), format!("expected JSON, XML, HTML, Text, Binary or a media type (application/json), found {t:?}")))?;
            // A Content-Type among the headers is the more specific of the two.
            if !headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
                headers.insert("Content-Type".into(), json!(header));
            }
            Some(kind)
        }
        Some(other) => {
            return Err(invalid(
                format!("{place}.content_type"),
                format!("expected a string, found {}", show(other)),
            ));
        }
    };
    if !headers.is_empty() {
        out.insert("headers".into(), Value::Object(headers));
    }
    match (r.get("body"), kind) {
        (None | Some(Value::Null), _) => {}
        (Some(Value::String(b)), Some(Kind::Binary)) => {
            out.insert("base64".into(), json!(b));
        }
        (Some(Value::String(b)), _) => {
            out.insert("body".into(), json!(b));
        }
        // A body written as JSON is JSON, whatever the content type says.
        (Some(b), Some(Kind::Json) | None) => {
            out.insert("json".into(), b.clone());
        }
        (Some(b), Some(_)) => {
            return Err(invalid(
                format!("{place}.body"),
                format!("expected the body as a string for this content type, found {}", show(b)),
            ));
        }
    }
    if let Some(delay) = r.get("delay").filter(|v| !v.is_null()) {
        out.insert("delay".into(), self::delay(delay, &format!("{place}.delay"))?);
    }
    Ok(out)
}

/// The kind of body and the `Content-Type` of a 1.0 content type (any case), or of a media
/// type written out.
fn content_type(t: &str) -> Option<(Kind, String)> {
    let lower = t.trim().to_ascii_lowercase();
    if let Some((_, header)) = CONTENT_TYPES.iter().find(|(name, _)| *name == lower) {
        let kind = match lower.as_str() {
            "json" => Kind::Json,
            "binary" => Kind::Binary,
            _ => Kind::Text,
        };
        return Some((kind, (*header).to_owned()));
    }
    if lower.contains('/') {
        let kind = if lower.contains("json") {
            Kind::Json
        } else if lower.starts_with("text/") || lower.contains("xml") {
            Kind::Text
        } else {
            Kind::Binary
        };
        return Some((kind, t.trim().to_owned()));
    }
    None
}

/// The delay forms: a number (fixed ms); `{"fixed": 100}`, `{"random": {"min", "max"}}`,
/// `{"normal": {"mean", "stddev"}}`, `{"step": {"base", "step", "max"}}`; or the same with
/// `"type"` and the parameters beside it (`{"type": "fixed", "ms": 100}`).
fn delay(v: &Value, place: &str) -> Result<Value, ImportError> {
    if let Some(ms) = v.as_u64() {
        return Ok(json!({ "fixed": ms }));
    }
    let Value::Object(o) = v else {
        return Err(invalid(
            place,
            format!("expected milliseconds or a map such as {{\"fixed\": 100}}, found {}", show(v)),
        ));
    };
    let (kind, params, at) = match o.get("type") {
        Some(Value::String(t)) => (t.to_ascii_lowercase(), v, place.to_owned()),
        Some(other) => {
            return Err(invalid(
                format!("{place}.type"),
                format!("expected fixed, random, normal or step, found {}", show(other)),
            ));
        }
        None if o.len() == 1 => {
            let (k, inner) = o.iter().next().expect("one entry");
            (k.to_ascii_lowercase(), inner, format!("{place}.{k}"))
        }
        None => return Err(invalid(place, "expected one of fixed, random, normal, step (or \"type\")")),
    };
    let number = |names: &[&str], required: bool| -> Result<Option<f64>, ImportError> {
        let Value::Object(p) = params else {
            return Err(invalid(
                at.clone(),
                format!("expected a map with {}, found {}", names[0], show(params)),
            ));
        };
        let found = names.iter().find_map(|n| p.get(*n).map(|v| (*n, v)));
        match found {
            Some((_, v)) if v.as_f64().is_some_and(|n| n >= 0.0) => Ok(v.as_f64()),
            Some((n, v)) => {
                Err(invalid(format!("{at}.{n}"), format!("expected milliseconds, found {}", show(v))))
            }
            None if required => Err(invalid(at.clone(), format!("missing {}", names[0]))),
            None => Ok(None),
        }
    };
    let allowed: &[&str] = match kind.as_str() {
        "fixed" => &["type", "ms", "value", "delay"],
        "random" | "uniform" => &["type", "min", "max"],
        "normal" => &["type", "mean", "stddev", "std_dev", "sigma"],
        "step" => &["type", "base", "initial", "step", "increment", "max"],
        other => {
            return Err(invalid(
                if o.contains_key("type") { format!("{place}.type") } else { at.clone() },
                format!("unknown delay {other:?}, expected fixed, random, normal or step"),
            ));
        }
    };
    if let Value::Object(_) = params {
        object(params, &at, allowed)?;
    }
    let ms = |n: f64| n.round() as u64;
    Ok(match kind.as_str() {
        "fixed" => {
            let n = match params.as_f64() {
                Some(n) if n >= 0.0 => n,
                _ => number(&["ms", "value", "delay"], true)?.unwrap_or_default(),
            };
            json!({ "fixed": ms(n) })
        }
        "random" | "uniform" => {
            let min = number(&["min"], true)?.unwrap_or_default();
            let max = number(&["max"], true)?.unwrap_or_default();
            json!({ "uniform": { "min": ms(min), "max": ms(max) } })
        }
        "normal" => {
            let mean = number(&["mean"], true)?.unwrap_or_default();
            let stddev = number(&["stddev", "std_dev", "sigma"], true)?.unwrap_or_default();
            json!({ "normal": { "mean": mean, "stddev": stddev } })
        }
        _ => {
            let base = number(&["base", "initial"], true)?.unwrap_or_default();
            let step = number(&["step", "increment"], true)?.unwrap_or_default();
            let max = number(&["max"], true)?.unwrap_or_default();
            json!({ "step": { "base": ms(base), "step": ms(step), "max": ms(max) } })
        }
    })
}
