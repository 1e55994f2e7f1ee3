//! The gRPC server: the aggregated discovery service and the report service on one port.

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
use crate::registry::NodeRegistry;
use crate::reports::{ReportServer, ReportStore};
use crate::xds::AdsServer;

/// The largest message either side accepts. A 100,000-rule set encodes to tens of MB; tonic's
/// default of 4 MB would refuse it.
pub const MAX_MESSAGE_BYTES: usize = 512 << 20;

/// The control plane's shared state: snapshots, nodes, reports.
#[derive(Debug, Clone, Default)]
pub struct ControlPlane {
    /// The rule sets in force, per environment.
    pub cache: Arc<SnapshotCache>,
    /// The data planes.
    pub registry: Arc<NodeRegistry>,
    /// What the data planes reported.
    pub reports: Arc<ReportStore>,
}

impl ControlPlane {
    /// Empty state.
    pub fn new() -> Self {
        ControlPlane::default()
    }

    /// Serves xDS and reports on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let (closing, closed) = tokio::sync::watch::channel(false);
        let ads = AdsServer::new(self.cache.clone(), self.registry.clone(), closed.clone());
        let ads = AggregatedDiscoveryServiceServer::new(ads)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let reports = ReportServer::new(self.reports.clone(), self.registry.clone(), closed);
        let reports = ReportServiceServer::new(reports).max_decoding_message_size(MAX_MESSAGE_BYTES);
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
