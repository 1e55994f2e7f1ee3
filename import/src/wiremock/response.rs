//! A stub's `response` into a mockplane response, or a `forward` for `proxyBaseUrl`.
//! Parts without an equivalent are reported and left out; the stub is still imported.

use std::collections::BTreeMap;

use base64::Engine as _;
use mockplane_rules::model::{
    ChunkedDribble, Delay, Fault, FaultKind, Forward, HeaderEdits, HeaderValues, LognormalDelay, Response,
    Templating, UniformDelay,
};
use serde_json::{Map, Value};

use super::{join, skip, Cx, Skip};

/// What the stub does with a matched request.
pub(super) enum Action {
    Respond(Response),
    Forward(Forward),
}

const RESPONSE_KEYS: &[&str] = &[
    "status",
    "statusMessage",
    "headers",
    "body",
    "jsonBody",
    "base64Body",
    "bodyFileName",
    "fixedDelayMilliseconds",
    "delayDistribution",
    "chunkedDribbleDelay",
    "fault",
    "proxyBaseUrl",
    "additionalProxyRequestHeaders",
    "removeProxyRequestHeaders",
    "proxyUrlPrefixToRemove",
    "transformers",
    "transformerParameters",
];

pub(super) fn convert(r: &Map<String, Value>, place: &str, cx: &mut Cx<'_>) -> Result<Action, Skip> {
    let at = |key: &str| join(place, key);
    for key in r.keys().filter(|k| !RESPONSE_KEYS.contains(&k.as_str())) {
        cx.unsupported(at(key), format!("`{key}` is not a response field mockplane knows (ignored)"));
    }
    let status = match r.get("status") {
        None | Some(Value::Null) => 200,
        Some(v) => v
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| skip(at("status"), "must be a number"))?,
    };
    let reason = match r.get("statusMessage") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().ok_or_else(|| skip(at("statusMessage"), "must be a string"))?.to_owned()),
    };
    let dribble = dribble(r.get("chunkedDribbleDelay"), &at("chunkedDribbleDelay"))?;
    let headers = headers(r.get("headers"), &at("headers"), cx)?;
    let delay = delay(r, place, cx)?;
    // WireMock's templates render as WireMock renders them (no HTML escaping, …).
    let wiremock = Templating::WireMock;
    let mut template = if cx.options.global_templating { wiremock } else { Templating::Off };
    if let Some(list) = r.get("transformers") {
        let list = list.as_array().ok_or_else(|| skip(at("transformers"), "must be a list"))?;
        for (i, t) in list.iter().enumerate() {
            match t.as_str() {
                Some("response-template") => template = wiremock,
                other => cx.unsupported(
                    format!("{}[{i}]", at("transformers")),
                    format!(
                        "the transformer {} is an extension with no equivalent (ignored)",
                        other.unwrap_or("?")
                    ),
                ),
            }
        }
    }
    if r.get("transformerParameters").and_then(Value::as_object).is_some_and(|o| !o.is_empty()) {
        cx.unsupported(at("transformerParameters"), "parameters of transformers are not supported (ignored)");
    }
    let faults = match r.get("fault").and_then(Value::as_str) {
        None => Vec::new(),
        Some(kind) => {
            let kind = match kind {
                "EMPTY_RESPONSE" => FaultKind::EmptyResponse,
                "MALFORMED_RESPONSE_CHUNK" => FaultKind::MalformedChunk,
                "RANDOM_DATA_THEN_CLOSE" => FaultKind::RandomData,
                "CONNECTION_RESET_BY_PEER" => FaultKind::ConnectionReset,
                other => return Err(skip(at("fault"), format!("unknown fault {other}"))),
            };
            vec![Fault { kind, probability: 1.0, status: None }]
        }
    };
    if let Some(base) = r.get("proxyBaseUrl").and_then(Value::as_str) {
        if dribble.is_some() {
            cx.unsupported(
                at("chunkedDribbleDelay"),
                "a forwarded answer is relayed as it comes: dribbling it is not supported (ignored)",
            );
        }
        return proxy(r, base, place, headers, delay, faults, cx).map(Action::Forward);
    }
    let mut out = Response {
        status,
        reason,
        headers,
        template,
        delay,
        faults,
        chunked_dribble: dribble,
        ..Response::default()
    };
    let bodies: Vec<&str> = ["body", "jsonBody", "base64Body", "bodyFileName"]
        .into_iter()
        .filter(|k| r.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    // WireMock takes the first of these that is set, in this order.
    match bodies.first().copied() {
        None => {}
        Some("body") => {
            out.body =
                Some(r["body"].as_str().ok_or_else(|| skip(at("body"), "must be a string"))?.to_owned())
        }
        // Written as WireMock writes it (compact, members in order), with no content type of
        // its own: WireMock adds none either.
        Some("jsonBody") => out.body = Some(r["jsonBody"].to_string()),
        Some("base64Body") => {
            out.base64 = Some(
                r["base64Body"]
                    .as_str()
                    .ok_or_else(|| skip(at("base64Body"), "must be a string"))?
                    .to_owned(),
            )
        }
        Some(_) => {
            let name =
                r["bodyFileName"].as_str().ok_or_else(|| skip(at("bodyFileName"), "must be a string"))?;
            let (body, base64) = body_file(name, &at("bodyFileName"), cx)?;
            out.body = body;
            out.base64 = base64;
        }
    }
    for extra in bodies.iter().skip(1) {
        cx.unsupported(at(extra), format!("{} is set, so WireMock ignores this (ignored)", bodies[0]));
    }
    Ok(Action::Respond(out))
}

