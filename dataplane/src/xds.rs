//! The xDS client: subscribes to the control plane for the environment this data plane serves,
//! and applies each rule-set version it pushes.
//!
//! It runs on its own thread with a tokio current-thread runtime (tonic needs tokio; the
//! workers run monoio and never wait on it). For each response it compiles the rules off the
//! hot path, swaps them in, persists them to the state directory (temp file, fsync, rename),
//! then ACKs; a version that fails to decode, exceeds `--max-rules` or does not compile is
//! NACKed with the error and the old table keeps serving. When the control plane cannot be
//! reached it retries with exponential backoff and jitter, serving what it has: at start, the
//! persisted snapshot. A control plane that refuses this data plane (see [`crate::link`]) is
//! retried the same way, its reason logged as an error and shown by `/readyz`. A second
//! stream reports hit counts and journal entries every interval ([`crate::report`]).
//!
//! A version may carry resets (`RuleSet.resets`, docs/xds.md "Resets"): each is applied once
//! the version is in force, if its epoch is newer than the one the previous version carried.
//! The first version a data plane installs (from its persisted snapshot or from the control
//! plane) only brings the epochs: it has nothing from before them to reset, and a restart
//! never resets again what was reset before it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mockplane_proto::convert::ResetEpochs;
use mockplane_proto::discovery::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use mockplane_proto::discovery::{DiscoveryRequest, DiscoveryResponse};
use mockplane_proto::node::{node::UserAgentVersionType, Node};
use mockplane_proto::{rpc, RULE_SET_TYPE_URL};
use prost::Message;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::failover::Rotation;
use crate::link::{nack_text, with_causes, AbortOnDrop, LinkError};
use crate::snapshot::SnapshotStore;
use crate::stats::SharedStats;

/// The largest message accepted from the control plane (a 100,000-rule set is tens of MB).
const MAX_MESSAGE_BYTES: usize = 512 << 20;

/// The HTTP/2 receive window for the xDS connection.
const RECEIVE_WINDOW: u32 = 16 << 20;

/// How the data plane talks to its control plane.
#[derive(Debug, Clone)]
pub struct XdsClientConfig {
    /// The control plane's xDS URL, `http://host:port`: the first one tried.
    pub control_plane: String,
    /// Further control planes (replicas on the same store), tried in turn when the one in use
    /// goes away ([`crate::failover`]).
    pub failover: Vec<String>,
    /// The environment served, `project/environment`.
    pub environment: String,
    /// This data plane's id (defaults to the host name).
    pub node_id: String,
    /// Where the last good snapshot is kept, so a restart serves without the control plane.
    pub state_dir: Option<PathBuf>,
    /// Rule sets with more rules are refused (NACKed). 0: no limit.
    pub max_rules: usize,
    /// How often hit counts and journal entries are reported.
    pub report_interval: Duration,
    /// The first retry delay after a failure; doubled per failure, with jitter.
    pub backoff_initial: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
}

impl XdsClientConfig {
    /// A configuration with the defaults: 1 s reports, retries from 250 ms up to 10 s, at most
    /// 100,000 rules.
    pub fn new(
        control_plane: impl Into<String>,
        environment: impl Into<String>,
        node_id: impl Into<String>,
    ) -> Self {
        XdsClientConfig {
            control_plane: control_plane.into(),
            failover: Vec::new(),
            environment: environment.into(),
            node_id: node_id.into(),
            state_dir: None,
            max_rules: 100_000,
            report_interval: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
        }
    }

    /// Every control plane, in the order they are tried.
    pub fn control_planes(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.control_plane.as_str()).chain(self.failover.iter().map(String::as_str))
    }

    /// The file the last good snapshot is persisted to.
    pub fn snapshot_path(&self) -> Option<PathBuf> {
        let name: String = self
            .environment
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        self.state_dir.as_ref().map(|d| d.join(format!("snapshot-{name}.pb")))
    }
}

/// What the data plane says of itself in its node metadata.
#[derive(Debug, Clone)]
pub(crate) struct NodeFacts {
    pub workers: usize,
    pub io_driver: String,
}

/// Installs the persisted snapshot, if there is one. Called before the workers start, so a
/// data plane restarted while the control plane is away serves its last good rules at once.
pub(crate) fn restore(config: &XdsClientConfig, store: &SnapshotStore) {
    let Some(path) = config.snapshot_path() else { return };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the persisted snapshot");
            return;
        }
    };
    let source = format!("persisted snapshot {}", path.display());
    match DiscoveryResponse::decode(bytes.as_slice())
        .map_err(|e| e.to_string())
        .and_then(|r| apply(config, store, None, &r, &source))
    {
        Ok(version) => {
            tracing::info!(path = %path.display(), version = %version, "serving the persisted snapshot until the control plane answers")
        }
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "the persisted snapshot cannot be used"),
    }
}

