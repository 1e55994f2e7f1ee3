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
use std::time::{Duration, Instant};

/// Work between two yields.
const QUANTUM: Duration = Duration::from_micros(100);

thread_local! {
    static LAST_YIELD: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The previous call, and the longest time between two calls since [`take_longest_stretch`].
    static LAST_CALL: Cell<Option<Instant>> = const { Cell::new(None) };
    static LONGEST: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// The longest time this thread went between two [`pause`] calls since the last call of this
/// function: the longest stretch of work that could hold a worker's core (a diagnostic, for
/// `xds-apply`). Resets it.
pub fn take_longest_stretch() -> Duration {
    LAST_CALL.set(None);
    LONGEST.replace(Duration::ZERO)
}

/// Yields the CPU if this thread has worked `QUANTUM` since it last did. Called between every
/// two rules, so it reads the clock once unless it yields.
pub fn pause() {
    let now = Instant::now();
    if let Some(previous) = LAST_CALL.get() {
        LONGEST.set(LONGEST.get().max(now - previous));
    }
    let resumed = match LAST_YIELD.get() {
        Some(t) if now - t < QUANTUM => now,
        Some(_) => {
            // SAFETY: sched_yield takes nothing and only reschedules the calling thread.
            unsafe { libc::sched_yield() };
            let resumed = Instant::now();
            LAST_YIELD.set(Some(resumed));
            resumed
        }
        None => {
            LAST_YIELD.set(Some(now));
            now
        }
    };
    // From here: the time the work between two calls takes, not the time others ran.
    LAST_CALL.set(Some(resumed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_yields_only_after_a_quantum_of_work() {
        pause();
        let first = LAST_YIELD.get().unwrap();
        pause();
        assert_eq!(LAST_YIELD.get(), Some(first), "no yield within the quantum");
        std::thread::sleep(QUANTUM * 2);
        pause();
        assert!(LAST_YIELD.get().unwrap() > first, "a yield after it");
    }
}
