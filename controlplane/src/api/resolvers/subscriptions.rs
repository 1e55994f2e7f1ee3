//! The subscriptions of the domain: rule changes and data-plane events, as they happen.
//!
//! Each subscriber has its own bounded buffer; one that falls behind is not allowed to hold
//! the control plane back: it gets a `MISSED` event saying how many it lost, then continues
//! (re-read what it cares about with a query).

use async_graphql::futures_util::{Stream, StreamExt};
use async_graphql::{Context, Enum, SimpleObject, Subscription};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::domain;
use super::types::{ChangeInfo, Rule};
use crate::api::errors::ApiError;
use crate::registry::NodeEvent as RegistryEvent;
use crate::service::ServiceEvent;

/// What happened to an environment's rules.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleEventKind {
    /// Rules or settings changed and a new version was pushed.
    Changed,
    /// The environment was created.
    EnvironmentCreated,
    /// The environment was deleted.
    EnvironmentDeleted,
    /// This subscriber fell behind and lost `missed` events.
    Missed,
}

/// A change to an environment's rules.
#[derive(SimpleObject, Debug, Clone)]
pub struct RuleEvent {
    /// What happened.
    pub kind: RuleEventKind,
    /// `project/environment` (null for `MISSED`).
    pub environment: Option<String>,
    /// The mutation (`createRule`, `applyRules(merge)`, …), for `CHANGED`.
    pub action: Option<String>,
    /// Who: the API key's name, for `CHANGED`.
    pub actor: Option<String>,
    /// The version pushed, for `CHANGED`.
    pub change: Option<ChangeInfo>,
    /// The rules created or changed, as they are now.
    pub changed: Vec<Rule>,
    /// The rules deleted, by id.
    pub deleted: Vec<String>,
    /// For `MISSED`: how many events were lost.
    pub missed: i64,
}

impl RuleEvent {
    fn bare(kind: RuleEventKind, environment: Option<String>) -> Self {
        RuleEvent {
            kind,
            environment,
            action: None,
            actor: None,
            change: None,
            changed: vec![],
            deleted: vec![],
            missed: 0,
        }
    }
}

impl From<ServiceEvent> for RuleEvent {
    fn from(e: ServiceEvent) -> Self {
        match e {
            ServiceEvent::RulesChanged { actor, action, change } => RuleEvent {
                kind: RuleEventKind::Changed,
                environment: Some(change.environment.clone()),
                action: Some(action),
                actor: Some(actor),
                change: Some(ChangeInfo::from(&change)),
                changed: change.changed.into_iter().map(Rule).collect(),
                deleted: change.deleted,
                missed: 0,
            },
            ServiceEvent::EnvironmentCreated(env) => {
                RuleEvent::bare(RuleEventKind::EnvironmentCreated, Some(env))
            }
            ServiceEvent::EnvironmentDeleted(env) => {
                RuleEvent::bare(RuleEventKind::EnvironmentDeleted, Some(env))
            }
        }
    }
}

/// What happened to a data plane.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeEventKind {
    /// Its xDS stream opened.
    Connected,
    /// Its stream closed (it keeps serving its last rules).
    Disconnected,
    /// It applied a version.
    Acked,
    /// It refused a version (`error` says why).
    Nacked,
    /// It was forgotten to make room for a new one.
    Evicted,
    /// This subscriber fell behind and lost `missed` events.
    Missed,
}

/// An event of a data plane.
#[derive(SimpleObject, Debug, Clone)]
pub struct NodeEvent {
    /// What happened.
    pub kind: NodeEventKind,
    /// The node (null for `MISSED`).
    pub node: Option<String>,
    /// Its environment, when known.
    pub environment: Option<String>,
    /// The version ACKed or NACKed.
    pub version: Option<String>,
    /// Why it NACKed.
    pub error: Option<String>,
    /// For `MISSED`: how many events were lost.
    pub missed: i64,
}

fn node_event(e: RegistryEvent, environment: Option<String>) -> NodeEvent {
    let bare = |kind, node| NodeEvent {
        kind,
        node: Some(node),
        environment: None,
        version: None,
        error: None,
        missed: 0,
    };
    let event = match e {
        RegistryEvent::Connected { id, environment } => {
            NodeEvent { environment: Some(environment), ..bare(NodeEventKind::Connected, id) }
        }
        RegistryEvent::Disconnected { id } => bare(NodeEventKind::Disconnected, id),
        RegistryEvent::Acked { id, version } => {
            NodeEvent { version: Some(version), ..bare(NodeEventKind::Acked, id) }
        }
        RegistryEvent::Nacked { id, version, error } => {
            NodeEvent { version: Some(version), error: Some(error), ..bare(NodeEventKind::Nacked, id) }
        }
        RegistryEvent::Evicted { id, environment } => {
            NodeEvent { environment: Some(environment), ..bare(NodeEventKind::Evicted, id) }
        }
    };
    NodeEvent { environment: event.environment.clone().or(environment), ..event }
}

/// The events.
#[derive(Default)]
pub struct EventSubscriptions;

#[Subscription]
impl EventSubscriptions {
    /// Every change to rules and environments, or to one environment's (`project/environment`).
    async fn rule_events(
        &self,
        ctx: &Context<'_>,
        environment: Option<String>,
    ) -> Result<impl Stream<Item = RuleEvent>, ApiError> {
        let d = domain(ctx)?;
        let events = BroadcastStream::new(d.service.subscribe()).map(|e| match e {
            Ok(e) => RuleEvent::from(e),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                RuleEvent { missed: n as i64, ..RuleEvent::bare(RuleEventKind::Missed, None) }
            }
        });
        Ok(events.filter(move |e| {
            let keep = environment.is_none()
                || e.kind == RuleEventKind::Missed
                || e.environment.as_deref() == environment.as_deref();
            async move { keep }
        }))
    }

    /// Data planes connecting, disconnecting, applying (ACK) and refusing (NACK) versions, or
    /// those of one environment.
    async fn node_events(
        &self,
        ctx: &Context<'_>,
        environment: Option<String>,
    ) -> Result<impl Stream<Item = NodeEvent>, ApiError> {
        let d = domain(ctx)?;
        let registry = d.control.registry.clone();
        let events = BroadcastStream::new(registry.subscribe()).map(move |e| match e {
            Ok(e) => {
                // Most events name only the node: its environment is in the registry.
                let env = match &e {
                    RegistryEvent::Disconnected { id }
                    | RegistryEvent::Acked { id, .. }
                    | RegistryEvent::Nacked { id, .. } => registry.node(id).map(|n| n.environment),
                    _ => None,
                };
                node_event(e, env)
            }
            Err(BroadcastStreamRecvError::Lagged(n)) => NodeEvent {
                kind: NodeEventKind::Missed,
                node: None,
                environment: None,
                version: None,
                error: None,
                missed: n as i64,
            },
        });
        Ok(events.filter(move |e| {
            let keep = environment.is_none()
                || e.kind == NodeEventKind::Missed
                || e.environment.as_deref() == environment.as_deref();
            async move { keep }
        }))
    }
}
