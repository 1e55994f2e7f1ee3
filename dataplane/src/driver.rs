//! Choosing and building each worker's monoio runtime.
//!
//! io_uring is set up with `COOP_TASKRUN | SINGLE_ISSUER | DEFER_TASKRUN`: on the reference
//! machine the default setup costs ~1.9x the CPU per request of this one (see "Driver" in
//! docs/architecture.md). Older kernels refuse those flags, so we fall back to plain
//! io_uring, and to epoll when io_uring is not available at all (Docker's default seccomp
//! profile blocks it).

use std::future::Future;
use std::io;

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::config::IoDriver;

/// Submission queue entries per ring, by default: submissions are batched up to this many.
/// The rings take ~100 bytes an entry of shared memory per worker (400 KB at 4,096); ops in
/// flight are not limited by it.
pub const DEFAULT_RING_ENTRIES: u32 = 4096;

/// The driver a worker ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// io_uring with `COOP_TASKRUN | SINGLE_ISSUER | DEFER_TASKRUN`.
    UringTuned,
    /// io_uring with the kernel's default setup.
    UringPlain,
    /// epoll.
    Epoll,
}

impl DriverKind {
    /// `io_uring` or `epoll`.
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::UringTuned | DriverKind::UringPlain => "io_uring",
            DriverKind::Epoll => "epoll",
        }
    }

    /// The io_uring setup flags, `none` for plain io_uring and epoll.
    pub fn flags(self) -> &'static str {
        match self {
            DriverKind::UringTuned => "coop_taskrun|single_issuer|defer_taskrun",
            DriverKind::UringPlain | DriverKind::Epoll => "none",
        }
    }
}

/// A built runtime of either kind.
pub(crate) enum AnyRuntime {
    Uring(monoio::Runtime<TimeDriver<IoUringDriver>>),
    Epoll(monoio::Runtime<TimeDriver<LegacyDriver>>),
}

impl AnyRuntime {
    /// Builds the runtime `wanted` asks for, falling back as the module says.
    pub(crate) fn build(wanted: IoDriver, entries: u32) -> io::Result<(AnyRuntime, DriverKind)> {
        if wanted != IoDriver::Epoll {
            let mut tuned = io_uring::IoUring::builder();
            tuned.setup_coop_taskrun().setup_single_issuer().setup_defer_taskrun();
            match uring(tuned, entries) {
                Ok(rt) => return Ok((AnyRuntime::Uring(rt), DriverKind::UringTuned)),
                Err(e) => tracing::debug!(error = %e, "io_uring refused the tuned setup flags"),
            }
            match uring(io_uring::IoUring::builder(), entries) {
                Ok(rt) => return Ok((AnyRuntime::Uring(rt), DriverKind::UringPlain)),
                Err(e) if wanted == IoDriver::Uring => {
                    return Err(io::Error::new(e.kind(), format!("io_uring is not available: {e}")))
                }
                Err(e) => tracing::debug!(error = %e, "io_uring is not available; using epoll"),
            }
        }
        let rt = RuntimeBuilder::<LegacyDriver>::new().with_entries(entries).enable_timer().build()?;
        Ok((AnyRuntime::Epoll(rt), DriverKind::Epoll))
    }

    /// Runs `fut` to completion on this thread.
    pub(crate) fn block_on<F: Future>(self, fut: F) -> F::Output {
        match self {
            AnyRuntime::Uring(mut rt) => rt.block_on(fut),
            AnyRuntime::Epoll(mut rt) => rt.block_on(fut),
        }
    }
}

fn uring(builder: io_uring::Builder, entries: u32) -> io::Result<monoio::Runtime<TimeDriver<IoUringDriver>>> {
    RuntimeBuilder::<IoUringDriver>::new().with_entries(entries).uring_builder(builder).enable_timer().build()
}
