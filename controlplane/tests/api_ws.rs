//! Subscriptions over `/graphql/ws` with the `graphql-transport-ws` protocol, against a real
//! server on a loopback port, through a real WebSocket client (tokio-tungstenite).

mod api_util;

use std::time::Duration;

use api_util::{call, start, start_with};
use mockplane_controlplane::api::ApiLimits;
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &str) -> Socket {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    use async_graphql::futures_util::SinkExt;
    socket.send(Message::text(message.to_string())).await.unwrap();
}

/// The next message, within 5 s.
async fn next(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message within 5 s")
        .expect("the socket is open")
        .expect("a message, not an error")
}

async fn next_json(socket: &mut Socket) -> Value {
    match next(socket).await {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The close frame the server ends with.
async fn closed(socket: &mut Socket) -> (u16, String) {
    match next(socket).await {
        Message::Close(Some(frame)) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

async fn connect(url: &str, key: &str) -> Socket {
    let mut socket = open(url).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "connection_ack"}));
    socket
}

#[tokio::test]
async fn a_subscription_streams_its_events_and_completes() {
    let s = start().await;
    let mut socket = connect(&s.ws_url, "viewer-key").await;
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { ticks(count: 3) }"}}),
    )
    .await;
    for n in 1..=3 {
        assert_eq!(
            next_json(&mut socket).await,
            json!({"id": "1", "type": "next", "payload": {"data": {"ticks": n}}})
        );
    }
    assert_eq!(next_json(&mut socket).await, json!({"id": "1", "type": "complete"}));
}

#[tokio::test]
async fn a_mutation_over_http_is_seen_by_a_subscriber() {
    let s = start().await;
    let mut socket = connect(&s.ws_url, "viewer-key").await;
    send(
        &mut socket,
        json!({"id": "b", "type": "subscribe", "payload": {"query": "subscription { bumps }"}}),
    )
    .await;
    // The subscription is live once the server has subscribed to the channel.
    for _ in 0..200 {
        if s.counter.changes.receiver_count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, _) = call(&s, Some("editor-key"), "mutation { bump }").await;
    assert_eq!(status, 200);
    assert_eq!(
        next_json(&mut socket).await,
        json!({"id": "b", "type": "next", "payload": {"data": {"bumps": 1}}})
    );
    send(&mut socket, json!({"id": "b", "type": "complete"})).await;
    assert_eq!(next_json(&mut socket).await, json!({"id": "b", "type": "complete"}));
}

#[tokio::test]
async fn a_connection_without_a_valid_key_is_closed_with_4403() {
    let s = start().await;
    for payload in [
        json!(null),
        json!({}),
        json!({"Authorization": "Bearer nope"}),
        json!({"Authorization": "viewer-key"}),
    ] {
        let mut socket = open(&s.ws_url).await;
        send(&mut socket, json!({"type": "connection_init", "payload": payload})).await;
        let (code, reason) = closed(&mut socket).await;
        assert_eq!(code, 4403, "{payload}");
        assert!(reason.starts_with("UNAUTHENTICATED: "), "{reason}");
    }
    // The spellings clients use are accepted.
    for payload in [
        json!({"authorization": "Bearer viewer-key"}),
        json!({"headers": {"Authorization": "Bearer viewer-key"}}),
    ] {
        let mut socket = open(&s.ws_url).await;
        send(&mut socket, json!({"type": "connection_init", "payload": payload})).await;
        assert_eq!(next_json(&mut socket).await["type"], "connection_ack", "{payload}");
    }
}

#[tokio::test]
async fn a_subscribe_before_connection_init_is_closed_with_4401() {
    let s = start().await;
    let mut socket = open(&s.ws_url).await;
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { ticks(count: 1) }"}}),
    )
    .await;
    assert_eq!(closed(&mut socket).await.0, 4401);
}

#[tokio::test]
async fn a_connection_that_never_initialises_is_closed_with_4408() {
    let s = start_with(
        ApiLimits { connection_init_timeout: Duration::from_millis(200), ..ApiLimits::default() },
        None,
    )
    .await;
    let mut socket = open(&s.ws_url).await;
    assert_eq!(closed(&mut socket).await, (4408, "Connection initialisation timeout".to_owned()));
}

#[tokio::test]
async fn a_subscription_field_above_the_keys_role_is_refused() {
    let s = start().await;
    let mut socket = connect(&s.ws_url, "viewer-key").await;
    send(
        &mut socket,
        json!({"id": "a", "type": "subscribe", "payload": {"query": "subscription { auditEvents }"}}),
    )
    .await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{answer}");
    assert_eq!(next_json(&mut socket).await, json!({"id": "a", "type": "complete"}));
    let mut socket = connect(&s.ws_url, "admin-key").await;
    send(
        &mut socket,
        json!({"id": "a", "type": "subscribe", "payload": {"query": "subscription { auditEvents }"}}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["payload"]["data"]["auditEvents"], "created");
}

#[tokio::test]
async fn a_message_over_the_limit_closes_the_connection() {
    let s = start_with(ApiLimits { max_ws_message_bytes: 1000, ..ApiLimits::default() }, None).await;
    let mut socket = connect(&s.ws_url, "viewer-key").await;
    let padding = " ".repeat(2000);
    send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": format!("subscription {{ ticks(count: 1) {padding}}}")}})).await;
    match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("an answer within 5 s") {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size, "{frame:?}"),
        other => panic!("expected a close with 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn shutting_down_closes_open_subscriptions_with_1001() {
    let mut s = start().await;
    let mut socket = connect(&s.ws_url, "viewer-key").await;
    send(
        &mut socket,
        json!({"id": "b", "type": "subscribe", "payload": {"query": "subscription { bumps }"}}),
    )
    .await;
    let _ = s.stop.take().unwrap().send(());
    assert_eq!(closed(&mut socket).await, (1001, "the server is shutting down".to_owned()));
    tokio::time::timeout(Duration::from_secs(5), &mut s.served)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_plain_get_or_another_subprotocol_is_told_what_the_endpoint_speaks() {
    let s = start().await;
    let response = reqwest::get(format!("{}/graphql/ws", s.url)).await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("graphql-transport-ws"));
    let mut request = s.ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-ws".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}
