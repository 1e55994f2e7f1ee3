//! `/graphql/ws`: subscriptions over the `graphql-transport-ws` protocol.
//!
//! The first message must be `connection_init` with the API key in its payload (see
//! [`key_from_init_payload`]); this module checks it, then hands the connection to
//! async-graphql's protocol implementation with the caller in the connection's data. Refusals
//! close the socket with the protocol's codes and a reason a client can show:
//!
//! | close code | why |
//! |---|---|
//! | 4400 | the first message is not a `graphql-transport-ws` message, or a message is binary |
//! | 4401 | something other than `connection_init` came first |
//! | 4403 | no API key, or an unknown one (`UNAUTHENTICATED: …`) |
//! | 4408 | no `connection_init` within [`ApiLimits::connection_init_timeout`](super::ApiLimits) |
//! | 1009 | a message over [`ApiLimits::max_ws_message_bytes`](super::ApiLimits) |
//! | 1001 | the server is shutting down |
//! | 1011 | the keys could not be checked (an internal fault) |

use std::sync::Arc;

use async_graphql::http::{
    ClientMessage, WebSocket as GraphQLWebSocket, WebSocketProtocols as Protocols, WsMessage,
};
use async_graphql::{Data, ObjectType, SubscriptionType};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt as _;

use super::auth::{authenticate, key_from_init_payload, Principal};
use super::errors::{ApiError, Code};
use super::health::Outcome;
use super::Shared;

const PROTOCOL: &str = "graphql-transport-ws";

/// `GET /graphql/ws`: upgrades a request that offers `graphql-transport-ws`.
pub(crate) async fn upgrade<Q, M, S>(
    State(shared): State<Arc<Shared<Q, M, S>>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let Ok(ws) = ws else {
        return (
            StatusCode::BAD_REQUEST,
            "this is the GraphQL WebSocket endpoint: open a WebSocket with the graphql-transport-ws subprotocol\n",
        )
            .into_response();
    };
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            "the only subprotocol spoken here is graphql-transport-ws: offer it in Sec-WebSocket-Protocol\n",
        )
            .into_response();
    }
    let limit = shared.api.limits.max_ws_message_bytes;
    ws.protocols([PROTOCOL]).max_message_size(limit).max_frame_size(limit).on_upgrade(
        move |socket| async move {
            shared.api.metrics.ws_opened();
            serve(socket, &shared).await;
            shared.api.metrics.ws_closed();
        },
    )
}

fn close(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes.
    let reason = crate::limits::truncate(reason, 123);
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// What the first message led to.
enum Init {
    /// The caller, and the message to hand on.
    Accepted(Principal, String),
    /// Closed (or to be closed with this message).
    Refused(Option<Message>, Outcome),
}

async fn init<Q, M, S>(socket: &mut WebSocket, shared: &Shared<Q, M, S>) -> Init {
    let first = tokio::time::timeout(shared.api.limits.connection_init_timeout, socket.recv()).await;
    let text = match first {
        Err(_) => {
            return Init::Refused(
                Some(close(4408, "Connection initialisation timeout")),
                Outcome::Error(Code::BadRequest),
            )
        }
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        Ok(Some(Ok(Message::Binary(_)))) => {
            return Init::Refused(
                Some(close(4400, "binary messages are not part of graphql-transport-ws")),
                Outcome::Error(Code::BadRequest),
            )
        }
        Ok(Some(Err(e))) => return Init::Refused(too_big(&e), Outcome::Error(Code::PayloadTooLarge)),
        // Closed, or a ping before anything: the client went away or is not speaking the protocol.
        Ok(_) => return Init::Refused(None, Outcome::Error(Code::BadRequest)),
    };
    let message: serde_json::Value = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(_) => {
            return Init::Refused(
                Some(close(4400, "the message is not JSON")),
                Outcome::Error(Code::BadRequest),
            )
        }
    };
    if message.get("type").and_then(|t| t.as_str()) != Some("connection_init") {
        return Init::Refused(
            Some(close(4401, "Unauthorized: send connection_init with the API key first")),
            Outcome::Error(Code::Unauthenticated),
        );
    }
    let payload = message.get("payload").cloned().unwrap_or_default();
    let result = match key_from_init_payload(&payload) {
        Ok(key) => authenticate(shared.api.keys.as_ref(), key).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(principal) => Init::Accepted(principal, text),
        Err(ApiError::Internal(detail)) => {
            tracing::error!(detail, "GraphQL WebSocket: the API key could not be checked");
            Init::Refused(Some(close(1011, "internal error")), Outcome::Error(Code::Internal))
        }
        Err(e) => {
            Init::Refused(Some(close(4403, &format!("{}: {e}", e.code().as_str()))), Outcome::Error(e.code()))
        }
    }
}

/// The close message for a failed read: 1009 when the message was over the limit. axum
/// hides tungstenite's error type behind its own; its text ("Space limit exceeded: Message
/// too long: 2100 > 1000") is what tells (a test checks the 1009).
fn too_big(e: &axum::Error) -> Option<Message> {
    let text = e.to_string();
    (text.contains("too long") || text.contains("too big") || text.contains("Space limit"))
        .then(|| close(1009, "the message is over this API's limit"))
}

async fn serve<Q, M, S>(mut socket: WebSocket, shared: &Shared<Q, M, S>)
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let (principal, init_message) = match init(&mut socket, shared).await {
        Init::Accepted(p, m) => (p, m),
        Init::Refused(message, outcome) => {
            shared.api.metrics.ws(outcome);
            if let Some(m) = message {
                let _ = socket.send(m).await;
            }
            return;
        }
    };
    shared.api.metrics.ws(Outcome::Ok);

    // async-graphql's side of the protocol reads the client's messages from a channel: the
    // `connection_init` already read goes first, so it sends the `connection_ack`.
    let (to_protocol, from_client) = tokio::sync::mpsc::channel::<String>(16);
    let _ = to_protocol.send(init_message).await;
    let input = ReceiverStream::new(from_client).map(|t| serde_json::from_str::<ClientMessage>(&t));
    let mut data = Data::default();
    data.insert(principal);
    let mut protocol =
        GraphQLWebSocket::from_message_stream(shared.api.schema.clone(), input, Protocols::GraphQLWS)
            .on_connection_init(move |_| async move { Ok(data) });
    let closed = crate::server::closed(shared.closing.clone());
    tokio::pin!(closed);

    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    if to_protocol.send(t.to_string()).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = socket.send(close(4400, "binary messages are not part of graphql-transport-ws")).await;
                    break;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    if let Some(m) = too_big(&e) {
                        let _ = socket.send(m).await;
                    }
                    break;
                }
            },
            outgoing = protocol.next() => match outgoing {
                Some(WsMessage::Text(t)) => {
                    if socket.send(Message::Text(t.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let _ = socket.send(close(code, &reason)).await;
                    break;
                }
                None => break,
            },
            _ = &mut closed => {
                let _ = socket.send(close(1001, "the server is shutting down")).await;
                break;
            }
        }
    }
}
