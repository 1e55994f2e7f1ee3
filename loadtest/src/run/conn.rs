//! One client connection of a worker: a non-blocking socket registered with the worker's
//! epoll, its read buffer, the requests written but not yet answered, and the responses read
//! off it. Requests are copied from their prepared bytes into a write buffer kept for the
//! connection's life; nothing here allocates per request.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

use super::http::{ResponseReader, Step, MAX_HEAD};
use super::mix::Prepared;
use super::sys::{Epoll, ERR, IN, OUT};
use super::tally::Tally;

/// The read buffer: room for a whole response head and then some.
const READ_BUFFER: usize = 2 * MAX_HEAD;

/// A request written and not yet answered.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    /// When it was meant to go out: latency is measured from here.
    pub intended: Instant,
    /// When it went out: timeouts are measured from here.
    pub sent: Instant,
    pub head: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No socket; reconnect at `retry_at`, or as soon as the worker gets to it.
    Down,
    Connecting {
        since: Instant,
    },
    Open,
}

/// Why a connection's requests got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// The peer closed or reset the connection.
    Reset,
    /// A response could not be read.
    Parse,
}

/// What one read answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    /// Requests answered.
    pub done: usize,
    /// When the bytes were read: the answers' end.
    pub at: Instant,
    /// The last answer said the server closes the connection: send nothing more on it.
    pub closing: bool,
}

pub struct Conn {
    stream: Option<TcpStream>,
    pub phase: Phase,
    pub retry_at: Option<Instant>,
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Whether writability is part of the epoll interest (a write did not finish).
    writing: bool,
    pub inflight: VecDeque<InFlight>,
    reader: ResponseReader,
}

impl Conn {
    pub fn new(depth: usize, largest_request: usize) -> Conn {
        Conn {
            stream: None,
            phase: Phase::Down,
            retry_at: None,
            rbuf: vec![0; READ_BUFFER].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::with_capacity(depth * largest_request),
            wpos: 0,
            writing: false,
            inflight: VecDeque::with_capacity(depth),
            reader: ResponseReader::default(),
        }
    }

    /// Starts a non-blocking connect; an error is a failed attempt.
    pub fn connect(&mut self, addr: SocketAddr, ep: &Epoll, token: u64, now: Instant) -> io::Result<()> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream::from(socket);
        ep.add(stream.as_raw_fd(), token, IN | OUT)?;
        self.stream = Some(stream);
        self.phase = Phase::Connecting { since: now };
        self.retry_at = None;
        Ok(())
    }

    /// A connecting socket became writable (or failed): whether it is connected.
    pub fn finish_connect(&mut self, events: u32, ep: &Epoll, token: u64) -> io::Result<()> {
        let stream = self.stream.as_ref().ok_or(io::ErrorKind::NotConnected)?;
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        if events & ERR != 0 {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        ep.modify(stream.as_raw_fd(), token, IN)?;
        self.writing = false;
        self.phase = Phase::Open;
        Ok(())
    }

    /// Closes the socket (which leaves the epoll set) and returns how many requests were
    /// still waiting for an answer.
    pub fn close(&mut self) -> usize {
        self.stream = None;
        self.phase = Phase::Down;
        self.rstart = 0;
        self.rend = 0;
        self.wbuf.clear();
        self.wpos = 0;
        self.writing = false;
        self.reader.reset();
        let lost = self.inflight.len();
        self.inflight.clear();
        lost
    }

    /// Appends a request to the write buffer (sent by the next [`Conn::flush`]).
    pub fn queue(&mut self, request: &Prepared, intended: Instant, now: Instant) {
        self.wbuf.extend_from_slice(&request.wire);
        self.inflight.push_back(InFlight { intended, sent: now, head: request.head });
    }

    /// Writes what is queued; when the socket is full, asks epoll to say when it is not.
    pub fn flush(&mut self, ep: &Epoll, token: u64) -> Result<(), Broken> {
        let Some(stream) = self.stream.as_mut() else { return Err(Broken::Reset) };
        while self.wpos < self.wbuf.len() {
            match stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(Broken::Reset),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.writing {
                        ep.modify(stream.as_raw_fd(), token, IN | OUT).map_err(|_| Broken::Reset)?;
                        self.writing = true;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken::Reset),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        if self.writing {
            ep.modify(stream.as_raw_fd(), token, IN).map_err(|_| Broken::Reset)?;
            self.writing = false;
        }
        Ok(())
    }

    /// Reads what arrived and counts the responses it completes. A connection closed by the
    /// peer is `Err(Reset)` once the response that lasted until the close is counted.
    pub fn read(&mut self, tally: &mut Tally) -> Result<Answered, Broken> {
        let Some(stream) = self.stream.as_mut() else { return Err(Broken::Reset) };
        // Room to read into, always: a read into no room returns 0, which is end-of-file.
        if self.rstart == self.rend {
            (self.rstart, self.rend) = (0, 0);
        } else if self.rend == self.rbuf.len() {
            // A partial response at the end of a full buffer: move it to the front (a head is
            // at most half the buffer, and a body's bytes are consumed as they come).
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            (self.rstart, self.rend) = (0, self.rend - self.rstart);
        }
        let read = stream.read(&mut self.rbuf[self.rend..]);
        let now = Instant::now();
        let n = match read {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                return Ok(Answered { done: 0, at: now, closing: false })
            }
            Err(_) => return Err(Broken::Reset),
        };
        if n == 0 {
            if let Some(status) = self.reader.ends_at_close() {
                if let Some(front) = self.inflight.pop_front() {
                    tally.response(status, now.saturating_duration_since(front.intended));
                    return Ok(Answered { done: 1, at: now, closing: true });
                }
            }
            return Err(Broken::Reset);
        }
        self.rend += n;
        let mut done = 0;
        loop {
            let Some(front) = self.inflight.front() else {
                if self.rstart < self.rend {
                    return Err(Broken::Parse); // bytes nobody asked for
                }
                break;
            };
            match self.reader.advance(&self.rbuf[self.rstart..self.rend], front.head) {
                Ok(Step::More { consumed }) => {
                    self.rstart += consumed;
                    break;
                }
                Ok(Step::Interim { consumed }) => {
                    self.rstart += consumed;
                    tally.interim();
                }
                Ok(Step::Done { consumed, status, close }) => {
                    self.rstart += consumed;
                    tally.response(status, now.saturating_duration_since(front.intended));
                    self.inflight.pop_front();
                    done += 1;
                    if close {
                        return Ok(Answered { done, at: now, closing: true });
                    }
                }
                Err(_) => return Err(Broken::Parse),
            }
        }
        if self.rstart == self.rend {
            // The common case, everything read was answered: the next read starts at 0.
            (self.rstart, self.rend) = (0, 0);
        }
        Ok(Answered { done, at: now, closing: false })
    }
}
