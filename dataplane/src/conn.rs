//! One connection: read, parse, answer, write, for as long as the client keeps it alive.
//!
//! Pipelined requests are answered in order, and the answers of one read are written together
//! in one write. Every wait is bounded: a read waits at most the idle timeout between requests,
//! the header timeout for the rest of a head that has begun (slowloris), and the body timeout
//! for a whole body, however it trickles in; a write waits at most the write timeout for a
//! client that stops reading. A malformed request is answered with its status and the
//! connection closed; nothing a client sends can take the worker down.
//!
//! Memory follows what the connection is doing: while it waits between requests it holds only
//! a small read buffer ([`IDLE_READ`]); a request that does not fit, and every answer, borrow a
//! buffer from the worker's pool ([`crate::buffers`]) and give it back when the connection is
//! idle again. A body grows its buffer as its bytes arrive, never to what a `Content-Length`
//! merely claims.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mockplane_rules::model::FaultKind;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rand::{Rng, RngCore};

use crate::answer::{answer, Outcome};
use crate::buffers::{BUF, IDLE_READ};
use crate::codec::{self, BodyFraming, ChunkedDecoder, Head};
use crate::worker::{WatchGuard, Worker};

pub(crate) struct Conn {
    /// Declared first so it is dropped first: the watch goes before the descriptor closes.
    guard: WatchGuard,
    /// The worker's coarse clock, for deadlines.
    worker: Rc<Worker>,
    stream: TcpStream,
    /// Bytes read and not yet consumed by a request: the connection's small buffer, or one
    /// from the pool while a request does not fit in it.
    pub(crate) rbuf: Vec<u8>,
    /// The small read buffer, kept here while `rbuf` is a pooled one.
    small: Vec<u8>,
    /// Responses not yet written: from the pool while answering, empty (no capacity) when idle.
    pub(crate) wbuf: Vec<u8>,
    /// The de-chunked body of the current request.
    pub(crate) body: Vec<u8>,
}

pub(crate) enum ReadResult {
    Data,
    Closed,
    TimedOut,
}