/// Starts the client thread. It stops when `shutdown` is set.
pub(crate) fn spawn(
    config: XdsClientConfig,
    store: SnapshotStore,
    stats: Arc<SharedStats>,
    facts: NodeFacts,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    store.update_link(|l| l.url = config.control_plane.clone());
    std::thread::Builder::new().name("mockplane-xds".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the xDS client runtime; no control plane updates");
                return;
            }
        };
        let client = Client { node: node(&config, &facts), config, store, stats };
        rt.block_on(async {
            tokio::select! {
                _ = client.run() => {}
                _ = wait(&shutdown) => {}
            }
        });
    })
}

async fn wait(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn node(config: &XdsClientConfig, facts: &NodeFacts) -> Node {
    use mockplane_proto::wkt::value::Kind;
    let value = |kind| mockplane_proto::wkt::Value { kind: Some(kind) };
    let fields = [
        ("version".to_owned(), value(Kind::StringValue(env!("CARGO_PKG_VERSION").to_owned()))),
        ("workers".to_owned(), value(Kind::NumberValue(facts.workers as f64))),
        ("io_driver".to_owned(), value(Kind::StringValue(facts.io_driver.clone()))),
    ];
    Node {
        id: config.node_id.clone(),
        cluster: config.environment.clone(),
        metadata: Some(mockplane_proto::wkt::Struct { fields: fields.into_iter().collect() }),
        user_agent_name: "mockplane".into(),
        user_agent_version_type: Some(UserAgentVersionType::UserAgentVersion(
            env!("CARGO_PKG_VERSION").into(),
        )),
    }
}

/// Decodes, checks, compiles and swaps in one response, then applies the resets it carries;
/// returns its version. Only the rules that changed since the version in force are decoded
/// and compiled ([`SnapshotStore::install_resource`]). `stats` is `None` before the workers
/// start (a persisted snapshot being restored).
fn apply(
    config: &XdsClientConfig,
    store: &SnapshotStore,
    stats: Option<&SharedStats>,
    response: &DiscoveryResponse,
    source: &str,
) -> Result<String, String> {
    if response.type_url != RULE_SET_TYPE_URL {
        return Err(format!("expected resources of type {RULE_SET_TYPE_URL}, got {:?}", response.type_url));
    }
    if in_force(store, &response.version_info) {
        // The same version from another control plane (a replica this data plane failed over
        // to): the same content, so the rules, their hit counts and the resets stay as they are.
        return Ok(response.version_info.clone());
    }
    let [resource] = response.resources.as_slice() else {
        return Err(format!("expected exactly one RuleSet resource, got {}", response.resources.len()));
    };
    let before = store.applied_resets();
    store.install_resource(
        resource,
        config.max_rules,
        source.to_owned(),
        Some(response.version_info.clone()),
    )?;
    let after = store.load().map_or_else(ResetEpochs::default, |s| s.resets);
    apply_resets(before, after, store, stats);
    store.note_resets(after);
    Ok(response.version_info.clone())
}

/// Whether `version` is the control-plane version in force. A version string names one content
/// (its serial and a hash of the resource), whichever replica pushes it.
fn in_force(store: &SnapshotStore, version: &str) -> bool {
    store.load().is_some_and(|s| s.config_version.as_deref() == Some(version))
}

/// Applies the resets of a version whose epochs are `after`, where `before` are the newest
/// applied so far (`None`: this is the first version this data plane installs, which only
/// brings them).
fn apply_resets(
    before: Option<ResetEpochs>,
    after: ResetEpochs,
    store: &SnapshotStore,
    stats: Option<&SharedStats>,
) {
    let Some(before) = before else {
        if let Some(stats) = stats {
            stats.adopt_journal_epoch(after.journal);
        }
        return;
    };
    if after.scenarios > before.scenarios {
        store.state().reset();
        tracing::info!(
            epoch = after.scenarios,
            "scenarios, sequences and budgets reset, as the control plane asked"
        );
    }
    if after.journal > before.journal {
        if let Some(stats) = stats {
            stats.reset_journal(after.journal);
        }
        tracing::info!(epoch = after.journal, "journal emptied, as the control plane asked");
    }
}

/// Writes `response` to `path` so that a crash at any point leaves the old file or the new
/// one, never a torn one: temp file, fsync, rename, fsync of the directory.
fn persist(path: &Path, response: &DiscoveryResponse) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("pb.tmp");
    let stored = DiscoveryResponse { nonce: String::new(), ..response.clone() };
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&stored.encode_to_vec())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

struct Client {
    config: XdsClientConfig,
    store: SnapshotStore,
    stats: Arc<SharedStats>,
    node: Node,
}

