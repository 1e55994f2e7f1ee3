//! One worker: a thread pinned to a core, its own runtime and listener (SO_REUSEPORT), and
//! everything its connections share, none of it shared with other workers on the hot path.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use mockplane_rules::RenderBuffers;
use monoio::net::{ListenerOpts, TcpListener};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::buffers::BufferPool;
use crate::config::DataPlaneConfig;
use crate::snapshot::Snapshot;
use crate::stats::{SharedStats, WorkerStats};

/// How often a worker sweeps its read deadlines, refreshes its date line, and checks for
/// shutdown.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// The cached `date:` header line, refreshed once a second.
pub(crate) struct DateLine {
    pub(crate) line: Vec<u8>,
    second: u64,
}

impl DateLine {
    fn new() -> Self {
        let mut d = DateLine { line: Vec::with_capacity(40), second: u64::MAX };
        d.refresh();
        d
    }

    fn refresh(&mut self) {
        let now = SystemTime::now();
        let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.line.clear();
            self.line.extend_from_slice(b"date: ");
            self.line.extend_from_slice(httpdate::fmt_http_date(now).as_bytes());
            self.line.extend_from_slice(b"\r\n");
        }
    }
}

/// The worker's cache of the shared swap cell: a pointer compare per request, no atomic RMW.
type SnapshotCache = arc_swap::Cache<Arc<ArcSwapOption<Snapshot>>, Option<Arc<Snapshot>>>;

/// The snapshot as handed to connections. The extra `Rc` layer is deliberate: cloning it is a
/// non-atomic increment on this thread, where cloning the `Arc` would write to a reference
/// count that every core shares.
#[allow(clippy::redundant_allocation)]
pub(crate) type LocalSnapshot = Rc<Arc<Snapshot>>;

/// A connection's read deadline, checked by the worker's ticker instead of a timer per read.
///
/// Arming a runtime timer around every read cost ~3x the throughput in measurement (45k vs
/// 131k req/s on one core): timeouts here are coarse (one tick, 100 ms) and cost two `Cell`
/// writes per read. An expired connection has its read side shut down, so its pending read
/// returns end-of-file and the connection loop sees `expired`.
pub(crate) struct ConnWatch {
    fd: RawFd,
    /// Worker-clock milliseconds after which the pending read is abandoned; `u64::MAX` when
    /// the connection is not waiting on a read.
    pub(crate) deadline_ms: Cell<u64>,
    /// Worker-clock milliseconds after which a pending write is abandoned (the client stopped
    /// reading); `u64::MAX` when the connection is not writing.
    pub(crate) write_deadline_ms: Cell<u64>,
    /// Waiting between requests (closed at once when draining).
    pub(crate) idle: Cell<bool>,
    /// Set by the ticker when the deadline passed.
    pub(crate) expired: Cell<bool>,
}

/// Unregisters a connection's watch when the connection ends. It must be dropped before the
/// stream, so that the ticker never touches a descriptor number the kernel has reused.
pub(crate) struct WatchGuard {
    worker: Rc<Worker>,
    id: u64,
    pub(crate) watch: Rc<ConnWatch>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.worker.watches.borrow_mut().remove(&self.id);
    }
}

