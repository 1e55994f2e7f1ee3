//! The xDS server: Envoy's aggregated discovery service, state of the world, for the one
//! resource type `mockplane.config.v1.RuleSet`.
//!
//! Each stream is driven by one task that waits on two things: the data plane's next request
//! and a new version of its environment. The protocol, as Envoy's:
//! - the first request carries the node (`cluster` = `project/environment`) and the version the
//!   data plane already has; it gets the current version only if that differs;
//! - every response carries a fresh nonce; a request echoing an older nonce is stale (it was
//!   sent before the data plane saw the newer response) and is ignored;
//! - a request echoing the latest nonce is an ACK, or a NACK when it has `error_detail`. A NACK
//!   is recorded and nothing is resent: the same bytes would be refused again. The next new
//!   version is pushed as usual.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mockplane_proto::discovery::aggregated_discovery_service_server::AggregatedDiscoveryService;
use mockplane_proto::discovery::{DiscoveryRequest, DiscoveryResponse};
use mockplane_proto::node::Node;
use mockplane_proto::RULE_SET_TYPE_URL;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::cache::{check_environment, EnvSnapshot, SnapshotCache};
use crate::registry::{NodeMetadata, NodeRegistry};

/// The aggregated discovery service over a [`SnapshotCache`], recording nodes in a
/// [`NodeRegistry`].
#[derive(Debug, Clone)]
pub struct AdsServer {
    cache: Arc<SnapshotCache>,
    registry: Arc<NodeRegistry>,
    streams: Arc<AtomicU64>,
    closing: watch::Receiver<bool>,
}

