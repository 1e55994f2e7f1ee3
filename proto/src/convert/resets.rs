//! The reset epochs a rule-set resource carries beside its rules (`RuleSet.resets`, field 9):
//! what the control plane asks the data planes of an environment to reset. They are not part
//! of the rule model (a rules file has none), so they travel beside it: encoded after every
//! other field, where prost puts field 9, so that the resource stays the message's own
//! encoding and a reset rewrites no rule's bytes.

use crate::config as pb;

/// The reset epochs of a version: each only grows, and a data plane applies a reset whose epoch
/// is newer than the one it last applied (docs/xds.md, "Resets"). Zero: never reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResetEpochs {
    /// Scenario states, sequence counters and `times` budgets back to their start.
    pub scenarios: u64,
    /// The request journal emptied.
    pub journal: u64,
}

impl ResetEpochs {
    /// The wire field: absent while both epochs are zero, so that a rule set never reset
    /// encodes to the same bytes (and version) as before resets existed.
    pub fn to_wire(self) -> Option<pb::Resets> {
        (self != ResetEpochs::default())
            .then_some(pb::Resets { scenarios: self.scenarios, journal: self.journal })
    }

    /// The epochs of a wire field (absent: zero).
    pub fn from_wire(wire: Option<&pb::Resets>) -> Self {
        wire.map_or_else(ResetEpochs::default, |r| ResetEpochs { scenarios: r.scenarios, journal: r.journal })
    }
}

/// Appends the encoding of `resets` as `RuleSet` field 9 (nothing when both are zero).
pub(crate) fn encode_resets(resets: ResetEpochs, buf: &mut Vec<u8>) {
    if let Some(wire) = resets.to_wire() {
        prost::encoding::message::encode(RESETS_FIELD, &wire, buf);
    }
}

/// The field number of `RuleSet.resets`.
pub(crate) const RESETS_FIELD: u32 = 9;

/// The length of [`encode_resets`]'s output.
pub(crate) fn resets_len(resets: ResetEpochs) -> usize {
    resets.to_wire().map_or(0, |w| prost::encoding::message::encoded_len(RESETS_FIELD, &w))
}
