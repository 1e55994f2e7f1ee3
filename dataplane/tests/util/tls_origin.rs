//! A small real https origin for the proxy's TLS tests: a certificate authority and a server
//! certificate made for the run (rcgen), rustls on a thread per connection, keep-alive. Every
//! request is answered 200 with JSON naming what it saw: method, target, the SNI the client
//! sent, the ALPN protocol agreed, and the body's length; but `/upgrade`, which switches
//! protocols (101) and then echoes bytes until the client finishes sending.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A running https origin; stops accepting when dropped.
pub struct TlsOrigin {
    pub addr: SocketAddr,
    /// The PEM of the authority that signed its certificate, for a cluster's `ca_file`.
    pub ca_pem: String,
    /// TLS connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl TlsOrigin {
    /// An origin whose certificate holds `names` (DNS names or IP addresses).
    pub fn start(names: &[&str]) -> TlsOrigin {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "mockplane test CA");
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf_key = rcgen::KeyPair::generate().expect("a server key");
        let leaf = rcgen::CertificateParams::new(names)
            .expect("server params")
            .signed_by(&leaf_key, &issuer)
            .expect("the server certificate");
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("the key as DER");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the server's certificate and key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the origin");
        let addr = listener.local_addr().expect("its address");
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let config = config.clone();
                let c = c.clone();
                std::thread::spawn(move || {
                    let Ok(conn) = ServerConnection::new(config) else { return };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut tls = StreamOwned::new(conn, stream);
                    // The handshake, before counting: a client that rejects the certificate
                    // does not count as a connection.
                    while tls.conn.is_handshaking() {
                        if tls.conn.complete_io(&mut tls.sock).is_err() {
                            return;
                        }
                    }
                    c.fetch_add(1, Ordering::Relaxed);
                    let _ = serve(tls);
                });
            }
        });
        TlsOrigin { addr, ca_pem: ca.pem(), connections, stop }
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(tls: StreamOwned<ServerConnection, TcpStream>) -> std::io::Result<()> {
    let sni = tls.conn.server_name().unwrap_or("").to_owned();
    let alpn = tls.conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
    let mut reader = BufReader::new(tls);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                if n.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        if target == "/upgrade" {
            // A protocol switch: a greeting, then an echo until the client finishes sending.
            let out = reader.get_mut();
            out.write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nhello over tls\n")?;
            out.flush()?;
            let mut buf = [0u8; 4096];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                let out = reader.get_mut();
                out.write_all(&buf[..n])?;
                out.flush()?;
            }
        }
        let answer = serde_json::json!({
            "method": method, "target": target, "sni": sni, "alpn": alpn, "length": length,
        })
        .to_string();
        let out = reader.get_mut();
        write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
        out.flush()?;
    }
}
