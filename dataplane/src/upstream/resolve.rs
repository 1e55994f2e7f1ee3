//! DNS names of upstream endpoints, resolved off the request path: when a rule set is
//! installed (on the thread that installs it), and again every [`REFRESH`] on a thread of
//! their own. A worker opening a connection only reads the last answer.
//!
//! The answers are kept per process, by `(name, port)`, and shared by every data plane in it
//! (tests start several): a name is resolved once however many tables name it. Names are never
//! forgotten; there are as many as the rule sets ever named.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock, RwLock};
use std::time::Duration;

use mockplane_rules::RuleTable;

/// How often every known name is resolved again.
pub const REFRESH: Duration = Duration::from_secs(30);

/// A name's addresses, and which one the next connection starts at.
pub(crate) struct Addresses {
    pub(crate) addrs: Vec<SocketAddr>,
    next: AtomicUsize,
}

#[derive(Default)]
struct Names {
    /// `(name, port)` → its addresses (empty while it does not resolve), and which one the
    /// next connection takes.
    answers: RwLock<HashMap<(String, u16), Arc<Addresses>>>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(Names::default)
}

/// Resolves the names `table`'s upstreams use that are not known yet, and starts the refresh
/// thread once. Called where a table is installed, never on a worker.
pub(crate) fn prepare(table: &RuleTable) {
    let mut new = Vec::new();
    {
        let known = names().answers.read().unwrap_or_else(|e| e.into_inner());
        for cluster in table.upstreams().values().chain(table.forward_clusters()) {
            for e in &cluster.endpoints {
                if e.ip().is_none() && !known.contains_key(&(e.host.to_string(), e.port)) {
                    new.push((e.host.to_string(), e.port));
                }
            }
        }
    }
    for key in new {
        let answer = resolve(&key.0, key.1);
        names().answers.write().unwrap_or_else(|e| e.into_inner()).insert(key, answer);
    }
    static REFRESHER: Once = Once::new();
    REFRESHER.call_once(|| {
        let _ = std::thread::Builder::new().name("mockplane-dns".into()).spawn(|| loop {
            std::thread::sleep(REFRESH);
            let keys: Vec<(String, u16)> =
                names().answers.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
            for key in keys {
                let answer = resolve(&key.0, key.1);
                if answer.addrs.is_empty() {
                    tracing::warn!(name = %key.0, "upstream name no longer resolves; keeping its last addresses");
                    continue;
                }
                names().answers.write().unwrap_or_else(|e| e.into_inner()).insert(key, answer);
            }
        });
    });
}

fn resolve(name: &str, port: u16) -> Arc<Addresses> {
    let addrs: Vec<SocketAddr> = match (name, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            tracing::warn!(%name, error = %e, "upstream name does not resolve");
            Vec::new()
        }
    };
    Arc::new(Addresses { addrs, next: AtomicUsize::new(0) })
}

/// The addresses of `name:port`, and where the next connection starts among them (each
/// connection starts one further, so connections spread over the addresses); `None` when the
/// name did not resolve.
pub(crate) fn lookup(name: &str, port: u16) -> Option<(Arc<Addresses>, usize)> {
    let answers = names().answers.read().unwrap_or_else(|e| e.into_inner());
    // Keyed by owned parts: a new connection (never a request on a kept one) pays this small
    // allocation.
    let answer = answers.get(&(name.to_owned(), port))?.clone();
    if answer.addrs.is_empty() {
        return None;
    }
    let start = answer.next.fetch_add(1, Ordering::Relaxed);
    Some((answer, start))
}
