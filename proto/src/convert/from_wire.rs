//! Wire → model: fails, with the place, on what the model cannot hold.

use std::collections::BTreeMap;

use mockplane_rules::model;

use super::{error, ConversionError, Place};
use crate::config as pb;

impl TryFrom<pb::RuleSet> for model::RuleSet {
    type Error = ConversionError;

    fn try_from(w: pb::RuleSet) -> Result<Self, ConversionError> {
        let rules = w
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| rule_from_wire(r, &Place::Root("rules").index(i)).map(std::sync::Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(model::RuleSet {
            project: w.project,
            environment: w.environment,
            variables: w.variables,
            upstreams: upstreams_from_wire(w.upstreams, w.clusters)?,
            unmatched: w.unmatched.map(unmatched_from_wire).transpose()?,
            cors: w.cors.map(model::Cors::from),
            scenarios: scenarios_from_wire(w.scenarios),
            rules,
        })
    }
}

/// The rule set's `scenarios`.
pub(super) fn scenarios_from_wire(w: BTreeMap<String, pb::Scenario>) -> BTreeMap<String, model::Scenario> {
    w.into_iter().map(|(name, s)| (name, model::Scenario { initial: s.initial })).collect()
}

/// The model's one `upstreams` map from the wire's two (short form and cluster form).
pub(super) fn upstreams_from_wire(
    short: BTreeMap<String, String>,
    clusters: BTreeMap<String, pb::Upstream>,
) -> Result<BTreeMap<String, model::Upstream>, ConversionError> {
    let mut out: BTreeMap<String, model::Upstream> =
        short.into_iter().map(|(name, url)| (name, model::Upstream::Url(url))).collect();
    for (name, c) in clusters {
        let lb = match pb::LoadBalancing::try_from(c.lb) {
            Ok(pb::LoadBalancing::RoundRobin) => model::LoadBalancing::RoundRobin,
            Ok(pb::LoadBalancing::LeastRequest) => model::LoadBalancing::LeastRequest,
            Err(_) => {
                let place = Place::Root("upstreams");
                return Err(error(
                    &place.field(&name).field("lb"),
                    format!("unknown load balancing {}", c.lb),
                ));
            }
        };
        let cluster = model::UpstreamCluster {
            endpoints: c.endpoints,
            lb,
            connect_timeout_ms: c.connect_timeout_ms,
            request_timeout_ms: c.request_timeout_ms,
            max_connections: c.max_connections,
            base_path: c.base_path,
            outlier_detection: c.outlier_detection.map(|o| model::OutlierDetection {
                consecutive_failures: o.consecutive_failures,
                ejection_ms: o.ejection_ms,
            }),
            retries: c.retries,
            tls: c.tls.map(|t| model::UpstreamTls {
                ca_file: t.ca_file,
                ca_pem: t.ca_pem,
                server_name: t.server_name,
            }),
        };
        if out.insert(name.clone(), model::Upstream::Cluster(Box::new(cluster))).is_some() {
            let place = Place::Root("upstreams");
            return Err(error(&place.field(&name), "named both as a URL and as a cluster"));
        }
    }
    Ok(out)
}

pub(super) fn unmatched_from_wire(w: pb::Unmatched) -> Result<model::Unmatched, ConversionError> {
    let at = Place::Root("unmatched");
    let forward =
        w.forward.ok_or_else(|| error(&at.field("forward"), "missing: the unmatched route forwards"))?;
    Ok(model::Unmatched { forward: forward_from_wire(forward, &at.field("forward"))? })
}

fn forward_from_wire(f: pb::Forward, at: &Place<'_>) -> Result<model::Forward, ConversionError> {
    Ok(model::Forward {
        upstream: f.upstream,
        url: f.url,
        delay: f.delay.map(delay_from_wire),
        faults: faults_from_wire(f.faults, at)?,
        host: f.host,
        rewrite_prefix: f.rewrite_prefix.map(|r| model::PrefixRewrite { from: r.from, to: r.to }),
        request_headers: f.request_headers.map(edits_from_wire),
        response_headers: f.response_headers.map(edits_from_wire),
        delay_probability: f.delay_probability,
        response_delay: f.response_delay.map(delay_from_wire),
        header_faults: f.header_faults.map(|h| model::HeaderFaults { max_delay_ms: h.max_delay_ms }),
    })
}

fn edits_from_wire(w: pb::HeaderEdits) -> model::HeaderEdits {
    model::HeaderEdits { add: w.add.into_iter().collect(), remove: w.remove }
}

impl From<pb::Cors> for model::Cors {
    fn from(w: pb::Cors) -> Self {
        model::Cors {
            allow_origins: w.allow_origins.map(|l| l.values),
            allow_methods: w.allow_methods.map(|l| l.values),
            allow_headers: w.allow_headers.map(|l| l.values),
            expose_headers: w.expose_headers,
            allow_credentials: w.allow_credentials,
            max_age: w.max_age,
        }
    }
}

pub(super) fn rule_from_wire(w: pb::Rule, at: &Place<'_>) -> Result<model::Rule, ConversionError> {
    let sequence = match w.sequence {
        None => None,
        Some(s) => {
            let mode = match pb::SequenceMode::try_from(s.mode) {
                Ok(pb::SequenceMode::StayOnLast) => model::SequenceMode::StayOnLast,
                Ok(pb::SequenceMode::Cycle) => model::SequenceMode::Cycle,
                Err(_) => {
                    return Err(error(
                        &at.field("sequence").field("mode"),
                        format!("unknown mode {}", s.mode),
                    ))
                }
            };
            let responses = s
                .responses
                .into_iter()
                .enumerate()
                .map(|(i, r)| response_from_wire(r, &at.field("sequence").field("responses").index(i)))
                .collect::<Result<_, _>>()?;
            Some(model::Sequence { mode, responses })
        }
    };
    let forward = match w.forward {
        None => None,
        Some(f) => Some(forward_from_wire(f, &at.field("forward"))?),
    };
    Ok(model::Rule {
        matcher: match w.r#match {
            Some(m) => request_match_from_wire(m, &at.field("match"))?,
            None => model::RequestMatch::default(),
        },
        response: w.response.map(|r| response_from_wire(r, &at.field("response"))).transpose()?,
        id: w.id,
        name: w.name,
        priority: w.priority,
        enabled: !w.disabled,
        tags: w.tags,
        sequence,
        forward,
        times: w.times,
        scenario: w.scenario.map(|s| model::ScenarioStep { name: s.name, state: s.state, next: s.next }),
        validate: w.validate.map(|v| validation_from_wire(v, &at.field("validate"))).transpose()?,
    })
}

