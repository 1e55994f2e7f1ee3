//! Which control plane a data plane talks to next, and how long it waits before trying it.
//!
//! A data plane may be given several control planes (replicas on one store, which push the
//! same versions). It stays on the one that answers; when that one goes away it moves to the
//! next in the list after a short pause, and only when a whole round of them has failed does it
//! back off exponentially. The rules in force keep serving throughout: nothing here touches
//! them. The pause is scaled by a jitter factor the caller draws, so that many data planes
//! that lost the same control plane do not all arrive at the next one in the same instant, and
//! so that tests are deterministic.

use std::time::Duration;

/// The control planes, the one in use, and the backoff after failed rounds.
#[derive(Debug)]
pub(crate) struct Rotation {
    urls: Vec<String>,
    current: usize,
    /// Sessions that failed without being accepted since the last accepted one.
    failed: usize,
    backoff: Duration,
    initial: Duration,
    max: Duration,
}

impl Rotation {
    /// Starts on the first of `urls`, which must not be empty.
    pub(crate) fn new(urls: Vec<String>, initial: Duration, max: Duration) -> Rotation {
        assert!(!urls.is_empty(), "a data plane has at least one control plane (checked at start)");
        Rotation { urls, current: 0, failed: 0, backoff: initial, initial, max }
    }

    /// The control plane to talk to now.
    pub(crate) fn current(&self) -> &str {
        &self.urls[self.current]
    }

    /// The session with the current control plane ended; `accepted` says whether it had been
    /// (the stream opened). Moves to the next control plane and returns how long to wait
    /// before trying it: `jitter` (in 0.5..=1) times the first retry delay for a switch, or
    /// times the backoff, which doubles up to its maximum, once every control plane in the list
    /// has failed in turn.
    pub(crate) fn next(&mut self, accepted: bool, jitter: f64) -> Duration {
        if accepted {
            self.failed = 0;
            self.backoff = self.initial;
        } else {
            self.failed += 1;
        }
        self.current = (self.current + 1) % self.urls.len();
        let wait = if self.failed >= self.urls.len() {
            self.failed = 0;
            let wait = self.backoff;
            self.backoff = (self.backoff * 2).min(self.max);
            wait
        } else {
            self.initial
        };
        wait.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn rotation(urls: &[&str]) -> Rotation {
        Rotation::new(urls.iter().map(|u| u.to_string()).collect(), 100 * MS, 1000 * MS)
    }

    #[test]
    fn a_lost_control_plane_is_left_for_the_next_at_once_and_the_list_wraps() {
        let mut r = rotation(&["http://a:1", "http://b:1", "http://c:1"]);
        assert_eq!(r.current(), "http://a:1");
        assert_eq!(r.next(true, 1.0), 100 * MS);
        assert_eq!(r.current(), "http://b:1");
        assert_eq!(r.next(true, 0.5), 50 * MS, "the jitter scales the pause");
        assert_eq!(r.current(), "http://c:1");
        assert_eq!(r.next(true, 1.0), 100 * MS);
        assert_eq!(r.current(), "http://a:1");
    }

    #[test]
    fn only_a_whole_round_of_failures_backs_off_and_an_accepted_stream_resets_it() {
        let mut r = rotation(&["http://a:1", "http://b:1"]);
        let waits: Vec<Duration> = (0..8).map(|_| r.next(false, 1.0)).collect();
        assert_eq!(
            waits,
            [100, 100, 100, 200, 100, 400, 100, 800].map(|ms| ms * MS),
            "a switch waits the first delay; the end of each failed round the doubling backoff"
        );
        (0..4).for_each(|_| {
            r.next(false, 1.0);
        });
        assert_eq!(r.next(false, 1.0), 100 * MS);
        assert_eq!(r.next(false, 1.0), 1000 * MS, "at most the maximum");
        assert_eq!(r.next(true, 1.0), 100 * MS);
        assert_eq!((r.next(false, 1.0), r.next(false, 1.0)), (100 * MS, 100 * MS), "backoff reset");
    }

    #[test]
    fn one_control_plane_backs_off_as_a_single_one_always_did() {
        let mut r = rotation(&["http://a:1"]);
        let waits: Vec<Duration> = (0..5).map(|_| r.next(false, 1.0)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000].map(|ms| ms * MS));
        assert_eq!(r.current(), "http://a:1");
        assert_eq!(r.next(true, 1.0), 100 * MS);
    }
}
