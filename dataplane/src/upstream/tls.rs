//! https upstreams: an upstream connection's stream is plain TCP or TLS over it, and each
//! cluster's TLS client (rustls on ring) is built once per worker from its compiled settings,
//! not per connection.
//!
//! A TLS stream is read and written through the same `AsyncReadRent`/`AsyncWriteRent` calls as
//! a plain one; its futures are boxed so that the plain path's (every forwarded request's) do
//! not grow by a TLS record's state.

use std::sync::Arc;

use mockplane_rules::ClusterTls;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// The bytes to and from an upstream.
pub(crate) enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<monoio_rustls::ClientTlsStream<TcpStream>>),
}

/// A cluster's TLS client: the settings it was built from (to notice a swap that changed
/// them) and the client, or why none could be built.
pub(crate) struct TlsClient {
    pub(crate) settings: Arc<ClusterTls>,
    pub(crate) config: Result<Arc<ClientConfig>, String>,
}

impl TlsClient {
    pub(crate) fn new(settings: &Arc<ClusterTls>) -> TlsClient {
        TlsClient { settings: settings.clone(), config: client_config(settings) }
    }

    /// Whether it was built from `settings`: the same ones (a pointer compare, per request), or
    /// equal ones after a swap, which it keeps from then on so the next compare is cheap again.
    pub(crate) fn serves(&mut self, settings: &Arc<ClusterTls>) -> bool {
        if Arc::ptr_eq(&self.settings, settings) {
            return true;
        }
        let equal = *self.settings == **settings;
        if equal {
            self.settings = settings.clone();
        }
        equal
    }
}

/// The rustls client for `tls`: its `ca_file`'s authorities, or Mozilla's web roots; HTTP/1.1
/// offered by ALPN.
fn client_config(tls: &ClusterTls) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_certs {
        Some(certs) => {
            for (i, der) in certs.iter().enumerate() {
                roots
                    .add(CertificateDer::from(der.to_vec()))
                    .map_err(|e| format!("certificate {} of ca_file is not usable: {e}", i + 1))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // ring's provider is deprecated in rustls 0.23.48 for lacking post-quantum key exchange;
    // the provider that has it (aws-lc-rs) needs cmake and minutes of C build on every CI run.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("no TLS version to offer: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The name the upstream's certificate must hold: the cluster's `server_name`, or the host.
pub(crate) fn server_name(tls: &ClusterTls, host: &str) -> Result<ServerName<'static>, String> {
    let name = tls.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_owned()).map_err(|_| format!("{name:?} is not a DNS name or an IP address"))
}

impl AsyncReadRent for UpstreamStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamStream::Plain(s) => s.read(buf).await,
            UpstreamStream::Tls(s) => Box::pin(s.read(buf)).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamStream::Plain(s) => s.readv(buf).await,
            UpstreamStream::Tls(s) => Box::pin(s.readv(buf)).await,
        }
    }
}

impl AsyncWriteRent for UpstreamStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamStream::Plain(s) => s.write(buf).await,
            UpstreamStream::Tls(s) => Box::pin(s.write(buf)).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamStream::Plain(s) => s.writev(buf).await,
            UpstreamStream::Tls(s) => Box::pin(s.writev(buf)).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamStream::Plain(s) => s.flush().await,
            UpstreamStream::Tls(s) => Box::pin(s.flush()).await,
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamStream::Plain(s) => s.shutdown().await,
            UpstreamStream::Tls(s) => Box::pin(s.shutdown()).await,
        }
    }
}
