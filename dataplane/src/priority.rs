//! The CPU priority of the threads that apply new rules (the xDS client, the rules-file watch).
//!
//! Decoding and compiling a rule set takes milliseconds of CPU. At the default priority the
//! scheduler lets that thread run until the next tick (4 ms at 250 Hz) while a worker on the
//! same core waits with requests in hand: measured (benches/xds/swap-under-load.sh), the p99
//! under load went from 0.5 to 4 ms with a new version every 100 ms, and nice values or a
//! shorter slice changed nothing, since both only act at the tick. A SCHED_IDLE thread is
//! preempted at once whenever a normal thread wakes, so the work fills the gaps between
//! requests instead.
//!
//! On a data plane saturated on every core, SCHED_IDLE work could wait for a gap a long time.
//! [`Boost`] bounds that: a version still being applied after half a second is finished at
//! normal priority, and the thread returns to SCHED_IDLE afterwards.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sets the scheduling policy of thread `tid` (0: the calling thread).
fn set_policy(tid: libc::pid_t, policy: libc::c_int) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is valid for the call; on Linux a thread id names that thread only, and
    // 0 the calling thread. A thread of this process may change another's policy.
    if unsafe { libc::sched_setscheduler(tid, policy, &param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether a thread may leave SCHED_IDLE again. Without CAP_SYS_NICE and with the default
/// RLIMIT_NICE, Linux refuses that, and [`Boost`] could not raise a starved thread: then the
/// threads stay at normal priority, since a version that never applies is worse than a slower
/// p99 while it does.
fn may_leave_idle() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        std::thread::spawn(|| {
            set_policy(0, libc::SCHED_IDLE).is_ok() && set_policy(0, libc::SCHED_OTHER).is_ok()
        })
        .join()
        .unwrap_or(false)
    })
}

/// Puts the calling thread in the SCHED_IDLE class (threads it spawns inherit it), if it may
/// leave it again. A failure (a seccomp filter, say) leaves the thread as it was.
pub fn yield_to_workers() {
    if !may_leave_idle() {
        tracing::debug!("staying at normal priority: this process may not leave SCHED_IDLE once in it");
        return;
    }
    if let Err(e) = set_policy(0, libc::SCHED_IDLE) {
        tracing::debug!(error = %e, "cannot lower the thread's priority");
    }
}

/// Watches the applying thread and raises it to normal priority when a version has waited too
/// long for idle CPU.
#[derive(Debug)]
pub(crate) struct Boost {
    epoch: Instant,
    after: Duration,
    /// Milliseconds since `epoch` when the current apply began, plus one; 0 when idle.
    applying_since: AtomicU64,
    tid: AtomicI32,
    boosted: AtomicBool,
}

/// Marks an apply in progress; dropping it ends the apply (on the applying thread).
pub(crate) struct Applying<'a>(&'a Boost);

impl Boost {
    pub(crate) fn new(after: Duration) -> Arc<Self> {
        Arc::new(Boost {
            epoch: Instant::now(),
            after,
            applying_since: AtomicU64::new(0),
            tid: AtomicI32::new(0),
            boosted: AtomicBool::new(false),
        })
    }

    /// Records the calling thread as the one to boost.
    pub(crate) fn register_current_thread(&self) {
        // SAFETY: gettid takes nothing and cannot fail.
        self.tid.store(unsafe { libc::gettid() }, Ordering::Release);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Marks the start of an apply on the registered thread.
    pub(crate) fn begin(&self) -> Applying<'_> {
        self.applying_since.store(self.now_ms(), Ordering::Release);
        Applying(self)
    }

    /// Starts the watchdog thread, which checks every 50 ms until `shutdown`.
    pub(crate) fn spawn_watchdog(
        self: Arc<Self>,
        shutdown: Arc<AtomicBool>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("mockplane-xds-boost".into()).spawn(move || {
            while !shutdown.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
                self.check();
            }
        })
    }

    fn check(&self) {
        let since = self.applying_since.load(Ordering::Acquire);
        let tid = self.tid.load(Ordering::Acquire);
        if since == 0 || tid == 0 || self.boosted.load(Ordering::Acquire) {
            return;
        }
        let waited = Duration::from_millis(self.now_ms().saturating_sub(since));
        if waited < self.after {
            return;
        }
        match set_policy(tid, libc::SCHED_OTHER) {
            Ok(()) => {
                self.boosted.store(true, Ordering::Release);
                tracing::info!(
                    waited_ms = waited.as_millis() as u64,
                    "every core is busy: applying the new rules at normal priority"
                );
            }
            Err(e) => tracing::debug!(error = %e, "cannot raise the applying thread's priority"),
        }
    }
}

impl Drop for Applying<'_> {
    fn drop(&mut self) {
        self.0.applying_since.store(0, Ordering::Release);
        if self.0.boosted.swap(false, Ordering::AcqRel) {
            yield_to_workers();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_of_this_thread() -> libc::c_int {
        // SAFETY: with pid 0, sched_getscheduler reads the calling thread's policy.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn a_long_apply_is_boosted_to_normal_priority_and_lowered_again() {
        let boost = Boost::new(Duration::from_millis(0));
        yield_to_workers();
        boost.register_current_thread();
        if !may_leave_idle() {
            // Unprivileged: the thread must not have gone idle, since nothing could undo it.
            assert_eq!(policy_of_this_thread(), libc::SCHED_OTHER);
            return;
        }
        assert_eq!(policy_of_this_thread(), libc::SCHED_IDLE);
        {
            let _applying = boost.begin();
            std::thread::sleep(Duration::from_millis(2));
            let watchdog = boost.clone();
            std::thread::spawn(move || watchdog.check()).join().unwrap();
            assert_eq!(policy_of_this_thread(), libc::SCHED_OTHER, "boosted while applying");
        }
        assert_eq!(policy_of_this_thread(), libc::SCHED_IDLE, "lowered again once applied");
    }

    #[test]
    fn an_idle_thread_is_not_boosted() {
        let boost = Boost::new(Duration::from_millis(0));
        yield_to_workers();
        let before = policy_of_this_thread();
        boost.register_current_thread();
        boost.check();
        assert_eq!(policy_of_this_thread(), before);
    }
}
