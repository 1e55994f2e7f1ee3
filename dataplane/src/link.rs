//! The data plane's side of the link to its control plane, as an operator meets it: the
//! settings are checked at start (a URL without a scheme or a malformed environment would
//! otherwise be retried forever), and every way a session ends is worded once, telling an
//! unreachable control plane from one that refuses this data plane and says why.

use mockplane_proto::names::{self, NameError};
use tonic::Code;

use crate::xds::XdsClientConfig;

/// The longest NACK text sent. A rule set with thousands of errors would make a request larger
/// than the control plane takes (4 MiB by default), and the refusal would repeat at every
/// reconnect; this data plane's log has the whole text.
pub(crate) const MAX_NACK_BYTES: usize = 16 << 10;

/// Why the control-plane settings were refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdsConfigError {
    /// The control plane's URL cannot be used.
    #[error("--control-plane {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The environment is not `project/environment`.
    #[error("--environment: {0}")]
    Environment(NameError),
    /// The node id is empty, too long or unprintable.
    #[error("--node-id: {0}")]
    NodeId(NameError),
}

/// Checks what the control plane would refuse anyway, or what could never connect.
pub(crate) fn check(config: &XdsClientConfig) -> Result<(), XdsConfigError> {
    for url in config.control_planes() {
        check_url(url).map_err(|reason| XdsConfigError::Url { url: url.to_owned(), reason })?;
    }
    names::check_environment(&config.environment).map_err(XdsConfigError::Environment)?;
    names::check_node_id(&config.node_id).map_err(XdsConfigError::NodeId)
}

/// A control-plane URL is `http://host[:port]`, with no path beyond `/`.
fn check_url(url: &str) -> Result<(), String> {
    let uri: tonic::transport::Uri = url.parse().map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err("https is not supported yet (the data plane speaks plain HTTP/2 to its control plane); use http://".into())
        }
        Some(other) => return Err(format!("unknown scheme {other:?}; use http://")),
        None => return Err(format!("no scheme; write http://{url}")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("a control plane is a host and a port, with no path or query".into());
    }
    Ok(())
}

/// Why a session with the control plane ended.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// No connection: retried with backoff, serving the rules in force.
    Unreachable(String),
    /// The control plane answered and refused this data plane (a bad name, an environment it
    /// does not serve, too many nodes, a message too large): retried too, but an operator must
    /// act, so it is logged as an error.
    Refused(tonic::Status),
    /// The stream broke or closed.
    Broken(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Unreachable(text) | LinkError::Broken(text) => f.write_str(text),
            LinkError::Refused(status) => write!(f, "{}", refusal(status)),
        }
    }
}

impl LinkError {
    /// A failed call or stream: a refusal when the status says the control plane decided so.
    pub(crate) fn from_status(context: &str, status: tonic::Status) -> LinkError {
        if is_refusal(status.code()) {
            LinkError::Refused(status)
        } else {
            LinkError::Broken(format!("{context}: {:?}: {}", status.code(), status.message()))
        }
    }
}

/// The text of a refusal: the control plane's reason, with its code.
pub(crate) fn refusal(status: &tonic::Status) -> String {
    format!("the control plane refused this data plane ({:?}): {}", status.code(), status.message())
}

/// Whether `code` is the control plane's decision about this data plane, as opposed to a
/// connection that broke.
pub(crate) fn is_refusal(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::ResourceExhausted
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

/// An error and its causes, `a: b: c`, each said once: tonic's own message ("transport error")
/// names none, and hyper repeats a cause's text in its wrapper ("tcp connect error: tcp connect
/// error: …").
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut texts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        texts.push(c.to_string());
        cause = c.source();
    }
    // A text the next one already contains adds nothing.
    let kept: Vec<&str> = texts
        .iter()
        .enumerate()
        .filter(|(i, t)| texts.get(i + 1).is_none_or(|next| !next.contains(t.as_str())))
        .map(|(_, t)| t.as_str())
        .collect();
    kept.join(": ")
}

/// `error` as a NACK carries it: at most [`MAX_NACK_BYTES`], saying how much was left out.
pub(crate) fn nack_text(error: &str) -> String {
    if error.len() <= MAX_NACK_BYTES {
        return error.to_owned();
    }
    let mut end = MAX_NACK_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes in the data plane's log)", &error[..end], error.len() - end)
}

/// A task that is aborted when this is dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, environment: &str, node: &str) -> XdsClientConfig {
        XdsClientConfig::new(url, environment, node)
    }

    #[test]
    fn urls_without_a_scheme_or_with_a_path_are_refused_with_the_fix() {
        assert_eq!(check(&config("http://127.0.0.1:18000", "shop/staging", "dp")), Ok(()));
        assert_eq!(check(&config("http://cp.internal/", "shop/staging", "dp")), Ok(()));
        for (url, says) in [
            ("127.0.0.1:18000", "no scheme; write http://127.0.0.1:18000"),
            ("https://cp:18000", "https is not supported yet"),
            ("grpc://cp:18000", "unknown scheme \"grpc\""),
            ("http://cp:18000/xds", "no path or query"),
            ("http://", "not a URL"),
            ("", "not a URL"),
        ] {
            let e = check(&config(url, "shop/staging", "dp")).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--control-plane {url:?}: ")) && e.contains(says), "{url}: {e}");
            // A bad one among several is named, wherever it stands.
            let mut several = config("http://127.0.0.1:18000", "shop/staging", "dp");
            several.failover = vec!["http://127.0.0.1:18001".into(), url.into()];
            let e = check(&several).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--control-plane {url:?}: ")) && e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn names_the_control_plane_would_refuse_are_refused_at_start() {
        let e = check(&config("http://cp:1", "staging", "dp")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--environment: environment \"staging\" is not of the form project/environment"
        );
        let e = check(&config("http://cp:1", "shop/staging", "")).unwrap_err();
        assert_eq!(e.to_string(), "--node-id: the node id is empty");
    }

    #[test]
    fn causes_are_said_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let io = E("tcp connect error: Connection refused (os error 111)", None);
        let e = E("transport error", Some(Box::new(E("tcp connect error", Some(Box::new(io))))));
        assert_eq!(with_causes(&e), "transport error: tcp connect error: Connection refused (os error 111)");
    }

    #[test]
    fn a_long_nack_is_cut_and_says_where_the_rest_is() {
        let short = "rules[0].match.path: bad";
        assert_eq!(nack_text(short), short);
        let long = "é".repeat(MAX_NACK_BYTES);
        let cut = nack_text(&long);
        assert!(cut.len() <= MAX_NACK_BYTES + 64);
        assert!(
            cut.ends_with(&format!("… ({} more bytes in the data plane's log)", MAX_NACK_BYTES)),
            "{}",
            &cut[cut.len() - 60..]
        );
    }
}