/// A `bodyFileName` read now from `__files`, so the rule does not depend on the folder later:
/// text as `body`, other bytes as `base64`.
fn body_file(name: &str, place: &str, cx: &mut Cx<'_>) -> Result<(Option<String>, Option<String>), Skip> {
    if name.contains("{{") {
        return Err(skip(place, "a templated file name has no equivalent"));
    }
    let Some(dir) = cx.files else { return Err(skip(place, "no __files folder to read it from")) };
    let relative = std::path::Path::new(name);
    if relative.is_absolute() || relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(skip(place, "must name a file inside __files"));
    }
    let bytes = std::fs::read(dir.join(relative))
        .map_err(|e| skip(place, format!("cannot read __files/{name}: {e}")))?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => (Some(text), None),
        Err(e) => (None, Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes()))),
    })
}

fn headers(v: Option<&Value>, place: &str, cx: &mut Cx<'_>) -> Result<BTreeMap<String, HeaderValues>, Skip> {
    let mut out = BTreeMap::new();
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(out) };
    let map = v.as_object().ok_or_else(|| skip(place, "must be an object"))?;
    for (name, value) in map {
        let here = join(place, name);
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding") {
            cx.unsupported(here, "mockplane frames the body itself and computes this header (ignored)");
            continue;
        }
        let as_text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let values = match value {
            Value::Array(list) => HeaderValues::Many(
                list.iter()
                    .map(as_text)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| skip(&here, "values must be strings"))?,
            ),
            other => {
                HeaderValues::One(as_text(other).ok_or_else(|| skip(&here, "must be a string or a list"))?)
            }
        };
        out.insert(name.clone(), values);
    }
    Ok(out)
}

