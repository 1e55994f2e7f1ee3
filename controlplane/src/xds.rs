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
//!
//! A stream is refused, with a status whose message names the reason, when its first request
//! has no node, a malformed node id or environment (`INVALID_ARGUMENT`), an environment this
//! control plane has no rules for (`NOT_FOUND`), when the registry is full of connected nodes
//! (`RESOURCE_EXHAUSTED`), or when a request is larger than `--max-message-bytes`
//! (`OUT_OF_RANGE`, mid-stream too: the status ends the stream).

mod wire;

pub(crate) use wire::AdsService;

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

use crate::cache::{EnvSnapshot, SnapshotCache};
use crate::limits::{truncate, Limits, MAX_METADATA_BYTES};
use crate::registry::{NodeMetadata, NodeRegistry};
use crate::reports::ReportStore;

/// The aggregated discovery service over a [`SnapshotCache`], recording nodes in a
/// [`NodeRegistry`].
#[derive(Debug, Clone)]
pub struct AdsServer {
    cache: Arc<SnapshotCache>,
    registry: Arc<NodeRegistry>,
    reports: Arc<ReportStore>,
    limits: Limits,
    streams: Arc<AtomicU64>,
    closing: watch::Receiver<bool>,
}

impl AdsServer {
    /// A server answering from `cache`. A node the registry forgets to make room has its
    /// per-node hits in `reports` folded into its rules' totals. When `closing` turns true every
    /// stream ends, so that a graceful shutdown does not wait forever on streams that never end
    /// by themselves.
    pub fn new(
        cache: Arc<SnapshotCache>,
        registry: Arc<NodeRegistry>,
        reports: Arc<ReportStore>,
        limits: Limits,
        closing: watch::Receiver<bool>,
    ) -> Self {
        AdsServer { cache, registry, reports, limits, streams: Arc::new(AtomicU64::new(0)), closing }
    }
}

/// The refusal of a stream or report for an environment this control plane has no rules for,
/// naming the ones it has (a typo in `--environment` is the usual cause).
pub(crate) fn not_served(cache: &SnapshotCache, environment: &str) -> Status {
    let served = cache.environments();
    let listed = match served.len() {
        0 => "none yet".to_owned(),
        n if n <= 10 => served.join(", "),
        n => format!("{} and {} more", served[..10].join(", "), n - 10),
    };
    Status::not_found(format!(
        "environment {environment:?} is not served by this control plane (it serves: {listed})"
    ))
}

/// A message tonic could not decode, explained: one over the size limit names the flag that
/// raises it.
pub(crate) fn explain_decode_error(status: Status, limits: Limits) -> Status {
    if status.code() == tonic::Code::OutOfRange {
        Status::out_of_range(format!(
            "{}: the message is larger than this control plane's --max-message-bytes {}",
            status.message(),
            limits.max_message_bytes
        ))
    } else {
        status
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
            Some(Err(status)) => return Err(explain_decode_error(status, self.limits)),
            None => return Err(Status::cancelled("the stream closed before its first request")),
        };
        let node = first
            .node
            .clone()
            .ok_or_else(|| Status::invalid_argument("the first request must carry a node"))?;
        mockplane_proto::names::check_node_id(&node.id)
            .map_err(|e| Status::invalid_argument(format!("node.id: {e}")))?;
        mockplane_proto::names::check_environment(&node.cluster).map_err(|e| {
            Status::invalid_argument(format!("node.cluster names the environment served: {e}"))
        })?;
        let Some(watch) = self.cache.subscribe(&node.cluster) else {
            tracing::warn!(node = %node.id, environment = %node.cluster, peer = ?peer, "refused a data plane asking for an environment this control plane does not serve");
            return Err(not_served(&self.cache, &node.cluster));
        };
        let stream_id = self.streams.fetch_add(1, Ordering::Relaxed) + 1;
        match self.registry.connected(stream_id, &node.id, &node.cluster, peer, metadata_of(&node)) {
            Ok(None) => {}
            Ok(Some(evicted)) => {
                tracing::info!(node = %evicted.id, environment = %evicted.environment, "forgot the data plane disconnected the longest, to make room (--max-nodes)");
                self.reports.forget_node(&evicted.environment, &evicted.id);
            }
            Err(full) => {
                tracing::warn!(node = %node.id, peer = ?peer, "refused a data plane: {full}");
                return Err(Status::resource_exhausted(full.to_string()));
            }
        }
        tracing::info!(node = %node.id, environment = %node.cluster, peer = ?peer, version = %first.version_info, "data plane connected");

        let (tx, rx) = mpsc::channel(4);
        let session = Session {
            node_id: node.id,
            registry: self.registry.clone(),
            stream_id,
            sent: None,
            nonces: 0,
            limits: self.limits,
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
        Some(Kind::StringValue(s)) => Some(truncate(s, MAX_METADATA_BYTES).to_owned()),
        _ => None,
    };
    NodeMetadata {
        version: text("version").or_else(|| {
            node.user_agent_version_type.as_ref().map(|v| match v {
                mockplane_proto::node::node::UserAgentVersionType::UserAgentVersion(s) => {
                    truncate(s, MAX_METADATA_BYTES).to_owned()
                }
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
    limits: Limits,
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
                        let status = explain_decode_error(status, self.limits);
                        tracing::info!(node = %self.node_id, %status, "xDS stream failed");
                        // Tell the data plane why, if it still listens: an oversized request
                        // ends the stream with its reason rather than a silent close.
                        let told = self.tx.send(Err(status));
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), told).await;
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
