//! `POST /graphql`, and the plain endpoints: the key is checked before the body is read, the
//! body is read up to its limit, and the answer's HTTP status tells a call refused before it
//! ran (see [`Code::http_status`]).

use std::sync::Arc;

use async_graphql::{ObjectType, SubscriptionType};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio_stream::StreamExt as _;

use super::auth::{authenticate, key_from_authorization, Principal};
use super::errors::{code_of, server_error, ApiError, Code};
use super::health::{render, Outcome};
use super::policy::refusal;
use super::Shared;

/// A GraphQL answer as JSON, with the status its errors call for.
fn answer(response: &async_graphql::Response) -> (Response, Outcome) {
    let code = response.errors.first().and_then(code_of);
    let outcome = match (response.errors.is_empty(), code) {
        (true, _) => Outcome::Ok,
        (false, Some(code)) => Outcome::Error(code),
        (false, None) => Outcome::Error(Code::Internal),
    };
    // A status other than 200 only for a call refused before anything ran: with data, the
    // errors belong to fields and the call as a whole went through.
    let status = match (code, &response.data) {
        (Some(code), async_graphql::Value::Null) => code.http_status(),
        _ => 200,
    };
    let body = serde_json::to_vec(response).unwrap_or_else(|e| {
        tracing::error!(error = %e, "GraphQL answer not serializable");
        br#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.to_vec()
    });
    let mut http = Response::new(Body::from(body));
    *http.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    http.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if code == Some(Code::Unauthenticated) {
        http.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    (http, outcome)
}

fn refused(err: ApiError) -> (Response, Outcome) {
    answer(&refusal(&err))
}

/// Refused by the transport with a code no resolver uses.
fn refused_with(code: Code, message: String) -> (Response, Outcome) {
    answer(&async_graphql::Response::from_errors(vec![server_error(code, message)]))
}

/// The caller of an HTTP call, from its `Authorization` header.
async fn caller<Q, M, S>(shared: &Shared<Q, M, S>, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthenticated(
            "no API key: send the header `Authorization: Bearer <API key>`".to_owned(),
        ));
    };
    let value = value.to_str().map_err(|_| {
        ApiError::Unauthenticated("the Authorization header is not printable ASCII".to_owned())
    })?;
    let key = key_from_authorization(value)?;
    authenticate(shared.api.keys.as_ref(), key).await
}

/// Why a body was not read.
enum BodyError {
    /// Over the limit (by its `Content-Length`, or by what arrived).
    TooLarge,
    /// The connection failed while reading it.
    Unreadable(String),
}

/// The body, unless it is over `limit` bytes: told by `Content-Length` before reading, or as
/// soon as what arrived passes the limit, never after reading it whole.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(declared.map_or(4096, |n| n as usize));
    let mut frames = body.into_data_stream();
    while let Some(chunk) = frames.next().await {
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `POST /graphql`.
pub(crate) async fn graphql<Q, M, S>(
    State(shared): State<Arc<Shared<Q, M, S>>>,
    headers: HeaderMap,
    body: Body,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let (response, outcome) = run(&shared, &headers, body).await;
    shared.api.metrics.http(outcome);
    response
}

async fn run<Q, M, S>(shared: &Shared<Q, M, S>, headers: &HeaderMap, body: Body) -> (Response, Outcome)
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let principal = match caller(shared, headers).await {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let limit = shared.api.limits.max_body_bytes;
    let bytes = match read_body(body, headers, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let message = format!("the request body is over {limit} bytes, this API's limit");
            return refused_with(Code::PayloadTooLarge, message);
        }
        Err(BodyError::Unreadable(e)) => {
            return refused_with(Code::BadRequest, format!("the request body could not be read: {e}"));
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let message = format!(
                "the body must be a GraphQL request in JSON, {{\"query\": \"…\", \"variables\": {{…}}}}: {e}"
            );
            return refused_with(Code::BadRequest, message);
        }
    };
    answer(&shared.api.schema.execute(request.data(principal)).await)
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 when the readiness check passes, 503 with its reason otherwise.
pub(crate) async fn readyz<Q, M, S>(State(shared): State<Arc<Shared<Q, M, S>>>) -> Response {
    match (shared.api.readiness)() {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

/// `GET /metrics`, in Prometheus text.
pub(crate) async fn metrics<Q, M, S>(State(shared): State<Arc<Shared<Q, M, S>>>) -> Response {
    let page = render(&shared.api.control, &shared.api.metrics);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], page).into_response()
}
