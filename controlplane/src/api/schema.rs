//! The admin API's schema: its roots, and the fields the API itself provides.
//!
//! The roots are `MergedObject`s: a group of resolvers (`ProjectQueries`, `RuleMutations`,
//! `NodeSubscriptions`, …) joins the API by becoming a member here; nothing else changes.
//! The SDL is checked into docs/graphql.sdl; the `sdl` test fails when it drifts
//! (`UPDATE_SDL=1 cargo test -p mockplane-controlplane --test graphql_sdl` rewrites it).

use async_graphql::{Context, MergedObject, MergedSubscription, Object, Schema, SchemaBuilder, SimpleObject};

use super::auth::{principal, Role};
use super::errors::ApiError;
use super::limits::ApiLimits;
use super::resolvers::{
    EnvironmentMutations, EnvironmentQueries, EventSubscriptions, KeyMutations, KeyQueries, NodeQueries,
    PipelineQueries, RecordingMutations, RuleMutations, RuleQueries, TrafficMutations, TrafficQueries,
    TrafficSubscriptions, WireMockMutations,
};

/// The query root.
#[derive(MergedObject, Default)]
pub struct Query(
    ServiceQuery,
    EnvironmentQueries,
    RuleQueries,
    PipelineQueries,
    NodeQueries,
    TrafficQueries,
    KeyQueries,
);

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct Mutation(
    EnvironmentMutations,
    RuleMutations,
    TrafficMutations,
    RecordingMutations,
    KeyMutations,
    WireMockMutations,
);

/// The subscription root.
#[derive(MergedSubscription, Default)]
pub struct Subscription(EventSubscriptions, TrafficSubscriptions);

/// The admin API's schema.
pub type ApiSchema = Schema<Query, Mutation, Subscription>;

/// The roots, for the service to add its data to (`.data(store)`) before [`super::finish_schema`].
pub fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
}

/// The schema with nothing but the roots: what docs/graphql.sdl describes.
pub fn schema(limits: &ApiLimits) -> ApiSchema {
    super::finish_schema(builder(), limits)
}

/// The caller, as the API sees it.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct Whoami {
    /// The name of the API key the call presented (recorded with every change it makes).
    pub key_name: String,
    /// What the key may do.
    pub role: Role,
}

/// Fields of the API itself.
#[derive(Default)]
pub struct ServiceQuery;

#[Object]
impl ServiceQuery {
    /// The API key this call presented, and its role: a cheap way to check a key.
    async fn whoami(&self, ctx: &Context<'_>) -> Result<Whoami, ApiError> {
        let p = principal(ctx)?;
        Ok(Whoami { key_name: p.key_name.clone(), role: p.role })
    }

    /// The version of mockplane serving this API.
    async fn server_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
