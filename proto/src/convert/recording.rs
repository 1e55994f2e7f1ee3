//! The recording settings a rule-set resource carries beside its rules
//! (`RuleSet.recording`, field 10): what the data planes of an environment record while it
//! records (docs/rules.md, "Record"). Like the reset epochs they are not part of the rule
//! model, so they travel beside it, encoded last, and starting or stopping a recording
//! rewrites no rule's bytes.

use crate::config as pb;

/// The recording settings of a version; a version without them records nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Recording {
    /// Only these methods (upper case); empty: every method.
    pub methods: Vec<String>,
    /// Only paths starting with this.
    pub path_prefix: Option<String>,
    /// Only paths matching this regular expression (never set with `path_prefix`).
    pub path_regex: Option<String>,
    /// Pairs recorded per data plane at most; 0: no bound.
    pub limit: u32,
    /// When the recording was started (ms since 1970): each start counts `limit` anew.
    pub started_ms: u64,
}

impl Recording {
    /// The wire message.
    pub fn to_wire(&self) -> pb::Recording {
        pb::Recording {
            methods: self.methods.clone(),
            path_prefix: self.path_prefix.clone(),
            path_regex: self.path_regex.clone(),
            limit: self.limit,
            started_ms: self.started_ms,
        }
    }

    /// The settings of a wire message.
    pub fn from_wire(wire: pb::Recording) -> Self {
        Recording {
            methods: wire.methods,
            path_prefix: wire.path_prefix,
            path_regex: wire.path_regex,
            limit: wire.limit,
            started_ms: wire.started_ms,
        }
    }
}

/// The field number of `RuleSet.recording`.
const RECORDING_FIELD: u32 = 10;

/// Appends the encoding of `recording` as `RuleSet` field 10 (nothing when there is none).
pub(crate) fn encode_recording(recording: Option<&Recording>, buf: &mut Vec<u8>) {
    if let Some(r) = recording {
        prost::encoding::message::encode(RECORDING_FIELD, &r.to_wire(), buf);
    }
}

/// The length of [`encode_recording`]'s output.
pub(crate) fn recording_len(recording: Option<&Recording>) -> usize {
    recording.map_or(0, |r| prost::encoding::message::encoded_len(RECORDING_FIELD, &r.to_wire()))
}
