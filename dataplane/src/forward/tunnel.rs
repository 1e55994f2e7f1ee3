//! A forwarded request the upstream answered with `101 Switching Protocols` (a WebSocket or
//! any other `Upgrade`): from then on the two connections carry another protocol, which the
//! proxy relays byte for byte both ways, as Envoy and nginx do, until both sides are done.
//!
//! Each direction ends at its sender's end of stream and half-closes the other side, so a
//! protocol that finishes one way first (a client that sends its last frame and waits for the
//! answer) keeps working. The tunnel shares the connection's idle timeout: when neither side
//! has sent anything for that long, both reads are shut down by the worker's deadline sweep and
//! the tunnel ends; so does a draining worker's. A side that stops reading fails its writes
//! after the write timeout.

use std::os::fd::BorrowedFd;
use std::rc::Rc;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Split, Splitable};
use monoio::net::TcpStream;

use crate::conn::Conn;
use crate::upstream::tls::UpstreamStream;
use crate::upstream::UpstreamConn;
use crate::worker::{ConnWatch, WatchGuard, Worker};

/// Relays between the client's connection and the upstream's until both directions have
/// ended. `from_upstream`: bytes the upstream sent after its 101 head, already read; the bytes
/// in `conn.rbuf` after `head_len` are the client's, sent after its request head.
pub(crate) async fn relay(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head_len: usize,
    up: UpstreamConn,
    from_upstream: Vec<u8>,
) {
    let UpstreamConn { guard: up_guard, stream: up_stream, .. } = up;
    // The client's socket once more, for writing while its reads go on through `conn`: a
    // second descriptor is the safe way to have both at once (monoio's split needs ownership).
    let fd = std::os::fd::AsRawFd::as_raw_fd(conn.stream());
    // SAFETY: `conn` owns the descriptor and outlives this borrow, which only duplicates it.
    let client_fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let client_writer =
        client_fd.try_clone_to_owned().map(std::net::TcpStream::from).and_then(TcpStream::from_std);
    let Ok(client_writer) = client_writer else {
        worker.buffers.give(from_upstream);
        drop(up_guard);
        return;
    };
    match up_stream {
        UpstreamStream::Plain(s) => {
            between(worker, conn, head_len, up_guard, s, client_writer, from_upstream).await
        }
        UpstreamStream::Tls(s) => {
            between(worker, conn, head_len, up_guard, *s, client_writer, from_upstream).await
        }
    }
}

/// The relay over an upstream stream of either kind (plain TCP, or TLS: rustls' session is
/// read and written by the two halves as monoio-rustls allows).
async fn between<S>(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head_len: usize,
    up_guard: WatchGuard,
    up_stream: S,
    mut client_writer: TcpStream,
    from_upstream: Vec<u8>,
) where
    S: Split + AsyncReadRent + AsyncWriteRent,
{
    let (mut up_read, mut up_write) = up_stream.into_split();
    let client_watch = conn.watch();
    let up_watch = up_guard.watch.clone();
    let watches = Watches { worker, both: [client_watch.clone(), up_watch.clone()] };
    watches.arm();

    // What each side sent before the tunnel existed goes first.
    let mut early_from_client = worker.buffers.take();
    early_from_client.extend_from_slice(conn.rbuf.get(head_len..).unwrap_or_default());
    conn.rbuf.clear();
    let to_client_ok = send(worker, &mut client_writer, &client_watch, from_upstream).await;
    let to_upstream_ok = send(worker, &mut up_write, &up_watch, early_from_client).await;

    let upstream_bound = pump(worker, conn.stream(), &mut up_write, &up_watch, &watches, to_upstream_ok);
    let client_bound = pump(worker, &mut up_read, &mut client_writer, &client_watch, &watches, to_client_ok);
    let (sent_up, sent_down) = monoio::join!(upstream_bound, client_bound);
    worker.stats.bytes_in.add(sent_up);
    worker.stats.bytes_out.add(sent_down);
    for w in &watches.both {
        w.deadline_ms.set(u64::MAX);
        w.idle.set(false);
    }
    // The upstream's watch goes before its descriptor closes (as `UpstreamConn` drops them).
    drop(up_guard);
    drop((up_read, up_write));
}

/// Both connections' read deadlines, moved on together: a tunnel is idle only when neither
/// side sends anything.
struct Watches<'a> {
    worker: &'a Worker,
    both: [Rc<ConnWatch>; 2],
}

impl Watches<'_> {
    fn arm(&self) {
        let deadline =
            self.worker.clock_ms.get().saturating_add(self.worker.config.idle_timeout.as_millis() as u64);
        for w in &self.both {
            w.deadline_ms.set(deadline);
            // A draining worker ends tunnels as it ends idle keep-alive connections.
            w.idle.set(true);
        }
    }

    fn ended(&self) -> bool {
        self.both.iter().any(|w| w.expired.get())
    }
}

/// Writes `bytes` (a pooled buffer, given back) to `to` within the write timeout; whether it
/// all went.
async fn send<W: AsyncWriteRent>(worker: &Worker, to: &mut W, to_watch: &ConnWatch, bytes: Vec<u8>) -> bool {
    if bytes.is_empty() {
        worker.buffers.give(bytes);
        return true;
    }
    let limit = worker.config.write_timeout.as_millis() as u64;
    to_watch.write_deadline_ms.set(worker.clock_ms.get().saturating_add(limit));
    let (result, buf) = to.write_all(bytes).await;
    to_watch.write_deadline_ms.set(u64::MAX);
    worker.buffers.give(buf);
    result.is_ok() && !to_watch.expired.get()
}

/// Copies from `from` to `to` until `from` ends (or either side fails), then half-closes
/// `to`. Returns the bytes copied.
async fn pump<R: AsyncReadRent, W: AsyncWriteRent>(
    worker: &Worker,
    from: &mut R,
    to: &mut W,
    to_watch: &ConnWatch,
    watches: &Watches<'_>,
    mut go_on: bool,
) -> u64 {
    let mut copied = 0u64;
    let mut buf = worker.buffers.take();
    while go_on && !watches.ended() {
        buf.clear();
        let (result, read) = from.read(buf).await;
        buf = read;
        match result {
            Ok(n) if n > 0 && !watches.ended() => {}
            _ => break,
        }
        watches.arm();
        let limit = worker.config.write_timeout.as_millis() as u64;
        to_watch.write_deadline_ms.set(worker.clock_ms.get().saturating_add(limit));
        let (result, written) = to.write_all(buf).await;
        to_watch.write_deadline_ms.set(u64::MAX);
        buf = written;
        go_on = result.is_ok();
        copied += buf.len() as u64;
    }
    worker.buffers.give(buf);
    // The other side learns that this one has finished sending.
    let _ = to.shutdown().await;
    copied
}
