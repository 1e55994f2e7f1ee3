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
        // The well-known types (Any, Struct) are generated here rather than taken from
        // prost-types, so that `Any.value` can be `Bytes`: a rule set encoded once is then
        // shared by every stream that sends it, not copied per data plane.
        .compile_well_known_types(true)
        .bytes(".google.protobuf.Any.value")
        .compile_fds(descriptors)?;
    Ok(())
}
