//! The node registry: every data plane that has opened an xDS stream, what it runs, which
//! version it has ACKed, its last NACK, and when it was last heard from; with an event for
//! each connect, disconnect, ACK and NACK, for the GraphQL API's subscriptions to relay.
//!
//! It holds at most `max_nodes` data planes. Pods come and go with new names, so a bound alone
//! would fill up with the dead: a new node takes the place of the one disconnected the longest
//! (an `Evicted` event tells). Only when every node is connected is a new one refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::limits::{truncate, DEFAULT_MAX_NODES, MAX_NACK_BYTES};

/// What a data plane says of itself in its `Node.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeMetadata {
    /// The mockplane version it runs.
    pub version: Option<String>,
    /// Its worker threads.
    pub workers: Option<u64>,
    /// Its I/O driver (`io_uring (tuned)`, `epoll`, …).
    pub io_driver: Option<String>,
}

/// A NACK: the version a data plane refused, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nack {
    /// The version refused.
    pub version: String,
    /// The data plane's error.
    pub error: String,
    /// When.
    pub at: SystemTime,
}

/// One data plane, as the control plane knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeInfo {
    /// `Node.id`.
    pub id: String,
    /// The environment it serves (`Node.cluster`).
    pub environment: String,
    /// Where its stream comes from.
    pub peer: Option<SocketAddr>,
    /// Whether its stream is open.
    pub connected: bool,
    /// The last version sent to it.
    pub sent_version: Option<String>,
    /// The last version it ACKed (or reported having when it connected).
    pub acked_version: Option<String>,
    /// Its last NACK, cleared by the next ACK.
    pub last_nack: Option<Nack>,
    /// When its current (or last) stream opened.
    pub connected_since: SystemTime,
    /// When it was last heard from (a request or a report).
    pub last_seen: SystemTime,
    /// What it runs.
    pub metadata: NodeMetadata,
    /// Identifies the stream, so that the end of an old stream does not mark a node that has
    /// already reconnected as gone.
    #[serde(skip)]
    stream: u64,
}

/// Something that happened to a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A stream opened.
    Connected {
        /// The node.
        id: String,
        /// Its environment.
        environment: String,
    },
    /// Its stream closed.
    Disconnected {
        /// The node.
        id: String,
    },
    /// It applied a version.
    Acked {
        /// The node.
        id: String,
        /// The version.
        version: String,
    },
    /// It refused a version.
    Nacked {
        /// The node.
        id: String,
        /// The version.
        version: String,
        /// Why.
        error: String,
    },
    /// It was forgotten to make room for a new node, having been disconnected the longest.
    Evicted {
        /// The node.
        id: String,
        /// Its environment.
        environment: String,
    },
}

/// Why a new node was not registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this control plane already tracks {max_nodes} data planes, all connected (--max-nodes)")]
pub struct RegistryFull {
    /// The bound.
    pub max_nodes: usize,
}

/// The nodes seen since the control plane started, up to a bound.
#[derive(Debug)]
pub struct NodeRegistry {
    nodes: Mutex<BTreeMap<String, NodeInfo>>,
    events: broadcast::Sender<NodeEvent>,
    max_nodes: usize,
    /// ACKs and NACKs since the start, for `/metrics`.
    acks: AtomicU64,
    nacks: AtomicU64,
}

impl Default for NodeRegistry {
    fn default() -> Self {
        NodeRegistry::with_max_nodes(DEFAULT_MAX_NODES)
    }
}

impl NodeRegistry {
    /// An empty registry holding up to [`DEFAULT_MAX_NODES`].
    pub fn new() -> Self {
        NodeRegistry::default()
    }

    /// An empty registry holding up to `max_nodes` (at least 1).
    pub fn with_max_nodes(max_nodes: usize) -> Self {
        NodeRegistry {
            nodes: Mutex::default(),
            events: broadcast::channel(1024).0,
            max_nodes: max_nodes.max(1),
            acks: AtomicU64::new(0),
            nacks: AtomicU64::new(0),
        }
    }

