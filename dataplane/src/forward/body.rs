//! The bodies of a forwarded exchange, streamed: the client's request body to the upstream
//! and the upstream's answer body to the client, each through one pooled buffer and
//! re-framed on the way (a chunked body is decoded and chunked again, a body the upstream ends
//! by closing is chunked for an HTTP/1.1 client). Nothing is held whole.

use std::rc::Rc;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use super::heads::{write_chunk, ClientFraming, LAST_CHUNK};
use super::Failure;
use crate::codec::{ChunkedDecoder, Head, Limits};
use crate::conn::{Conn, ReadResult};
use crate::record::Capture;
use crate::upstream::client::ResponseFraming;
use crate::upstream::UpstreamConn;
use crate::worker::Worker;

/// Streams the rest of the request body from the client to the upstream, draining it from
/// behind the head in `conn.rbuf` as it goes.
pub(super) async fn stream_request_body(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head: &Head,
    up: &mut UpstreamConn,
    mut out: Vec<u8>,
) -> Result<(), Failure> {
    let body_deadline = worker.clock_ms.get().saturating_add(worker.config.body_timeout.as_millis() as u64);
    if head.expect_continue
        && conn.rbuf.len() == head.head_len
        && !conn.write_bytes(crate::conn::CONTINUE).await
    {
        worker.buffers.give(out);
        return Err(Failure::Broken("the client went away".into()));
    }
    let mut chunked = match head.framing {
        crate::codec::BodyFraming::Chunked => {
            Some(ChunkedDecoder::with_limits(&Limits { max_body: usize::MAX, ..worker.config.limits }))
        }
        _ => None,
    };
    let mut remaining = match head.framing {
        crate::codec::BodyFraming::Length(n) => n,
        _ => 0,
    };
    let mut decoded = Vec::new();
    loop {
        let at = head.head_len;
        let done = match &mut chunked {
            None => {
                let take = remaining.min(conn.rbuf.len() - at);
                out.extend_from_slice(&conn.rbuf[at..at + take]);
                conn.rbuf.drain(at..at + take);
                remaining -= take;
                remaining == 0
            }
            Some(decoder) => {
                decoded.clear();
                match decoder.decode(&conn.rbuf[at..], &mut decoded) {
                    Ok(d) => {
                        write_chunk(&mut out, &decoded);
                        conn.rbuf.drain(at..at + d.consumed);
                        if d.done {
                            out.extend_from_slice(LAST_CHUNK);
                        }
                        d.done
                    }
                    Err(e) => {
                        worker.buffers.give(out);
                        return Err(Failure::Broken(format!("the client's chunked body is invalid: {e}")));
                    }
                }
            }
        };
        if !out.is_empty() {
            let (r, buf) = up.stream.write_all(out).await;
            out = buf;
            out.clear();
            if r.is_err() {
                worker.buffers.give(out);
                return Err(Failure::Broken("the upstream stopped reading the request body".into()));
            }
        }
        if done {
            worker.buffers.give(out);
            return Ok(());
        }
        let wait = Duration::from_millis(body_deadline.saturating_sub(worker.clock_ms.get()));
        match conn.read_more(wait, false).await {
            ReadResult::Data => {}
            ReadResult::Closed | ReadResult::TimedOut => {
                worker.buffers.give(out);
                return Err(Failure::Broken("the client's body ended early".into()));
            }
        }
    }
}

/// Streams the answer's body from the upstream to the client, `ub` holding what was read
/// after its head. `Err` when either side failed midway.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stream_response_body(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    up: &mut UpstreamConn,
    mut ub: Vec<u8>,
    framing: ResponseFraming,
    client: ClientFraming,
    timeout_ms: u64,
    mut capture: Option<&mut Capture>,
) -> Result<(), ()> {
    let mut chunked = (framing == ResponseFraming::Chunked).then(|| {
        let decoder = ChunkedDecoder::with_limits(&Limits { max_body: usize::MAX, ..worker.config.limits });
        // A chunked client gets the upstream's trailer fields (a checksum, a status) after the
        // last chunk, as they came.
        if client == ClientFraming::Chunked {
            decoder.keep_trailers()
        } else {
            decoder
        }
    });
    let mut remaining = match framing {
        ResponseFraming::Length(n) => n,
        _ => 0,
    };
    let mut decoded = Vec::new();
    let watch = up.guard.watch.clone();
    let result = loop {
        let done = match framing {
            ResponseFraming::None => true,
            ResponseFraming::Length(_) => {
                let take = (remaining as usize).min(ub.len());
                conn.wbuf.extend_from_slice(&ub[..take]);
                if let Some(c) = capture.as_deref_mut() {
                    c.add(&ub[..take]);
                }
                ub.drain(..take);
                remaining -= take as u64;
                remaining == 0
            }
            ResponseFraming::Close => {
                pass_piece(&mut conn.wbuf, &ub, client);
                if let Some(c) = capture.as_deref_mut() {
                    c.add(&ub);
                }
                ub.clear();
                false
            }
            ResponseFraming::Chunked => {
                decoded.clear();
                let decoder = chunked.as_mut().expect("a chunked answer has a decoder");
                match decoder.decode(&ub, &mut decoded) {
                    Ok(d) => {
                        pass_piece(&mut conn.wbuf, &decoded, client);
                        if let Some(c) = capture.as_deref_mut() {
                            c.add(&decoded);
                        }
                        ub.drain(..d.consumed);
                        d.done
                    }
                    Err(_) => break Err(()),
                }
            }
        };
        if done && client == ClientFraming::Chunked {
            match chunked.as_ref().map(ChunkedDecoder::trailers).filter(|t| !t.is_empty()) {
                Some(trailers) => {
                    conn.wbuf.extend_from_slice(b"0\r\n");
                    conn.wbuf.extend_from_slice(trailers);
                    conn.wbuf.extend_from_slice(b"\r\n");
                }
                None => conn.wbuf.extend_from_slice(LAST_CHUNK),
            }
        }
        worker.stats.bytes_out.add(conn.wbuf.len() as u64);
        if !conn.wbuf.is_empty() && !conn.flush().await {
            break Err(());
        }
        if done {
            break Ok(());
        }
        watch.deadline_ms.set(worker.clock_ms.get().saturating_add(timeout_ms));
        let had = ub.len();
        let (r, slice) = up.stream.read(ub.slice_mut(had..)).await;
        ub = slice.into_inner();
        match r {
            _ if watch.expired.get() => break Err(()),
            Ok(0) if framing == ResponseFraming::Close => {
                if client == ClientFraming::Chunked {
                    conn.wbuf.extend_from_slice(LAST_CHUNK);
                }
                break if conn.flush().await { Ok(()) } else { Err(()) };
            }
            Ok(0) | Err(_) => break Err(()),
            Ok(_) => {}
        }
    };
    worker.buffers.give(ub);
    result
}

/// A piece of a body of unknown length, as the client gets it.
fn pass_piece(wbuf: &mut Vec<u8>, piece: &[u8], client: ClientFraming) {
    match client {
        ClientFraming::Chunked => write_chunk(wbuf, piece),
        _ => wbuf.extend_from_slice(piece),
    }
}
