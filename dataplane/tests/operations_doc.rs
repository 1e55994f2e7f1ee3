//! docs/operations.md cannot drift from the admin endpoints: the metrics its table lists are
//! exactly the metric families `/metrics` exposes (with the same types), and the fields its
//! journal table lists are exactly those of a `/journal` entry. A new metric or field without a
//! row in the doc, or a row left for one that is gone, fails here.

mod util;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use mockplane_dataplane::IoDriver;
use util::{poll_until, Server};

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md"))
        .expect("docs/operations.md")
}

/// The lines of the section that starts with the heading `heading`, up to the next heading.
fn section<'d>(doc: &'d str, heading: &str) -> Vec<&'d str> {
    let mut lines = doc.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "docs/operations.md has no heading {heading:?}");
    lines.take_while(|l| !l.starts_with('#')).collect()
}

/// The table rows of `lines`, as their cells, header and separator left out.
fn rows<'d>(lines: &[&'d str]) -> Vec<Vec<&'d str>> {
    let cells = |l: &'d str| l.trim().trim_matches('|').split(" | ").map(str::trim).collect::<Vec<_>>();
    let table: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with('|')).collect();
    table.iter().skip(2).map(|l| cells(l)).collect()
}

fn code(cell: &str) -> &str {
    cell.trim_matches('`')
}

const RULES: &str = r#"
rules:
  - id: hello
    match: { path: /hello }
    response: { body: hi }
"#;

#[test]
fn the_documented_metrics_are_the_metrics_served() {
    let documented: BTreeMap<String, String> = rows(&section(&doc(), "### GET /metrics"))
        .into_iter()
        .map(|r| (code(r[0]).to_owned(), r[1].to_owned()))
        .collect();
    assert!(documented.len() >= 10, "the doc parser found too few metrics: {documented:?}");

    let server = Server::start(IoDriver::Auto, RULES);
    assert_eq!(server.get("/hello").status, 200);
    assert_eq!(server.get("/missing").status, 404);
    // Labelled series appear once there is something to count; wait for both kinds.
    let text = poll_until("both requests in /metrics", Duration::from_secs(5), || {
        let text = server.metrics();
        (text.contains("rule=\"hello\"") && text.contains("rule=\"\"")).then_some(text)
    });
    let served: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').expect("# TYPE name kind");
            (name.to_owned(), kind.to_owned())
        })
        .collect();
    assert_eq!(documented, served, "docs/operations.md's metrics table and /metrics differ");

    // Every sample belongs to a documented family (a histogram's to its _bucket, _sum, _count).
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap_or("");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| served.get(*f).is_some_and(|k| k == "histogram")))
            .unwrap_or(name);
        assert!(documented.contains_key(family), "the sample {line:?} has no documented family");
    }
}

#[test]
fn the_documented_journal_fields_are_the_fields_of_an_entry() {
    let doc = doc();
    let journal = section(&doc, "### GET /journal");
    // The table after "Each entry:" (the first one lists the filters).
    let at = journal.iter().position(|l| l.starts_with("Each entry")).expect("the entry table");
    let documented: BTreeSet<String> = rows(&journal[at..]).iter().map(|r| code(r[0]).to_owned()).collect();
    let filters: BTreeSet<String> =
        rows(&journal[..at]).iter().map(|r| code(r[0]).split('=').next().unwrap_or("").to_owned()).collect();
    assert_eq!(filters, ["limit", "path", "rule", "status"].map(String::from).into(), "the filter table");

    let server = Server::start(IoDriver::Auto, RULES);
    assert_eq!(server.get("/hello").status, 200);
    assert_eq!(server.get("/missing").status, 404);
    // A hit's fields and a miss's (which adds its closest rules).
    let mut served = BTreeSet::new();
    for filter in ["rule=hello", "status=404"] {
        let entry = poll_until("the request in /journal", Duration::from_secs(5), || {
            server.journal(filter).into_iter().next()
        });
        served.extend(entry.as_object().expect("an object").keys().cloned());
    }
    assert_eq!(documented, served, "docs/operations.md's journal table and a /journal entry differ");
    // And each documented filter is one /journal accepts.
    for filter in &filters {
        let value = if filter == "status" || filter == "limit" { "1" } else { "x" };
        assert_eq!(server.admin_get(&format!("/journal?{filter}={value}")).status, 200, "filter {filter}");
    }
}

/// The `404` body the "Requests no rule matches" section shows is the body served for it.
#[test]
fn the_documented_miss_body_is_the_body_served() {
    let doc = doc();
    let lines = section(&doc, "## Requests no rule matches");
    let text = lines.join("\n");
    let shown = text.split("```json\n").nth(1).and_then(|b| b.split("```").next()).expect("the 404 example");
    let shown: serde_json::Value = serde_json::from_str(shown).expect("the 404 example is JSON");
    let server = Server::start(
        IoDriver::Auto,
        "rules:\n  - id: item-42\n    match: { method: GET, path: /api/v1/items/42 }\n    response: { body: item }\n",
    );
    let r = util::Conn::open(server.addr())
        .request(b"PUT /api/v1/items/42 HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), shown, "docs/operations.md's 404 example is stale");
}

/// The `curl` that `POST /explain` shows, sent to a data plane serving the pet store, explains
/// the request as a create.
#[test]
fn the_documented_explain_request_is_explained() {
    let doc = doc();
    let lines = section(&doc, "### POST /explain");
    let curl = lines
        .iter()
        .find(|l| l.starts_with("curl -s localhost:9901/explain -d '"))
        .expect("the curl example");
    let body = curl.split_once("-d '").and_then(|(_, rest)| rest.strip_suffix('\'')).expect("a quoted body");
    let petstore =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/petstore.yaml"))
            .expect("the pet store");
    let server = Server::start(IoDriver::Auto, &petstore);
    let r = reqwest::blocking::Client::new()
        .post(format!("http://{}/explain", server.admin()))
        .body(body.to_owned())
        .send()
        .expect("POST /explain");
    assert_eq!(r.status().as_u16(), 200);
    let answer: serde_json::Value = r.json().unwrap();
    assert_eq!(answer["selected"], "create-pet", "{answer:#}");
    assert_eq!(answer["request"]["query"], "dry=1");
    assert!(answer["near_misses"].as_array().is_some_and(|n| !n.is_empty()), "{answer:#}");
}
