//! Reading responses off a connection: just enough of HTTP/1.1 to find where each response
//! ends (status line and headers by `httparse`, then a content-length, chunked or
//! until-close body) and its status. Bodies are skipped, never copied or kept.

use thiserror::Error;

/// How far a response head may grow before the response is refused: far more than a mock or
/// a web server sends, and small enough that 10,000 connections' read buffers (twice this)
/// take 160 MB.
pub const MAX_HEAD: usize = 8 * 1024;
/// Header lines a response may have.
const MAX_HEADERS: usize = 64;
/// A chunk-size or trailer line longer than this is not HTTP.
const MAX_LINE: usize = 4096;

/// A response that cannot be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("malformed response head: {0}")]
    Head(httparse::Error),
    #[error("response head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    #[error("status {0} is not a status")]
    Status(u16),
    #[error("bad content-length")]
    ContentLength,
    #[error("bad chunk")]
    Chunk,
}

/// What one call to [`ResponseReader::advance`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// More bytes are needed; `consumed` bytes (a body's part) may be dropped.
    More { consumed: usize },
    /// An interim (1xx) response of `consumed` bytes; the final one follows.
    Interim { consumed: usize },
    /// A whole response ended after `consumed` bytes; `close`: the server closes the
    /// connection after it (`connection: close`, or HTTP/1.0 without keep-alive).
    Done { consumed: usize, status: u16, close: bool },
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this much left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Head,
    Fixed { status: u16, left: u64 },
    Chunked { status: u16, chunk: Chunk },
    UntilClose { status: u16 },
}

/// The reading state of one connection, kept across reads.
#[derive(Debug)]
pub struct ResponseReader {
    state: State,
    /// Whether the response being read is the connection's last.
    close: bool,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader { state: State::Head, close: false }
    }
}

impl ResponseReader {
    /// Forgets a response half read (the connection is gone).
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.close = false;
    }

    /// Whether the response being read ends when the connection closes; if so, its status.
    pub fn ends_at_close(&self) -> Option<u16> {
        match self.state {
            State::UntilClose { status } => Some(status),
            _ => None,
        }
    }

    /// Reads from `buf` (the unread bytes) for the response to a request whose method was
    /// HEAD when `head` is true.
    pub fn advance(&mut self, buf: &[u8], head: bool) -> Result<Step, ParseError> {
        let mut used = 0;
        loop {
            let rest = &buf[used..];
            match self.state {
                State::Head => {
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut resp = httparse::Response::new(&mut headers);
                    let n = match resp.parse(rest).map_err(ParseError::Head)? {
                        httparse::Status::Complete(n) => n,
                        httparse::Status::Partial if rest.len() >= MAX_HEAD => {
                            return Err(ParseError::HeadTooLong)
                        }
                        httparse::Status::Partial => return Ok(Step::More { consumed: used }),
                    };
                    let status = resp.code.expect("a complete head has a status");
                    if !(100..=599).contains(&status) {
                        return Err(ParseError::Status(status));
                    }
                    if status < 200 {
                        return Ok(Step::Interim { consumed: used + n });
                    }
                    used += n;
                    let mut length = None;
                    let mut chunked = false;
                    let mut keep_alive = resp.version == Some(1);
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let v = std::str::from_utf8(h.value).map_err(|_| ParseError::ContentLength)?;
                            let v: u64 = v.trim().parse().map_err(|_| ParseError::ContentLength)?;
                            if length.is_some_and(|l| l != v) {
                                return Err(ParseError::ContentLength);
                            }
                            length = Some(v);
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            for option in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                                if option.eq_ignore_ascii_case(b"close") {
                                    keep_alive = false;
                                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                                    keep_alive = true;
                                }
                            }
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            // The last coding decides (RFC 9112 §6.3).
                            chunked = h
                                .value
                                .rsplit(|b| *b == b',')
                                .next()
                                .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                        }
                    }
                    self.close = !keep_alive;
                    self.state = if head || status == 204 || status == 304 {
                        State::Fixed { status, left: 0 }
                    } else if chunked {
                        State::Chunked { status, chunk: Chunk::Size }
                    } else if let Some(left) = length {
                        State::Fixed { status, left }
                    } else {
                        State::UntilClose { status }
                    };
                }
                State::Fixed { status, left } => {
                    let take = left.min(rest.len() as u64);
                    used += take as usize;
                    if take == left {
                        self.state = State::Head;
                        return Ok(Step::Done { consumed: used, status, close: self.close });
                    }
                    self.state = State::Fixed { status, left: left - take };
                    return Ok(Step::More { consumed: used });
                }
                State::UntilClose { .. } => return Ok(Step::More { consumed: buf.len() }),
                State::Chunked { status, chunk } => match chunk {
                    Chunk::Size | Chunk::Trailers | Chunk::DataEnd => {
                        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                            if rest.len() > MAX_LINE {
                                return Err(ParseError::Chunk);
                            }
                            return Ok(Step::More { consumed: used });
                        };
                        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
                        used += end + 1;
                        let next = match chunk {
                            Chunk::DataEnd if line.is_empty() => Chunk::Size,
                            Chunk::DataEnd => return Err(ParseError::Chunk),
                            Chunk::Trailers if line.is_empty() => {
                                self.state = State::Head;
                                return Ok(Step::Done { consumed: used, status, close: self.close });
                            }
                            Chunk::Trailers => Chunk::Trailers,
                            _ => match chunk_size(line)? {
                                0 => Chunk::Trailers,
                                n => Chunk::Data(n),
                            },
                        };
                        self.state = State::Chunked { status, chunk: next };
                    }
                    Chunk::Data(left) => {
                        let take = left.min(rest.len() as u64);
                        used += take as usize;
                        let next = if take == left { Chunk::DataEnd } else { Chunk::Data(left - take) };
                        self.state = State::Chunked { status, chunk: next };
                        if take < left {
                            return Ok(Step::More { consumed: used });
                        }
                    }
                },
            }
        }
    }
}

