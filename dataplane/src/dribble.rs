//! `chunked_dribble`: a response whose body is sent in pieces spread over time (WireMock's
//! `chunkedDribbleDelay`), to test clients against a slow network or a streaming upstream.
//!
//! The answer is prepared whole as usual, except its head: over HTTP/1.1 the content length
//! gives way to chunked encoding, one chunk a piece; an HTTP/1.0 client, which knows no
//! chunks, keeps the length and gets the pieces as they come. Each piece goes out after a
//! pause of `total / pieces` on the worker's timer, the head with the first, so the last one
//! arrives `total` after the answer began, as WireMock 3's server sends them. Dribbled answers wait by design, so
//! the small allocations here (the split answer, a timer a piece) stay off the fast path.

use std::io::Write as _;

use mockplane_rules::Dribble;

use crate::conn::Conn;

/// A prepared answer to send dribbled: where its body starts (from the answer's first byte)
/// and whether the body is framed as chunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dribbled {
    pub(crate) plan: Dribble,
    pub(crate) body_at: usize,
    pub(crate) chunked: bool,
}

/// Appends `head` (the status line and header lines, the content length last, as the rules
/// engine prepares them) for a dribbled body: chunked instead of the length, unless `http10`.
pub(crate) fn write_head(wbuf: &mut Vec<u8>, head: &[u8], http10: bool) {
    if http10 {
        wbuf.extend_from_slice(head);
        return;
    }
    let last_line =
        head[..head.len().saturating_sub(2)].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    debug_assert!(head[last_line..].starts_with(b"content-length:"), "the length is the head's last line");
    wbuf.extend_from_slice(&head[..last_line]);
    wbuf.extend_from_slice(b"transfer-encoding: chunked\r\n");
}

/// The body cut as WireMock cuts it: `chunks` pieces (fewer for a shorter body), each the
/// same length but the last, which takes the rest.
pub(crate) fn pieces(len: usize, chunks: u32) -> impl Iterator<Item = std::ops::Range<usize>> {
    let n = (chunks as usize).min(len).max(1);
    let size = len / n;
    (0..n).map(move |i| i * size..if i + 1 == n { len } else { (i + 1) * size })
}

/// Sends `answer` (head, blank line, then the body from `how.body_at`) dribbled: each piece
/// after a pause, the head with the first, as WireMock's server sends them. `false` when the
/// client went away.
pub(crate) async fn send(conn: &mut Conn, answer: &[u8], how: Dribbled) -> bool {
    let (head, body) = answer.split_at(how.body_at);
    conn.wbuf.extend_from_slice(head);
    if body.is_empty() {
        // Nothing to dribble: WireMock sends such an answer at once.
        if how.chunked {
            conn.wbuf.extend_from_slice(b"0\r\n\r\n");
        }
        return conn.flush().await;
    }
    let count = pieces(body.len(), how.plan.chunks).count() as u32;
    let pause = how.plan.total / count;
    for range in pieces(body.len(), how.plan.chunks) {
        // Boxed: a timer is 640 bytes, and every connection's future would carry it.
        Box::pin(monoio::time::sleep(pause)).await;
        let last = range.end == body.len();
        let piece = &body[range];
        if how.chunked {
            let _ = write!(conn.wbuf, "{:x}\r\n", piece.len());
            conn.wbuf.extend_from_slice(piece);
            conn.wbuf.extend_from_slice(if last { b"\r\n0\r\n\r\n".as_slice() } else { b"\r\n" });
        } else {
            conn.wbuf.extend_from_slice(piece);
        }
        if !conn.flush().await {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_as_wiremock_does() {
        let cut = |len, n| pieces(len, n).collect::<Vec<_>>();
        assert_eq!(cut(24, 3), vec![0..8, 8..16, 16..24]);
        assert_eq!(cut(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(cut(2, 5), vec![0..1, 1..2]);
        assert_eq!(cut(0, 4), vec![0..0]);
    }

    #[test]
    fn the_length_gives_way_to_chunks() {
        let head = b"HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 24\r\n";
        let mut out = Vec::new();
        write_head(&mut out, head, false);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n");
        out.clear();
        write_head(&mut out, head, true);
        assert_eq!(out, head);
    }
}
