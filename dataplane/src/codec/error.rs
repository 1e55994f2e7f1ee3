//! Why a request is refused, and the response that tells the client.

/// Why a request is refused; each maps to the status the client gets, and every one of them
/// closes the connection after the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request head (or a chunked body's trailer section) exceeds [`Limits::max_head`].
    /// Status 431.
    ///
    /// [`Limits::max_head`]: super::Limits::max_head
    #[error("request head too large")]
    HeadTooLarge,
    /// The request has more header fields than [`Limits::max_headers`]. Status 431.
    ///
    /// [`Limits::max_headers`]: super::Limits::max_headers
    #[error("too many header fields")]
    TooManyHeaders,
    /// The request line or a header field is not valid HTTP/1.1, or the head is ambiguous
    /// (the text says what was wrong). Status 400.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// A `Content-Length` value is not a plain decimal number, overflows, or several values
    /// differ. Status 400.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// The body is (or declares to be) larger than [`Limits::max_body`]. Status 413.
    ///
    /// [`Limits::max_body`]: super::Limits::max_body
    #[error("request body too large")]
    BodyTooLarge,
    /// A `Transfer-Encoding` other than exactly `chunked`. Status 501.
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
    /// The chunked body is not valid chunked framing (the text says what was wrong).
    /// Status 400.
    #[error("invalid chunked body: {0}")]
    BadChunk(&'static str),
    /// An HTTP version other than 1.0 or 1.1, such as the HTTP/2 connection preface.
    /// Status 505.
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
}

// The pre-built responses. `tests::responses_are_well_formed` checks every content-length.
const RESP_HEAD_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
content-type: text/plain\r\ncontent-length: 23\r\nconnection: close\r\n\r\n\
request head too large\n";
const RESP_TOO_MANY_HEADERS: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
content-type: text/plain\r\ncontent-length: 23\r\nconnection: close\r\n\r\n\
too many header fields\n";
const RESP_MALFORMED: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
content-type: text/plain\r\ncontent-length: 18\r\nconnection: close\r\n\r\n\
malformed request\n";
const RESP_BAD_CONTENT_LENGTH: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
content-type: text/plain\r\ncontent-length: 23\r\nconnection: close\r\n\r\n\
invalid content-length\n";
const RESP_BODY_TOO_LARGE: &[u8] = b"HTTP/1.1 413 Content Too Large\r\n\
content-type: text/plain\r\ncontent-length: 23\r\nconnection: close\r\n\r\n\
request body too large\n";
const RESP_UNSUPPORTED_TE: &[u8] = b"HTTP/1.1 501 Not Implemented\r\n\
content-type: text/plain\r\ncontent-length: 30\r\nconnection: close\r\n\r\n\
unsupported transfer-encoding\n";
const RESP_BAD_CHUNK: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
content-type: text/plain\r\ncontent-length: 21\r\nconnection: close\r\n\r\n\
invalid chunked body\n";
const RESP_UNSUPPORTED_VERSION: &[u8] = b"HTTP/1.1 505 HTTP Version Not Supported\r\n\
content-type: text/plain\r\ncontent-length: 25\r\nconnection: close\r\n\r\n\
unsupported HTTP version\n";

impl RequestError {
    /// The status code the client gets for this error.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::Malformed(_) | RequestError::BadContentLength | RequestError::BadChunk(_) => 400,
            RequestError::BodyTooLarge => 413,
            RequestError::UnsupportedTransferEncoding => 501,
            RequestError::UnsupportedVersion => 505,
        }
    }

    /// The complete response to write before closing the connection: status line,
    /// `content-type: text/plain`, `content-length`, `connection: close`, the blank line, and
    /// a one-line body naming the problem.
    pub fn response(&self) -> &'static [u8] {
        match self {
            RequestError::HeadTooLarge => RESP_HEAD_TOO_LARGE,
            RequestError::TooManyHeaders => RESP_TOO_MANY_HEADERS,
            RequestError::Malformed(_) => RESP_MALFORMED,
            RequestError::BadContentLength => RESP_BAD_CONTENT_LENGTH,
            RequestError::BodyTooLarge => RESP_BODY_TOO_LARGE,
            RequestError::UnsupportedTransferEncoding => RESP_UNSUPPORTED_TE,
            RequestError::BadChunk(_) => RESP_BAD_CHUNK,
            RequestError::UnsupportedVersion => RESP_UNSUPPORTED_VERSION,
        }
    }
}
