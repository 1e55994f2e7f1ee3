//! The gRPC server: the aggregated discovery service and the report service on one port, with
//! the message size limits of [`Limits`] applied by tonic itself (a message over the limit is
//! refused from its length prefix, before it is read into memory).
//!
//! It is built to hold thousands of data-plane streams, one connection each: the listener's
//! accept queue is deep enough for all of them to connect at once, the process may open as many
//! files as its hard limit allows, and a failed accept (out of file descriptors) pauses the
//! accept loop instead of spinning on it while the connections already open keep being served.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mockplane_proto::report::report_service_server::ReportServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;

use crate::cache::SnapshotCache;
use crate::limits::Limits;
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
        // Not tonic's generated `AggregatedDiscoveryServiceServer`: it would keep a copy of the
        // last push per stream (see xds/wire.rs).
        let ads = crate::xds::AdsService::new(ads, self.limits.max_message_bytes);
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
        let incoming = TcpListenerStream::new(listener).then(|s| async move {
            match &s {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                }
                // tonic skips a failed accept and accepts again at once: out of file
                // descriptors, that spins a core while the queue stays full. Pause instead.
                Err(e) => {
                    tracing::warn!(error = %e, pause_ms = ACCEPT_PAUSE.as_millis() as u64, "cannot accept a data plane's connection");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
            }
            s
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

/// The xDS listener's accept queue. Data planes that lost their control plane all reconnect
/// within a second; with tokio's default of 1,024, 2,000 of them overflowed it and the
/// connections the kernel dropped were reset (`ConnectionReset` on the first stream). The
/// kernel caps it at `net.core.somaxconn` (4,096 by default since Linux 5.4).
pub const LISTEN_BACKLOG: u32 = 8192;

/// How long the accept loop pauses after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Binds the xDS listener, with an accept queue of [`LISTEN_BACKLOG`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's and tokio's `bind` do: a restarted control plane gets its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises this process's limit of open files to its hard limit: each data plane holds a
/// connection, and the usual soft limit of 1,024 would stop a control plane near 1,000 of
/// them. Returns the limit now in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the struct it is given, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(limit.rlim_cur)
}
