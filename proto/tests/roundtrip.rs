//! Model → wire → bytes → wire → model is the identity, for any rule set the model can hold
//! (valid or not: the control plane refuses invalid ones, but the conversion must not be the
//! place where something a user wrote gets lost or changed).

use mockplane_proto::convert::{rule_set_from_any, rule_set_to_any};
use mockplane_rules::model::*;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use serde_json::Value;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z/{}*.]{0,8}", 1 => "\\PC{0,6}"]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), -1.0e6..1.0e6f64]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn value_match() -> impl Strategy<Value = ValueMatch> {
    let leaf = text().prop_map(ValueMatch::Equals);
    leaf.prop_recursive(2, 6, 1, |inner| {
        let lists =
            (of(vec(inner.clone(), 0..3)), of(vec(inner.clone(), 0..3)), of(vec(inner.clone(), 1..3)));
        (
            of(text()),
            of(text()),
            of(text()),
            of(any::<bool>()),
            of(any::<bool>()),
            of(inner),
            any::<bool>(),
            lists,
        )
            .prop_map(
                |(
                    equals,
                    contains,
                    regex,
                    present,
                    absent,
                    not,
                    case_insensitive,
                    (and, or, has_exactly),
                )| {
                    ValueMatch::Spec(Box::new(ValueMatchSpec {
                        equals,
                        contains,
                        regex,
                        present,
                        absent,
                        not,
                        case_insensitive,
                        includes: and.clone(),
                        and,
                        or,
                        has_exactly,
                    }))
                },
            )
    })
}

fn body_match() -> impl Strategy<Value = BodyMatch> {
    let leaf = (
        (of(text()), of(text()), of(text()), of(json())),
        (any::<bool>(), any::<bool>(), of(text()), of(json())),
    )
        .prop_map(
            |(
                (equals, contains, regex, json),
                (ignore_array_order, ignore_extra_elements, jsonpath, json_schema),
            )| {
                BodyMatch {
                    equals,
                    contains,
                    regex,
                    json,
                    ignore_array_order,
                    ignore_extra_elements,
                    jsonpath,
                    json_schema,
                    ..BodyMatch::default()
                }
            },
        );
    leaf.prop_recursive(2, 8, 3, |inner| {
        (
            of(inner.clone().prop_map(Box::new)),
            of(vec(inner.clone(), 0..3)),
            of(vec(inner.clone(), 0..3)),
            of(inner.prop_map(Box::new)),
        )
            .prop_map(|(matches, and, or, not)| BodyMatch {
                matches,
                and,
                or,
                not,
                ..BodyMatch::default()
            })
    })
}

fn request_match() -> impl Strategy<Value = RequestMatch> {
    let method =
        prop_oneof![text().prop_map(MethodMatch::One), vec(text(), 0..3).prop_map(MethodMatch::AnyOf)];
    let path = prop_oneof![
        text().prop_map(PathMatch::Short),
        (of(text()), of(text()), of(text()), of(text())).prop_map(|(exact, prefix, template, regex)| {
            PathMatch::Explicit(PathMatchSpec { exact, prefix, template, regex })
        }),
    ];
    let operation = prop_oneof![
        Just(GraphqlOperation::Query),
        Just(GraphqlOperation::Mutation),
        Just(GraphqlOperation::Subscription)
    ];
    let graphql = (of(operation), of(text()), of(body_match()))
        .prop_map(|(operation, name, variables)| GraphqlMatch { operation, name, variables });
    let values = || btree_map(text(), value_match(), 0..3);
    (
        of(method),
        of(text()),
        of(path),
        values(),
        values(),
        values(),
        of(body_match()),
        of(vec(text(), 0..3)),
        of(graphql),
        (of((of(text()), of(text())).prop_map(|(exact, regex)| UrlMatch { exact, regex })), values()),
    )
        .prop_map(
            |(method, host, path, query, headers, cookies, body, client_ip, graphql, (url, form))| {
                RequestMatch {
                    method,
                    host,
                    path,
                    query,
                    headers,
                    cookies,
                    body,
                    client_ip,
                    graphql,
                    url,
                    form,
                }
            },
        )
}

fn delay() -> impl Strategy<Value = Delay> {
    (
        of(any::<u64>()),
        of((any::<u64>(), any::<u64>()).prop_map(|(min, max)| UniformDelay { min, max })),
        of((finite(), finite()).prop_map(|(mean, stddev)| NormalDelay { mean, stddev })),
        of((finite(), finite()).prop_map(|(median, sigma)| LognormalDelay { median, sigma })),
        of((any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(base, step, max)| StepDelay {
            base,
            step,
            max,
        })),
    )
        .prop_map(|(fixed, uniform, normal, lognormal, step)| Delay {
            fixed,
            uniform,
            normal,
            lognormal,
            step,
        })
}

