//! Tests of the path index: splitting, every kind of pattern, template records and their
//! completeness, long templates.

use super::*;
use crate::error::Errors;
use crate::model::PathMatch;

fn entry(rank: u32) -> Entry {
    Entry { rank, rule: rank, method_bits: 0, flags: 0 }
}

fn index_of(patterns: &[Option<serde_json::Value>]) -> PathIndex {
    let mut errors = Errors::default();
    let pats: Vec<Option<PathPattern>> = patterns
        .iter()
        .map(|j| {
            j.clone().map(|j| {
                let spec: PathMatch = serde_json::from_value(j).unwrap();
                PathPattern::compile(&spec, &crate::error::Place::Root("p"), &mut errors).unwrap()
            })
        })
        .collect();
    PathIndex::build(pats.iter().enumerate().map(|(i, p)| (i as u32, 0, p.as_ref(), None)), entry, &|| {})
        .unwrap()
}

fn found(index: &PathIndex, path: &str) -> Vec<u32> {
    let mut out = Candidates::new();
    index.candidates(None, path, &mut out);
    out.into_vec()
}

#[test]
fn a_path_splits_into_the_segments_a_plain_split_gives() {
    let long = format!("/{}", vec!["s"; 40].join("/"));
    let paths = [
        "/",
        "//",
        "/a",
        "/a/",
        "/abcdefg/",
        "/abcdefgh",
        "/abcdefgh/",
        "/a/b/c/d/e/f/g/h/i",
        "/api/v2/orders/12345/items/9",
        "/é/ü/x",
        "/¯¯/x¯",
        "/\u{2f}/%2F/x",
        "/1234567/1234567/1234567/",
        &long,
    ];
    for path in paths {
        let segs = Segments::split(path).unwrap();
        let plain: Vec<&str> = path[1..].split('/').collect();
        assert_eq!(segs.count, plain.len(), "{path}");
        for (i, want) in plain.iter().enumerate().take(MAX_SEGMENTS) {
            assert_eq!(segs.get(i), want.as_bytes(), "segment {i} of {path}");
        }
    }
    assert!(Segments::split("api/x").is_none(), "a path starts with /");
}

#[test]
fn the_index_finds_every_kind_of_pattern() {
    use serde_json::json;
    let index = index_of(&[
        Some(json!("/a/b")),
        Some(json!("/a/{x}")),
        Some(json!({"prefix": "/a"})),
        Some(json!({"regex": "/a/[a-z]+"})),
        None,
        Some(json!("/a/{*rest}")),
        Some(json!("/z")),
    ]);
    assert_eq!(found(&index, "/a/b"), [0, 1, 2, 3, 4, 5]);
    assert!(index.exact("/a/b").unwrap().is_complete());
    assert_eq!(found(&index, "/a/9/c"), [2, 4, 5]);
    assert_eq!(found(&index, "/nothing"), [4]);
}

#[test]
fn templates_with_literal_runs_anywhere_match_as_the_template_does() {
    use serde_json::json;
    // Literal runs of every length and place, empty literals, a catch-all: each probe
    // hashes and compares whole runs of the request path.
    let templates = [
        "/a/{x}/b/c",
        "/{x}/a/b/{y}/c",
        "/a/b/c/{x}",
        "/{x}/{y}",
        "/a//{x}",
        "/a/b/{*rest}",
        "/{x}/b/{*rest}",
        "/ab/{x}",
        "/a/{x}/bc",
    ];
    let index = index_of(&templates.iter().map(|t| Some(json!({ "template": t }))).collect::<Vec<_>>());
    let compiled: Vec<PathTemplate> = templates.iter().map(|t| PathTemplate::parse(t).unwrap()).collect();
    let paths = [
        "/a/1/b/c",
        "/a/1/b/cc",
        "/a/1/bb/c",
        "/z/a/b/1/c",
        "/z/a/b/1/d",
        "/z/a/bb/1/c",
        "/a/b/c/1",
        "/a/b/c/",
        "/a/b/cd/1",
        "/x/y",
        "/a//9",
        "/a/x/9",
        "/a/b",
        "/a/b/",
        "/a/b/x/y/z",
        "/q/b/r",
        "/q/b",
        "/ab/1",
        "/a/b/1",
        "/a/1/bc",
        "/a/1/b",
        "/a/b/c",
        "/",
        "//",
        "/a/1/b/c/",
    ];
    for path in paths {
        let mut expected: Vec<u32> = (0..templates.len() as u32)
            .filter(|&i| compiled[i as usize].matches(path, &mut crate::path::PathParams::new()))
            .collect();
        let mut got = found(&index, path);
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected, "{path}");
    }
}

#[test]
fn template_records_are_complete_only_when_nothing_else_can_match() {
    use serde_json::json;
    let index = index_of(&[
        Some(json!("/api/{id}/items")),
        Some(json!("/api/{id}/{sub}")),
        Some(json!("/files/{id}")),
        Some(json!("/other/{id}")),
        Some(json!({"prefix": "/files/x"})),
        Some(json!({"regex": "/oth[a-z]+/1"})),
        Some(json!("/solo/{id}")),
        Some(json!("/deep/{*rest}")),
        Some(json!("/deep/{a}/{b}")),
    ]);
    let complete = |path: &str| {
        let mut hits = TemplateHits::new();
        index.templates(path, &mut hits);
        hits.iter().map(|r| r.is_complete()).collect::<Vec<_>>()
    };
    assert_eq!(complete("/api/7/items"), [false, false], "two shapes share it");
    assert_eq!(complete("/files/y"), [false], "a prefix may match paths of its shape");
    assert_eq!(complete("/other/y"), [false], "a regex may match paths of its shape");
    assert_eq!(complete("/solo/y"), [true]);
    assert_eq!(complete("/solo/"), Vec::<bool>::new(), "a parameter is never empty");
    assert_eq!(complete("/deep/1/2"), [false, false]);
    assert_eq!(found(&index, "/deep/1/2"), [7, 8]);
    assert_eq!(found(&index, "/files/xy"), [2, 4]);
}

#[test]
fn long_templates_are_matched_one_by_one() {
    let long = format!("/{}", (0..40).map(|i| format!("s{i}")).collect::<Vec<_>>().join("/"));
    let template = format!("{}/{{id}}", long);
    let rest = format!("{}/{{*rest}}", long);
    let index = index_of(&[
        Some(serde_json::json!(template)),
        Some(serde_json::json!(rest)),
        Some(serde_json::json!("/{*all}")),
    ]);
    assert_eq!(found(&index, &format!("{long}/7")), [0, 1, 2]);
    assert_eq!(found(&index, &format!("{long}/7/8")), [1, 2]);
    assert_eq!(found(&index, "/x"), [2]);
}
