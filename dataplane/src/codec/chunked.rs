//! The incremental chunked-body decoder (RFC 9112 §7.1).

use super::{Limits, RequestError};

/// Longest chunk-size line (size, extensions, not counting the CRLF) accepted, so that a
/// client trickling an endless extension cannot hold memory or the connection forever.
pub const MAX_CHUNK_LINE: usize = 4096;

/// At most this many hex digits in a chunk size (leading zeros included): 16 fill a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// Incremental chunked-body decoder (RFC 9112 §7.1): chunk sizes in hex with optional
/// extensions, trailers allowed (checked, and kept on request), total decoded size capped by
/// `max_body`.
///
/// A byte-at-a-time state machine: input may be split anywhere, and bytes once consumed are
/// never looked at again. After an error every further call returns the same error.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    error: Option<RequestError>,
    max_body: u64,
    max_trailers: usize,
    /// Body bytes announced so far (sizes of all chunks seen, the current one included).
    announced: u64,
    /// Bytes of the current chunk-size line so far.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
    /// The trailer fields as they came (`name: value` lines with their CRLFs), when kept.
    trailers: Option<Vec<u8>>,
}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// How many input bytes were consumed. When `done`, the rest of the input (if any) is the
    /// next pipelined request; otherwise all of the input was consumed.
    pub consumed: usize,
    /// Whether the last chunk and the trailer section are complete: the body is whole.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the hex digits of a chunk size.
    Size { size: u64, digits: u8 },
    /// Whitespace after the size, which must lead to a `;` extension.
    SizeWs { size: u64 },
    /// Skipping chunk extensions up to the CR.
    Ext { size: u64 },
    /// After the CR of the size line.
    SizeLf { size: u64 },
    /// In the data of a chunk.
    Data { remaining: u64 },
    /// Expecting the CR after a chunk's data.
    DataCr,
    /// Expecting the LF after a chunk's data.
    DataLf,
    /// At the start of a trailer field line, or of the final empty line.
    TrailerStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// After the CR of a trailer field line.
    TrailerLf,
    /// After the CR of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

impl ChunkedDecoder {
    /// A decoder for one chunked body of at most `max_body` decoded bytes, with the trailer
    /// section capped at the default [`Limits::max_head`].
    pub fn new(max_body: usize) -> Self {
        Self::with_limits(&Limits { max_body, ..Limits::default() })
    }

