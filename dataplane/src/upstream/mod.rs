//! The proxy's side towards upstreams: per-worker connection pools with load balancing and a
//! connection limit ([`UpstreamPools`]), DNS names resolved off the request path
//! ([`resolve`]), and the HTTP/1.1 client codec ([`client`]).
//!
//! Nothing here is shared between cores: each worker keeps its own idle connections and counts,
//! and a cluster's `max_connections` is split between the workers (each may open its share,
//! rounded up). A connection is leased for one request and given back, kept alive, only when
//! its response was read whole and the upstream did not ask to close.

pub(crate) mod client;
pub(crate) mod resolve;
pub(crate) mod tls;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mockplane_rules::model::LoadBalancing;
use mockplane_rules::{Cluster, ClusterTls, Endpoint};
use monoio::net::TcpStream;
use rand::Rng;

use crate::worker::{WatchGuard, Worker};
use tls::{TlsClient, UpstreamStream};

/// A connection to an upstream endpoint, with its deadline watch (the request timeout is the
/// worker's coarse deadline sweep, as for client reads: no timer per request).
pub(crate) struct UpstreamConn {
    /// Declared first so it is dropped first: the watch goes before the descriptor closes.
    pub(crate) guard: WatchGuard,
    pub(crate) stream: UpstreamStream,
    /// It served a request before: a failure before any answer byte may be a keep-alive
    /// connection the upstream closed meanwhile, and the request may be tried once more.
    pub(crate) reused: bool,
}

/// Why no connection could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connection refused")]
    Refused,
    #[error("connect timed out after {0} ms")]
    TimedOut(u64),
    #[error("the cluster's connection limit ({0} on this core) is reached")]
    Exhausted(u32),
    #[error("{0} is not resolved (yet)")]
    Unresolved(String),
    #[error("connect failed: {0}")]
    Other(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("TLS: the handshake timed out after {0} ms")]
    HandshakeTimedOut(u64),
}

/// One endpoint's idle connections and requests in flight on this worker.
struct EndpointPool {
    /// The endpoint, to notice a swap that changed the cluster's endpoints.
    host: Box<str>,
    port: u16,
    idle: Vec<UpstreamConn>,
    outstanding: u32,
    /// Failures in a row, for outlier detection.
    failures: u32,
    /// Worker-clock ms until which the endpoint is left out (0: it is not).
    ejected_until_ms: u64,
}

/// One cluster on this worker.
#[derive(Default)]
struct ClusterPool {
    /// Connections open (idle or leased).
    open: u32,
    /// Round robin's next endpoint.
    next: usize,
    /// In the order of the cluster's `endpoints`.
    endpoints: Vec<EndpointPool>,
    /// The TLS client of an https cluster, built on its first connection.
    tls: Option<TlsClient>,
}

impl ClusterPool {
    /// Matches the pool's endpoints to the cluster's, after a swap that changed them: the idle
    /// connections of endpoints that went are closed.
    fn sync(&mut self, cluster: &Cluster) {
        let tls_same = match (&mut self.tls, &cluster.tls) {
            (None, None) => true,
            (Some(client), Some(settings)) => client.serves(settings),
            _ => false,
        };
        if !tls_same {
            // Connections made with other TLS settings (or none) are not this cluster's.
            for ep in &mut self.endpoints {
                self.open = self.open.saturating_sub(ep.idle.len() as u32);
                ep.idle.clear();
            }
            self.tls = cluster.tls.as_ref().map(TlsClient::new);
        }
        let same = self.endpoints.len() == cluster.endpoints.len()
            && self
                .endpoints
                .iter()
                .zip(&cluster.endpoints)
                .all(|(p, e)| p.host == e.host && p.port == e.port);
        if same {
            return;
        }
        let mut old = std::mem::take(&mut self.endpoints);
        for e in &cluster.endpoints {
            let kept =
                old.iter().position(|p| p.host == e.host && p.port == e.port).map(|i| old.swap_remove(i));
            self.endpoints.push(kept.unwrap_or_else(|| EndpointPool {
                host: e.host.clone(),
                port: e.port,
                idle: Vec::new(),
                outstanding: 0,
                failures: 0,
                ejected_until_ms: 0,
            }));
        }
        for gone in old {
            self.open = self.open.saturating_sub(gone.idle.len() as u32);
        }
    }
}

/// This worker's pools: cluster name → slot, so a lease names its pool without a string.
pub(crate) struct UpstreamPools {
    slots: RefCell<HashMap<Box<str>, usize>>,
    clusters: RefCell<Vec<ClusterPool>>,
    workers: u32,
}