impl Conn {
    /// Reads more into `rbuf`, waiting at most about `limit` (the worker's ticker enforces it).
    /// `idle`: waiting between requests, so a draining worker may close the connection.
    pub(crate) async fn read_more(&mut self, limit: Duration, idle: bool) -> ReadResult {
        if self.guard.watch.expired.get() {
            return ReadResult::TimedOut;
        }
        self.make_room();
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

    /// Room in `rbuf` for the next read: a request that outgrows the small buffer moves to a
    /// pooled one; a pooled one grows (doubling) as a large body arrives.
    fn make_room(&mut self) {
        let spare = self.rbuf.capacity() - self.rbuf.len();
        if self.rbuf.capacity() <= IDLE_READ {
            if spare < IDLE_READ / 2 {
                let mut pooled = self.worker.buffers.take();
                pooled.extend_from_slice(&self.rbuf);
                self.rbuf.clear();
                self.small = std::mem::replace(&mut self.rbuf, pooled);
            }
        } else if spare < BUF / 2 {
            self.rbuf.reserve(BUF);
        }
    }

    /// Once nothing is buffered either way: gives the pooled buffers back and returns to the
    /// small read buffer. A large chunked body's buffer is freed.
    fn go_idle(&mut self) {
        debug_assert!(self.rbuf.is_empty() && self.wbuf.is_empty());
        if self.rbuf.capacity() > IDLE_READ {
            let pooled = std::mem::replace(&mut self.rbuf, std::mem::take(&mut self.small));
            self.worker.buffers.give(pooled);
        }
        if self.wbuf.capacity() > 0 {
            self.worker.buffers.give(std::mem::take(&mut self.wbuf));
        }
        if self.body.capacity() > 0 {
            self.body = Vec::new();
        }
    }

    /// A write buffer to answer into.
    #[inline]
    pub(crate) fn answering(&mut self) {
        if self.wbuf.capacity() == 0 {
            self.wbuf = self.worker.buffers.take();
        }
    }

    /// Writes out `wbuf`, waiting at most the write timeout for a client that does not read:
    /// the ticker then shuts the connection down, and the write fails.
    pub(crate) async fn flush(&mut self) -> bool {
        if self.wbuf.is_empty() {
            return true;
        }
        let watch = &self.guard.watch;
        let limit = self.worker.config.write_timeout.as_millis() as u64;
        watch.write_deadline_ms.set(self.worker.clock_ms.get().saturating_add(limit));
        let buf = std::mem::take(&mut self.wbuf);
        let (result, mut buf) = self.stream.write_all(buf).await;
        watch.write_deadline_ms.set(u64::MAX);
        buf.clear();
        self.wbuf = buf;
        result.is_ok() && !watch.expired.get()
    }

    /// Writes a prepared refusal (4xx/5xx) with this worker's `date` header added after its
    /// status line, as RFC 9110 §6.6.1 asks of every such answer.
    pub(crate) async fn write_refusal(&mut self, response: &[u8]) -> bool {
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

    /// The client's socket, for a tunnel ([`crate::forward`]'s 101 relay).
    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The connection's deadline watch, for a tunnel that moves its deadlines itself.
    pub(crate) fn watch(&self) -> Rc<crate::worker::ConnWatch> {
        self.guard.watch.clone()
    }

    pub(crate) async fn write_bytes(&mut self, bytes: &[u8]) -> bool {
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
        rbuf: Vec::with_capacity(IDLE_READ),
        small: Vec::new(),
        wbuf: Vec::new(),
        body: Vec::new(),
    };
    let limits = worker.config.limits;
    let peer = Some(peer);
    // When (worker clock, ms) the first byte of the request being read arrived, for the
    // header timeout.
    let mut request_began: Option<u64> = None;
    loop {
        // No wait inside the match: a parse result held across one would put a second request
        // head (600 bytes) into every connection's future.
        let head = loop {
            let refusal = match codec::parse_head(&conn.rbuf, &limits) {
                Ok(Some(head)) => break head,
                Ok(None) => None,
                // A body past `max_body` may still be forwarded, streamed: the request is
                // routed on its head (`crate::forward::early`), which refuses it otherwise.
                Err(codec::RequestError::BodyTooLarge) if crate::forward::may_stream_any(worker) => {
                    let unlimited = codec::Limits { max_body: usize::MAX, ..limits };
                    match codec::parse_head(&conn.rbuf, &unlimited) {
                        Ok(Some(head)) => break head,
                        Ok(None) => None,
                        Err(e) => Some(e.response()),
                    }
                }
                Err(e) => Some(e.response()),
            };
            if let Some(refusal) = refusal {
                worker.stats.refused.add(1);
                let _ = conn.flush().await;
                let _ = conn.write_refusal(refusal).await;
                return;
            }
            if !conn.flush().await {
                return;
            }
            if worker.draining() && conn.rbuf.is_empty() {
                return;
            }
            let now = worker.clock_ms.get();
            let idle = request_began.is_none() && conn.rbuf.is_empty();
            if idle {
                conn.go_idle();
            }
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
        };
        let busy = crate::worker::Busy::new(worker);
        let done = serve_request(worker, &mut conn, &head, peer, Instant::now()).await;
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
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Reads the body, answers, consumes the request's bytes. Returns whether the connection
/// goes on.
async fn serve_request(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head: &Head,
    peer: Option<SocketAddr>,
    began: Instant,
) -> bool {
    let limits = &worker.config.limits;
    let mut sent_continue = false;
    // The whole body must arrive within the body timeout, however it trickles in: one
    // deadline for the body, not a fresh one for each read.
    let body_deadline = worker.clock_ms.get().saturating_add(worker.config.body_timeout.as_millis() as u64);
    let body_wait = || Duration::from_millis(body_deadline.saturating_sub(worker.clock_ms.get()));
    // A request the table may forward is routed on its head alone when its body is not all
    // here yet, so that a forwarded body streams instead of being read whole.
    if let Some(early) = crate::forward::early(worker, conn, head, peer, began) {
        return early.await;
    }
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
                // The buffer grows with the bytes that arrive (`make_room`), not to the length
                // claimed: a client claiming 10 MiB and sending one byte costs one buffer.
                match conn.read_more(body_wait(), false).await {
                    ReadResult::Data => {}
                    ReadResult::Closed => return false,
                    ReadResult::TimedOut => {
                        let _ = conn.write_refusal(REQUEST_TIMEOUT).await;
                        return false;
                    }
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
                match conn.read_more(body_wait(), false).await {
                    ReadResult::Data => {}
                    ReadResult::Closed => return false,
                    ReadResult::TimedOut => {
                        let _ = conn.write_refusal(REQUEST_TIMEOUT).await;
                        return false;
                    }
                }
            }
            (pos, true)
        }
    };
    conn.stats_in(worker, consumed);
    conn.answering();

    let outcome = {
        let body: &[u8] = if chunked { &conn.body } else { &conn.rbuf[head.head_len..consumed] };
        answer(worker, &conn.rbuf, head, body, peer, began, &mut conn.wbuf)
    };
    if let Outcome::Forward { snapshot, route, delay } = outcome {
        let body = if chunked {
            crate::forward::RequestBody::Decoded
        } else {
            crate::forward::RequestBody::InBuf { start: head.head_len, end: consumed }
        };
        // Boxed: the forward's state is large, and only forwarded requests should carry it.
        return Box::pin(crate::forward::forward(
            worker, conn, head, snapshot, route, body, peer, began, delay,
        ))
        .await;
    }
    conn.rbuf.drain(..consumed);

    match outcome {
        Outcome::Respond { start, delay, close, dribble } => {
            worker.stats.bytes_out.add((conn.wbuf.len() - start) as u64);
            if let Some(how) = dribble {
                // Earlier pipelined answers go out now; this one after its delay, in pieces.
                let this = conn.wbuf.split_off(start);
                if !conn.flush().await {
                    return false;
                }
                if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                    Box::pin(monoio::time::sleep(delay)).await;
                }
                return crate::dribble::send(conn, &this, how).await && !close;
            }
            if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                // Earlier pipelined answers go out now; this one after its delay.
                let this = conn.wbuf.split_off(start);
                if !conn.flush().await {
                    return false;
                }
                // Boxed: a timer is 640 bytes, and every connection's future would carry it.
                Box::pin(monoio::time::sleep(delay)).await;
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
                // Boxed: a timer is 640 bytes, and every connection's future would carry it.
                Box::pin(monoio::time::sleep(delay)).await;
            }
            inject(worker, conn, kind).await;
            false
        }
        Outcome::Forward { .. } => unreachable!("forwarded above"),
    }
}

impl Conn {
    fn stats_in(&self, worker: &Worker, bytes: usize) {
        worker.stats.bytes_in.add(bytes as u64);
    }
}

/// Breaks the connection the way `kind` says.
pub(crate) async fn inject(worker: &Worker, conn: &mut Conn, kind: FaultKind) {
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
