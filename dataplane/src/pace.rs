//! Pacing for the threads that apply new rules (the xDS client, the rules-file watch).
//!
//! Decoding and compiling a rule set takes milliseconds of CPU. Left alone, the scheduler lets
//! that thread run until the next tick (4 ms at 250 Hz) while a worker on the same core waits
//! with requests in hand: measured (benches/xds/swap-under-load.sh), the p99 under load went
//! from 0.5 to 4 ms with a new version every 100 ms. `perf sched timehist` showed the worker
//! runnable and not running for up to 3.9 ms at a time. Nice 10 and a 100 µs EEVDF slice
//! changed nothing (both only act at the tick); SCHED_IDLE fixed the p99 but starved the
//! versions on a saturated core, and leaving it needs CAP_SYS_NICE.
//!
//! So the work yields instead: [`pause`] is called between rules by the decoder and the
//! compiler, and gives the core away (`sched_yield`) once 100 µs of work have passed since it
//! last did. A runnable worker then waits at most about that long; an idle core loses nothing.

use std::cell::Cell;
use std::time::Duration;

/// Work between two yields, in nanoseconds.
const QUANTUM_NS: u64 = 100_000;

thread_local! {
    /// When this thread last yielded (0: never), on [`now_ns`]'s clock.
    static LAST_YIELD: Cell<u64> = const { Cell::new(0) };
    /// The previous call (0: none since the last [`take_longest_stretch`]), and the longest
    /// time between two calls since then.
    static LAST_CALL: Cell<u64> = const { Cell::new(0) };
    static LONGEST: Cell<u64> = const { Cell::new(0) };
}

/// The monotonic clock in nanoseconds. `pause` runs between every two rules (thousands of
/// times per version), and `Instant` arithmetic (checked `Timespec` subtraction) was a third
/// of a data plane's apply in instructions; this is a read and a multiply-add.
fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the time into `ts`, which lives for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// The longest time this thread went between two [`pause`] calls since the last call of this
/// function: the longest stretch of work that could hold a worker's core (a diagnostic, for
/// `xds-apply`). Resets it.
pub fn take_longest_stretch() -> Duration {
    LAST_CALL.set(0);
    Duration::from_nanos(LONGEST.replace(0))
}

/// Yields the CPU if this thread has worked `QUANTUM_NS` since it last did. Called between
/// every two rules, so it reads the clock once unless it yields.
pub fn pause() {
    let now = now_ns();
    let previous = LAST_CALL.get();
    if previous != 0 {
        LONGEST.set(LONGEST.get().max(now.saturating_sub(previous)));
    }
    let last_yield = LAST_YIELD.get();
    let resumed = if last_yield == 0 {
        LAST_YIELD.set(now);
        now
    } else if now.saturating_sub(last_yield) < QUANTUM_NS {
        now
    } else {
        // SAFETY: sched_yield takes nothing and only reschedules the calling thread.
        unsafe { libc::sched_yield() };
        let resumed = now_ns();
        LAST_YIELD.set(resumed);
        resumed
    };
    // From here: the time the work between two calls takes, not the time others ran.
    LAST_CALL.set(resumed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_yields_only_after_a_quantum_of_work() {
        pause();
        let first = LAST_YIELD.get();
        assert_ne!(first, 0);
        pause();
        assert_eq!(LAST_YIELD.get(), first, "no yield within the quantum");
        std::thread::sleep(Duration::from_nanos(QUANTUM_NS * 2));
        pause();
        assert!(LAST_YIELD.get() > first, "a yield after it");
    }
}
