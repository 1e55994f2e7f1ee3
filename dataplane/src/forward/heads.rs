//! The heads a forwarded exchange sends on: the request head written to the upstream and the
//! response head written back to the client, with hop-by-hop fields dropped (RFC 9110 §7.6.1),
//! the body re-framed, `X-Forwarded-*` set and the rule's edits applied. Pure: bytes in, bytes
//! appended to a buffer.

use std::net::IpAddr;

use mockplane_rules::{Cluster, Endpoint, ForwardTarget};

use crate::codec::{BodyFraming, Head};
use crate::cors::Cors;
use crate::upstream::client::{is_hop_by_hop, named_by_connection, ResponseFraming, ResponseHead};

/// How the request body goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutFraming {
    None,
    Length(u64),
    Chunked,
}

impl From<BodyFraming> for OutFraming {
    fn from(f: BodyFraming) -> Self {
        match f {
            BodyFraming::None => OutFraming::None,
            BodyFraming::Length(n) => OutFraming::Length(n as u64),
            BodyFraming::Chunked => OutFraming::Chunked,
        }
    }
}

/// The protocol a request asks to switch to (its `Upgrade` field, e.g. `websocket`), when it
/// asks as RFC 9110 §7.8 says: HTTP/1.1, `Upgrade` listed in `Connection`, and no body (a
/// request with one is forwarded as an ordinary request, its upgrade dropped).
pub(crate) fn upgrade_asked<'b>(buf: &'b [u8], head: &Head) -> Option<&'b [u8]> {
    if head.minor_version == 0 || head.framing != BodyFraming::None {
        return None;
    }
    let upgrade = head.headers.iter().find(|h| h.name(buf).eq_ignore_ascii_case("upgrade"))?;
    named_by_connection(buf, &head.headers, "upgrade").then(|| upgrade.value(buf))
}

/// Appends the request head sent to the upstream: `buf` holds the client's head at `head`.
/// `upgrade`: the protocol the client asks to switch to, passed on (see [`upgrade_asked`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_request_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &Head,
    target: &ForwardTarget,
    endpoint: &Endpoint,
    peer: Option<IpAddr>,
    framing: OutFraming,
    upgrade: Option<&[u8]>,
) {
    let cluster: &Cluster = &target.cluster;
    out.extend_from_slice(head.method(buf).as_bytes());
    out.push(b' ');
    write_path(out, head.target(buf), cluster, target.rewrite_prefix.as_ref());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut host_sent = false;
    match &target.host {
        Some(host) => {
            out.extend_from_slice(b"host: ");
            out.extend_from_slice(host.as_bytes());
            out.extend_from_slice(b"\r\n");
            host_sent = true;
        }
        None => {
            if let Some(h) = head.headers.iter().find(|h| h.name(buf).eq_ignore_ascii_case("host")) {
                out.extend_from_slice(b"host: ");
                out.extend_from_slice(h.value(buf));
                out.extend_from_slice(b"\r\n");
                host_sent = true;
            }
        }
    }
    if !host_sent {
        out.extend_from_slice(b"host: ");
        use std::io::Write;
        // Written in place: no string is made for it.
        let _ = write!(out, "{endpoint}");
        out.extend_from_slice(b"\r\n");
    }
    let mut xff_started = false;
    for h in &head.headers {
        let name = h.name(buf);
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            out.extend_from_slice(if xff_started { b", " as &[u8] } else { b"x-forwarded-for: " });
            out.extend_from_slice(h.value(buf));
            xff_started = true;
        }
    }
    if let Some(ip) = peer {
        out.extend_from_slice(if xff_started { b", " as &[u8] } else { b"x-forwarded-for: " });
        write_ip(out, ip.to_canonical());
        xff_started = true;
    }
    if xff_started {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"x-forwarded-proto: http\r\n");
    for h in &head.headers {
        let name = h.name(buf);
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case("host")
            || name.eq_ignore_ascii_case("x-forwarded-for")
            || name.eq_ignore_ascii_case("x-forwarded-proto")
            // The proxy answers `Expect: 100-continue` itself before it streams the body.
            || name.eq_ignore_ascii_case("expect")
            // Fault requests are for this proxy, never for the upstream.
            || name.get(..18).is_some_and(|p| p.eq_ignore_ascii_case("x-mockplane-fault-"))
            || target.request_headers.removes(name)
            || named_by_connection(buf, &head.headers, name)
        {
            continue;
        }
        push_field(out, name, h.value(buf));
    }
    out.extend_from_slice(&target.request_headers.add);
    if let Some(protocol) = upgrade {
        // The two hop-by-hop fields an upgrade is made of, for the next hop this time.
        out.extend_from_slice(b"upgrade: ");
        out.extend_from_slice(protocol);
        out.extend_from_slice(b"\r\nconnection: upgrade\r\n");
    }
    match framing {
        OutFraming::None => {}
        OutFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(crate::answer::decimal(n as usize, &mut [0; 20]));
            out.extend_from_slice(b"\r\n");
        }
        OutFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// The path sent upstream: origin-form (an absolute-form target loses its scheme and
