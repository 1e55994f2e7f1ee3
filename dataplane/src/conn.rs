//! One connection: read, parse, answer, write, for as long as the client keeps it alive.
//!
//! Pipelined requests are answered in order, and the answers of one read are written together
//! in one write. A read waits at most the idle timeout between requests and the header timeout
//! for the rest of a request that has begun (slowloris). A malformed request is answered with
//! its status and the connection closed; nothing a client sends can take the worker down.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mockplane_rules::model::FaultKind;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rand::{Rng, RngCore};

use crate::answer::{answer, Outcome};
use crate::codec::{self, BodyFraming, ChunkedDecoder, Head};
use crate::worker::{WatchGuard, Worker};

/// Bytes asked of each read; the buffer grows beyond this only for large bodies.
const READ_CHUNK: usize = 16 * 1024;

struct Conn {
    /// Declared first so it is dropped first: the watch goes before the descriptor closes.
    guard: WatchGuard,
    /// The worker's coarse clock, for deadlines.
    worker: Rc<Worker>,
    stream: TcpStream,
    /// Bytes read and not yet consumed by a request.
    rbuf: Vec<u8>,
    /// Responses not yet written.
    wbuf: Vec<u8>,
    /// The de-chunked body of the current request.
    body: Vec<u8>,
}

enum ReadResult {
    Data,
    Closed,
    TimedOut,
}

impl Conn {
    /// Reads more into `rbuf`, waiting at most about `limit` (the worker's ticker enforces it).
    /// `idle`: waiting between requests, so a draining worker may close the connection.
    async fn read_more(&mut self, limit: Duration, idle: bool) -> ReadResult {
        if self.guard.watch.expired.get() {
            return ReadResult::TimedOut;
        }
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 2 {
            self.rbuf.reserve(READ_CHUNK);
        }
        let watch = &self.guard.watch;
        watch.deadline_ms.set(self.worker.clock_ms.get().saturating_add(limit.as_millis() as u64));
        watch.idle.set(idle);
        let buf = std::mem::take(&mut self.rbuf);
        // A Vec given to a rent read is filled from its start: read into the spare capacity.
        let len = buf.len();
        let (result, slice) = self.stream.read(buf.slice_mut(len..)).await;
        self.rbuf = slice.into_inner();
        watch.deadline_ms.set(u64::MAX);
        watch.idle.set(false);
        match result {
            _ if watch.expired.get() => ReadResult::TimedOut,
            Ok(0) | Err(_) => ReadResult::Closed,
            Ok(_) => ReadResult::Data,
        }
    }

    async fn flush(&mut self) -> bool {
        if self.wbuf.is_empty() {
            return true;
        }
        let buf = std::mem::take(&mut self.wbuf);
        let (result, mut buf) = self.stream.write_all(buf).await;
        buf.clear();
        self.wbuf = buf;
        result.is_ok()
    }

    /// Writes a prepared refusal (4xx/5xx) with this worker's `date` header added after its
    /// status line, as RFC 9110 §6.6.1 asks of every such answer.
    async fn write_refusal(&mut self, response: &[u8]) -> bool {
        match memchr::memmem::find(response, b"\r\n") {
            Some(i) => {
                self.wbuf.extend_from_slice(&response[..i + 2]);
                self.wbuf.extend_from_slice(&self.worker.date.borrow().line);
                self.wbuf.extend_from_slice(&response[i + 2..]);
            }
            None => self.wbuf.extend_from_slice(response),
        }
        self.flush().await
    }

    async fn write_bytes(&mut self, bytes: &[u8]) -> bool {
        self.wbuf.extend_from_slice(bytes);
        self.flush().await
    }
}

/// Serves one connection until it closes.
pub(crate) async fn serve(worker: &Rc<Worker>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let guard = worker.watch(std::os::fd::AsRawFd::as_raw_fd(&stream));
    let mut conn = Conn {
        guard,
        worker: worker.clone(),
        stream,
        rbuf: Vec::with_capacity(READ_CHUNK),
        wbuf: Vec::with_capacity(READ_CHUNK),
        body: Vec::new(),
    };
    let limits = worker.config.limits;
    let peer_ip = Some(peer.ip());
    // When (worker clock, ms) the first byte of the request being read arrived, for the
    // header timeout.
    let mut request_began: Option<u64> = None;
    loop {
        let head = match codec::parse_head(&conn.rbuf, &limits) {
            Ok(Some(head)) => head,
            Ok(None) => {
                if !conn.flush().await {
                    return;
                }
                if worker.draining() && conn.rbuf.is_empty() {
                    return;
                }
                let now = worker.clock_ms.get();
                let idle = request_began.is_none() && conn.rbuf.is_empty();
                let limit = if idle {
                    worker.config.idle_timeout
                } else {
                    let began = *request_began.get_or_insert(now);
                    worker.config.header_timeout.saturating_sub(Duration::from_millis(now - began))
                };
                match conn.read_more(limit, idle).await {
                    ReadResult::Data => {
                        if request_began.is_none() {
                            request_began = Some(worker.clock_ms.get());
                        }
                        continue;
                    }
                    ReadResult::Closed => return,
                    ReadResult::TimedOut => {
                        if request_began.is_some() {
                            // A request began but did not finish in time.
                            let _ = conn.write_refusal(REQUEST_TIMEOUT).await;
                        }
                        return;
                    }
                }
            }
            Err(e) => {
                worker.stats.refused.add(1);
                let _ = conn.flush().await;
                let _ = conn.write_refusal(e.response()).await;
                return;
            }
        };
        let busy = crate::worker::Busy::new(worker);
        let done = serve_request(worker, &mut conn, &head, peer_ip, Instant::now()).await;
        drop(busy);
        request_began = None;
        if !done {
            return;
        }
        if !conn.rbuf.is_empty() {
            request_began = Some(worker.clock_ms.get());
        }
    }
}