/// The size of a chunk-size line (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let digits = line.split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(ParseError::Chunk);
    }
    let mut n = 0u64;
    for d in digits {
        let v = (*d as char).to_digit(16).ok_or(ParseError::Chunk)?;
        n = n * 16 + u64::from(v);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes, as reads would deliver it, and returns the
    /// status of each whole response found and whether the connection closes after it.
    fn read_all(wire: &[u8], step: usize, head: bool) -> Result<Vec<(u16, bool)>, ParseError> {
        let mut r = ResponseReader::default();
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match r.advance(&buf, head)? {
                    Step::More { consumed } => {
                        buf.drain(..consumed);
                        break;
                    }
                    Step::Interim { consumed } => {
                        buf.drain(..consumed);
                    }
                    Step::Done { consumed, status, close } => {
                        buf.drain(..consumed);
                        out.push((status, close));
                    }
                }
            }
        }
        Ok(out)
    }

    const MIXED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nx-t: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\nHTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\nconnection: Close\r\n\r\n";

    #[test]
    fn finds_every_response_end_whatever_the_read_sizes() {
        for step in [1, 2, 3, 7, 64, MIXED.len()] {
            assert_eq!(
                read_all(MIXED, step, false),
                Ok(vec![(200, false), (404, false), (204, false), (503, true)]),
                "reads of {step} bytes"
            );
        }
    }

    #[test]
    fn a_head_response_has_no_body_whatever_its_content_length() {
        let wire =
            b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n";
        assert_eq!(read_all(wire, 5, true), Ok(vec![(200, false), (200, false)]));
    }

    #[test]
    fn an_http_1_0_response_closes_unless_it_keeps_alive() {
        let wire = b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\nHTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(read_all(wire, 9, false), Ok(vec![(200, false), (200, true)]));
    }

    #[test]
    fn a_response_without_length_lasts_until_the_connection_closes() {
        let mut r = ResponseReader::default();
        let wire = b"HTTP/1.0 200 OK\r\n\r\nsome body";
        assert_eq!(r.advance(wire, false), Ok(Step::More { consumed: wire.len() }));
        assert_eq!(r.ends_at_close(), Some(200));
    }

    #[test]
    fn refuses_what_is_not_a_response() {
        assert!(matches!(read_all(b"garbage\r\n\r\n", 4, false), Err(ParseError::Head(_))));
        assert_eq!(
            read_all(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", 64, false),
            Err(ParseError::ContentLength)
        );
        assert_eq!(
            read_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n", 64, false),
            Err(ParseError::ContentLength)
        );
        assert_eq!(
            read_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", 64, false),
            Err(ParseError::Chunk)
        );
        assert_eq!(read_all(b"HTTP/1.1 700 What\r\n\r\n", 64, false), Err(ParseError::Status(700)));
        let long = [b"HTTP/1.1 200 OK\r\nx: ".as_slice(), &vec![b'a'; MAX_HEAD]].concat();
        assert_eq!(read_all(&long, 1024, false), Err(ParseError::HeadTooLong));
    }
}
