//! One worker thread: its connections on one epoll instance, driven closed loop (every
//! connection keeps `pipeline` requests in flight, topped up as answers arrive) or open loop
//! (requests scheduled at fixed intervals from the start and sent on the first connection
//! with room; latency counts from the scheduled time, so a stalled server or a busy
//! generator shows in the percentiles instead of slowing the schedule).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Answered, Broken, Conn, Phase};
use super::mix::Mix;
use super::sys::{self, Epoll, ERR, IN, OUT};
use super::tally::Tally;

/// How often connections are checked for timeouts and due reconnects.
const CHECK_EVERY: Duration = Duration::from_millis(10);
/// How long a connection waits before connecting again after a failed attempt.
const RECONNECT_AFTER: Duration = Duration::from_millis(10);
/// An open-loop request sent later than this after its scheduled time is late.
pub const LATE_AFTER: Duration = Duration::from_millis(1);

/// What one worker is to do.
pub struct WorkerPlan {
    pub index: usize,
    pub addr: SocketAddr,
    pub mix: Arc<Mix>,
    pub connections: usize,
    pub depth: usize,
    /// Open loop: this worker's share of the rate, and when its first request is due.
    pub schedule: Option<(f64, Instant)>,
    /// This worker's share of `--requests` (connect failures count).
    pub quota: Option<u64>,
    pub deadline: Option<Instant>,
    pub timeout: Duration,
    pub pin: Option<usize>,
    pub progress: Arc<Progress>,
}

/// Counts the main thread reads for the progress line: one padded slot per worker, each
/// written only by its worker.
pub struct Progress {
    slots: Vec<ProgressSlot>,
}

#[repr(align(64))]
#[derive(Default)]
struct ProgressSlot {
    responses: AtomicU64,
    errors: AtomicU64,
}

impl Progress {
    pub fn new(workers: usize) -> Progress {
        Progress { slots: (0..workers).map(|_| ProgressSlot::default()).collect() }
    }

    /// Responses and errors so far, all workers together.
    pub fn totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(r, e), s| {
            (r + s.responses.load(Ordering::Relaxed), e + s.errors.load(Ordering::Relaxed))
        })
    }
}

struct Worker {
    plan: WorkerPlan,
    ep: Epoll,
    conns: Vec<Conn>,
    tally: Tally,
    /// Position in the mix's weighted order.
    cursor: usize,
    /// Requests sent plus failed connection attempts: what `--requests` bounds.
    attempts: u64,
    inflight: usize,
    sending: bool,
    /// Open loop: connections with room for one more request, once per free place.
    room: VecDeque<u32>,
    /// Open loop: the number of the next scheduled request, and the time between two.
    next: u64,
    interval_ns: f64,
}

/// Runs a worker to the end; returns its counts and when it stopped.
pub fn run(plan: WorkerPlan) -> io::Result<(Tally, Instant)> {
    if let Some(core) = plan.pin {
        sys::pin_current_thread(core)
            .map_err(|e| io::Error::new(e.kind(), format!("pinning to core {core}: {e}")))?;
    }
    let largest = plan.mix.prepared.iter().map(|p| p.wire.len()).max().unwrap_or(0);
    let conns = (0..plan.connections).map(|_| Conn::new(plan.depth, largest)).collect();
    let interval_ns = plan.schedule.map_or(0.0, |(rate, _)| 1e9 / rate);
    let mut w = Worker {
        tally: Tally::new(plan.mix.prepared.len()),
        cursor: plan.index * 7919 % plan.mix.order.len(),
        room: VecDeque::with_capacity(plan.connections * plan.depth * 2),
        ep: Epoll::new()?,
        conns,
        attempts: 0,
        inflight: 0,
        sending: true,
        next: 0,
        interval_ns,
        plan,
    };
    w.run()?;
    Ok((w.tally, Instant::now()))
}

impl Worker {
    fn run(&mut self) -> io::Result<()> {
        let now = Instant::now();
        for i in 0..self.conns.len() {
            self.open(i, now);
        }
        let mut events = vec![sys::empty_event(); 256];
        let mut next_check = now + CHECK_EVERY;
        loop {
            let now = Instant::now();
            if self.plan.deadline.is_some_and(|d| now >= d) {
                break;
            }
            if !self.may_send() && self.inflight == 0 {
                break;
            }
            if now >= next_check {
                self.check(now);
                next_check = now + CHECK_EVERY;
            }
            let mut wake = next_check;
            if let Some((_, first)) = self.plan.schedule {
                let due = self.dispatch(first, Instant::now());
                if let Some(due) = due {
                    wake = wake.min(due);
                }
            }
            if let Some(d) = self.plan.deadline {
                wake = wake.min(d);
            }
            let n = self.ep.wait(&mut events, Some(wake.saturating_duration_since(Instant::now())))?;
            for ev in &events[..n] {
                let (token, bits) = (ev.u64, ev.events);
                self.on_event(usize::try_from(token).expect("tokens are indices"), bits);
            }
            let slot = &self.plan.progress.slots[self.plan.index];
            slot.responses.store(self.tally.requests, Ordering::Relaxed);
            slot.errors.store(self.tally.errors.total(), Ordering::Relaxed);
        }
        self.tally.unfinished = self.inflight as u64;
        Ok(())
    }

    fn may_send(&self) -> bool {
        self.sending && self.plan.quota.is_none_or(|q| self.attempts < q)
    }

