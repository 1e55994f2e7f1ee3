//! Load-test tools for mockplane. [`run`] is the load generator behind `mockplane-loadtest
//! run` (docs/loadtest.md); the binary `minimal-server` is the floor a data plane is measured
//! against (benches/http/run.sh): monoio + httparse, one fixed answer, nothing else.

#![deny(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod compare;
pub mod run;
