//! What the control plane refuses, over real gRPC on loopback: each bad input a client can send
//! (oversized requests and reports, unknown and malformed environments and node ids, reports
//! from strangers, more nodes and rule ids than it keeps), and the reason it gives.

use std::time::Duration;

use mockplane_controlplane::limits::DEFAULT_MAX_MESSAGE_BYTES;
use mockplane_controlplane::Limits;
use mockplane_proto::node::Node;
use mockplane_proto::report::report_service_client::ReportServiceClient;
use mockplane_proto::report::{JournalEntry, Report, RuleHits};
use mockplane_proto::wkt::{value::Kind, Struct, Value};
use tokio_stream::StreamExt;
use tonic::Code;

mod util;
use util::{node, rules, start, start_with, until, Stream, ENV};

/// Sends `reports` on one report stream; the summary's count, or the status that refused it.
async fn report(url: &str, reports: Vec<Report>) -> Result<u64, tonic::Status> {
    let mut client = ReportServiceClient::connect(url.to_owned()).await.unwrap();
    Ok(client.stream_reports(tokio_stream::iter(reports)).await?.into_inner().reports)
}

fn hits(id: &str, rule_ids: impl IntoIterator<Item = String>) -> Report {
    Report {
        node: Some(node(id)),
        hits: rule_ids.into_iter().map(|rule_id| RuleHits { rule_id, count: 1 }).collect(),
        ..Default::default()
    }
}

/// A node whose metadata carries `bytes` bytes of padding.
fn padded_node(id: &str, bytes: usize) -> Node {
    let pad = Value { kind: Some(Kind::StringValue("x".repeat(bytes))) };
    Node { metadata: Some(Struct { fields: [("pad".to_owned(), pad)].into() }), ..node(id) }
}

fn assert_refused(e: &tonic::Status, code: Code, says: &[&str]) {
    assert_eq!(e.code(), code, "{e:?}");
    for s in says {
        assert!(e.message().contains(s), "{:?} does not say {s:?}", e.message());
    }
}

#[tokio::test]
async fn an_ads_request_over_the_default_few_mib_is_refused_naming_the_flag() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    // A first request over the limit.
    let e = Stream::try_open(&url, padded_node("dp-big", DEFAULT_MAX_MESSAGE_BYTES), "").await.err().unwrap();
    assert_refused(&e, Code::OutOfRange, &["--max-message-bytes 4194304"]);
    assert!(cp.registry.node("dp-big").is_none());

    // A later request over the limit (a NACK with a huge error) ends the stream with the reason.
    let mut s = Stream::open(&url, "dp-1", "").await;
    let r = s.next().await;
    s.send("", &r.nonce, Some(&"e".repeat(DEFAULT_MAX_MESSAGE_BYTES))).await;
    let end =
        tokio::time::timeout(Duration::from_secs(5), s.responses.next()).await.expect("the stream ends");
    match end {
        Some(Err(e)) => assert_refused(&e, Code::OutOfRange, &["--max-message-bytes 4194304"]),
        other => panic!("expected the refusal, got {other:?}"),
    }
    let n = until(&cp, "dp-1", |n| !n.connected).await;
    assert_eq!(n.last_nack, None, "the oversized NACK was not recorded");
}

#[tokio::test]
async fn a_raised_max_message_bytes_takes_what_the_default_refuses() {
    let limits = Limits { max_message_bytes: 2 * DEFAULT_MAX_MESSAGE_BYTES, ..Limits::default() };
    let (cp, url, _stop, _served) = start_with(limits).await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::try_open(&url, padded_node("dp-big", DEFAULT_MAX_MESSAGE_BYTES), "").await.unwrap();
    s.next().await;
    let big = Report {
        journal: vec![JournalEntry { target: "/".repeat(DEFAULT_MAX_MESSAGE_BYTES), ..Default::default() }],
        ..hits("dp-big", [])
    };
    assert_eq!(report(&url, vec![big]).await.unwrap(), 1);
    // What is kept of it is the size a data plane keeps.
    assert_eq!(cp.reports.journal(ENV, 1)[0].1.target.len(), 256);
}

#[tokio::test]
async fn an_oversized_report_is_refused_naming_the_flag() {
    let limits = Limits { max_message_bytes: 64 << 10, ..Limits::default() };
    let (cp, url, _stop, _served) = start_with(limits).await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let _s = Stream::open(&url, "dp-1", "").await;
    until(&cp, "dp-1", |n| n.connected).await;
    let small = hits("dp-1", ["hello".to_owned()]);
    let big = hits("dp-1", (0..10_000).map(|i| format!("rule-{i}")));
    let e = report(&url, vec![small, big]).await.unwrap_err();
    assert_refused(&e, Code::OutOfRange, &["--max-message-bytes 65536"]);
    assert_eq!(cp.reports.hits(ENV, "hello"), 1, "the reports before it were taken");
}

#[tokio::test]
async fn a_report_for_an_environment_not_served_here_is_refused_naming_those_that_are() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let _s = Stream::open(&url, "dp-1", "").await;
    until(&cp, "dp-1", |n| n.connected).await;
    let elsewhere =
        Report { node: Some(Node { cluster: "shop/prod".into(), ..node("dp-1") }), ..Default::default() };
    let e = report(&url, vec![elsewhere]).await.unwrap_err();
    assert_refused(&e, Code::NotFound, &["\"shop/prod\" is not served", "it serves: shop/staging"]);
    assert_eq!(cp.cache.environments(), [ENV], "nothing was created for it");
}