/// What a worker's connections share. Lives on the worker's thread only (`Rc`).
pub(crate) struct Worker {
    pub(crate) id: usize,
    pub(crate) config: Arc<DataPlaneConfig>,
    cache: RefCell<SnapshotCache>,
    /// The snapshot last handed out.
    current: RefCell<Option<LocalSnapshot>>,
    /// This worker's counters and journal, which it alone writes.
    pub(crate) stats: Arc<WorkerStats>,
    pub(crate) shared: Arc<SharedStats>,
    pub(crate) rng: RefCell<SmallRng>,
    pub(crate) date: RefCell<DateLine>,
    pub(crate) render: RefCell<RenderBuffers>,
    /// A buffer for answers the server writes itself (a 404's body), reused.
    pub(crate) scratch: RefCell<Vec<u8>>,
    pub(crate) journal_enabled: bool,
    shutdown: Arc<AtomicBool>,
    /// Connections open on this worker.
    pub(crate) open: Cell<usize>,
    /// The most connections open since memory was last released.
    open_peak: Cell<usize>,
    /// Read and write buffers lent to connections while they read a request or answer.
    pub(crate) buffers: BufferPool,
    /// Connections to upstreams, this worker's own.
    pub(crate) upstreams: crate::upstream::UpstreamPools,
    /// Where forwarded exchanges go in record mode.
    pub(crate) recorder: Option<Arc<crate::record::Recorder>>,
    /// Requests between a complete head and a flushed answer.
    pub(crate) busy: Cell<usize>,
    /// The worker's coarse clock: milliseconds since `epoch`, advanced by the ticker.
    epoch: Instant,
    pub(crate) clock_ms: Cell<u64>,
    watches: RefCell<HashMap<u64, Rc<ConnWatch>>>,
    next_watch: Cell<u64>,
}

impl Worker {
    pub(crate) fn new(
        id: usize,
        config: Arc<DataPlaneConfig>,
        cell: Arc<ArcSwapOption<Snapshot>>,
        shared: Arc<SharedStats>,
        shutdown: Arc<AtomicBool>,
        recorder: Option<Arc<crate::record::Recorder>>,
    ) -> Self {
        Worker {
            id,
            journal_enabled: config.journal_capacity > 0,
            stats: shared.worker(id),
            buffers: BufferPool::new(config.pooled_buffers),
            upstreams: crate::upstream::UpstreamPools::new(config.worker_count()),
            recorder,
            config,
            cache: RefCell::new(arc_swap::Cache::new(cell)),
            current: RefCell::new(None),
            shared,
            rng: RefCell::new(SmallRng::from_os_rng()),
            date: RefCell::new(DateLine::new()),
            render: RefCell::new(RenderBuffers::default()),
            scratch: RefCell::new(Vec::new()),
            shutdown,
            open: Cell::new(0),
            open_peak: Cell::new(0),
            busy: Cell::new(0),
            epoch: Instant::now(),
            clock_ms: Cell::new(0),
            watches: RefCell::new(HashMap::new()),
            next_watch: Cell::new(0),
        }
    }

    /// Registers a connection for deadline checks.
    pub(crate) fn watch(self: &Rc<Self>, fd: RawFd) -> WatchGuard {
        let id = self.next_watch.get();
        self.next_watch.set(id + 1);
        let watch = Rc::new(ConnWatch {
            fd,
            deadline_ms: Cell::new(u64::MAX),
            write_deadline_ms: Cell::new(u64::MAX),
            idle: Cell::new(false),
            expired: Cell::new(false),
        });
        self.watches.borrow_mut().insert(id, watch.clone());
        WatchGuard { worker: self.clone(), id, watch }
    }

    /// Advances the coarse clock and shuts down connections whose deadline passed: the read
    /// side when a read is overdue (and of idle ones, when draining), so that the read returns
    /// end-of-file and a `408` can still be written; both sides when a write is overdue, so
    /// that the write fails.
    fn sweep(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.clock_ms.set(now);
        let draining = self.draining();
        for w in self.watches.borrow().values() {
            if w.expired.get() {
                continue;
            }
            let how = if w.write_deadline_ms.get() <= now {
                std::net::Shutdown::Both
            } else if w.deadline_ms.get() <= now || (draining && w.idle.get()) {
                std::net::Shutdown::Read
            } else {
                continue;
            };
            w.expired.set(true);
            use std::os::fd::BorrowedFd;
            // SAFETY: the descriptor is open: its connection unregisters this watch before
            // closing it, and this thread is the only one that runs either.
            let fd = unsafe { BorrowedFd::borrow_raw(w.fd) };
            let _ = socket2::SockRef::from(&fd).shutdown(how);
        }
        self.release_memory_after_a_burst();
    }

