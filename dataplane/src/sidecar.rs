//! The one-flag sidecar: `mockplane dataplane --rules FILE --upstream HOST:PORT` (or a URL,
//! `https://…`) mocks what the rules match and forwards everything else to the service beside it.
//!
//! The flag is turned into rules, so that the sidecar is nothing the rule model cannot say: an
//! upstream named [`SIDECAR`] with the one endpoint, and an `unmatched` route forwarding to it,
//! which replaces any `unmatched` block of the file (the flag is the more specific intent).

use mockplane_rules::model::{Forward, Unmatched, Upstream, UpstreamCluster};
use mockplane_rules::RuleSet;

/// The name the `--upstream` endpoint gets among the rule set's upstreams.
pub const SIDECAR: &str = "sidecar";

/// Adds the sidecar upstream and the route forwarding unmatched requests to it.
/// `endpoint` is `host:port`, or a URL (`https://api.internal:8443`) for a service that speaks
/// TLS or wants a base path.
pub fn apply(rules: &mut RuleSet, endpoint: &str) {
    let upstream = if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        Upstream::Url(endpoint.to_owned())
    } else {
        Upstream::Cluster(Box::new(UpstreamCluster {
            endpoints: vec![endpoint.to_owned()],
            ..Default::default()
        }))
    };
    rules.upstreams.insert(SIDECAR.to_owned(), upstream);
    if rules.unmatched.is_some() {
        tracing::warn!("--upstream replaces the rules file's own `unmatched` route");
    }
    rules.unmatched =
        Some(Unmatched { forward: Forward { upstream: Some(SIDECAR.to_owned()), ..Default::default() } });
}