    /// How many nodes it holds at most.
    pub fn max_nodes(&self) -> usize {
        self.max_nodes
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, NodeInfo>) -> R) -> R {
        f(&mut self.nodes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn emit(&self, event: NodeEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// ACKs received since the start (a reconnecting node's version counts as one).
    pub fn acks_total(&self) -> u64 {
        self.acks.load(Ordering::Relaxed)
    }

    /// NACKs received since the start.
    pub fn nacks_total(&self) -> u64 {
        self.nacks.load(Ordering::Relaxed)
    }

    /// Events from now on. A subscriber that falls more than 1024 events behind is told so
    /// (`RecvError::Lagged`) and should re-read [`NodeRegistry::nodes`].
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Every node, by id.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.with(|n| n.values().cloned().collect())
    }

    /// One node.
    pub fn node(&self, id: &str) -> Option<NodeInfo> {
        self.with(|n| n.get(id).cloned())
    }

    /// The nodes serving `environment`.
    pub fn nodes_in(&self, environment: &str) -> Vec<NodeInfo> {
        self.with(|n| n.values().filter(|i| i.environment == environment).cloned().collect())
    }

    /// Records a new stream of `id`. A node not seen before may take the place of the one
    /// disconnected the longest, which is returned; when every node is connected it is refused.
    pub(crate) fn connected(
        &self,
        stream: u64,
        id: &str,
        environment: &str,
        peer: Option<SocketAddr>,
        metadata: NodeMetadata,
    ) -> Result<Option<NodeInfo>, RegistryFull> {
        let now = SystemTime::now();
        let evicted = self.with(|nodes| {
            let mut evicted = None;
            if !nodes.contains_key(id) && nodes.len() >= self.max_nodes {
                // A scan, only when full and a new node comes: cheaper than keeping an order
                // that every request of every node would update.
                let oldest = nodes
                    .values()
                    .filter(|n| !n.connected)
                    .min_by_key(|n| n.last_seen)
                    .map(|n| n.id.clone())
                    .ok_or(RegistryFull { max_nodes: self.max_nodes })?;
                evicted = nodes.remove(&oldest);
            }
            let entry = nodes.entry(id.to_owned()).or_insert_with(|| NodeInfo {
                id: id.to_owned(),
                environment: environment.to_owned(),
                peer,
                connected: true,
                sent_version: None,
                acked_version: None,
                last_nack: None,
                connected_since: now,
                last_seen: now,
                metadata: metadata.clone(),
                stream,
            });
            entry.environment = environment.to_owned();
            entry.peer = peer;
            entry.connected = true;
            entry.connected_since = now;
            entry.last_seen = now;
            entry.metadata = metadata;
            entry.stream = stream;
            entry.sent_version = None;
            Ok(evicted)
        })?;
        if let Some(gone) = &evicted {
            self.emit(NodeEvent::Evicted { id: gone.id.clone(), environment: gone.environment.clone() });
        }
        self.emit(NodeEvent::Connected { id: id.to_owned(), environment: environment.to_owned() });
        Ok(evicted)
    }

    pub(crate) fn disconnected(&self, stream: u64, id: &str) {
        let gone = self.with(|nodes| match nodes.get_mut(id) {
            Some(n) if n.stream == stream => {
                n.connected = false;
                n.last_seen = SystemTime::now();
                true
            }
            _ => false,
        });
        if gone {
            self.emit(NodeEvent::Disconnected { id: id.to_owned() });
        }
    }

    pub(crate) fn sent(&self, id: &str, version: &str) {
        self.with(|nodes| {
            if let Some(n) = nodes.get_mut(id) {
                n.sent_version = Some(version.to_owned());
            }
        });
    }

    /// Records that a node has `version`: an ACK, or the version it reconnected with.
    pub(crate) fn acked(&self, id: &str, version: &str) {
        self.acks.fetch_add(1, Ordering::Relaxed);
        self.with(|nodes| {
            if let Some(n) = nodes.get_mut(id) {
                n.acked_version = Some(version.to_owned());
                n.last_nack = None;
                n.last_seen = SystemTime::now();
            }
        });
        self.emit(NodeEvent::Acked { id: id.to_owned(), version: version.to_owned() });
    }

    /// Records a NACK; an error text over [`MAX_NACK_BYTES`] is cut, saying so.
    pub(crate) fn nacked(&self, id: &str, version: &str, error: &str) {
        self.nacks.fetch_add(1, Ordering::Relaxed);
        let cut;
        let error = if error.len() > MAX_NACK_BYTES {
            let kept = truncate(error, MAX_NACK_BYTES);
            cut = format!("{kept}… ({} more bytes)", error.len() - kept.len());
            cut.as_str()
        } else {
            error
        };
        let now = SystemTime::now();
        self.with(|nodes| {
            if let Some(n) = nodes.get_mut(id) {
                n.last_nack = Some(Nack { version: version.to_owned(), error: error.to_owned(), at: now });
                n.last_seen = now;
            }
        });
        self.emit(NodeEvent::Nacked {
            id: id.to_owned(),
            version: version.to_owned(),
            error: error.to_owned(),
        });
    }

    pub(crate) fn seen(&self, id: &str) {
        self.with(|nodes| {
            if let Some(n) = nodes.get_mut(id) {
                n.last_seen = SystemTime::now();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_an_old_stream_does_not_disconnect_a_reconnected_node() {
        let r = NodeRegistry::new();
        r.connected(1, "dp-1", "shop/staging", None, NodeMetadata::default()).unwrap();
        r.connected(2, "dp-1", "shop/staging", None, NodeMetadata::default()).unwrap();
        r.disconnected(1, "dp-1");
        assert!(r.node("dp-1").unwrap().connected);
        r.disconnected(2, "dp-1");
        assert!(!r.node("dp-1").unwrap().connected);
    }

    #[test]
    fn an_ack_clears_the_last_nack_and_events_tell_both() {
        let r = NodeRegistry::new();
        let mut events = r.subscribe();
        r.connected(1, "dp-1", "shop/staging", None, NodeMetadata::default()).unwrap();
        r.nacked("dp-1", "2-aa", "rules[0]: bad");
        assert_eq!(r.node("dp-1").unwrap().last_nack.unwrap().error, "rules[0]: bad");
        r.acked("dp-1", "3-bb");
        let n = r.node("dp-1").unwrap();
        assert_eq!((n.acked_version.as_deref(), n.last_nack), (Some("3-bb"), None));
        let kinds: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert!(matches!(
            kinds[..],
            [NodeEvent::Connected { .. }, NodeEvent::Nacked { .. }, NodeEvent::Acked { .. }]
        ));
    }

    #[test]
    fn a_full_registry_forgets_the_node_disconnected_the_longest_and_refuses_when_all_are_connected() {
        let r = NodeRegistry::with_max_nodes(2);
        let meta = NodeMetadata::default;
        r.connected(1, "a", "shop/staging", None, meta()).unwrap();
        r.connected(2, "b", "shop/staging", None, meta()).unwrap();
        assert_eq!(r.connected(3, "c", "shop/staging", None, meta()), Err(RegistryFull { max_nodes: 2 }));
        assert!(r.node("c").is_none());
        r.disconnected(2, "b");
        std::thread::sleep(std::time::Duration::from_millis(2));
        r.disconnected(1, "a");
        // b left first: it goes.
        let evicted = r.connected(3, "c", "shop/staging", None, meta()).unwrap();
        assert_eq!(evicted.map(|n| n.id), Some("b".to_owned()));
        assert_eq!(r.nodes().iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        // A known node reconnecting takes no one's place.
        assert_eq!(r.connected(4, "a", "shop/staging", None, meta()), Ok(None));
    }

    #[test]
    fn a_long_nack_is_cut_and_says_so() {
        let r = NodeRegistry::new();
        r.connected(1, "dp-1", "shop/staging", None, NodeMetadata::default()).unwrap();
        r.nacked("dp-1", "2-aa", &"e".repeat(MAX_NACK_BYTES + 10));
        let error = r.node("dp-1").unwrap().last_nack.unwrap().error;
        assert!(error.ends_with("… (10 more bytes)"), "{}", &error[error.len() - 40..]);
        assert!(error.len() < MAX_NACK_BYTES + 32);
    }
}