fn delay(r: &Map<String, Value>, place: &str, cx: &mut Cx<'_>) -> Result<Option<Delay>, Skip> {
    let fixed = r.get("fixedDelayMilliseconds").and_then(Value::as_u64);
    let Some(dist) = r.get("delayDistribution").filter(|v| !v.is_null()) else {
        return Ok(fixed.map(|ms| Delay { fixed: Some(ms), ..Delay::default() }));
    };
    let here = join(place, "delayDistribution");
    // WireMock waits for both: the fixed delay, then a sample of the distribution.
    let extra = fixed.unwrap_or(0);
    let num =
        |k: &str| dist.get(k).and_then(Value::as_f64).ok_or_else(|| skip(join(&here, k), "must be a number"));
    let delay = match dist.get("type").and_then(Value::as_str) {
        Some("lognormal") => {
            if dist.get("maxValue").is_some() {
                cx.unsupported(
                    join(&here, "maxValue"),
                    "a capped lognormal is not supported: the tail is not cut",
                );
            }
            if extra > 0 {
                cx.unsupported(
                    join(place, "fixedDelayMilliseconds"),
                    "a fixed delay added to a lognormal one is not supported: only the lognormal is used",
                );
            }
            Delay {
                lognormal: Some(LognormalDelay { median: num("median")?, sigma: num("sigma")? }),
                ..Delay::default()
            }
        }
        Some("uniform") => Delay {
            uniform: Some(UniformDelay {
                min: num("lower")? as u64 + extra,
                max: num("upper")? as u64 + extra,
            }),
            ..Delay::default()
        },
        Some("fixed") => Delay { fixed: Some(num("milliseconds")? as u64 + extra), ..Delay::default() },
        other => return Err(skip(join(&here, "type"), format!("unknown distribution {other:?}"))),
    };
    Ok(Some(delay))
}

/// `chunkedDribbleDelay: {numberOfChunks, totalDuration}` as `chunked_dribble`.
fn dribble(v: Option<&Value>, place: &str) -> Result<Option<ChunkedDribble>, Skip> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(None) };
    let number = |k: &str| {
        v.get(k).and_then(Value::as_u64).ok_or_else(|| skip(join(place, k), "must be a whole number"))
    };
    let chunks = number("numberOfChunks")?;
    let chunks = u32::try_from(chunks)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| skip(join(place, "numberOfChunks"), "must be at least 1"))?;
    Ok(Some(ChunkedDribble { chunks, total_ms: number("totalDuration")? }))
}

fn proxy(
    r: &Map<String, Value>,
    base: &str,
    place: &str,
    headers: BTreeMap<String, HeaderValues>,
    delay: Option<Delay>,
    faults: Vec<Fault>,
    cx: &mut Cx<'_>,
) -> Result<Forward, Skip> {
    let at = |key: &str| join(place, key);
    let base = base.trim_end_matches('/');
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| skip(at("proxyBaseUrl"), "only http:// upstreams can be forwarded to"))?;
    let host = authority.split('/').next().unwrap_or(authority).to_owned();
    let n = cx.upstreams.len() + 1;
    let upstream =
        cx.upstreams.entry(base.to_owned()).or_insert_with(|| format!("wiremock-proxy-{n}")).clone();
    let mut request_headers = HeaderEdits::default();
    if let Some(add) = r.get("additionalProxyRequestHeaders").and_then(Value::as_object) {
        for (k, v) in add {
            let v = v
                .as_str()
                .ok_or_else(|| skip(join(&at("additionalProxyRequestHeaders"), k), "must be a string"))?;
            request_headers.add.insert(k.clone(), v.to_owned());
        }
    }
    if let Some(remove) = r.get("removeProxyRequestHeaders").and_then(Value::as_array) {
        request_headers.remove = remove.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    if r.get("proxyUrlPrefixToRemove").is_some() {
        return Err(skip(
            at("proxyUrlPrefixToRemove"),
            "removing a prefix (rather than replacing it) has no equivalent",
        ));
    }
    let mut response_headers = HeaderEdits::default();
    for (k, v) in headers {
        // Header edits carry one value per name.
        if let Some(first) = v.as_slice().first() {
            response_headers.add.insert(k, first.clone());
        }
    }
    for key in ["body", "jsonBody", "base64Body", "bodyFileName", "status"] {
        if r.get(key).is_some() {
            cx.unsupported(at(key), "a proxied stub answers with the upstream's response (ignored)");
        }
    }
    let edits = |e: HeaderEdits| (!e.add.is_empty() || !e.remove.is_empty()).then_some(e);
    Ok(Forward {
        upstream: Some(upstream),
        delay,
        faults,
        // WireMock sends the upstream's own host, not the client's.
        host: Some(host),
        request_headers: edits(request_headers),
        response_headers: edits(response_headers),
        ..Forward::default()
    })
}
