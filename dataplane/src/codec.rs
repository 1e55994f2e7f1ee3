//! The HTTP/1.1 request codec: pure and synchronous, no I/O.
//!
//! [`parse_head`] parses the request line and header fields at the start of a buffer and
//! returns them as offsets into that buffer ([`Head`]), together with how the body is framed
//! ([`BodyFraming`]). A body framed by `Content-Length` is simply the next `n` bytes; a chunked
//! body goes through [`ChunkedDecoder`], which is fed whatever bytes have arrived.
//!
//! The codec is strict on purpose, since a mock server often sits behind or in front of a
//! proxy: anything that two HTTP implementations could frame differently (request smuggling)
//! is refused with a [`RequestError`] rather than guessed at. Each error carries the status and
//! a complete pre-built response ([`RequestError::response`]); the connection is closed after
//! sending it.

#![warn(missing_docs)]

mod chunked;
mod error;
mod head;

pub use chunked::{ChunkedDecoder, Decoded, MAX_CHUNK_LINE};
pub use error::RequestError;
pub use head::{parse_head, BodyFraming, Head, HeaderIter, HeaderSpan};

/// Size limits applied while parsing one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line, header fields and the blank line), and largest
    /// trailer section of a chunked body, in bytes. Default 64 KiB.
    pub max_head: usize,
    /// Most header fields in one request head; values above [`MAX_HEADERS_CAP`] act as
    /// [`MAX_HEADERS_CAP`]. Default 100.
    pub max_headers: usize,
    /// Largest request body, in bytes, after chunked decoding. Default 10 MiB.
    pub max_body: usize,
}

/// The hard upper bound on [`Limits::max_headers`]: the header array handed to `httparse`
/// lives on the stack and has this many slots.
pub const MAX_HEADERS_CAP: usize = 100;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head: 64 * 1024, max_headers: 100, max_body: 10 * 1024 * 1024 }
    }
}

#[cfg(test)]
mod tests;
