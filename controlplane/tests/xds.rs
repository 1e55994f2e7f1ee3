//! The xDS server over real gRPC on loopback, driven by a plain tonic client speaking the
//! protocol by hand: subscribe, ACK, NACK, stale nonces, reconnects, reports.

use std::time::Duration;

use mockplane_controlplane::Limits;
use mockplane_proto::convert::rule_set_from_any;
use mockplane_proto::discovery::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use mockplane_proto::discovery::DiscoveryRequest;
use mockplane_proto::node::Node;
use mockplane_proto::report::report_service_client::ReportServiceClient;
use mockplane_proto::report::{Report, RuleHits};
use mockplane_proto::RULE_SET_TYPE_URL;
use tokio_stream::StreamExt;

mod util;
use util::{node, rules, start, start_with, until, Stream, ENV};

#[tokio::test]
async fn a_subscriber_gets_the_current_version_then_every_new_one_and_its_acks_are_recorded() {
    let (cp, url, _stop) = start().await;
    let v1 = cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::open(&url, "dp-1", "").await;
    let r1 = s.next().await;
    assert_eq!(r1.version_info, v1.version_info);
    assert_eq!(r1.type_url, RULE_SET_TYPE_URL);
    assert_eq!(rule_set_from_any(&r1.resources[0]).unwrap(), rules("one"));
    s.ack(&r1).await;
    until(&cp, "dp-1", |n| n.acked_version.as_deref() == Some(&v1.version_info)).await;

    let v2 = cp.cache.set(ENV, rules("two"), None).unwrap();
    let r2 = s.next().await;
    assert_eq!(r2.version_info, v2.version_info);
    assert_ne!(r2.nonce, r1.nonce, "every response has a fresh nonce");
    s.ack(&r2).await;
    let n = until(&cp, "dp-1", |n| n.acked_version.as_deref() == Some(&v2.version_info)).await;
    assert!(n.connected);
    assert_eq!(n.environment, ENV);
}

#[tokio::test]
async fn a_nack_is_recorded_and_not_answered_with_a_resend() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::open(&url, "dp-1", "").await;
    let r1 = s.next().await;
    s.ack(&r1).await;
    until(&cp, "dp-1", |n| n.acked_version.as_deref() == Some(&r1.version_info)).await;
    cp.cache.set(ENV, rules("two"), None).unwrap();
    let r2 = s.next().await;
    s.send(&r1.version_info, &r2.nonce, Some("rules: 1 more than --max-rules 0")).await;
    let n = until(&cp, "dp-1", |n| n.last_nack.is_some()).await;
    let nack = n.last_nack.unwrap();
    assert_eq!(
        (nack.version.as_str(), nack.error.as_str()),
        (r2.version_info.as_str(), "rules: 1 more than --max-rules 0")
    );
    assert_eq!(n.acked_version.as_deref(), Some(r1.version_info.as_str()), "it still serves the old version");
    s.quiet().await;
    // The next change is pushed as usual.
    let v3 = cp.cache.set(ENV, rules("three"), None).unwrap();
    assert_eq!(s.next().await.version_info, v3.version_info);
}

#[tokio::test]
async fn a_request_with_a_stale_nonce_is_ignored() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::open(&url, "dp-1", "").await;
    let r1 = s.next().await;
    cp.cache.set(ENV, rules("two"), None).unwrap();
    let r2 = s.next().await;
    // A NACK of the first response, sent before the data plane saw the second: stale.
    s.send("", &r1.nonce, Some("stale complaint")).await;
    // An ACK of the second follows; only it counts.
    s.ack(&r2).await;
    let n = until(&cp, "dp-1", |n| n.acked_version.as_deref() == Some(&r2.version_info)).await;
    assert_eq!(n.last_nack, None, "the stale NACK was ignored");
    s.quiet().await;
}

#[tokio::test]
async fn a_data_plane_reconnecting_with_the_current_version_gets_nothing_until_the_next_change() {
    let (cp, url, _stop) = start().await;
    let v1 = cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::open(&url, "dp-1", &v1.version_info).await;
    s.quiet().await;
    let n = until(&cp, "dp-1", |n| n.connected).await;
    assert_eq!(n.acked_version.as_deref(), Some(v1.version_info.as_str()));
    // An out-of-date data plane gets the current version at once.
    let mut old = Stream::open(&url, "dp-2", "0-0000000000000000").await;
    assert_eq!(old.next().await.version_info, v1.version_info);
    let v2 = cp.cache.set(ENV, rules("two"), None).unwrap();
    assert_eq!(s.next().await.version_info, v2.version_info);
}

#[tokio::test]
async fn a_stream_without_a_node_or_environment_is_refused_with_a_reason() {
    let (_cp, url, _stop) = start().await;
    let mut client = AggregatedDiscoveryServiceClient::connect(url).await.unwrap();
    for (node, expect) in [
        (None, "must carry a node"),
        (
            Some(Node { id: "dp".into(), cluster: "staging".into(), ..Default::default() }),
            "project/environment",
        ),
    ] {
        let first = DiscoveryRequest { node, type_url: RULE_SET_TYPE_URL.into(), ..Default::default() };
        let e = client.stream_aggregated_resources(tokio_stream::iter([first])).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains(expect), "{e}");
    }
}

#[tokio::test]
async fn closing_the_stream_marks_the_node_disconnected() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::open(&url, "dp-1", "").await;
    s.next().await;
    until(&cp, "dp-1", |n| n.connected).await;
    drop(s);
    until(&cp, "dp-1", |n| !n.connected).await;
}

#[tokio::test]
async fn reports_add_up_across_nodes() {
    let (cp, url, _stop) = start().await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    // Reports are taken from data planes with an xDS stream.
    let _streams = [Stream::open(&url, "dp-1", "").await, Stream::open(&url, "dp-2", "").await];
    until(&cp, "dp-2", |n| n.connected).await;
    let mut client = ReportServiceClient::connect(url).await.unwrap();
    let report = |id: &str, n| Report {
        node: Some(node(id)),
        hits: vec![RuleHits { rule_id: "hello".into(), count: n }],
        ..Default::default()
    };
    let summary = client
        .stream_reports(tokio_stream::iter([report("dp-1", 2), report("dp-2", 5), report("dp-1", 1)]))
        .await
        .unwrap();
    assert_eq!(summary.into_inner().reports, 3);
    assert_eq!(cp.reports.hits(ENV, "hello"), 8);
}

#[tokio::test]
async fn a_graceful_shutdown_ends_open_streams_instead_of_waiting_for_them() {
    let (cp, url, stop, served) = start_with(Limits::default()).await;
    cp.cache.set(ENV, rules("one"), None).unwrap();
    let mut s = Stream::open(&url, "dp-1", "").await;
    s.next().await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), served).await.expect("the server stops within 3 s").unwrap();
    let end =
        tokio::time::timeout(Duration::from_secs(3), s.responses.next()).await.expect("the stream ends");
    assert!(!matches!(end, Some(Ok(_))), "no more responses after shutdown: {end:?}");
}

#[tokio::test]
async fn a_method_other_than_state_of_the_world_ads_is_unimplemented_and_says_what_is_served() {
    let (_cp, url, _stop) = start().await;
    let channel = tonic::transport::Endpoint::from_shared(url).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources",
    );
    let codec = tonic_prost::ProstCodec::<DiscoveryRequest, DiscoveryRequest>::default();
    let e = grpc.unary(tonic::Request::new(DiscoveryRequest::default()), path, codec).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented);
    assert!(e.message().contains("serves StreamAggregatedResources"), "{e}");
}