/// A connection lent to one request; given back with [`Lease::give_back`], or closed when
/// dropped. Holds no connection (and reserved nothing) when leasing failed.
pub(crate) struct Lease {
    pub(crate) conn: Option<UpstreamConn>,
    worker: Rc<Worker>,
    /// The cluster's slot, `None` when nothing was reserved.
    slot: Option<usize>,
    /// The endpoint's index in the cluster.
    pub(crate) endpoint: usize,
}

impl UpstreamPools {
    pub(crate) fn new(workers: usize) -> Self {
        UpstreamPools {
            slots: RefCell::new(HashMap::new()),
            clusters: RefCell::new(Vec::new()),
            workers: workers.max(1) as u32,
        }
    }

    /// This worker's share of the cluster's connection limit.
    fn share(&self, cluster: &Cluster) -> u32 {
        cluster.max_connections.div_ceil(self.workers).max(1)
    }

    fn slot(&self, cluster: &Cluster) -> usize {
        if let Some(&slot) = self.slots.borrow().get(&*cluster.name) {
            return slot;
        }
        let mut clusters = self.clusters.borrow_mut();
        clusters.push(ClusterPool::default());
        self.slots.borrow_mut().insert(cluster.name.clone(), clusters.len() - 1);
        clusters.len() - 1
    }
}

/// Picks an endpoint of `cluster` and leases a connection to it: an idle one, or a new one
/// within the limit. The endpoint picked is in the lease (for errors) even when this fails.
pub(crate) async fn lease(worker: &Rc<Worker>, cluster: &Cluster) -> (Lease, Result<(), ConnectError>) {
    let pools = &worker.upstreams;
    let share = pools.share(cluster);
    let slot = pools.slot(cluster);
    let tls;
    // Chosen, and an idle connection taken or a slot reserved, in one borrow with no wait.
    let (endpoint, idle) = {
        let mut clusters = pools.clusters.borrow_mut();
        let pool = &mut clusters[slot];
        pool.sync(cluster);
        let endpoint = pick(pool, cluster, worker.clock_ms.get(), &mut *worker.rng.borrow_mut());
        tls = pool.tls.as_ref().map(|t| t.config.clone());
        let open = pool.open;
        let ep = &mut pool.endpoints[endpoint];
        let idle = ep.idle.pop();
        if idle.is_none() && open >= share {
            (endpoint, None)
        } else {
            ep.outstanding += 1;
            if idle.is_none() {
                pool.open += 1;
            }
            (endpoint, Some(idle))
        }
    };
    let mut lease = Lease { conn: None, worker: worker.clone(), slot: None, endpoint };
    let Some(idle) = idle else {
        return (lease, Err(ConnectError::Exhausted(share)));
    };
    lease.slot = Some(slot);
    if let Some(conn) = idle {
        lease.conn = Some(conn);
        return (lease, Ok(()));
    }
    let tls = match (tls, &cluster.tls) {
        (Some(Ok(config)), Some(settings)) => Some((config, &**settings)),
        (Some(Err(why)), _) => return (lease, Err(ConnectError::Tls(why))),
        _ => None,
    };
    match connect(worker, &cluster.endpoints[endpoint], cluster.connect_timeout, tls).await {
        Ok(conn) => {
            lease.conn = Some(conn);
            (lease, Ok(()))
        }
        Err(e) => (lease, Err(e)),
    }
}

/// The endpoint a request goes to: round robin, or the less busy of two picked at random,
/// among the endpoints not ejected; when every one is ejected, among all of them (as Envoy's
/// panic threshold does: some traffic beats none).
fn pick(pool: &mut ClusterPool, cluster: &Cluster, now_ms: u64, rng: &mut impl Rng) -> usize {
    let n = cluster.endpoints.len();
    if n == 1 {
        return 0;
    }
    let up = |pool: &ClusterPool, i: usize| pool.endpoints[i].ejected_until_ms <= now_ms;
    let any_up = cluster.outlier.is_none() || (0..n).any(|i| up(pool, i));
    match cluster.lb {
        LoadBalancing::RoundRobin => {
            for _ in 0..n {
                pool.next = (pool.next + 1) % n;
                if !any_up || up(pool, pool.next) {
                    break;
                }
            }
            pool.next
        }
        LoadBalancing::LeastRequest => {
            let mut draw = || {
                let mut i = rng.random_range(0..n);
                for _ in 0..n {
                    if !any_up || up(pool, i) {
                        break;
                    }
                    i = (i + 1) % n;
                }
                i
            };
            let (a, b) = (draw(), draw());
            if pool.endpoints[b].outstanding < pool.endpoints[a].outstanding {
                b
            } else {
                a
            }
        }
    }
}

