//! How much one call may ask of the GraphQL API, and the defaults.
//!
//! | what | default | when it is over |
//! |---|---|---|
//! | the body of `POST /graphql` | 1 MiB, [`ApiLimits::max_body_bytes`] | `413`, `PAYLOAD_TOO_LARGE`, before the body is read whole |
//! | a WebSocket message | 1 MiB, [`ApiLimits::max_ws_message_bytes`] | the connection is closed with 1009 (message too big) |
//! | query depth (fields nested in fields) | 16, [`ApiLimits::max_depth`] | `400`, `QUERY_TOO_DEEP`, nothing executed |
//! | query complexity (each field counts 1 plus its children, unless the field says otherwise) | 1000, [`ApiLimits::max_complexity`] | `400`, `QUERY_TOO_COMPLEX`, nothing executed |
//! | waiting for `connection_init` | 10 s, [`ApiLimits::connection_init_timeout`] | closed with 4408 |
//!
//! The defaults let GraphiQL's introspection query through (a depth of about 13 and a
//! complexity of a few hundred, whatever the size of the schema, since both are computed on the query, not
//! on the answer). A list field that returns many items should say so to the complexity
//! count, with `#[graphql(complexity = "first * child_complexity")]`.

use std::time::Duration;

/// The bounds of the GraphQL API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// The largest `POST /graphql` body.
    pub max_body_bytes: usize,
    /// The largest WebSocket message (and frame).
    pub max_ws_message_bytes: usize,
    /// The deepest nesting of fields in an operation.
    pub max_depth: usize,
    /// The highest complexity of an operation.
    pub max_complexity: usize,
    /// How long a WebSocket may stay open without `connection_init`.
    pub connection_init_timeout: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_body_bytes: 1 << 20,
            max_ws_message_bytes: 1 << 20,
            max_depth: 16,
            max_complexity: 1000,
            connection_init_timeout: Duration::from_secs(10),
        }
    }
}
