//! A rule set back into WireMock stubs (`{"mappings": [...]}`), for what maps both ways.
//! A rule using something WireMock has no field for (a `sequence`, `times`, a GraphQL or
//! client-address predicate, a `normal` delay) is left out and listed with its place.

use mockplane_rules::model::{
    BodyMatch, Delay, FaultKind, MethodMatch, PathMatch, Rule, RuleSet, Upstream, ValueMatch,
};
use serde_json::{json, Map, Value};

use super::PRIORITY_BLOCK;
use crate::Unsupported;

/// The stubs of `set`, and the rules (or parts) that have no WireMock form.
pub fn export(set: &RuleSet) -> (Value, Vec<Unsupported>) {
    let mut unsupported = Vec::new();
    let mut stubs: Vec<(i32, Value)> = Vec::new();
    for (i, rule) in set.rules.iter().enumerate() {
        let place = format!("rules[{i}]");
        match stub(rule, set, &place) {
            Ok(stub) => stubs.push((rule.priority, stub)),
            Err((at, message)) => {
                unsupported.push(Unsupported { place: at, message: format!("{message} (rule not exported)") })
            }
        }
    }
    // WireMock lets the later of two stubs of one priority win: the rules go out lowest
    // priority first, so that the order of import is the order of export.
    stubs.sort_by_key(|(p, _)| *p);
    (json!({ "mappings": stubs.into_iter().map(|(_, s)| s).collect::<Vec<_>>() }), unsupported)
}

type Refusal = (String, String);

fn no(place: impl Into<String>, message: impl Into<String>) -> Refusal {
    (place.into(), message.into())
}

fn stub(rule: &Rule, set: &RuleSet, place: &str) -> Result<Value, Refusal> {
    if !rule.enabled {
        return Err(no(format!("{place}.enabled"), "WireMock has no disabled stubs"));
    }
    if rule.times.is_some() {
        return Err(no(format!("{place}.times"), "WireMock has no serving budget"));
    }
    if rule.sequence.is_some() {
        return Err(no(format!("{place}.sequence"), "WireMock has no sequences (use a scenario)"));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(rule.name.clone().unwrap_or_else(|| rule.id.clone())));
    // Back from `ordinal - priority * PRIORITY_BLOCK` (see the module's header).
    out.insert("priority".into(), json!(-(rule.priority.div_euclid(PRIORITY_BLOCK))));
    out.insert("request".into(), Value::Object(request(rule, &format!("{place}.match"))?));
    let response = if let Some(r) = &rule.response {
        response(r, &format!("{place}.response"))?
    } else {
        let f = rule.forward.as_ref().expect("exactly one action");
        let at = format!("{place}.forward");
        let url = match (&f.url, &f.upstream) {
            (Some(url), _) => url.clone(),
            (None, Some(name)) => match set.upstreams.get(name) {
                Some(Upstream::Url(url)) => url.clone(),
                _ => {
                    return Err(no(
                        format!("{at}.upstream"),
                        "only an upstream given as one URL has a WireMock form",
                    ))
                }
            },
            (None, None) => return Err(no(at, "no upstream")),
        };
        let mut m = Map::new();
        m.insert("proxyBaseUrl".into(), json!(url));
        if let Some(edits) = &f.request_headers {
            if !edits.add.is_empty() {
                m.insert("additionalProxyRequestHeaders".into(), json!(edits.add));
            }
            if !edits.remove.is_empty() {
                m.insert("removeProxyRequestHeaders".into(), json!(edits.remove));
            }
        }
        if f.rewrite_prefix.is_some() || f.response_delay.is_some() || f.header_faults.is_some() {
            return Err(no(at, "prefix rewrites, response delays and header faults have no WireMock form"));
        }
        delay_into(f.delay.as_ref(), &mut m, &format!("{place}.forward.delay"))?;
        m
    };
    out.insert("response".into(), Value::Object(response));
    if let Some(s) = &rule.scenario {
        out.insert("scenarioName".into(), json!(s.name));
        if let Some(state) = &s.state {
            out.insert("requiredScenarioState".into(), json!(state));
        }
        if let Some(next) = &s.next {
            out.insert("newScenarioState".into(), json!(next));
        }
    }
    Ok(Value::Object(out))
}

