//! A control plane on an ephemeral loopback port and a tonic client that speaks the protocol by
//! hand, shared by the integration tests.

#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use mockplane_controlplane::{ControlPlane, Limits, NodeInfo};
use mockplane_proto::discovery::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use mockplane_proto::discovery::{DiscoveryRequest, DiscoveryResponse};
use mockplane_proto::node::Node;
use mockplane_proto::rpc;
use mockplane_proto::RULE_SET_TYPE_URL;
use mockplane_rules::{Format, RuleSet};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::Streaming;

pub const ENV: &str = "shop/staging";

/// One rule, `hello`, answering `/hello` with `body`.
pub fn rules(body: &str) -> RuleSet {
    let text =
        format!("rules:\n  - id: hello\n    match: {{ path: /hello }}\n    response: {{ body: {body:?} }}\n");
    RuleSet::parse(&text, Format::Yaml).unwrap()
}

pub type Served = tokio::task::JoinHandle<()>;

/// A control plane with `limits`, serving until the sender is used or dropped.
pub async fn start_with(limits: Limits) -> (ControlPlane, String, tokio::sync::oneshot::Sender<()>, Served) {
    let cp = ControlPlane::with_limits(limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = cp.clone();
    let served = tokio::spawn(async move {
        server
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    (cp, url, stop, served)
}

/// A control plane with the default limits.
pub async fn start() -> (ControlPlane, String, tokio::sync::oneshot::Sender<()>) {
    let (cp, url, stop, _served) = start_with(Limits::default()).await;
    (cp, url, stop)
}

pub fn node(id: &str) -> Node {
    Node { id: id.into(), cluster: ENV.into(), ..Default::default() }
}

/// One xDS stream, driven by hand.
pub struct Stream {
    pub requests: mpsc::Sender<DiscoveryRequest>,
    pub responses: Streaming<DiscoveryResponse>,
}

impl Stream {
    /// Opens a stream for node `id` of [`ENV`], which has `version`.
    pub async fn open(url: &str, id: &str, version: &str) -> Stream {
        Stream::try_open(url, node(id), version).await.expect("the stream is accepted")
    }

    /// Opens a stream for `node`, or the status that refused it.
    pub async fn try_open(url: &str, node: Node, version: &str) -> Result<Stream, tonic::Status> {
        let mut client = AggregatedDiscoveryServiceClient::connect(url.to_owned()).await.unwrap();
        let (requests, rx) = mpsc::channel(8);
        requests
            .send(DiscoveryRequest {
                version_info: version.into(),
                node: Some(node),
                type_url: RULE_SET_TYPE_URL.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let responses = client.stream_aggregated_resources(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Stream { requests, responses })
    }

    pub async fn next(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(Duration::from_secs(5), self.responses.next())
            .await
            .expect("a response within 5 s")
            .expect("the stream is open")
            .expect("a response, not an error")
    }

    /// Asserts that nothing arrives for a while.
    pub async fn quiet(&mut self) {
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(400), self.responses.next()).await {
            panic!("expected no response, got {r:?}");
        }
    }

    pub async fn ack(&self, r: &DiscoveryResponse) {
        self.send(&r.version_info, &r.nonce, None).await
    }

    pub async fn send(&self, version: &str, nonce: &str, error: Option<&str>) {
        let request = DiscoveryRequest {
            version_info: version.into(),
            type_url: RULE_SET_TYPE_URL.into(),
            response_nonce: nonce.into(),
            error_detail: error.map(|m| rpc::Status { code: 3, message: m.into(), details: vec![] }),
            ..Default::default()
        };
        self.requests.send(request).await.unwrap();
    }
}

/// Waits until the registry's view of `id` satisfies `f`.
pub async fn until(cp: &ControlPlane, id: &str, f: impl Fn(&NodeInfo) -> bool) -> NodeInfo {
    for _ in 0..500 {
        if let Some(n) = cp.registry.node(id) {
            if f(&n) {
                return n;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("node {id} never reached the expected state: {:?}", cp.registry.node(id));
}
