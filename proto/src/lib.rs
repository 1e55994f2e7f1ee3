//! The wire protocol between mockplane's control plane and its data planes.
//!
//! - [`discovery`]: a wire-compatible subset of Envoy's `envoy.service.discovery.v3` (the
//!   aggregated discovery service, state of the world), with [`node`] (`Node`) and [`rpc`]
//!   (`google.rpc.Status`), so standard xDS tooling can talk to a mockplane control plane.
//! - [`config`]: `mockplane.config.v1.RuleSet`, the one resource type, as typed messages that
//!   mirror the rule model of `mockplane-rules`; [`convert`] holds the conversions both ways.
//! - [`report`]: the data plane → control plane report stream (hit counts, journal entries).
//! - [`names`]: what an environment name and a node id may be, checked by both planes.
//!
//! The code is generated at build time from `proto/` by protox and tonic-prost-build.

#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod convert;
pub mod names;

/// The generated code, in modules that follow the protobuf packages (prost refers across
/// packages with `super::`), re-exported below under short names.
#[allow(missing_docs, clippy::all)]
pub mod envoy {
    pub mod service {
        pub mod discovery {
            pub mod v3 {
                tonic::include_proto!("envoy.service.discovery.v3");
            }
        }
    }
    pub mod config {
        pub mod core {
            pub mod v3 {
                tonic::include_proto!("envoy.config.core.v3");
            }
        }
    }
}

/// `google.rpc` and the well-known types of `google.protobuf` that the protocol uses.
#[allow(missing_docs, clippy::all)]
pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
    pub mod protobuf {
        tonic::include_proto!("google.protobuf");
    }
}

/// `mockplane.*`.
#[allow(missing_docs, clippy::all)]
pub mod mockplane {
    pub mod config {
        pub mod v1 {
            tonic::include_proto!("mockplane.config.v1");
        }
    }
    pub mod report {
        pub mod v1 {
            tonic::include_proto!("mockplane.report.v1");
        }
    }
}

/// Envoy's `envoy.service.discovery.v3`: the aggregated discovery service and its messages.
pub use envoy::service::discovery::v3 as discovery;

/// Envoy's `envoy.config.core.v3`: the `Node` a data plane introduces itself with.
pub use envoy::config::core::v3 as node;

/// `google.rpc.Status`, the error detail of a NACK.
pub use google::rpc;

/// `google.protobuf.Any` (with `Bytes` for its value), `Struct` and `Value`.
pub use google::protobuf as wkt;

/// `mockplane.config.v1`: the rule-set resource.
pub use mockplane::config::v1 as config;

/// `mockplane.report.v1`: reports from the data planes.
pub use mockplane::report::v1 as report;

pub use convert::{ConversionError, RULE_SET_TYPE_URL};
