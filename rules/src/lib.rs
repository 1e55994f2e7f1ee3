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
pub mod model;
pub mod request;

pub(crate) mod body;
pub(crate) mod graphql;
pub mod template;

pub use error::{RuleSetError, ValidationError};
pub use model::RuleSet;
pub use request::{Header, Request, RequestContext};
