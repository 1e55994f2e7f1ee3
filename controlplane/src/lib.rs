//! The mockplane control plane: it keeps, per environment, the versioned rule set in force,
//! and pushes every new version to the data planes serving that environment over xDS.
//!
//! - [`cache`]: the snapshot cache (validate with the data plane's compiler, version, encode once);
//! - [`xds`]: the aggregated discovery service (nonces, ACK/NACK, stale requests ignored);
//! - [`registry`]: the data planes, what they have ACKed or NACKed, with events;
//! - [`reports`]: hit counts and journal entries the data planes send back;
//! - [`requests`]: the journal across all data planes, queried: `requests` and `verify`;
//! - [`metrics`]: totals, hits per rule, misses and latency percentiles, per node and in total;
//! - [`reset`]: scenario and journal resets of every data plane of an environment;
//! - [`file`]: the file-backed mode (`mockplane controlplane --rules FILE`);
//! - [`limits`]: what it accepts from the network and how much it remembers;
//! - [`server`]: the gRPC server that joins them;
//! - [`store`]: projects, environments, rules with revisions, API keys, the audit log (sqlx);
//! - [`service`]: where a change is validated, stored and pushed, in that order;
//! - [`api`]: the HTTP side: the GraphQL admin API, GraphiQL, health and metrics.

#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod api;
pub mod cache;
pub mod file;
pub mod limits;
pub mod metrics;
pub mod recording;
pub mod registry;
pub mod reports;
pub mod requests;
pub mod reset;
mod reuse;
pub mod server;
pub mod service;
pub mod store;
#[cfg(test)]
mod test_postgres;
pub mod xds;

pub use cache::{EnvSnapshot, SetError, SnapshotCache};
pub use limits::{Limits, MAX_PUSH_BYTES};
pub use metrics::{LatencySummary, Metrics, NodeFigures, RuleFigures};
pub use registry::{NodeEvent, NodeInfo, NodeRegistry, RegistryFull};
pub use reports::{ReportStore, RequestEvent};
pub use requests::{JournaledRequest, RequestFilter, RequestTail, Verification, VerifyError};
pub use reset::{Reset, ResetError};
pub use server::ControlPlane;