fn faults() -> impl Strategy<Value = Vec<Fault>> {
    let kind = prop_oneof![
        Just(FaultKind::Abort),
        Just(FaultKind::ConnectionReset),
        Just(FaultKind::EmptyResponse),
        Just(FaultKind::MalformedChunk),
        Just(FaultKind::RandomData),
    ];
    vec(
        (kind, finite(), of(any::<u16>())).prop_map(|(kind, probability, status)| Fault {
            kind,
            probability,
            status,
        }),
        0..3,
    )
}

fn response() -> impl Strategy<Value = Response> {
    let header =
        prop_oneof![text().prop_map(HeaderValues::One), vec(text(), 0..3).prop_map(HeaderValues::Many)];
    (
        any::<u16>(),
        btree_map(text(), header, 0..3),
        of(text()),
        of(json()),
        of(text()),
        of(text()),
        prop_oneof![Just(Templating::Off), Just(Templating::Handlebars), Just(Templating::WireMock)],
        of(delay()),
        faults(),
        of(text()),
        of((any::<u32>(), any::<u64>())),
    )
        .prop_map(
            |(status, headers, body, json, base64, file, template, delay, faults, reason, dribble)| {
                let chunked_dribble = dribble.map(|(chunks, total_ms)| ChunkedDribble { chunks, total_ms });
                Response {
                    status,
                    reason,
                    headers,
                    body,
                    json,
                    base64,
                    file,
                    template,
                    delay,
                    faults,
                    chunked_dribble,
                }
            },
        )
}

fn forward() -> BoxedStrategy<Forward> {
    let edits = || {
        of((btree_map(text(), text(), 0..3), vec(text(), 0..3))
            .prop_map(|(add, remove)| HeaderEdits { add, remove }))
    };
    (
        (of(text()), of(text()), of(delay()), faults()),
        (
            of(text()),
            of((text(), text()).prop_map(|(from, to)| PrefixRewrite { from, to })),
            edits(),
            edits(),
        ),
        (
            of(0.0..=1.0f64),
            of(delay()),
            of(any::<u64>().prop_map(|max_delay_ms| HeaderFaults { max_delay_ms })),
        ),
    )
        .prop_map(
            |(
                (upstream, url, delay, faults),
                (host, rewrite_prefix, request_headers, response_headers),
                (delay_probability, response_delay, header_faults),
            )| {
                Forward {
                    delay_probability,
                    response_delay,
                    header_faults,
                    upstream,
                    url,
                    delay,
                    faults,
                    host,
                    rewrite_prefix,
                    request_headers,
                    response_headers,
                }
            },
        )
        .boxed()
}

fn rule() -> BoxedStrategy<Rule> {
    let mode = prop_oneof![Just(SequenceMode::StayOnLast), Just(SequenceMode::Cycle)];
    let sequence = (mode, vec(response(), 0..3)).prop_map(|(mode, responses)| Sequence { mode, responses });
    let forward = forward();
    let scenario =
        (text(), of(text()), of(text())).prop_map(|(name, state, next)| ScenarioStep { name, state, next });
    (
        (text(), of(text()), any::<i32>(), any::<bool>(), vec(text(), 0..3)),
        request_match(),
        of(response()),
        of(sequence),
        of(forward),
        of(any::<u64>()),
        of(scenario),
        of(validation()),
    )
        .prop_map(
            |(
                (id, name, priority, enabled, tags),
                matcher,
                response,
                sequence,
                forward,
                times,
                scenario,
                validate,
            )| {
                Rule {
                    id,
                    name,
                    priority,
                    enabled,
                    tags,
                    matcher,
                    response,
                    sequence,
                    forward,
                    times,
                    scenario,
                    validate,
                }
            },
        )
        .boxed()
}

fn validation() -> impl Strategy<Value = RequestValidation> {
    let check = || (any::<bool>(), of(json())).prop_map(|(required, schema)| ValueCheck { required, schema });
    let map = move || btree_map(text(), check(), 0..2);
    (map(), map(), map(), map(), of(check())).prop_map(|(path, query, headers, cookies, body)| {
        RequestValidation { path, query, headers, cookies, body }
    })
}

