//! The admin API's domain: projects, environments, rules and their revisions, nodes, API keys,
//! the audit log, `explain`, and the events of all of these. Every change goes through the
//! [`Service`] (validated, stored, pushed); reads come from the store, the snapshot cache and
//! the node registry.
//!
//! [`schema`] builds the served schema with its data; [`StoreKeys`] is how the API checks keys.

mod mutations;
mod pipeline;
mod queries;
mod recording;
mod subscriptions;
mod traffic;
pub mod types;
mod wiremock;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::Context;
use mockplane_rules::RuleTable;

pub use mutations::{EnvironmentMutations, KeyMutations, RuleMutations};
pub use pipeline::PipelineQueries;
pub use queries::{EnvironmentQueries, KeyQueries, NodeQueries, RuleQueries};
pub use recording::RecordingMutations;
pub use subscriptions::EventSubscriptions;
pub use traffic::{TrafficMutations, TrafficQueries, TrafficSubscriptions};
pub use wiremock::WireMockMutations;

use super::auth::{AuthError, Keys, Principal};
use super::errors::ApiError;
use super::limits::ApiLimits;
use super::schema::ApiSchema;
use crate::server::ControlPlane;
use crate::service::{Service, ServiceError};
use crate::store::{Role as StoreRole, Store};

/// What the resolvers read and change.
#[derive(Debug, Clone)]
pub struct Domain {
    /// Where changes go.
    pub service: Service,
    /// The node registry and the reports.
    pub control: ControlPlane,
    /// Per environment, the table `explain` ran on last, with the version it was built from.
    explain_tables: Arc<Mutex<HashMap<String, ExplainTable>>>,
}

/// A compiled table for `explain`, with the xDS version it was compiled from.
type ExplainTable = (String, Arc<RuleTable>);

impl Domain {
    /// The domain over `service`, with `control`'s registry and reports.
    pub fn new(service: Service, control: ControlPlane) -> Self {
        Domain { service, control, explain_tables: Arc::default() }
    }
}

/// The schema the control plane serves: the roots with `domain` as their data, and the API's
/// checks (see [`super::finish_schema`]).
pub fn schema(domain: Domain, limits: &ApiLimits) -> ApiSchema {
    super::finish_schema(super::schema::builder().data(domain), limits)
}

pub(crate) fn domain<'c>(ctx: &Context<'c>) -> Result<&'c Domain, ApiError> {
    ctx.data::<Domain>().map_err(|_| ApiError::internal("the schema was built without its domain data"))
}

/// A refused change, as the API reports it; `input` is where the refused part sits in the
/// mutation's input (`input`, `input.ruleSet`).
pub(crate) fn refused(e: ServiceError, input: &str) -> ApiError {
    match e {
        ServiceError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
        ServiceError::Conflict(what) => ApiError::Conflict(what),
        ServiceError::Invalid(errors) => ApiError::rules_refused(&errors, input),
        ServiceError::Store(e) => ApiError::internal(e),
    }
}

impl From<StoreRole> for super::auth::Role {
    fn from(r: StoreRole) -> Self {
        match r {
            StoreRole::Viewer => super::auth::Role::Viewer,
            StoreRole::Editor => super::auth::Role::Editor,
            StoreRole::Admin => super::auth::Role::Admin,
        }
    }
}

impl From<super::auth::Role> for StoreRole {
    fn from(r: super::auth::Role) -> Self {
        match r {
            super::auth::Role::Viewer => StoreRole::Viewer,
            super::auth::Role::Editor => StoreRole::Editor,
            super::auth::Role::Admin => StoreRole::Admin,
        }
    }
}

/// The store's API keys, for the API's checks.
#[derive(Debug, Clone)]
pub struct StoreKeys(pub Store);

#[async_trait::async_trait]
impl Keys for StoreKeys {
    async fn authenticate(&self, key: &str) -> Result<Principal, AuthError> {
        match self.0.authenticate(key).await {
            Ok(Some(k)) => Ok(Principal { key_name: k.name, role: k.role.into() }),
            Ok(None) => Err(AuthError::UnknownKey),
            Err(e) => Err(AuthError::Unavailable(e.to_string())),
        }
    }
}