    /// After many connections have closed, has the allocator give back what they freed: this
    /// thread may allocate too little afterwards for the allocator to do it by itself.
    fn release_memory_after_a_burst(&self) {
        let open = self.open.get();
        let peak = self.open_peak.get().max(open);
        self.open_peak.set(peak);
        if peak >= open + 256 && open <= peak / 2 {
            if let Some(release) = self.config.release_memory {
                release();
            }
            self.open_peak.set(open);
        }
    }

    /// The snapshot in force, without touching any shared reference count when unchanged.
    #[inline]
    pub(crate) fn snapshot(&self) -> Option<LocalSnapshot> {
        let mut cache = self.cache.borrow_mut();
        let latest = cache.load();
        let mut current = self.current.borrow_mut();
        match (latest, current.as_ref()) {
            (Some(latest), Some(cur)) if Arc::ptr_eq(latest, cur) => Some(cur.clone()),
            (Some(latest), _) => {
                let fresh = Rc::new(latest.clone());
                *current = Some(fresh.clone());
                Some(fresh)
            }
            (None, _) => None,
        }
    }

    /// Whether the data plane is shutting down: finish what is in flight, take nothing new.
    #[inline]
    pub(crate) fn draining(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }
}

/// Binds a listener the way every worker does: SO_REUSEPORT, so each worker has its own and
/// the kernel spreads connections across them.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind_with_config(addr, &ListenerOpts::new().reuse_port(true).reuse_addr(true).backlog(4096))
}

/// The worker's life: accept until shutdown, then drain, then return.
pub(crate) async fn run(worker: Rc<Worker>, listener: TcpListener) {
    let ticker = {
        let worker = worker.clone();
        monoio::spawn(async move {
            loop {
                monoio::time::sleep(TICK).await;
                worker.sweep();
                worker.date.borrow_mut().refresh();
            }
        })
    };
    loop {
        let accepted = monoio::select! {
            accepted = listener.accept() => Some(accepted),
            _ = wait_for_shutdown(&worker) => None,
        };
        let Some(accepted) = accepted else { break };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(worker = worker.id, error = %e, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if worker.open.get() >= worker.config.max_connections {
            tracing::warn!(worker = worker.id, %peer, "too many open connections; closing a new one");
            drop(stream);
            continue;
        }
        worker.shared.accepted[worker.id].fetch_add(1, Ordering::Relaxed);
        let worker = worker.clone();
        monoio::spawn(async move {
            worker.open.set(worker.open.get() + 1);
            worker.shared.open_connections[worker.id].fetch_add(1, Ordering::Relaxed);
            // A bug that panics on some input must cost one connection, never the worker and
            // every connection it holds.
            if CatchUnwind(Box::pin(crate::conn::serve(&worker, stream, peer))).await.is_err() {
                tracing::error!(worker = worker.id, %peer, "a connection task panicked; the connection was dropped");
            }
            worker.open.set(worker.open.get() - 1);
            worker.shared.open_connections[worker.id].fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    let deadline = Instant::now() + worker.config.drain_timeout;
    while worker.busy.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    if worker.busy.get() > 0 {
        tracing::warn!(
            worker = worker.id,
            in_flight = worker.busy.get(),
            "drain timeout: dropping requests in flight"
        );
    }
    drop(ticker);
    let open = worker.open.get() as i64;
    worker.shared.open_connections[worker.id].fetch_sub(open, Ordering::Relaxed);
}

/// Resolves to `Err` instead of unwinding when the inner future panics.
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// Counts a request as in flight until dropped (also when a panic unwinds through it).
pub(crate) struct Busy<'w>(&'w Worker);

impl<'w> Busy<'w> {
    pub(crate) fn new(worker: &'w Worker) -> Self {
        worker.busy.set(worker.busy.get() + 1);
        Busy(worker)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get() - 1);
    }
}

async fn wait_for_shutdown(worker: &Worker) {
    while !worker.draining() {
        monoio::time::sleep(TICK).await;
    }
}
