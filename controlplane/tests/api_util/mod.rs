//! A GraphQL API on an ephemeral loopback port, with a small schema of its own (a counter, an
//! admin-only field, subscriptions) and an in-memory key map standing in for the store's
//! keys: scaffolding to exercise the transport (auth, limits, errors, WebSockets) end to end.

#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::futures_util::Stream;
use async_graphql::{Context, MergedObject, Object, Schema, Subscription};
use mockplane_controlplane::api::schema::ServiceQuery;
use mockplane_controlplane::api::{
    finish_schema, requires_role, serve_api, Api, ApiError, ApiLimits, AuthError, Keys, Principal, Readiness,
    Role,
};
use mockplane_controlplane::ControlPlane;
use mockplane_rules::{Format, RuleSet};
use tokio::sync::broadcast;

/// The keys of the tests: `admin-key`, `editor-key`, `viewer-key`.
pub struct KeyMap(HashMap<String, Principal>);

impl KeyMap {
    pub fn new() -> KeyMap {
        let key =
            |name: &str, role| (format!("{name}-key"), Principal { key_name: format!("{name}-bot"), role });
        KeyMap(HashMap::from([
            key("admin", Role::Admin),
            key("editor", Role::Editor),
            key("viewer", Role::Viewer),
        ]))
    }
}

#[async_trait::async_trait]
impl Keys for KeyMap {
    async fn authenticate(&self, key: &str) -> Result<Principal, AuthError> {
        self.0.get(key).cloned().ok_or(AuthError::UnknownKey)
    }
}

/// What the test schema's resolvers share: a counter, and a channel of its changes.
pub struct Counter {
    pub value: AtomicI64,
    pub changes: broadcast::Sender<i64>,
}

#[derive(Default)]
pub struct Extra;

/// A field that nests itself, to build deep queries.
pub struct Nested(u32);

#[Object]
impl Nested {
    async fn level(&self) -> u32 {
        self.0
    }
    async fn next(&self) -> Nested {
        Nested(self.0 + 1)
    }
}

#[Object]
impl Extra {
    async fn counter(&self, ctx: &Context<'_>) -> i64 {
        ctx.data_unchecked::<Arc<Counter>>().value.load(Ordering::SeqCst)
    }

    async fn nested(&self) -> Nested {
        Nested(1)
    }

    #[graphql(directive = requires_role::apply(Role::Admin))]
    async fn audit_log(&self) -> Vec<String> {
        vec!["created".into()]
    }

    /// Validates a rule set the way the store will: every error with its place.
    async fn check_rules(&self, yaml: String) -> Result<u32, ApiError> {
        let set = RuleSet::parse(&yaml, Format::Yaml).map_err(|e| ApiError::rules_refused(&e, "yaml"))?;
        mockplane_rules::validate(&set, &Default::default())
            .map_err(|e| ApiError::rules_refused(&e, "yaml"))?;
        Ok(set.rules.len() as u32)
    }

    async fn find(&self, name: String) -> Result<String, ApiError> {
        Err(ApiError::NotFound(format!("no project {name:?}")))
    }
}

#[derive(MergedObject, Default)]
pub struct TestQuery(ServiceQuery, Extra);

#[derive(Default)]
pub struct TestMutation;

#[Object]
impl TestMutation {
    async fn bump(&self, ctx: &Context<'_>) -> i64 {
        let counter = ctx.data_unchecked::<Arc<Counter>>();
        let v = counter.value.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = counter.changes.send(v);
        v
    }

    #[graphql(directive = requires_role::apply(Role::Admin))]
    async fn create_api_key(&self, name: String) -> String {
        format!("key for {name}")
    }
}

#[derive(Default)]
pub struct TestSubscription;

#[Subscription]
impl TestSubscription {
    /// `1, 2, …, count`, one every 10 ms.
    async fn ticks(&self, count: u32) -> impl Stream<Item = u32> {
        async_graphql::futures_util::stream::unfold(0, move |n| async move {
            if n == count {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            Some((n + 1, n + 1))
        })
    }

    /// Every new value of the counter.
    async fn bumps(&self, ctx: &Context<'_>) -> impl Stream<Item = i64> {
        let rx = ctx.data_unchecked::<Arc<Counter>>().changes.subscribe();
        tokio_stream::StreamExt::filter_map(tokio_stream::wrappers::BroadcastStream::new(rx), |v| v.ok())
    }

    #[graphql(directive = requires_role::apply(Role::Admin))]
    async fn audit_events(&self) -> impl Stream<Item = String> {
        async_graphql::futures_util::stream::iter(vec!["created".to_owned()])
    }
}

pub type TestSchema = Schema<TestQuery, TestMutation, TestSubscription>;

pub struct Server {
    pub url: String,
    pub ws_url: String,
    pub addr: std::net::SocketAddr,
    pub counter: Arc<Counter>,
    pub control: ControlPlane,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub fn counter(&self) -> i64 {
        self.counter.value.load(Ordering::SeqCst)
    }
}

pub fn schema(limits: &ApiLimits, counter: Arc<Counter>) -> TestSchema {
    finish_schema(Schema::build(TestQuery::default(), TestMutation, TestSubscription).data(counter), limits)
}

/// Serves the test schema with `limits`, on a fresh control plane.
pub async fn start_with(limits: ApiLimits, readiness: Option<Readiness>) -> Server {
    let counter = Arc::new(Counter { value: AtomicI64::new(0), changes: broadcast::channel(16).0 });
    let control = ControlPlane::new();
    let mut api =
        Api::new(schema(&limits, counter.clone()), Arc::new(KeyMap::new()), control.clone(), limits);
    if let Some(r) = readiness {
        api = api.with_readiness(r);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve_api(listener, api, async {
        let _ = stopped.await;
    }));
    Server {
        url: format!("http://{addr}"),
        ws_url: format!("ws://{addr}/graphql/ws"),
        addr,
        counter,
        control,
        stop: Some(stop),
        served,
    }
}

pub async fn start() -> Server {
    start_with(ApiLimits::default(), None).await
}

/// The answer to a GraphQL call: status and JSON body.
pub async fn call(server: &Server, key: Option<&str>, query: &str) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{}/graphql", server.url))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "query": query }).to_string());
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// The code of the first error of a GraphQL answer.
pub fn code(body: &serde_json::Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}