fn cors() -> impl Strategy<Value = Cors> {
    let list = || of(vec(text(), 0..3));
    (list(), list(), list(), vec(text(), 0..3), any::<bool>(), of(any::<u32>())).prop_map(
        |(allow_origins, allow_methods, allow_headers, expose_headers, allow_credentials, max_age)| Cors {
            allow_origins,
            allow_methods,
            allow_headers,
            expose_headers,
            allow_credentials,
            max_age,
        },
    )
}

fn upstream() -> BoxedStrategy<Upstream> {
    let lb = prop_oneof![Just(LoadBalancing::RoundRobin), Just(LoadBalancing::LeastRequest)];
    let outlier = (any::<u32>(), any::<u64>()).prop_map(|(consecutive_failures, ejection_ms)| {
        OutlierDetection { consecutive_failures, ejection_ms }
    });
    let tls = (of(text()), of(text()), of(text())).prop_map(|(ca_file, ca_pem, server_name)| UpstreamTls {
        ca_file,
        ca_pem,
        server_name,
    });
    let cluster = (
        (vec(text(), 0..3), lb, of(any::<u64>()), of(any::<u64>())),
        (of(any::<u32>()), of(text()), of(outlier), of(any::<u32>()), of(tls)),
    )
        .prop_map(
            |(
                (endpoints, lb, connect_timeout_ms, request_timeout_ms),
                (max_connections, base_path, outlier_detection, retries, tls),
            )| {
                Upstream::Cluster(Box::new(UpstreamCluster {
                    endpoints,
                    lb,
                    connect_timeout_ms,
                    request_timeout_ms,
                    max_connections,
                    base_path,
                    outlier_detection,
                    retries,
                    tls,
                }))
            },
        );
    prop_oneof![text().prop_map(Upstream::Url), cluster].boxed()
}

fn rule_set() -> impl Strategy<Value = RuleSet> {
    let map = || btree_map(text(), text(), 0..3);
    let upstreams = btree_map(text(), upstream(), 0..3);
    let unmatched = of(forward().prop_map(|forward| Unmatched { forward }));
    let scenarios = btree_map(text(), text().prop_map(|initial| Scenario { initial }), 0..3);
    (of(text()), of(text()), map(), upstreams, of(cors()), vec(rule(), 0..4), unmatched, scenarios).prop_map(
        |(project, environment, variables, upstreams, cors, rules, unmatched, scenarios)| RuleSet {
            project,
            environment,
            variables,
            upstreams,
            unmatched,
            cors,
            scenarios,
            rules: rules.into_iter().map(std::sync::Arc::new).collect(),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn model_to_wire_to_model_is_the_identity(set in rule_set()) {
        let any = rule_set_to_any(&set);
        let back = rule_set_from_any(&any).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &set);
        // Field 6 (`cors`) goes after the rules, as prost encodes the whole message.
        let whole = prost::Message::encode_to_vec(&mockplane_proto::config::RuleSet::from(&set));
        prop_assert_eq!(any.value.as_ref(), whole.as_slice());
    }
}

/// An empty `cors: {}` (every list absent) and one whose lists are present but empty differ,
/// and both survive the trip: absent means any, empty means none.
#[test]
fn absent_and_empty_cors_lists_stay_apart() {
    let text = "cors: { allow_methods: [], allow_headers: [] }\nrules: []\n";
    let set = RuleSet::parse(text, mockplane_rules::Format::Yaml).unwrap();
    let back = rule_set_from_any(&rule_set_to_any(&set)).unwrap();
    let cors = back.cors.as_ref().expect("the block");
    assert_eq!((cors.allow_origins.as_ref(), cors.allow_methods.as_deref()), (None, Some(&[][..])));
    assert_eq!(back, set);
    let empty = RuleSet::parse("cors: {}\nrules: []\n", mockplane_rules::Format::Yaml).unwrap();
    assert_eq!(rule_set_from_any(&rule_set_to_any(&empty)).unwrap().cors, Some(Cors::default()));
}

/// The examples a user starts from survive the trip too, and still compile.
#[test]
fn the_shipped_examples_survive_the_trip() {
    for name in ["petstore.yaml", "minimal.yaml"] {
        let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let set = RuleSet::parse(&text, mockplane_rules::Format::Yaml).unwrap();
        let back = rule_set_from_any(&rule_set_to_any(&set)).unwrap();
        assert_eq!(back, set, "{name}");
        assert!(!back.rules.is_empty());
        mockplane_rules::validate(&back, &Default::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