impl Client {
    async fn run(&self) {
        let urls = self.config.control_planes().map(str::to_owned).collect();
        let mut rotation = Rotation::new(urls, self.config.backoff_initial, self.config.backoff_max);
        loop {
            let control_plane = rotation.current().to_owned();
            self.store.update_link(|l| l.url = control_plane.clone());
            let mut connected = false;
            let outcome = self.session(&control_plane, &mut connected).await;
            let error = match outcome {
                Ok(()) => LinkError::Broken("the control plane closed the stream".to_owned()),
                Err(e) => e,
            };
            self.store.update_link(|l| {
                l.connected = false;
                l.last_error = Some(error.to_string());
            });
            let wait = rotation.next(connected, SmallRng::from_os_rng().random_range(0.5..=1.0));
            let retry_in_ms = wait.as_millis() as u64;
            let next = rotation.current();
            match &error {
                LinkError::Refused(_) => tracing::error!(
                    %control_plane, %error, retry_in_ms, %next,
                    "the control plane refused this data plane; serving the rules in force"
                ),
                _ => tracing::warn!(
                    %control_plane, %error, retry_in_ms, %next,
                    "control plane unreachable; serving the rules in force"
                ),
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn connect(&self, control_plane: &str) -> Result<Channel, LinkError> {
        Endpoint::from_shared(control_plane.to_owned())
            .map_err(|e| LinkError::Unreachable(format!("bad control-plane URL {control_plane:?}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            // HTTP/2's default 64 KB windows would take a round trip per 64 KB of a
            // multi-megabyte rule set.
            .initial_stream_window_size(Some(RECEIVE_WINDOW))
            .initial_connection_window_size(Some(RECEIVE_WINDOW))
            .connect()
            .await
            .map_err(|e| {
                LinkError::Unreachable(format!("cannot connect to {control_plane}: {}", with_causes(&e)))
            })
    }

    /// One stream, until it fails. Sets `connected` once the control plane has accepted it.
    async fn session(&self, control_plane: &str, connected: &mut bool) -> Result<(), LinkError> {
        let channel = self.connect(control_plane).await?;
        let mut ads = AggregatedDiscoveryServiceClient::new(channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let (tx, rx) = mpsc::channel(4);
        let mut applied = self.store.load().and_then(|s| s.config_version.clone()).unwrap_or_default();
        let first = DiscoveryRequest {
            version_info: applied.clone(),
            node: Some(self.node.clone()),
            type_url: RULE_SET_TYPE_URL.into(),
            ..Default::default()
        };
        let closed = || LinkError::Broken("the request stream closed".to_owned());
        tx.send(first).await.map_err(|_| closed())?;
        let mut responses = ads
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .map_err(|s| LinkError::from_status("the xDS stream failed to open", s))?
            .into_inner();
        *connected = true;
        self.store.update_link(|l| {
            l.connected = true;
            l.last_error = None;
            l.last_report_error = None;
        });
        tracing::info!(%control_plane, environment = %self.config.environment, version = %applied, "connected to the control plane");
        let reporter = tokio::spawn(crate::report::report_loop(
            channel,
            self.node.clone(),
            self.stats.clone(),
            self.store.clone(),
            self.config.report_interval,
        ));
        let _stop_reports = AbortOnDrop(reporter);
        let source = format!("control plane {control_plane}");
        loop {
            let response = match responses.message().await {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(status) => return Err(LinkError::from_status("the xDS stream failed", status)),
            };
            let unchanged = in_force(&self.store, &response.version_info);
            let request = match apply(&self.config, &self.store, Some(&self.stats), &response, &source) {
                Ok(version) if unchanged => {
                    tracing::info!(version = %version, "the version in force, again (ACK, nothing swapped)");
                    DiscoveryRequest {
                        version_info: version,
                        type_url: RULE_SET_TYPE_URL.into(),
                        response_nonce: response.nonce,
                        ..Default::default()
                    }
                }
                Ok(version) => {
                    if let Some(path) = self.config.snapshot_path() {
                        if let Err(e) = persist(&path, &response) {
                            tracing::error!(path = %path.display(), error = %e, "cannot persist the snapshot; a restart without the control plane would serve an older one");
                        }
                    }
                    tracing::info!(version = %version, rules = self.store.load().map_or(0, |s| s.table.len()), "new rules in force (ACK)");
                    self.store.update_link(|l| l.last_nack = None);
                    applied = version;
                    DiscoveryRequest {
                        version_info: applied.clone(),
                        type_url: RULE_SET_TYPE_URL.into(),
                        response_nonce: response.nonce,
                        ..Default::default()
                    }
                }
                Err(error) => {
                    tracing::error!(version = %response.version_info, %error, "rules refused (NACK); the previous rules keep serving");
                    self.store
                        .update_link(|l| l.last_nack = Some(format!("{}: {error}", response.version_info)));
                    DiscoveryRequest {
                        version_info: applied.clone(),
                        type_url: RULE_SET_TYPE_URL.into(),
                        response_nonce: response.nonce,
                        // INVALID_ARGUMENT, as Envoy sends for a config it rejects.
                        error_detail: Some(rpc::Status {
                            code: 3,
                            message: nack_text(&error),
                            details: vec![],
                        }),
                        ..Default::default()
                    }
                }
            };
            tx.send(request).await.map_err(|_| closed())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{JournalQuery, Record, RecordHeaders};
    use mockplane_proto::convert::{rule_set_to_any_from_encoded, rule_to_bytes};
    use mockplane_rules::{Format, RuleSet};

    /// A response carrying `body` as the one rule's answer and `resets`.
    fn response(version: &str, body: &str, resets: ResetEpochs) -> DiscoveryResponse {
        let text = format!("rules:\n  - {{ id: a, match: {{ path: /a }}, response: {{ body: {body} }} }}\n");
        let set = RuleSet::parse(&text, Format::Yaml).unwrap();
        let encoded: Vec<Vec<u8>> = set.rules.iter().map(|r| rule_to_bytes(r)).collect();
        let (any, _) = rule_set_to_any_from_encoded(&set, encoded.iter().map(Vec::as_slice), resets);
        DiscoveryResponse {
            version_info: version.into(),
            resources: vec![any],
            type_url: RULE_SET_TYPE_URL.into(),
            ..Default::default()
        }
    }

    fn journal_one(stats: &SharedStats) {
        stats.worker(0).journal.push(&Record {
            at_us: 1,
            status: 200,
            duration_us: 1,
            method: "GET",
            target: "/a",
            rule: "a",
            fault: 0,
            headers: RecordHeaders::NONE,
            body: b"",
            client: None,
        });
    }

    #[test]
    fn resets_apply_once_when_newer_and_never_with_the_first_rules() {
        let store = SnapshotStore::new();
        store.set_workers(1);
        let stats = SharedStats::new(1, 10, store.clone());
        let config = XdsClientConfig::new("http://127.0.0.1:1", "shop/staging", "dp");
        let entries = || stats.journal(&JournalQuery { limit: 100, ..Default::default() }).len();
        let moved = || store.state().scenario_state("flow") == "two";
        let advance = || {
            store.state().set_scenario_state("flow", "two");
            journal_one(&stats);
        };
        let apply = |r: &DiscoveryResponse| apply(&config, &store, Some(&stats), r, "cp").unwrap();
        // The first rules bring epochs: nothing is reset, the journal epoch is adopted.
        advance();
        apply(&response("1", "one", ResetEpochs { scenarios: 5, journal: 5 }));
        assert!(moved() && entries() == 1);
        assert_eq!(stats.journal_epoch(), 5);
        // The same epochs again (an edit, a re-push): nothing.
        apply(&response("2", "two", ResetEpochs { scenarios: 5, journal: 5 }));
        assert!(moved() && entries() == 1);
        // A newer scenario epoch resets scenarios only.
        apply(&response("3", "two", ResetEpochs { scenarios: 6, journal: 5 }));
        assert!(!moved() && entries() == 1);
        // A newer journal epoch empties the journal only.
        advance();
        apply(&response("4", "two", ResetEpochs { scenarios: 6, journal: 9 }));
        assert!(moved() && entries() == 0);
        assert_eq!(stats.journal_epoch(), 9);
        // An older one (a control plane restarted without them) resets nothing, and the
        // newer one coming back after it is not applied twice.
        journal_one(&stats);
        apply(&response("5", "two", ResetEpochs::default()));
        apply(&response("6", "two", ResetEpochs { scenarios: 6, journal: 9 }));
        assert!(moved() && entries() == 1);
        assert_eq!(store.applied_resets(), Some(ResetEpochs { scenarios: 6, journal: 9 }));
    }

    #[test]
    fn the_version_in_force_again_from_another_control_plane_is_not_swapped() {
        let store = SnapshotStore::new();
        store.set_workers(1);
        let config = XdsClientConfig::new("http://127.0.0.1:1", "shop/staging", "dp");
        let one = response("7-abc", "one", ResetEpochs::default());
        assert_eq!(apply(&config, &store, None, &one, "replica a").unwrap(), "7-abc");
        let installed = store.load().unwrap();
        assert_eq!(apply(&config, &store, None, &one, "replica b").unwrap(), "7-abc");
        let after = store.load().unwrap();
        assert!(std::sync::Arc::ptr_eq(&installed, &after), "the same snapshot keeps serving");
        assert_eq!(after.source, "replica a");
        // A new version from the other replica is installed.
        apply(&config, &store, None, &response("8-def", "two", ResetEpochs::default()), "replica b").unwrap();
        let next = store.load().unwrap();
        assert_eq!((next.version, next.source.as_str()), (installed.version + 1, "replica b"));
    }
}
