//! Generates the prost messages and tonic services from `proto/` with protox, a protobuf
//! compiler in pure Rust, so a fresh machine needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const FILES: &[&str] = &[
        "proto/envoy/service/discovery/v3/discovery.proto",
        "proto/mockplane/config/v1/rules.proto",
        "proto/mockplane/report/v1/report.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(FILES, ["proto"])?;
    tonic_prost_build::configure()
        // Ordered maps: the rule model keeps its maps ordered, and equal rule sets encode to
        // equal bytes.
        .btree_map(".")
        .compile_fds(descriptors)?;
    Ok(())
}
