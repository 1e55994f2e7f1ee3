//! Load-test peers for mockplane's HTTP benchmark (benches/http/run.sh). The binary
//! `minimal-server` is the floor a data plane is measured against: monoio + httparse, one
//! fixed answer, nothing else.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod compare;
