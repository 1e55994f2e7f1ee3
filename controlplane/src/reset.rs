//! Resets of the data planes' state, asked by the control plane for a whole environment:
//! scenario states and sequence counters, or the request journal.
//!
//! A reset travels as a new version of the environment's `RuleSet` resource whose `resets`
//! field carries a newer epoch for it (see [`crate::cache::SnapshotCache::reset`] and
//! docs/xds.md, "Resets"): the rules are not touched, so nothing is compiled again on either
//! side, and the data planes ACK it as any version. A journal reset also empties the control
//! plane's own copy of the journal ([`crate::reports::ReportStore`]), here, in one call.

use std::sync::Arc;

use mockplane_proto::convert::ResetEpochs;
use mockplane_proto::names::NameError;

use crate::cache::EnvSnapshot;
use crate::server::ControlPlane;

/// What a reset puts back to its start on every data plane of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// Every scenario back to `Started`; every sequence counter, `{{counter}}` and `times`
    /// budget back to its start.
    Scenarios,
    /// The request journal emptied: every worker's ring on every data plane, and the control
    /// plane's copy.
    Journal,
}

impl Reset {
    /// Its name in logs: `scenarios` or `journal`.
    pub fn name(self) -> &'static str {
        match self {
            Reset::Scenarios => "scenarios",
            Reset::Journal => "journal",
        }
    }

    /// `epochs` with this reset's epoch moved to `now_ms`, or one past where it was if the
    /// clock reads earlier (an epoch only grows: data planes apply only a newer one).
    pub fn next_epochs(self, mut epochs: ResetEpochs, now_ms: u64) -> ResetEpochs {
        let epoch = match self {
            Reset::Scenarios => &mut epochs.scenarios,
            Reset::Journal => &mut epochs.journal,
        };
        *epoch = now_ms.max(epoch.saturating_add(1));
        epochs
    }
}

/// Why a reset was not made.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The environment name is not `project/environment`.
    #[error(transparent)]
    BadEnvironment(#[from] NameError),
    /// The environment has no rules here, so no data plane serves it from this control plane.
    #[error("environment {0:?} has no rules on this control plane: there is nothing to reset")]
    NotServed(String),
}

impl ControlPlane {
    /// Resets `what` on every data plane of `environment`: a new version carrying the reset
    /// (see [`crate::cache::SnapshotCache::reset`]) and, for [`Reset::Journal`], the control
    /// plane's own journal of the environment emptied at once. Returns the new version; the
    /// data planes have applied the reset once they ACK it (`NodeRegistry`).
    pub fn reset(&self, environment: &str, what: Reset) -> Result<Arc<EnvSnapshot>, ResetError> {
        let snapshot = self.cache.reset(environment, what)?;
        if what == Reset::Journal {
            self.reports.reset_journal(environment, snapshot.resets.journal);
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_takes_the_clock_and_never_goes_back() {
        let start = ResetEpochs { scenarios: 50, journal: 7 };
        assert_eq!(Reset::Scenarios.next_epochs(start, 1_000), ResetEpochs { scenarios: 1_000, journal: 7 });
        // The clock went back: one past the last epoch still.
        assert_eq!(Reset::Journal.next_epochs(start, 3), ResetEpochs { scenarios: 50, journal: 8 });
        assert_eq!(Reset::Journal.next_epochs(start, 7), ResetEpochs { scenarios: 50, journal: 8 });
    }
}
