//! The data plane's settings, with the defaults the command line documents.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::codec::Limits;

/// Which I/O driver the workers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoDriver {
    /// io_uring when the kernel allows it, else epoll.
    #[default]
    Auto,
    /// io_uring only; refuse to start without it.
    Uring,
    /// epoll (monoio's legacy driver).
    Epoll,
}

impl std::str::FromStr for IoDriver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(IoDriver::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(IoDriver::Uring),
            "epoll" | "legacy" => Ok(IoDriver::Epoll),
            other => Err(format!("unknown io driver {other:?}: expected auto, uring or epoll")),
        }
    }
}

/// Everything the data plane needs to start.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// The rules file served in static mode (reloaded when it changes on disk).
    pub rules: Option<PathBuf>,
    /// `--wiremock DIR`: WireMock stubs served instead of a rules file (reloaded when the
    /// folder changes).
    pub wiremock: Option<crate::wiremock::WireMockSource>,
    /// `--wiremock-admin`: the admin listener also answers WireMock's admin API
    /// (`/__admin/mappings`, `/__admin/requests/count`, …).
    pub wiremock_admin: bool,
    /// Where traffic is served. Port 0 picks a free port (shared by every worker).
    pub listen: SocketAddr,
    /// Where the admin endpoints are served.
    pub admin: SocketAddr,
    /// Worker threads, one runtime each. 0 means one per core.
    pub workers: usize,
    /// Pin each worker to a core.
    pub pin_workers: bool,
    /// The I/O driver.
    pub io_driver: IoDriver,
    /// Request size limits.
    pub limits: Limits,
    /// `--upstream host:port` (or a URL): forward what the rules do not match there (sidecar mode).
    pub sidecar_upstream: Option<String>,
    /// `--record FILE`: forwarded exchanges written as rules (see [`crate::record`]).
    pub record: Option<crate::record::RecordSettings>,
    /// Journal entries kept per worker; 0 turns the journal off. An entry takes up to
    /// 1,712 bytes, backed as entries arrive: the default 4,096 costs at most 7 MB per worker.
    pub journal_capacity: usize,
    /// io_uring submission queue entries per worker (the epoll driver's event batch).
    pub uring_entries: u32,
    /// Free 16 KiB I/O buffers each worker keeps for its connections.
    pub pooled_buffers: usize,
    /// How long an idle keep-alive connection stays open.
    pub idle_timeout: Duration,
    /// How long a client may take to send a whole request head (slowloris defence).
    pub header_timeout: Duration,
    /// How long a client may take to send a whole request body, from the end of its head.
    pub body_timeout: Duration,
    /// How long a write may wait for a client that does not read its answers; then the
    /// connection is closed.
    pub write_timeout: Duration,
    /// Open connections per worker beyond which new ones are closed at once.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish.
    pub drain_timeout: Duration,
    /// How often the rules file is checked for changes.
    pub reload_interval: Duration,
    /// The control plane to take rules from (instead of `rules`).
    pub xds: Option<crate::xds::XdsClientConfig>,
    /// Whether a request carrying `x-mockplane-explain: all` that no rule serves gets every
    /// rule checked for its 404 (a cost that grows with the table): turn off where clients
    /// are not trusted.
    pub explain_header: bool,
    /// Gives memory the calling thread has freed back to the OS, when the allocator holds on
    /// to it: called after a rule set is compiled and swapped in, and by a worker after a burst
    /// of connections has closed. The binary passes its allocator's (see `cli/src/alloc.rs`).
    pub release_memory: Option<fn()>,
}

impl Default for DataPlaneConfig {
    fn default() -> Self {
        DataPlaneConfig {
            rules: None,
            wiremock: None,
            wiremock_admin: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            admin: SocketAddr::from(([127, 0, 0, 1], 9901)),
            workers: 0,
            pin_workers: true,
            io_driver: IoDriver::Auto,
            limits: Limits::default(),
            sidecar_upstream: None,
            record: None,
            // Entries grew from 400 to 1,712 bytes (headers and a body prefix): 4,096 keeps
            // the worst case near the old 10,000's 4 MB. The ring is a buffer between reports
            // (every second), which the control plane keeps 10,000 of per environment.
            journal_capacity: 4_096,
            uring_entries: crate::driver::DEFAULT_RING_ENTRIES,
            pooled_buffers: crate::buffers::DEFAULT_POOLED_BUFFERS,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            drain_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_millis(500),
            xds: None,
            explain_header: true,
            release_memory: None,
        }
    }
}

impl DataPlaneConfig {
    /// The number of workers to start: `workers`, or one per available core.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}