const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Reads the body, answers, consumes the request's bytes. Returns whether the connection
/// goes on.
async fn serve_request(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head: &Head,
    peer: Option<std::net::IpAddr>,
    began: Instant,
) -> bool {
    let limits = &worker.config.limits;
    let mut sent_continue = false;
    // Where the request ends in `rbuf`, and where its body is.
    let (consumed, chunked) = match head.framing {
        BodyFraming::None => (head.head_len, false),
        BodyFraming::Length(len) => {
            let total = head.head_len + len;
            while conn.rbuf.len() < total {
                if head.expect_continue && !sent_continue {
                    sent_continue = true;
                    if !conn.flush().await || !conn.write_bytes(CONTINUE).await {
                        return false;
                    }
                }
                let limit = worker.config.header_timeout.max(Duration::from_secs(30));
                if conn.rbuf.capacity() < total {
                    conn.rbuf.reserve(total - conn.rbuf.len());
                }
                match conn.read_more(limit, false).await {
                    ReadResult::Data => {}
                    _ => return false,
                }
            }
            (total, false)
        }
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(limits.max_body);
            conn.body.clear();
            let mut pos = head.head_len;
            loop {
                match decoder.decode(&conn.rbuf[pos..], &mut conn.body) {
                    Ok(d) => {
                        pos += d.consumed;
                        if d.done {
                            break;
                        }
                    }
                    Err(e) => {
                        worker.stats.refused.add(1);
                        let _ = conn.flush().await;
                        let refusal = crate::cors::refusal_with_cors(worker, head, &conn.rbuf, e.response());
                        let _ = conn.write_refusal(&refusal).await;
                        return false;
                    }
                }
                if head.expect_continue && !sent_continue {
                    sent_continue = true;
                    if !conn.flush().await || !conn.write_bytes(CONTINUE).await {
                        return false;
                    }
                }
                // Consumed chunk bytes are not needed again: keep the buffer small.
                conn.rbuf.drain(head.head_len..pos);
                pos = head.head_len;
                match conn.read_more(Duration::from_secs(30), false).await {
                    ReadResult::Data => {}
                    _ => return false,
                }
            }
            (pos, true)
        }
    };
    conn.stats_in(worker, consumed);

    let outcome = {
        let body: &[u8] = if chunked { &conn.body } else { &conn.rbuf[head.head_len..consumed] };
        answer(worker, &conn.rbuf, head, body, peer, began, &mut conn.wbuf)
    };
    conn.rbuf.drain(..consumed);

    match outcome {
        Outcome::Respond { start, delay, close } => {
            worker.stats.bytes_out.add((conn.wbuf.len() - start) as u64);
            if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                // Earlier pipelined answers go out now; this one after its delay.
                let this = conn.wbuf.split_off(start);
                if !conn.flush().await {
                    return false;
                }
                monoio::time::sleep(delay).await;
                conn.wbuf.extend_from_slice(&this);
            }
            if close {
                let _ = conn.flush().await;
                return false;
            }
            // With more pipelined requests already read, answer them before writing.
            if conn.rbuf.is_empty() || conn.wbuf.len() > 64 * 1024 {
                return conn.flush().await;
            }
            true
        }
        Outcome::Fault { kind, delay } => {
            if !conn.flush().await {
                return false;
            }
            if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                monoio::time::sleep(delay).await;
            }
            inject(worker, conn, kind).await;
            false
        }
    }
}

impl Conn {
    fn stats_in(&self, worker: &Worker, bytes: usize) {
        worker.stats.bytes_in.add(bytes as u64);
    }
}

/// Breaks the connection the way `kind` says.
async fn inject(worker: &Worker, conn: &mut Conn, kind: FaultKind) {
    match kind {
        FaultKind::ConnectionReset => {
            // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            let _ = set_linger_zero(&conn.stream);
        }
        FaultKind::EmptyResponse | FaultKind::Abort => {}
        FaultKind::MalformedChunk => {
            let _ = conn
                .write_bytes(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nZZ-not-a-chunk-size\r\n\r\n",
                )
                .await;
        }
        FaultKind::RandomData => {
            let mut garbage = vec![0u8; worker.rng.borrow_mut().random_range(64..=1024)];
            worker.rng.borrow_mut().fill_bytes(&mut garbage);
            let _ = conn.write_bytes(&garbage).await;
        }
    }
}

fn set_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the descriptor belongs to `stream`, which outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO))
}