fn validation_from_wire(
    w: pb::RequestValidation,
    at: &Place<'_>,
) -> Result<model::RequestValidation, ConversionError> {
    let check = |c: pb::ValueCheck, at: &Place<'_>| -> Result<model::ValueCheck, ConversionError> {
        Ok(model::ValueCheck {
            required: c.required,
            schema: c.schema.map(|s| json_from_wire(s, &at.field("schema"))).transpose()?,
        })
    };
    let map = |m: BTreeMap<String, pb::ValueCheck>, field: &str| {
        m.into_iter()
            .map(|(k, c)| {
                let checked = check(c, &at.field(field).field(&k))?;
                Ok((k, checked))
            })
            .collect::<Result<BTreeMap<_, _>, ConversionError>>()
    };
    Ok(model::RequestValidation {
        path: map(w.path, "path")?,
        query: map(w.query, "query")?,
        headers: map(w.headers, "headers")?,
        cookies: map(w.cookies, "cookies")?,
        body: w.body.map(|b| check(b, &at.field("body"))).transpose()?,
    })
}

fn request_match_from_wire(
    w: pb::RequestMatch,
    at: &Place<'_>,
) -> Result<model::RequestMatch, ConversionError> {
    let values = |map: BTreeMap<String, pb::ValueMatch>, field: &str| {
        map.into_iter()
            .map(|(k, v)| {
                let value = value_match_from_wire(v, &at.field(field).field(&k))?;
                Ok((k, value))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
    };
    let method = match w.method {
        None => None,
        Some(m) => Some(match m.kind {
            Some(pb::method_match::Kind::One(one)) => model::MethodMatch::One(one),
            Some(pb::method_match::Kind::AnyOf(list)) => model::MethodMatch::AnyOf(list.values),
            None => return Err(error(&at.field("method"), "set `one` or `any_of`")),
        }),
    };
    let path = match w.path {
        None => None,
        Some(p) => Some(match p.kind {
            Some(pb::path_match::Kind::Short(s)) => model::PathMatch::Short(s),
            Some(pb::path_match::Kind::Explicit(spec)) => model::PathMatch::Explicit(model::PathMatchSpec {
                exact: spec.exact,
                prefix: spec.prefix,
                template: spec.template,
                regex: spec.regex,
            }),
            None => return Err(error(&at.field("path"), "set `short` or `explicit`")),
        }),
    };
    let graphql = match w.graphql {
        None => None,
        Some(g) => {
            let operation = match pb::GraphqlOperation::try_from(g.operation) {
                Ok(pb::GraphqlOperation::Unspecified) => None,
                Ok(pb::GraphqlOperation::Query) => Some(model::GraphqlOperation::Query),
                Ok(pb::GraphqlOperation::Mutation) => Some(model::GraphqlOperation::Mutation),
                Ok(pb::GraphqlOperation::Subscription) => Some(model::GraphqlOperation::Subscription),
                Err(_) => {
                    return Err(error(
                        &at.field("graphql").field("operation"),
                        format!("unknown operation type {}", g.operation),
                    ))
                }
            };
            let variables = g
                .variables
                .map(|v| body_match_from_wire(v, &at.field("graphql").field("variables")))
                .transpose()?;
            Some(model::GraphqlMatch { operation, name: g.name, variables })
        }
    };
    Ok(model::RequestMatch {
        method,
        host: w.host,
        path,
        query: values(w.query, "query")?,
        headers: values(w.headers, "headers")?,
        cookies: values(w.cookies, "cookies")?,
        body: w.body.map(|b| body_match_from_wire(b, &at.field("body"))).transpose()?,
        client_ip: w.client_ip.map(|l| l.values),
        graphql,
        url: w.url.map(|u| model::UrlMatch { exact: u.exact, regex: u.regex }),
        form: values(w.form, "form")?,
    })
}

fn value_match_from_wire(w: pb::ValueMatch, at: &Place<'_>) -> Result<model::ValueMatch, ConversionError> {
    match w.kind {
        Some(pb::value_match::Kind::Equals(s)) => Ok(model::ValueMatch::Equals(s)),
        Some(pb::value_match::Kind::Spec(spec)) => {
            let spec = *spec;
            let not = spec.not.map(|n| value_match_from_wire(*n, &at.field("not"))).transpose()?;
            let list = |l: Option<pb::ValueMatchList>, field: &str| {
                l.map(|l| {
                    l.matchers
                        .into_iter()
                        .enumerate()
                        .map(|(i, m)| value_match_from_wire(m, &at.field(field).index(i)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
            };
            Ok(model::ValueMatch::Spec(Box::new(model::ValueMatchSpec {
                and: list(spec.and, "and")?,
                or: list(spec.or, "or")?,
                has_exactly: list(spec.has_exactly, "has_exactly")?,
                includes: list(spec.includes, "includes")?,
                equals: spec.equals,
                contains: spec.contains,
                regex: spec.regex,
                present: spec.present,
                absent: spec.absent,
                not,
                case_insensitive: spec.case_insensitive,
            })))
        }
        None => Err(error(at, "set `equals` or `spec`")),
    }
}

fn body_match_from_wire(w: pb::BodyMatch, at: &Place<'_>) -> Result<model::BodyMatch, ConversionError> {
    let list = |l: pb::BodyMatchList, field: &str| {
        l.matchers
            .into_iter()
            .enumerate()
            .map(|(i, b)| body_match_from_wire(b, &at.field(field).index(i)))
            .collect::<Result<Vec<_>, _>>()
    };
    let boxed = |b: Option<Box<pb::BodyMatch>>, field: &str| {
        b.map(|b| body_match_from_wire(*b, &at.field(field)).map(Box::new)).transpose()
    };
    Ok(model::BodyMatch {
        json: w.json.map(|j| json_from_wire(j, &at.field("json"))).transpose()?,
        matches: boxed(w.matches, "matches")?,
        not: boxed(w.not, "not")?,
        and: w.and.map(|l| list(l, "and")).transpose()?,
        or: w.or.map(|l| list(l, "or")).transpose()?,
        equals: w.equals,
        contains: w.contains,
        regex: w.regex,
        ignore_array_order: w.ignore_array_order,
        ignore_extra_elements: w.ignore_extra_elements,
        jsonpath: w.jsonpath,
        json_schema: w.json_schema.map(|j| json_from_wire(j, &at.field("json_schema"))).transpose()?,
    })
}

/// A JSON value from its wire form.
pub fn json_value_from_wire(w: pb::JsonValue) -> Result<serde_json::Value, ConversionError> {
    json_from_wire(w, &Place::Root("json"))
}

fn json_from_wire(w: pb::JsonValue, at: &Place<'_>) -> Result<serde_json::Value, ConversionError> {
    use pb::json_value::Kind;
    use serde_json::Value;
    Ok(match w.kind {
        None => return Err(error(at, "a JSON value with no kind set")),
        Some(Kind::Null(_)) => Value::Null,
        Some(Kind::Bool(b)) => Value::Bool(b),
        Some(Kind::Int(i)) => Value::from(i),
        Some(Kind::Uint(u)) => Value::from(u),
        Some(Kind::Double(d)) => match serde_json::Number::from_f64(d) {
            Some(n) => Value::Number(n),
            None => return Err(error(at, format!("{d} is not a JSON number"))),
        },
        Some(Kind::String(s)) => Value::String(s),
        Some(Kind::Array(a)) => Value::Array(
            a.items
                .into_iter()
                .enumerate()
                .map(|(i, v)| json_from_wire(v, &at.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Some(Kind::Object(o)) => {
            let mut map = serde_json::Map::with_capacity(o.members.len());
            for m in o.members {
                let place = at.field(&m.key);
                let value = match m.value {
                    Some(v) => json_from_wire(v, &place)?,
                    None => return Err(error(&place, "a member with no value")),
                };
                map.insert(m.key, value);
            }
            Value::Object(map)
        }
    })
}

pub(super) fn response_from_wire(
    w: pb::Response,
    at: &Place<'_>,
) -> Result<model::Response, ConversionError> {
    let status = match w.status {
        None => 200,
        Some(s) => {
            u16::try_from(s).map_err(|_| error(&at.field("status"), format!("{s} is not an HTTP status")))?
        }
    };
    let headers = w
        .headers
        .into_iter()
        .map(|(name, v)| {
            let values = match v.kind {
                Some(pb::header_values::Kind::One(one)) => model::HeaderValues::One(one),
                Some(pb::header_values::Kind::Many(list)) => model::HeaderValues::Many(list.values),
                None => return Err(error(&at.field("headers").field(&name), "set `one` or `many`")),
            };
            Ok((name, values))
        })
        .collect::<Result<_, _>>()?;
    Ok(model::Response {
        status,
        reason: w.reason,
        headers,
        json: w.json.map(|j| json_from_wire(j, &at.field("json"))).transpose()?,
        faults: faults_from_wire(w.faults, at)?,
        body: w.body,
        base64: w.base64,
        file: w.file,
        template: match (w.template, w.template_wiremock) {
            (false, _) => model::Templating::Off,
            (true, false) => model::Templating::Handlebars,
            (true, true) => model::Templating::WireMock,
        },
        delay: w.delay.map(delay_from_wire),
        chunked_dribble: w
            .chunked_dribble
            .map(|d| model::ChunkedDribble { chunks: d.chunks, total_ms: d.total_ms }),
    })
}

fn delay_from_wire(w: pb::Delay) -> model::Delay {
    model::Delay {
        fixed: w.fixed,
        uniform: w.uniform.map(|u| model::UniformDelay { min: u.min, max: u.max }),
        normal: w.normal.map(|n| model::NormalDelay { mean: n.mean, stddev: n.stddev }),
        lognormal: w.lognormal.map(|l| model::LognormalDelay { median: l.median, sigma: l.sigma }),
        step: w.step.map(|s| model::StepDelay { base: s.base, step: s.step, max: s.max }),
    }
}

fn faults_from_wire(faults: Vec<pb::Fault>, at: &Place<'_>) -> Result<Vec<model::Fault>, ConversionError> {
    faults
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let faults = at.field("faults");
            let place = faults.index(i);
            let kind = match pb::FaultKind::try_from(f.r#type) {
                Ok(pb::FaultKind::Abort) => model::FaultKind::Abort,
                Ok(pb::FaultKind::ConnectionReset) => model::FaultKind::ConnectionReset,
                Ok(pb::FaultKind::EmptyResponse) => model::FaultKind::EmptyResponse,
                Ok(pb::FaultKind::MalformedChunk) => model::FaultKind::MalformedChunk,
                Ok(pb::FaultKind::RandomData) => model::FaultKind::RandomData,
                Ok(pb::FaultKind::Unspecified) | Err(_) => {
                    return Err(error(&place.field("type"), format!("unknown fault type {}", f.r#type)))
                }
            };
            let status = f
                .status
                .map(|s| {
                    u16::try_from(s)
                        .map_err(|_| error(&place.field("status"), format!("{s} is not an HTTP status")))
                })
                .transpose()?;
            Ok(model::Fault { kind, probability: f.probability.unwrap_or(1.0), status })
        })
        .collect()
}
