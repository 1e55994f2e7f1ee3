//! The mockplane rules engine: the rule model, its validation, the compiled and indexed
//! [`RuleTable`], matching, `explain`, and response rendering.
//!
//! This crate is pure: no I/O beyond reading response files at compile time, no async, no
//! runtime. Whatever needs a clock or randomness takes it as a parameter, so the data plane
//! decides where those come from and tests stay deterministic.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

mod de;
pub mod error;
pub mod load;
pub mod model;
pub mod recorded;
pub mod request;

pub(crate) mod body;
mod bytes;
mod compile;
mod cors;
mod explain;
pub mod forward;
#[doc(hidden)]
pub mod fuzzing;
pub mod graphql;
mod jsonpath;
mod path;
mod request_check;
mod response;
pub mod reuse;
mod schema;
mod state;
mod table;
pub mod template;
mod url;
mod value;
mod whole;

pub use cors::CorsPolicy;
pub use error::{RuleSetError, ValidationError};
pub use explain::{Explanation, Mismatch, NearMisses, RuleVerdict, NEAR_MISS_CHECKS};
pub use forward::{Cluster, ClusterTls, CompiledHeaderEdits, Endpoint, ForwardTarget};
pub use load::{Format, DOCUMENT_FORMAT, FORMATS_READ};
pub use model::RuleSet;
pub use path::PathParams;
pub use request::{Header, Request, RequestContext};
pub use response::{reason_phrase, Dribble, RenderBuffers, StaticResponse};
pub use reuse::RuleCache;
pub use state::StateStore;
pub use table::{Answer, CompileOptions, Reply, RuleTable, Selection};

/// Validates a rule set without keeping the compiled table.
pub fn validate(set: &RuleSet, options: &CompileOptions) -> Result<(), RuleSetError> {
    let options = CompileOptions { state: StateStore::new(), ..options.clone() };
    RuleTable::compile(set, &options).map(drop)
}