async fn connect(
    worker: &Rc<Worker>,
    endpoint: &Endpoint,
    limit: Duration,
    tls: Option<(Arc<rustls::ClientConfig>, &ClusterTls)>,
) -> Result<UpstreamConn, ConnectError> {
    let stream = match endpoint.ip() {
        Some(ip) => connect_to(SocketAddr::new(ip, endpoint.port), limit).await?,
        None => {
            // Each address of the name in turn, until one accepts (`localhost` is often both
            // ::1 and 127.0.0.1, and a service may listen on one of them only).
            let (answer, start) = resolve::lookup(&endpoint.host, endpoint.port)
                .ok_or_else(|| ConnectError::Unresolved(endpoint.host.to_string()))?;
            let addrs = &answer.addrs;
            let mut last = ConnectError::Refused;
            let mut connected = None;
            for i in 0..addrs.len() {
                match connect_to(addrs[(start + i) % addrs.len()], limit).await {
                    Ok(stream) => {
                        connected = Some(stream);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            connected.ok_or(last)?
        }
    };
    let _ = stream.set_nodelay(true);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let stream = match tls {
        None => UpstreamStream::Plain(stream),
        Some((config, settings)) => {
            let name = tls::server_name(settings, &endpoint.host).map_err(ConnectError::Tls)?;
            // The handshake has the connect timeout too (a second one, from here).
            let connector = monoio_rustls::TlsConnector::from(config);
            match monoio::time::timeout(limit, connector.connect(name, stream)).await {
                Err(_) => return Err(ConnectError::HandshakeTimedOut(limit.as_millis() as u64)),
                // monoio-rustls says only "io error" or "rustls error": the cause is inside.
                Ok(Err(e)) => {
                    let cause = match e {
                        monoio_rustls::TlsError::Io(e) => e.to_string(),
                        monoio_rustls::TlsError::Rustls(e) => e.to_string(),
                    };
                    return Err(ConnectError::Tls(format!("handshake failed: {cause}")));
                }
                Ok(Ok(tls)) => UpstreamStream::Tls(Box::new(tls)),
            }
        }
    };
    let guard = worker.watch(fd);
    Ok(UpstreamConn { guard, stream, reused: false })
}

/// One connection attempt, within `limit`: a timer only when a new connection is made, never
/// per request.
async fn connect_to(addr: SocketAddr, limit: Duration) -> Result<TcpStream, ConnectError> {
    match monoio::time::timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => Err(ConnectError::TimedOut(limit.as_millis() as u64)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(ConnectError::Refused),
        Ok(Err(e)) => Err(ConnectError::Other(e.to_string())),
        Ok(Ok(stream)) => Ok(stream),
    }
}

impl Lease {
    /// Tells outlier detection how the endpoint did: answered (`ok`: below 500), or failed
    /// (no answer, or a 5xx). Enough failures in a row eject it for the cluster's time.
    pub(crate) fn report(&self, cluster: &Cluster, ok: bool) {
        let (Some((limit, ejection)), Some(slot)) = (cluster.outlier, self.slot) else { return };
        let mut clusters = self.worker.upstreams.clusters.borrow_mut();
        let Some(ep) = clusters[slot].endpoints.get_mut(self.endpoint) else { return };
        if ok {
            ep.failures = 0;
            return;
        }
        ep.failures += 1;
        if ep.failures >= limit {
            ep.failures = 0;
            ep.ejected_until_ms = self.worker.clock_ms.get().saturating_add(ejection.as_millis() as u64);
            tracing::warn!(
                upstream = %cluster.name,
                endpoint = %cluster.endpoints[self.endpoint],
                failures = limit,
                ejected_ms = ejection.as_millis() as u64,
                "upstream endpoint ejected"
            );
        }
    }

    /// Gives the connection back to the pool, kept alive for the next request.
    pub(crate) fn give_back(mut self, cluster: &Cluster) {
        let (Some(mut conn), Some(slot)) = (self.conn.take(), self.slot) else { return };
        if conn.guard.watch.expired.get() {
            return; // closed here; Drop counts it
        }
        let mut clusters = self.worker.upstreams.clusters.borrow_mut();
        let pool = &mut clusters[slot];
        let e = &cluster.endpoints[self.endpoint];
        // A swap may have changed the endpoints since the lease began.
        if let Some(ep) =
            pool.endpoints.get_mut(self.endpoint).filter(|p| p.host == e.host && p.port == e.port)
        {
            conn.reused = true;
            ep.outstanding = ep.outstanding.saturating_sub(1);
            ep.idle.push(conn);
            self.slot = None;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(slot) = self.slot else { return };
        let mut clusters = self.worker.upstreams.clusters.borrow_mut();
        let pool = &mut clusters[slot];
        pool.open = pool.open.saturating_sub(1);
        if let Some(ep) = pool.endpoints.get_mut(self.endpoint) {
            ep.outstanding = ep.outstanding.saturating_sub(1);
        }
    }
}