/// authority), the rule's prefix rewrite applied, the cluster's base path in front.
fn write_path(out: &mut Vec<u8>, target: &str, cluster: &Cluster, rewrite: Option<&(Box<str>, Box<str>)>) {
    let origin = match target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) {
        Some(rest) => match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            Some(i) => {
                out.extend_from_slice(cluster.base_path.as_bytes());
                out.push(b'/');
                out.extend_from_slice(&rest.as_bytes()[i..]);
                return;
            }
            None => "/",
        },
        None => target,
    };
    if origin == "*" {
        out.push(b'*');
        return;
    }
    out.extend_from_slice(cluster.base_path.as_bytes());
    match rewrite {
        Some((from, to)) if origin.starts_with(&**from) => {
            out.extend_from_slice(to.as_bytes());
            out.extend_from_slice(&origin.as_bytes()[from.len()..]);
        }
        _ => out.extend_from_slice(origin.as_bytes()),
    }
}

fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    use std::io::Write;
    // An address is at most 39 characters; `write!` into a Vec does not allocate beyond it.
    let _ = write!(out, "{ip}");
}

/// How the response body goes to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientFraming {
    /// No body (or a `HEAD`'s, whose length the upstream's `content-length` field tells).
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes: an HTTP/1.0 client of a body of unknown length.
    Close,
}

/// Appends the response head sent to the client and says how its body is framed. `buf`
/// holds the upstream's head.
pub(crate) fn write_response_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    response: &ResponseHead,
    target: &ForwardTarget,
    cors: &Cors<'_>,
    keep_alive: bool,
    http10: bool,
) -> ClientFraming {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(crate::answer::decimal(response.status as usize, &mut [0; 20]));
    out.push(b' ');
    out.extend_from_slice(&buf[response.reason.0..response.reason.1]);
    out.extend_from_slice(b"\r\n");
    let framing = match response.framing {
        ResponseFraming::None => ClientFraming::None,
        ResponseFraming::Length(n) => ClientFraming::Length(n),
        ResponseFraming::Chunked | ResponseFraming::Close if http10 => ClientFraming::Close,
        ResponseFraming::Chunked | ResponseFraming::Close => ClientFraming::Chunked,
    };
    for h in &response.headers {
        let name = h.name(buf);
        // A body-less answer keeps the upstream's length: it describes what a GET would get.
        let length_of_none = framing == ClientFraming::None && name.eq_ignore_ascii_case("content-length");
        // The trailer fields are passed on to a chunked client, so is the field announcing them.
        let announced_trailers = framing == ClientFraming::Chunked && name.eq_ignore_ascii_case("trailer");
        if (is_hop_by_hop(name) && !length_of_none && !announced_trailers)
            // Where the set's CORS policy answers, its headers replace the upstream's.
            || (cors.applies() && name.get(..15).is_some_and(|p| p.eq_ignore_ascii_case("access-control-")))
            || target.response_headers.removes(name)
            || named_by_connection(buf, &response.headers, name)
        {
            continue;
        }
        push_field(out, name, h.value(buf));
    }
    out.extend_from_slice(&target.response_headers.add);
    cors.write(out);
    match framing {
        ClientFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(crate::answer::decimal(n as usize, &mut [0; 20]));
            out.extend_from_slice(b"\r\n");
        }
        ClientFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        ClientFraming::None | ClientFraming::Close => {}
    }
    if !keep_alive || framing == ClientFraming::Close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    framing
}

/// Appends the `101 Switching Protocols` head sent to the client of an upgrade: the
/// upstream's fields (its hop-by-hop ones dropped, the rule's edits applied), its `Upgrade`
/// and `connection: upgrade`. No framing: what follows is the new protocol's.
pub(crate) fn write_switching_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    response: &ResponseHead,
    target: &ForwardTarget,
) {
    out.extend_from_slice(b"HTTP/1.1 101 ");
    out.extend_from_slice(&buf[response.reason.0..response.reason.1]);
    out.extend_from_slice(b"\r\n");
    for h in &response.headers {
        let name = h.name(buf);
        let upgrade = name.eq_ignore_ascii_case("upgrade");
        if (is_hop_by_hop(name) && !upgrade)
            || target.response_headers.removes(name)
            || (named_by_connection(buf, &response.headers, name) && !upgrade)
        {
            continue;
        }
        push_field(out, name, h.value(buf));
    }
    out.extend_from_slice(&target.response_headers.add);
    out.extend_from_slice(b"connection: upgrade\r\n\r\n");
}

/// Appends one field line, `name: value`, as it came.
fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `data` as one chunk.
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    use std::io::Write;
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk, with no trailer.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
