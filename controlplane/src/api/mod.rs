//! The control plane's HTTP side: the GraphQL admin API (`POST /graphql`, subscriptions on
//! `/graphql/ws` with the `graphql-transport-ws` protocol), GraphiQL (`GET /graphql`, its
//! assets served from the binary), and `/healthz`, `/readyz`, `/metrics`.
//!
//! What a call goes through, HTTP or WebSocket, before a resolver runs:
//! 1. its API key ([`auth`]): `Authorization: Bearer <key>`, or the `connection_init`
//!    payload; none or an unknown one is refused with `UNAUTHENTICATED`;
//! 2. its size ([`limits`]): the body or WebSocket message, then the depth and complexity of
//!    the operation;
//! 3. its role ([`roles`]): every field the operation selects, checked against the key's role
//!    before anything executes, so a refused call changes nothing.
//!
//! Every error has one shape ([`errors`]): a GraphQL error with `extensions.code`.
//!
//! # Extension points
//! - **Resolvers**: add query, mutation and subscription objects to the roots in [`schema`]
//!   (`Query`, `Mutation`, `Subscription` are `MergedObject`s: add a member, touch nothing
//!   else). Resolvers return `Result<_, ApiError>`; read the caller with [`principal`]
//!   (its `key_name` goes into revisions and the audit log).
//! - **Roles**: a field that needs more than the default (`VIEWER` for queries and
//!   subscriptions, `EDITOR` for mutations) says so with
//!   `#[graphql(directive = requires_role::apply(Role::Admin))]`; [`require`] is there for a
//!   need that depends on the arguments.
//! - **Keys**: the store implements [`Keys`].
//! - **Readiness**: the service passes a [`Readiness`] check (store open, xDS serving).
//! - **Serving**: [`serve_api`] with an [`Api`], or [`router`] to mount more routes.
//!
//! docs/graphql.md is the user's side of all this; docs/graphql.sdl is the schema, checked
//! against the code by a test (`UPDATE_SDL=1` rewrites it).

pub mod auth;
pub mod errors;
mod graphiql;
pub mod health;
mod http;
pub mod limits;
mod policy;
pub mod roles;
pub mod schema;
mod ws;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use async_graphql::{ObjectType, Schema, SchemaBuilder, SubscriptionType};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{principal, require, AuthError, Keys, Principal, Role, UnknownRole};
pub use errors::{ApiError, Code, Problem};
pub use health::{always_ready, ApiMetrics, Readiness};
pub use limits::ApiLimits;
pub use roles::requires_role;

use crate::server::ControlPlane;

/// Finishes a schema with the API's checks (caller, role, depth, complexity, error codes):
/// every schema served by [`serve_api`] must be built by this. `builder` may carry data the
/// resolvers need (`Schema::build(q, m, s).data(store)`).
pub fn finish_schema<Q, M, S>(builder: SchemaBuilder<Q, M, S>, limits: &ApiLimits) -> Schema<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let roles = Arc::new(OnceLock::new());
    let schema = builder
        .extension(policy::Policy { limits: *limits, roles: roles.clone() })
        // The parser's own bound on nesting (selection sets and fragments count too): kept
        // above `max_depth` so that the depth check, which names the limit, speaks first.
        .limit_recursive_depth(limits.max_depth.saturating_mul(2).max(32))
        .limit_directives(32)
        .finish();
    let _ = roles.set(roles::RoleTable::from_sdl(&schema.sdl()));
    schema
}

/// What [`serve_api`] serves.
pub struct Api<Q, M, S> {
    /// Built by [`finish_schema`].
    pub schema: Schema<Q, M, S>,
    /// Who may call.
    pub keys: Arc<dyn Keys>,
    /// For `/metrics`.
    pub control: ControlPlane,
    /// The same limits the schema was finished with.
    pub limits: ApiLimits,
    /// For `/readyz`.
    pub readiness: Readiness,
    /// The API's counters, shared with whoever else wants to read them.
    pub metrics: Arc<ApiMetrics>,
}

impl<Q, M, S> Api<Q, M, S> {
    /// An API always ready, with fresh counters.
    pub fn new(
        schema: Schema<Q, M, S>,
        keys: Arc<dyn Keys>,
        control: ControlPlane,
        limits: ApiLimits,
    ) -> Self {
        Api { schema, keys, control, limits, readiness: always_ready(), metrics: Arc::default() }
    }

    /// With a readiness check.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }
}

/// What the handlers share.
pub(crate) struct Shared<Q, M, S> {
    pub(crate) api: Api<Q, M, S>,
    /// Turns true when the server shuts down: WebSockets close with 1001.
    pub(crate) closing: watch::Receiver<bool>,
}

/// The routes: `/graphql` (GET: GraphiQL; POST: GraphQL), `/graphql/ws`,
/// `/graphql/assets/{file}`, `/healthz`, `/readyz`, `/metrics`. WebSockets close when
/// `closing` turns true.
pub fn router<Q, M, S>(api: Api<Q, M, S>, closing: watch::Receiver<bool>) -> Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let shared = Arc::new(Shared { api, closing });
    Router::new()
        .route("/graphql", get(graphiql::page).post(http::graphql::<Q, M, S>))
        .route("/graphql/ws", get(ws::upgrade::<Q, M, S>))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz::<Q, M, S>))
        .route("/metrics", get(http::metrics::<Q, M, S>))
        .with_state(shared)
}

/// Serves the API on `listener` until `shutdown` completes; then open WebSockets are closed
/// (1001, going away) and calls in flight finish.
pub async fn serve_api<Q, M, S>(
    listener: TcpListener,
    api: Api<Q, M, S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    use axum::serve::ListenerExt as _;
    let (closing, closed) = watch::channel(false);
    let app = router(api, closed);
    // Small answers to small requests: without TCP_NODELAY, Nagle and delayed ACKs add
    // tens of milliseconds to a subscription's events.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = closing.send(true);
        })
        .await
}