impl AdsServer {
    /// A server answering from `cache`. When `closing` turns true every stream ends, so that a
    /// graceful shutdown does not wait forever on streams that never end by themselves.
    pub fn new(
        cache: Arc<SnapshotCache>,
        registry: Arc<NodeRegistry>,
        closing: watch::Receiver<bool>,
    ) -> Self {
        AdsServer { cache, registry, streams: Arc::new(AtomicU64::new(0)), closing }
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsServer {
    type StreamAggregatedResourcesStream = ResponseStream;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let peer = request.remote_addr();
        let mut inbound = request.into_inner();
        // The first request names the node; nothing can be served before it.
        let first = match inbound.next().await {
            Some(Ok(first)) => first,
            Some(Err(status)) => return Err(status),
            None => return Err(Status::cancelled("the stream closed before its first request")),
        };
        let node = first
            .node
            .clone()
            .ok_or_else(|| Status::invalid_argument("the first request must carry a node"))?;
        if node.id.is_empty() {
            return Err(Status::invalid_argument("node.id is empty"));
        }
        check_environment(&node.cluster).map_err(|e| {
            Status::invalid_argument(format!("node.cluster names the environment served: {e}"))
        })?;
        let stream_id = self.streams.fetch_add(1, Ordering::Relaxed) + 1;
        self.registry.connected(stream_id, &node.id, &node.cluster, peer, metadata_of(&node));
        tracing::info!(node = %node.id, environment = %node.cluster, peer = ?peer, version = %first.version_info, "data plane connected");

        let (tx, rx) = mpsc::channel(4);
        let watch = self.cache.subscribe(&node.cluster);
        let session = Session {
            node_id: node.id,
            registry: self.registry.clone(),
            stream_id,
            sent: None,
            nonces: 0,
            tx,
        };
        tokio::spawn(session.run(first, inbound, watch, self.closing.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

fn metadata_of(node: &Node) -> NodeMetadata {
    use mockplane_proto::wkt::value::Kind;
    let field =
        |name: &str| node.metadata.as_ref().and_then(|m| m.fields.get(name)).and_then(|v| v.kind.as_ref());
    let text = |name: &str| match field(name) {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        _ => None,
    };
    NodeMetadata {
        version: text("version").or_else(|| {
            node.user_agent_version_type.as_ref().map(|v| match v {
                mockplane_proto::node::node::UserAgentVersionType::UserAgentVersion(s) => s.clone(),
            })
        }),
        workers: match field("workers") {
            Some(Kind::NumberValue(n)) if *n >= 0.0 => Some(*n as u64),
            _ => None,
        },
        io_driver: text("io_driver"),
    }
}

/// One stream's state.
struct Session {
    node_id: String,
    registry: Arc<NodeRegistry>,
    stream_id: u64,
    /// The last response sent: its version and nonce.
    sent: Option<(String, String)>,
    nonces: u64,
    tx: mpsc::Sender<Result<DiscoveryResponse, Status>>,
}

impl Session {
    async fn run(
        mut self,
        first: DiscoveryRequest,
        mut inbound: Streaming<DiscoveryRequest>,
        mut watch: watch::Receiver<Option<Arc<EnvSnapshot>>>,
        closing: watch::Receiver<bool>,
    ) {
        // What the data plane has when it connects: the version it persisted or served.
        let mut has = (!first.version_info.is_empty()).then(|| first.version_info.clone());
        if let Some(v) = &has {
            self.registry.acked(&self.node_id, v);
        }
        if first.type_url == RULE_SET_TYPE_URL || first.type_url.is_empty() {
            let current = watch.borrow_and_update().clone();
            if let Some(snapshot) = current {
                if has.as_deref() != Some(snapshot.version_info.as_str()) && !self.send(&snapshot).await {
                    return self.end();
                }
            }
        } else {
            tracing::warn!(node = %self.node_id, type_url = %first.type_url, "request for a resource type this control plane does not serve; ignored");
        }
        loop {
            tokio::select! {
                _ = crate::server::closed(closing.clone()) => break,
                changed = watch.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let current = watch.borrow_and_update().clone();
                    if let Some(snapshot) = current {
                        let already = self.sent.as_ref().map(|(v, _)| v.as_str()).or(has.as_deref());
                        if already != Some(snapshot.version_info.as_str()) && !self.send(&snapshot).await {
                            break;
                        }
                    }
                }
                request = inbound.next() => match request {
                    Some(Ok(request)) => self.on_request(request, &mut has),
                    Some(Err(status)) => {
                        tracing::info!(node = %self.node_id, %status, "xDS stream failed");
                        break;
                    }
                    None => break,
                },
            }
        }
        self.end();
    }

    fn on_request(&mut self, request: DiscoveryRequest, has: &mut Option<String>) {
        self.registry.seen(&self.node_id);
        let Some((sent_version, nonce)) = &self.sent else {
            tracing::debug!(node = %self.node_id, "request before any response; ignored");
            return;
        };
        if request.response_nonce != *nonce {
            tracing::debug!(node = %self.node_id, stale = %request.response_nonce, current = %nonce, "stale nonce; ignored");
            return;
        }
        match request.error_detail {
            Some(error) => {
                tracing::warn!(node = %self.node_id, version = %sent_version, error = %error.message, "data plane refused a version (NACK); it keeps serving {}", request.version_info);
                self.registry.nacked(&self.node_id, sent_version, &error.message);
            }
            None => {
                tracing::info!(node = %self.node_id, version = %request.version_info, "data plane applied a version (ACK)");
                self.registry.acked(&self.node_id, &request.version_info);
                *has = Some(request.version_info);
            }
        }
    }

    /// Sends `snapshot`; false when the data plane has gone.
    async fn send(&mut self, snapshot: &EnvSnapshot) -> bool {
        self.nonces += 1;
        let nonce = format!("{}-{}", self.stream_id, self.nonces);
        let response = DiscoveryResponse {
            version_info: snapshot.version_info.clone(),
            resources: vec![snapshot.resource.clone()],
            canary: false,
            type_url: RULE_SET_TYPE_URL.to_owned(),
            nonce: nonce.clone(),
        };
        if self.tx.send(Ok(response)).await.is_err() {
            return false;
        }
        self.registry.sent(&self.node_id, &snapshot.version_info);
        self.sent = Some((snapshot.version_info.clone(), nonce));
        true
    }

    fn end(&self) {
        tracing::info!(node = %self.node_id, "data plane disconnected");
        self.registry.disconnected(self.stream_id, &self.node_id);
    }
}
