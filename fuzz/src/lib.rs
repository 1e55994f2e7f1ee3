//! The fuzz targets of mockplane: one function per parser that takes outside input, each
//! taking the raw bytes a fuzzer made and panicking when the code under test breaks an
//! invariant a user would notice (a crash, a verdict that depends on how a request was split
//! or parsed, a rule set that does not read back as it was written).
//!
//! The bodies live here, in an ordinary workspace crate, so that `cargo test` on the stable
//! toolchain replays every saved input (`tests/corpus.rs` over `corpus/<target>/`) and CI
//! catches a regression without a fuzzer. The libFuzzer harness in `libfuzzer/` (outside the
//! workspace: it needs `RUSTC_BOOTSTRAP=1`) only calls these. See `docs/fuzzing.md`.

mod http;
mod json_body;
mod rules;
mod template;
mod xds;

pub use http::http;
pub use json_body::json_body;
pub use rules::rules;
pub use template::template;
pub use xds::xds;

/// A fuzz target: any bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name: the names of the `corpus/` folders and of the libFuzzer targets.
pub const TARGETS: &[(&str, Target)] =
    &[("http", http), ("rules", rules), ("template", template), ("json_body", json_body), ("xds", xds)];

/// A small deterministic hash of `data`, to derive choices (split points) from the input
/// itself: the same input always takes the same path, so a saved crash replays.
pub(crate) fn hash(data: &[u8]) -> u64 {
    // FNV-1a.
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