fn request(rule: &Rule, place: &str) -> Result<Map<String, Value>, Refusal> {
    let m = &rule.matcher;
    let mut out = Map::new();
    out.insert(
        "method".into(),
        match &m.method {
            None => json!("ANY"),
            Some(MethodMatch::One(one)) if one == "*" => json!("ANY"),
            Some(MethodMatch::One(one)) => json!(one),
            Some(MethodMatch::AnyOf(_)) => {
                return Err(no(format!("{place}.method"), "WireMock matches one method or ANY"))
            }
        },
    );
    if m.client_ip.is_some() || m.graphql.is_some() {
        return Err(no(place, "client_ip and graphql have no WireMock form"));
    }
    if let Some(host) = &m.host {
        if host.contains('*') {
            return Err(no(format!("{place}.host"), "a wildcard host has no WireMock form"));
        }
        out.insert("host".into(), json!({ "equalTo": host }));
    }
    if let (Some(_), Some(_)) = (&m.url, &m.path) {
        if !matches!(&m.path, Some(PathMatch::Explicit(p)) if p.template.is_some()) {
            return Err(no(
                format!("{place}.url"),
                "WireMock takes one URL form: url and path together have none",
            ));
        }
    }
    if let Some(u) = &m.url {
        match (&u.exact, &u.regex) {
            (Some(e), _) => out.insert("url".into(), json!(e)),
            (_, Some(r)) => out.insert("urlPattern".into(), json!(r)),
            _ => None,
        };
    }
    if let Some(path) = &m.path {
        let (key, value) = match path {
            PathMatch::Short(p) if p.contains('{') => ("urlPathTemplate", p.clone()),
            PathMatch::Short(p) => ("urlPath", p.clone()),
            PathMatch::Explicit(s) => match (&s.exact, &s.prefix, &s.template, &s.regex) {
                (Some(e), ..) => ("urlPath", e.clone()),
                (_, Some(p), ..) => ("urlPathPattern", format!("{}.*", regex_syntax::escape(p))),
                (_, _, Some(t), _) => ("urlPathTemplate", t.clone()),
                (.., Some(r)) => ("urlPathPattern", r.clone()),
                _ => return Err(no(format!("{place}.path"), "empty path")),
            },
        };
        if key == "urlPathTemplate" && m.url.is_some() {
            return Err(no(
                format!("{place}.url"),
                "a template path with a url predicate has no WireMock form",
            ));
        }
        if key == "urlPathTemplate" && value.contains("{*") {
            return Err(no(format!("{place}.path"), "a catch-all parameter has no WireMock form"));
        }
        out.insert(key.into(), json!(value));
    }
    for (field, key, map) in [
        ("headers", "headers", &m.headers),
        ("query", "queryParameters", &m.query),
        ("cookies", "cookies", &m.cookies),
        ("form", "formParameters", &m.form),
    ] {
        if map.is_empty() {
            continue;
        }
        let mut obj = Map::new();
        for (name, vm) in map {
            obj.insert(name.clone(), value_pattern(vm, &format!("{place}.{field}.{name}"))?);
        }
        out.insert(key.into(), Value::Object(obj));
    }
    if let Some(body) = &m.body {
        let list = match &body.and {
            Some(all) if only_and(body) => all
                .iter()
                .map(|b| body_pattern(b, &format!("{place}.body")))
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![body_pattern(body, &format!("{place}.body"))?],
        };
        out.insert("bodyPatterns".into(), Value::Array(list));
    }
    Ok(out)
}

fn only_and(b: &BodyMatch) -> bool {
    *b == BodyMatch { and: b.and.clone(), ..BodyMatch::default() }
}

fn value_pattern(vm: &ValueMatch, place: &str) -> Result<Value, Refusal> {
    let spec = match vm {
        ValueMatch::Equals(v) => return Ok(json!({ "equalTo": v })),
        ValueMatch::Spec(spec) => spec,
    };
    let list = |l: &[ValueMatch], key: &str| -> Result<Value, Refusal> {
        let items = l.iter().map(|m| value_pattern(m, place)).collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ key: items }))
    };
    Ok(match () {
        _ if spec.equals.is_some() && spec.case_insensitive => {
            json!({ "equalTo": spec.equals, "caseInsensitive": true })
        }
        _ if spec.equals.is_some() => json!({ "equalTo": spec.equals }),
        _ if spec.contains.is_some() && !spec.case_insensitive => json!({ "contains": spec.contains }),
        _ if spec.regex.is_some() => json!({ "matches": spec.regex }),
        _ if spec.present.is_some() => json!({ "absent": false }),
        _ if spec.absent.is_some() => json!({ "absent": true }),
        _ if spec.and.is_some() => list(spec.and.as_deref().unwrap_or_default(), "and")?,
        _ if spec.or.is_some() => list(spec.or.as_deref().unwrap_or_default(), "or")?,
        _ if spec.has_exactly.is_some() => {
            list(spec.has_exactly.as_deref().unwrap_or_default(), "hasExactly")?
        }
        _ if spec.includes.is_some() => list(spec.includes.as_deref().unwrap_or_default(), "includes")?,
        _ => match &spec.not {
            Some(inner) => match value_pattern(inner, place)? {
                v if v.get("contains").is_some() => json!({ "doesNotContain": v["contains"] }),
                v if v.get("matches").is_some() => json!({ "doesNotMatch": v["matches"] }),
                v => json!({ "not": v }),
            },
            None => return Err(no(place, "no WireMock form")),
        },
    })
}