    /// The next request of the weighted order.
    fn next_request(&mut self) -> usize {
        let i = self.plan.mix.order[self.cursor] as usize;
        self.cursor = (self.cursor + 1) % self.plan.mix.order.len();
        i
    }

    fn open(&mut self, i: usize, now: Instant) {
        if !self.may_send() {
            return;
        }
        let c = &mut self.conns[i];
        if c.connect(self.plan.addr, &self.ep, i as u64, now).is_err() {
            self.connect_failed(i, now);
        }
    }

    fn connect_failed(&mut self, i: usize, now: Instant) {
        self.tally.errors.connect += 1;
        self.attempts += 1;
        let lost = self.conns[i].close();
        self.inflight -= lost;
        self.conns[i].retry_at = Some(now + RECONNECT_AFTER);
    }

    /// The connection's requests got no answer: count them, and connect again.
    fn broken(&mut self, i: usize, why: Broken, now: Instant) {
        let lost = self.conns[i].close() as u64;
        self.inflight -= lost as usize;
        match why {
            Broken::Reset => self.tally.errors.reset += lost,
            Broken::Parse => self.tally.errors.parse += lost.max(1),
        }
        self.open(i, now);
    }

    fn on_event(&mut self, i: usize, bits: u32) {
        match self.conns[i].phase {
            Phase::Down => {}
            Phase::Connecting { .. } => {
                if bits & (OUT | ERR) == 0 {
                    return;
                }
                let now = Instant::now();
                match self.conns[i].finish_connect(bits, &self.ep, i as u64) {
                    Ok(()) => self.on_open(i, now),
                    Err(_) => self.connect_failed(i, now),
                }
            }
            Phase::Open => {
                if bits & OUT != 0 {
                    if let Err(why) = self.conns[i].flush(&self.ep, i as u64) {
                        return self.broken(i, why, Instant::now());
                    }
                }
                if bits & (IN | ERR) == 0 {
                    return;
                }
                match self.conns[i].read(&mut self.tally) {
                    Ok(Answered { done: 0, .. }) => {}
                    // The server closes after this answer: what was sent after it is lost.
                    Ok(Answered { done, at, closing: true }) => {
                        self.inflight -= done;
                        self.broken(i, Broken::Reset, at);
                    }
                    Ok(Answered { done, at, closing: false }) => {
                        self.inflight -= done;
                        if self.plan.schedule.is_some() {
                            self.room.extend(std::iter::repeat_n(i as u32, done));
                        } else {
                            self.top_up(i, at);
                        }
                    }
                    Err(why) => self.broken(i, why, Instant::now()),
                }
            }
        }
    }

    fn on_open(&mut self, i: usize, now: Instant) {
        if self.plan.schedule.is_some() {
            self.room.extend(std::iter::repeat_n(i as u32, self.plan.depth));
        } else {
            self.top_up(i, now);
        }
    }

    /// Closed loop: fills the connection's pipeline and writes it.
    fn top_up(&mut self, i: usize, now: Instant) {
        let mut queued = false;
        while self.conns[i].inflight.len() < self.plan.depth && self.may_send() {
            let r = self.next_request();
            self.conns[i].queue(&self.plan.mix.prepared[r], now, now);
            self.tally.sent_by_entry[r] += 1;
            self.attempts += 1;
            self.inflight += 1;
            queued = true;
        }
        if queued {
            if let Err(why) = self.conns[i].flush(&self.ep, i as u64) {
                self.broken(i, why, now);
            }
        }
    }

    /// Open loop: sends every request whose time has come on connections with room; returns
    /// when the next one is due, if there is room for it.
    fn dispatch(&mut self, first: Instant, now: Instant) -> Option<Instant> {
        while self.may_send() {
            let due = first + Duration::from_nanos((self.next as f64 * self.interval_ns) as u64);
            if due > now {
                return (!self.room.is_empty()).then_some(due);
            }
            let i = self.take_room()?;
            let r = self.next_request();
            self.conns[i].queue(&self.plan.mix.prepared[r], due, now);
            self.tally.sent_by_entry[r] += 1;
            if now.saturating_duration_since(due) > LATE_AFTER {
                self.tally.late += 1;
            }
            self.attempts += 1;
            self.inflight += 1;
            self.next += 1;
            if let Err(why) = self.conns[i].flush(&self.ep, i as u64) {
                self.broken(i, why, now);
            }
        }
        None
    }

    /// A connection with room for one more request; places left by closed connections are
    /// dropped here.
    fn take_room(&mut self) -> Option<usize> {
        while let Some(i) = self.room.pop_front() {
            let c = &self.conns[i as usize];
            if c.phase == Phase::Open && c.inflight.len() < self.plan.depth {
                return Some(i as usize);
            }
        }
        None
    }

    /// Timeouts of connects and answers, and reconnects that are due.
    fn check(&mut self, now: Instant) {
        let timeout = self.plan.timeout;
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            match c.phase {
                Phase::Connecting { since } if now.saturating_duration_since(since) > timeout => {
                    self.connect_failed(i, now)
                }
                Phase::Open
                    if c.inflight
                        .front()
                        .is_some_and(|f| now.saturating_duration_since(f.sent) > timeout) =>
                {
                    let lost = self.conns[i].close() as u64;
                    self.inflight -= lost as usize;
                    self.tally.errors.timeout += lost;
                    self.open(i, now);
                }
                Phase::Down if c.retry_at.is_none_or(|t| t <= now) => self.open(i, now),
                _ => {}
            }
        }
    }
}
