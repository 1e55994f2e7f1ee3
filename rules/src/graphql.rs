//! GraphQL request matching (stub: to be written).

/// The GraphQL operation of a request.
#[derive(Debug)]
pub struct GraphqlRequest {}