fn body_pattern(b: &BodyMatch, place: &str) -> Result<Value, Refusal> {
    let list = |l: &[BodyMatch], key: &str| -> Result<Value, Refusal> {
        let items = l.iter().map(|m| body_pattern(m, place)).collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ key: items }))
    };
    Ok(if let Some(e) = &b.equals {
        json!({ "equalTo": e })
    } else if let Some(c) = &b.contains {
        json!({ "contains": c })
    } else if let Some(r) = &b.regex {
        json!({ "matches": r })
    } else if let Some(j) = &b.json {
        let mut v = json!({ "equalToJson": j });
        if b.ignore_array_order {
            v["ignoreArrayOrder"] = json!(true);
        }
        if b.ignore_extra_elements {
            v["ignoreExtraElements"] = json!(true);
        }
        v
    } else if let Some(path) = &b.jsonpath {
        match &b.matches {
            None => json!({ "matchesJsonPath": path }),
            Some(inner) => {
                let mut sub = body_pattern(inner, place)?;
                sub["expression"] = json!(path);
                json!({ "matchesJsonPath": sub })
            }
        }
    } else if let Some(schema) = &b.json_schema {
        json!({ "matchesJsonSchema": schema })
    } else if let Some(all) = &b.and {
        list(all, "and")?
    } else if let Some(any) = &b.or {
        list(any, "or")?
    } else if let Some(inner) = &b.not {
        match body_pattern(inner, place)? {
            v if v.get("contains").is_some() => json!({ "doesNotContain": v["contains"] }),
            v if v.get("matches").is_some() => json!({ "doesNotMatch": v["matches"] }),
            v => json!({ "not": v }),
        }
    } else {
        return Err(no(place, "no WireMock form"));
    })
}

fn response(r: &mockplane_rules::model::Response, place: &str) -> Result<Map<String, Value>, Refusal> {
    let mut out = Map::new();
    out.insert("status".into(), json!(r.status));
    if let Some(reason) = &r.reason {
        out.insert("statusMessage".into(), json!(reason));
    }
    if !r.headers.is_empty() {
        let mut h = Map::new();
        for (k, v) in &r.headers {
            h.insert(
                k.clone(),
                match v.as_slice() {
                    [one] => json!(one),
                    many => json!(many),
                },
            );
        }
        out.insert("headers".into(), Value::Object(h));
    }
    if let Some(b) = &r.body {
        out.insert("body".into(), json!(b));
    }
    if let Some(j) = &r.json {
        out.insert("jsonBody".into(), j.clone());
        // mockplane adds a JSON content type to a `json` body; WireMock would not.
        if !r.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
            let headers = out.entry("headers").or_insert_with(|| json!({}));
            headers["Content-Type"] = json!("application/json");
        }
    }
    if let Some(b) = &r.base64 {
        out.insert("base64Body".into(), json!(b));
    }
    if let Some(f) = &r.file {
        out.insert("bodyFileName".into(), json!(f));
    }
    if r.template.is_on() {
        out.insert("transformers".into(), json!(["response-template"]));
    }
    delay_into(r.delay.as_ref(), &mut out, &format!("{place}.delay"))?;
    if let Some(d) = &r.chunked_dribble {
        out.insert(
            "chunkedDribbleDelay".into(),
            json!({ "numberOfChunks": d.chunks, "totalDuration": d.total_ms }),
        );
    }
    match r.faults.as_slice() {
        [] => {}
        [f] if f.probability >= 1.0 => {
            let kind = match f.kind {
                FaultKind::EmptyResponse => "EMPTY_RESPONSE",
                FaultKind::MalformedChunk => "MALFORMED_RESPONSE_CHUNK",
                FaultKind::RandomData => "RANDOM_DATA_THEN_CLOSE",
                FaultKind::ConnectionReset => "CONNECTION_RESET_BY_PEER",
                FaultKind::Abort => {
                    return Err(no(
                        format!("{place}.faults[0]"),
                        "abort has no WireMock fault (set the status)",
                    ))
                }
            };
            out.insert("fault".into(), json!(kind));
        }
        _ => return Err(no(format!("{place}.faults"), "WireMock has one fault that always fires")),
    }
    Ok(out)
}

fn delay_into(d: Option<&Delay>, out: &mut Map<String, Value>, place: &str) -> Result<(), Refusal> {
    let Some(d) = d else { return Ok(()) };
    if let Some(ms) = d.fixed {
        out.insert("fixedDelayMilliseconds".into(), json!(ms));
    } else if let Some(u) = &d.uniform {
        out.insert("delayDistribution".into(), json!({ "type": "uniform", "lower": u.min, "upper": u.max }));
    } else if let Some(l) = &d.lognormal {
        out.insert(
            "delayDistribution".into(),
            json!({ "type": "lognormal", "median": l.median, "sigma": l.sigma }),
        );
    } else {
        return Err(no(place, "normal and step delays have no WireMock form"));
    }
    Ok(())
}
