//! The mockplane data plane: a thread-per-core server that answers HTTP requests from the
//! compiled mock rules of `mockplane-rules`.
//!
//! [`codec`] is the pure, synchronous HTTP/1.1 request codec: it parses request heads and
//! decodes chunked bodies from bytes the connection loop has read, and refuses anything
//! ambiguous with a ready-made error response.

#![deny(rust_2018_idioms)]

mod admin;
mod answer;
pub mod buffers;
pub mod codec;
pub mod config;
mod conn;
mod cors;
mod dribble;
pub mod driver;
mod explain;
mod failover;
mod forward;
mod hits;
pub mod journal;
mod link;
mod miss;
pub mod pace;
pub mod record;
mod recording;
mod report;
pub mod server;
pub mod sidecar;
pub mod snapshot;
pub mod stats;
mod upstream;
pub mod wiremock;
mod wiremock_admin;
mod worker;
pub mod xds;
mod zeroed;

pub use config::{DataPlaneConfig, IoDriver};
pub use link::XdsConfigError;
pub use server::{start, RunningDataPlane, ShutdownHandle, StartError};
pub use snapshot::{FileStatus, LinkStatus, RefusedEdit, Snapshot, SnapshotRules, SnapshotStore};
pub use xds::XdsClientConfig;