    /// A decoder capping the decoded body at `limits.max_body` and the trailer section at
    /// `limits.max_head`.
    pub fn with_limits(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            error: None,
            max_body: u64::try_from(limits.max_body).unwrap_or(u64::MAX),
            max_trailers: limits.max_head,
            announced: 0,
            line_len: 0,
            trailer_len: 0,
            trailers: None,
        }
    }

    /// Keeps the trailer fields (for a proxy to pass on) instead of only checking them.
    pub fn keep_trailers(mut self) -> Self {
        self.trailers = Some(Vec::new());
        self
    }

    /// The trailer fields kept so far: whole `name: value` lines with their CRLFs once
    /// [`is_done`](Self::is_done); empty when none came or they are not kept.
    pub fn trailers(&self) -> &[u8] {
        self.trailers.as_deref().unwrap_or_default()
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as possible, appending body bytes to `out`. Returns how many
    /// input bytes were consumed and whether the final chunk and trailers are complete.
    ///
    /// Errors: [`RequestError::BadChunk`] for invalid framing, [`RequestError::BodyTooLarge`]
    /// as soon as a chunk size takes the body past `max_body` (before its data is read), and
    /// [`RequestError::HeadTooLarge`] for a trailer section longer than `max_head`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Decoded, RequestError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Data { remaining } => {
                    let avail = input.len() - i;
                    let n = usize::try_from(remaining).map_or(avail, |r| r.min(avail));
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 { State::DataCr } else { State::Data { remaining } };
                }
                _ => {
                    if let Err(e) = self.step(input[i]) {
                        self.error = Some(e.clone());
                        return Err(e);
                    }
                    i += 1;
                }
            }
        }
        Ok(Decoded { consumed: i, done: self.state == State::Done })
    }

    /// Advances the state machine by one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), RequestError> {
        if b != b'\r' && matches!(self.state, State::Size { .. } | State::SizeWs { .. } | State::Ext { .. }) {
            self.line_len += 1;
            if self.line_len > MAX_CHUNK_LINE {
                return Err(RequestError::BadChunk("chunk size line too long"));
            }
        }
        if matches!(
            self.state,
            State::TrailerStart | State::TrailerName | State::TrailerValue | State::TrailerLf | State::EndLf
        ) {
            self.trailer_len += 1;
            if self.trailer_len > self.max_trailers {
                return Err(RequestError::HeadTooLarge);
            }
            // Every byte of the field lines; not the final empty line.
            let final_line = self.state == State::EndLf || (self.state == State::TrailerStart && b == b'\r');
            if let (Some(kept), false) = (self.trailers.as_mut(), final_line) {
                kept.push(b);
            }
        }
        self.state = match self.state {
            State::Size { size, digits } => match b {
                _ if b.is_ascii_hexdigit() => {
                    if digits == MAX_SIZE_DIGITS {
                        return Err(RequestError::BadChunk("chunk size has too many digits"));
                    }
                    let size = (size << 4) | u64::from(hex_value(b));
                    if self.announced.checked_add(size).is_none_or(|total| total > self.max_body) {
                        return Err(RequestError::BodyTooLarge);
                    }
                    State::Size { size, digits: digits + 1 }
                }
                _ if digits == 0 => return Err(RequestError::BadChunk("invalid chunk size")),
                b' ' | b'\t' => State::SizeWs { size },
                b';' => State::Ext { size },
                b'\r' => State::SizeLf { size },
                _ => return Err(RequestError::BadChunk("invalid chunk size")),
            },
            State::SizeWs { size } => match b {
                b' ' | b'\t' => State::SizeWs { size },
                b';' => State::Ext { size },
                _ => return Err(RequestError::BadChunk("whitespace after chunk size")),
            },
            State::Ext { size } => match b {
                b'\r' => State::SizeLf { size },
                b'\t' | 0x20..=0x7e | 0x80..=0xff => State::Ext { size },
                _ => return Err(RequestError::BadChunk("invalid byte in chunk extension")),
            },
            State::SizeLf { size } => {
                if b != b'\n' {
                    return Err(RequestError::BadChunk("expected LF after chunk size"));
                }
                self.line_len = 0;
                self.announced += size;
                if size == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: size }
                }
            }
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(RequestError::BadChunk("missing CRLF after chunk data")),
            },
            State::DataLf => match b {
                b'\n' => State::Size { size: 0, digits: 0 },
                _ => return Err(RequestError::BadChunk("missing CRLF after chunk data")),
            },
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                _ if is_tchar(b) => State::TrailerName,
                _ => return Err(RequestError::BadChunk("invalid trailer field")),
            },
            State::TrailerName => match b {
                b':' => State::TrailerValue,
                _ if is_tchar(b) => State::TrailerName,
                _ => return Err(RequestError::BadChunk("invalid trailer field name")),
            },
            State::TrailerValue => match b {
                b'\r' => State::TrailerLf,
                b'\t' | 0x20..=0x7e | 0x80..=0xff => State::TrailerValue,
                _ => return Err(RequestError::BadChunk("invalid trailer field value")),
            },
            State::TrailerLf => match b {
                b'\n' => State::TrailerStart,
                _ => return Err(RequestError::BadChunk("expected LF after trailer field")),
            },
            State::EndLf => match b {
                b'\n' => State::Done,
                _ => return Err(RequestError::BadChunk("expected LF after trailer section")),
            },
            // `decode` handles these without calling `step`.
            State::Data { .. } | State::Done => self.state,
        };
        Ok(())
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
