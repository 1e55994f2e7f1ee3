//! The gRPC server: the aggregated discovery service and the report service on one port, with
//! the message size limits of [`Limits`] applied by tonic itself (a message over the limit is
//! refused from its length prefix, before it is read into memory).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mockplane_proto::discovery::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use mockplane_proto::report::report_service_server::ReportServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;

use crate::cache::SnapshotCache;
use crate::limits::{Limits, MAX_PUSH_BYTES};
use crate::registry::NodeRegistry;
use crate::reports::{ReportServer, ReportStore};
use crate::xds::AdsServer;

/// The control plane's shared state: snapshots, nodes, reports, and its limits.
#[derive(Debug, Clone, Default)]
pub struct ControlPlane {
    /// The rule sets in force, per environment.
    pub cache: Arc<SnapshotCache>,
    /// The data planes.
    pub registry: Arc<NodeRegistry>,
    /// What the data planes reported.
    pub reports: Arc<ReportStore>,
    /// What it accepts from the network.
    pub limits: Limits,
}

impl ControlPlane {
    /// Empty state, with the default limits.
    pub fn new() -> Self {
        ControlPlane::default()
    }

    /// Empty state, with `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        ControlPlane {
            registry: Arc::new(NodeRegistry::with_max_nodes(limits.max_nodes)),
            limits,
            ..ControlPlane::default()
        }
    }

    /// Serves xDS and reports on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let (closing, closed) = tokio::sync::watch::channel(false);
        let ads = AdsServer::new(
            self.cache.clone(),
            self.registry.clone(),
            self.reports.clone(),
            self.limits,
            closed.clone(),
        );
        let ads = AggregatedDiscoveryServiceServer::new(ads)
            .max_decoding_message_size(self.limits.max_message_bytes)
            .max_encoding_message_size(MAX_PUSH_BYTES);
        let reports = ReportServer::new(
            self.reports.clone(),
            self.cache.clone(),
            self.registry.clone(),
            self.limits,
            closed,
        );
        let reports =
            ReportServiceServer::new(reports).max_decoding_message_size(self.limits.max_message_bytes);
        // Pushes are small writes answered by small writes: without TCP_NODELAY, Nagle's
        // algorithm and delayed ACKs add tens of milliseconds to every round.
        let incoming = TcpListenerStream::new(listener).map(|s| {
            s.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        });
        tonic::transport::Server::builder()
            // Finds data planes that vanished without closing their connection.
            .http2_keepalive_interval(Some(Duration::from_secs(10)))
            .http2_keepalive_timeout(Some(Duration::from_secs(5)))
            .add_service(ads)
            .add_service(reports)
            .serve_with_incoming_shutdown(incoming, async move {
                shutdown.await;
                // xDS and report streams never end by themselves: end them, or the graceful
                // shutdown would wait for them forever.
                let _ = closing.send(true);
            })
            .await
    }
}

/// Completes once `closing` turns true (never, if its sender is gone without doing so).
pub(crate) async fn closed(mut closing: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *closing.borrow_and_update() {
            return;
        }
        if closing.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Binds the xDS listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