#[tokio::test]
async fn a_report_with_a_malformed_environment_or_node_id_is_refused_with_the_field() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    for (node, says) in [
        (None, "must carry its node"),
        (
            Some(Node { cluster: "staging".into(), ..node("dp-1") }),
            "report.node.cluster: environment \"staging\" is not of the form project/environment",
        ),
        (Some(Node { cluster: "shop/stag ing".into(), ..node("dp-1") }), "white space"),
        (Some(node("")), "report.node.id: the node id is empty"),
        (Some(node(&"n".repeat(300))), "report.node.id: node id is 300 bytes long, more than 256"),
    ] {
        let e = report(&url, vec![Report { node, ..Default::default() }]).await.unwrap_err();
        assert_refused(&e, Code::InvalidArgument, &[says]);
    }
}

#[tokio::test]
async fn a_report_from_a_node_without_an_xds_stream_is_refused() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let e = report(&url, vec![hits("stranger", ["hello".to_owned()])]).await.unwrap_err();
    assert_refused(&e, Code::FailedPrecondition, &["\"stranger\" has no xDS stream"]);
    assert_eq!(cp.reports.hits(ENV, "hello"), 0);
}

#[tokio::test]
async fn an_ads_stream_for_an_unknown_or_malformed_environment_is_refused_and_creates_nothing() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    for i in 0..20 {
        let typo = Node { cluster: format!("shop/stagin{i}"), ..node("dp-1") };
        let e = Stream::try_open(&url, typo, "").await.err().unwrap();
        assert_refused(
            &e,
            Code::NotFound,
            &[&format!("\"shop/stagin{i}\" is not served"), "it serves: shop/staging"],
        );
    }
    for (bad, says) in [
        (Node { cluster: "a/b/c".into(), ..node("dp-1") }, "not of the form project/environment"),
        (Node { cluster: format!("shop/{}", "e".repeat(300)), ..node("dp-1") }, "more than 256"),
        (node("dp\t1"), "node.id: node id \"dp\\t1\" contains white space"),
    ] {
        let e = Stream::try_open(&url, bad, "").await.err().unwrap();
        assert_refused(&e, Code::InvalidArgument, &[says]);
    }
    assert_eq!(cp.cache.environments(), [ENV]);
    assert!(cp.registry.nodes().is_empty(), "no refused stream was registered");
}

#[tokio::test]
async fn many_nodes_stay_within_max_nodes_the_longest_gone_making_room() {
    let limits = Limits { max_nodes: 3, ..Limits::default() };
    let (cp, url, _stop, _served) = start_with(limits).await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut streams = Vec::new();
    for i in 0..3 {
        let mut s = Stream::open(&url, &format!("dp-{i}"), "").await;
        s.next().await;
        streams.push(s);
    }
    for i in 0..3 {
        until(&cp, &format!("dp-{i}"), |n| n.connected).await;
    }
    assert_eq!(report(&url, vec![hits("dp-0", ["hello".to_owned()])]).await.unwrap(), 1);
    let e = Stream::try_open(&url, node("dp-3"), "").await.err().unwrap();
    assert_refused(
        &e,
        Code::ResourceExhausted,
        &["already tracks 3 data planes, all connected", "--max-nodes"],
    );

    // dp-0 goes: the next new node takes its place, and dp-0's hits stay in the total.
    drop(streams.remove(0));
    until(&cp, "dp-0", |n| !n.connected).await;
    let mut events = cp.registry.subscribe();
    let mut s = Stream::open(&url, "dp-3", "").await;
    s.next().await;
    let ids: Vec<String> = cp.registry.nodes().into_iter().map(|n| n.id).collect();
    assert_eq!(ids, ["dp-1", "dp-2", "dp-3"]);
    let evicted = events.recv().await.unwrap();
    assert_eq!(
        evicted,
        mockplane_controlplane::NodeEvent::Evicted { id: "dp-0".into(), environment: ENV.into() }
    );
    assert_eq!(cp.reports.hits(ENV, "hello"), 1);
    assert!(cp.reports.hits_by_node(ENV, "hello").is_empty());
    // A forgotten node is a stranger to the report service.
    let e = report(&url, vec![hits("dp-0", ["hello".to_owned()])]).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn many_invented_rule_ids_are_counted_but_not_kept() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let _s = Stream::open(&url, "dp-1", "").await;
    until(&cp, "dp-1", |n| n.connected).await;
    let batches: Vec<Report> =
        (0..10).map(|b| hits("dp-1", (0..2_000).map(move |i| format!("invented-{b}-{i}")))).collect();
    assert_eq!(report(&url, batches).await.unwrap(), 10);
    assert_eq!(report(&url, vec![hits("dp-1", ["hello".to_owned()])]).await.unwrap(), 1);
    assert_eq!(cp.reports.rules_counted(ENV), 1, "only the rule the environment has");
    assert_eq!(cp.reports.untracked_hits(ENV), 20_000);
    assert_eq!(cp.reports.hits(ENV, "hello"), 1);
}

#[tokio::test]
async fn a_long_nack_is_kept_cut_to_a_bound() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::open(&url, "dp-1", "").await;
    let r = s.next().await;
    // Under the message limit, over what the registry keeps.
    s.send("", &r.nonce, Some(&"rules[0]: bad\n".repeat(100_000))).await;
    let n = until(&cp, "dp-1", |n| n.last_nack.is_some()).await;
    let error = n.last_nack.unwrap().error;
    assert!(error.len() <= mockplane_controlplane::limits::MAX_NACK_BYTES + 32, "{}", error.len());
    assert!(error.starts_with("rules[0]: bad\n") && error.ends_with("more bytes)"));
}
