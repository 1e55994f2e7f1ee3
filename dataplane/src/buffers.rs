//! A worker's pool of I/O buffers: a connection holds a full-size read or write buffer only
//! while it reads a request or writes an answer, and gives it back when it goes idle, so that
//! thousands of idle keep-alive connections cost a small read buffer each, not 32 KiB.
//!
//! The pool is per worker (no sharing, no locks) and bounded: after a burst of connections,
//! buffers beyond its size (`--pooled-buffers`, [`DEFAULT_POOLED_BUFFERS`]) go back to the
//! allocator, and buffers a large body grew are never kept.

use std::cell::RefCell;

/// The size of a pooled buffer: what a read asks for, and a write buffer's first capacity.
pub(crate) const BUF: usize = 16 * 1024;

/// The read buffer a connection keeps while it waits between requests: a request head that
/// fits (nearly all do) is read with no pooled buffer at all.
pub(crate) const IDLE_READ: usize = 1024;

/// Free buffers kept per worker by default (1 MiB).
pub const DEFAULT_POOLED_BUFFERS: usize = 64;

/// Free buffers of [`BUF`] bytes (or a little more).
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: RefCell<Vec<Vec<u8>>>,
    /// The most free buffers kept.
    max: usize,
}

impl BufferPool {
    /// A pool keeping at most `max` free buffers.
    pub(crate) fn new(max: usize) -> Self {
        BufferPool { free: RefCell::new(Vec::new()), max }
    }

    /// An empty buffer with room for at least [`BUF`] bytes.
    #[inline]
    pub(crate) fn take(&self) -> Vec<u8> {
        self.free.borrow_mut().pop().unwrap_or_else(|| Vec::with_capacity(BUF))
    }

    /// Takes `buf` back, emptied, unless the pool is full or `buf` is not pool-sized.
    #[inline]
    pub(crate) fn give(&self, mut buf: Vec<u8>) {
        if !(BUF..=4 * BUF).contains(&buf.capacity()) {
            return;
        }
        let mut free = self.free.borrow_mut();
        if free.len() < self.max {
            buf.clear();
            free.push(buf);
        }
    }

    /// Buffers waiting in the pool.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.free.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_the_pool_stays_bounded() {
        let pool = BufferPool::new(DEFAULT_POOLED_BUFFERS);
        let mut a = pool.take();
        assert!(a.capacity() >= BUF);
        a.extend_from_slice(b"leftover");
        let at = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert_eq!((b.as_ptr(), b.len()), (at, 0), "the same buffer, emptied");
        pool.give(b);
        for _ in 0..DEFAULT_POOLED_BUFFERS * 2 {
            pool.give(Vec::with_capacity(BUF));
        }
        assert_eq!(pool.len(), DEFAULT_POOLED_BUFFERS);
    }

    #[test]
    fn small_and_grown_buffers_are_not_kept() {
        let pool = BufferPool::new(DEFAULT_POOLED_BUFFERS);
        pool.give(Vec::with_capacity(IDLE_READ));
        pool.give(Vec::with_capacity(10 * 1024 * 1024));
        assert_eq!(pool.len(), 0);
    }
}
