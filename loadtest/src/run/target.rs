//! The target of a run: an `http://` URL resolved to one socket address, refused when it is
//! not a loopback address unless the user allows remote targets.

use std::net::{SocketAddr, ToSocketAddrs};

use thiserror::Error;

/// A URL that cannot be loaded.
#[derive(Debug, Error)]
pub enum TargetError {
    #[error("{url:?}: {message}")]
    Url { url: String, message: String },
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error(
        "{host} is {addr}, not a loopback address: load tests go to this machine only unless \
         --allow-remote is given"
    )]
    Remote { host: String, addr: SocketAddr },
}

/// Where the requests go.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// The `host` header: the URL's authority.
    pub authority: String,
    /// Path and query, `/` when the URL has none.
    pub path: String,
}

/// Parses `http://HOST[:PORT][/PATH[?QUERY]]` and resolves HOST.
pub fn resolve(url: &str, allow_remote: bool) -> Result<Target, TargetError> {
    let bad = |message: &str| TargetError::Url { url: url.into(), message: message.into() };
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(bad(&format!("the scheme {scheme:?} is not supported; only http:// is")))
        }
        None => return Err(bad("expected http://HOST:PORT/PATH")),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("expected a host (and no user info) after http://"));
    }
    let tail = tail.split('#').next().unwrap_or_default();
    let path = match tail {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => {
            (h, p.parse::<u16>().map_err(|_| bad(&format!("{p:?} is not a port")))?)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| TargetError::Resolve { host: host.into(), source })?
        .collect();
    // Prefer IPv4 when a name has both, as `localhost` does.
    let addr = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied().ok_or_else(|| {
        TargetError::Resolve { host: host.into(), source: std::io::ErrorKind::NotFound.into() }
    })?;
    if !allow_remote && !addr.ip().is_loopback() {
        return Err(TargetError::Remote { host: host.into(), addr });
    }
    Ok(Target { url: url.into(), addr, authority: authority.into(), path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_url_resolves_with_its_path_and_authority() {
        let t = resolve("http://127.0.0.1:8080/a/b?c=1#frag", false).unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("127.0.0.1:8080", "/a/b?c=1"));
        let t = resolve("http://[::1]:9/", false).unwrap();
        assert_eq!(t.addr, "[::1]:9".parse().unwrap());
        assert_eq!(resolve("http://127.0.0.1", false).unwrap().path, "/");
    }

    #[test]
    fn a_remote_or_unsupported_url_is_refused() {
        let e = resolve("http://192.0.2.1:80/", false).unwrap_err().to_string();
        assert!(e.contains("--allow-remote"), "{e}");
        assert!(resolve("http://192.0.2.1:80/", true).is_ok());
        for url in ["https://127.0.0.1/", "127.0.0.1:80", "http://127.0.0.1:x/", "http:///a"] {
            assert!(matches!(resolve(url, false), Err(TargetError::Url { .. })), "{url}");
        }
    }
}
