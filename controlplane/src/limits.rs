//! What the control plane accepts from the network and how much of it it remembers.
//!
//! Everything a data plane (or anything that speaks gRPC to the port) sends is bounded before it
//! is stored: a message by its size, a name by [`mockplane_proto::names`], a map by the number of
//! data planes or by the rules the operator loaded. Nothing grows with what a client invents.
//!
//! | what | bound | when it is reached |
//! |---|---|---|
//! | a decoded gRPC message (ADS request, report) | [`Limits::max_message_bytes`], 4 MiB, `--max-message-bytes` | the stream is refused with `OUT_OF_RANGE`, naming the flag |
//! | an encoded push (a rule set) | [`MAX_PUSH_BYTES`], 512 MiB | a rule set that large is the operator's own |
//! | data planes in the registry | [`Limits::max_nodes`], 10,000, `--max-nodes` | the node disconnected the longest is forgotten (its hits fold into its rules' totals); with every node connected, a new one is refused with `RESOURCE_EXHAUSTED` |
//! | environments | those the operator loaded rules for | a stream or report for another is refused with `NOT_FOUND` |
//! | hit counters per environment | rule ids of its rule sets × known nodes | hits of a rule id the environment never had are counted as untracked |
//! | journal entries per environment | [`JOURNAL_CAPACITY`], 10,000, and [`JOURNAL_BYTES`], 32 MiB | the oldest goes; each entry's fields are cut to the data plane's own sizes (header fields 1 KiB, body 256 bytes) |
//! | a NACK's error text | [`MAX_NACK_BYTES`], 16 KiB | cut, saying how much was left out |
//! | names (environment, node id) | [`mockplane_proto::names::MAX_NAME_BYTES`], 256 bytes | refused with `INVALID_ARGUMENT` |

/// The largest rule-set push the control plane encodes. A 100,000-rule set encodes to tens of MB;
/// tonic's default of 4 MB would refuse it. Data planes accept as much.
pub const MAX_PUSH_BYTES: usize = 512 << 20;

/// The default [`Limits::max_message_bytes`]: what a data plane sends is small (a request is a
/// node, a version and a nonce; a report is at most a few hundred KB of hits and journal
/// entries, and the data plane splits larger ones).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

/// The default [`Limits::max_nodes`].
pub const DEFAULT_MAX_NODES: usize = 10_000;

/// Journal entries kept per environment.
pub const JOURNAL_CAPACITY: usize = 10_000;

/// Memory the journal entries of one environment may take (estimated per entry: its fields,
/// and each header field's allocations). A usual entry takes 0.5 to 2 KB, so the bound is
/// [`JOURNAL_CAPACITY`]; entries of a hundred tiny header fields each would reach this first.
pub const JOURNAL_BYTES: usize = 32 << 20;

/// The longest NACK error text kept per node. A data plane refusing a large rule set may list
/// thousands of errors; its own log has them all.
pub const MAX_NACK_BYTES: usize = 16 << 10;

/// The longest string kept from a node's metadata (version, I/O driver).
pub const MAX_METADATA_BYTES: usize = 128;

/// The bounds an operator may need to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest gRPC message the control plane decodes.
    pub max_message_bytes: usize,
    /// Data planes remembered in the registry.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES, max_nodes: DEFAULT_MAX_NODES }
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aéé", 4), "aé");
    }
}
