//! `/healthz` (the process answers), `/readyz` (it can do its job: the readiness check the
//! service installs, e.g. the store is open and the xDS server is serving) and `/metrics`
//! (Prometheus text: what the control plane knows of its environments, data planes and
//! reports, and how the GraphQL API's calls ended).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::server::ControlPlane;

use super::errors::Code;

/// Whether the control plane can do its job; `Err` says why not (shown by `/readyz`).
pub type Readiness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A readiness check that always passes.
pub fn always_ready() -> Readiness {
    Arc::new(|| Ok(()))
}

/// How a GraphQL call ended, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No error.
    Ok,
    /// The code of its first error.
    Error(Code),
}

impl Outcome {
    fn label(self) -> String {
        match self {
            Outcome::Ok => "ok".to_owned(),
            Outcome::Error(code) => code.as_str().to_ascii_lowercase(),
        }
    }

    fn index(self) -> usize {
        match self {
            Outcome::Ok => 0,
            Outcome::Error(code) => 1 + Code::ALL.iter().position(|c| *c == code).unwrap_or(0),
        }
    }
}

const OUTCOMES: usize = 1 + Code::ALL.len();

/// The GraphQL API's counters.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    http: [AtomicU64; OUTCOMES],
    ws: [AtomicU64; OUTCOMES],
    ws_open: AtomicU64,
}

impl ApiMetrics {
    /// Counts an HTTP call.
    pub fn http(&self, outcome: Outcome) {
        self.http[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a WebSocket connection's handshake (`Ok`: accepted).
    pub fn ws(&self, outcome: Outcome) {
        self.ws[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ws_opened(&self) {
        self.ws_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ws_closed(&self) {
        self.ws_open.fetch_sub(1, Ordering::Relaxed);
    }

    fn outcomes() -> impl Iterator<Item = Outcome> {
        std::iter::once(Outcome::Ok).chain(Code::ALL.into_iter().map(Outcome::Error))
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text format wants.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes metric families in the Prometheus text format.
#[derive(Default)]
struct Page(String);

impl Page {
    /// One family: its header, then its samples (`labels` is `{a="b"}` or empty).
    fn family(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl IntoIterator<Item = (String, u64)>,
    ) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.0, "{name}{labels} {value}");
        }
    }
}

/// The `/metrics` page.
pub fn render(control: &ControlPlane, api: &ApiMetrics) -> String {
    let mut page = Page::default();
    let nodes = control.registry.nodes();
    let envs: Vec<_> =
        control.cache.environments().into_iter().filter_map(|e| control.cache.get(&e)).collect();
    let by_env = |f: &dyn Fn(&crate::cache::EnvSnapshot) -> u64| -> Vec<(String, u64)> {
        envs.iter().map(|s| (format!("{{environment=\"{}\"}}", label(&s.environment)), f(s))).collect()
    };

    page.family(
        "mockplane_cp_environments",
        "gauge",
        "Environments with a rule set in force.",
        [(String::new(), envs.len() as u64)],
    );
    page.family(
        "mockplane_cp_environment_version",
        "gauge",
        "The serial of the rule-set version in force (the number before the dash of version_info).",
        by_env(&|s| s.serial),
    );
    page.family(
        "mockplane_cp_environment_rules",
        "gauge",
        "Rules in the version in force.",
        by_env(&|s| s.rules.rules.len() as u64),
    );
    page.family(
        "mockplane_cp_environment_nodes_current",
        "gauge",
        "Connected data planes of the environment that have ACKed the version in force.",
        by_env(&|s| {
            let current = |n: &&crate::registry::NodeInfo| {
                n.connected
                    && n.environment == s.environment
                    && n.acked_version.as_deref() == Some(&s.version_info)
            };
            nodes.iter().filter(current).count() as u64
        }),
    );
    page.family(
        "mockplane_cp_environment_misses_total",
        "counter",
        "Requests no rule answered, as the data planes reported them.",
        by_env(&|s| control.reports.misses(&s.environment)),
    );
    let connected = nodes.iter().filter(|n| n.connected).count() as u64;
    page.family(
        "mockplane_cp_nodes",
        "gauge",
        "Data planes the registry holds, by whether their stream is open.",
        [
            ("{state=\"connected\"}".into(), connected),
            ("{state=\"disconnected\"}".into(), nodes.len() as u64 - connected),
        ],
    );
    page.family(
        "mockplane_cp_acks_total",
        "counter",
        "ACKs of pushed versions.",
        [(String::new(), control.registry.acks_total())],
    );
    page.family(
        "mockplane_cp_nacks_total",
        "counter",
        "NACKs of pushed versions (a data plane refused one).",
        [(String::new(), control.registry.nacks_total())],
    );
    page.family(
        "mockplane_cp_reports_total",
        "counter",
        "Reports taken from data planes.",
        [(String::new(), control.reports.reports_total())],
    );
    let by_outcome = |counters: &[AtomicU64; OUTCOMES]| -> Vec<(String, u64)> {
        ApiMetrics::outcomes()
            .map(|o| (format!("{{outcome=\"{}\"}}", o.label()), counters[o.index()].load(Ordering::Relaxed)))
            .collect()
    };
    page.family(
        "mockplane_cp_graphql_requests_total",
        "counter",
        "GraphQL calls over HTTP, by outcome (ok, or the lowercased code of the first error).",
        by_outcome(&api.http),
    );
    page.family(
        "mockplane_cp_graphql_ws_connections_total",
        "counter",
        "GraphQL WebSocket connections, by the outcome of their connection_init.",
        by_outcome(&api.ws),
    );
    page.family(
        "mockplane_cp_graphql_ws_open",
        "gauge",
        "GraphQL WebSocket connections open now.",
        [(String::new(), api.ws_open.load(Ordering::Relaxed))],
    );
    page.0
}
