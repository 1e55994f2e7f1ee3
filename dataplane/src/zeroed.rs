//! Arrays of atomic counters in memory that the kernel backs only as it is written, so that a
//! journal ring or a table's per-rule counters cost memory in proportion to what has been
//! recorded, not to their capacity.
//!
//! Large arrays are mapped straight from the kernel (anonymous `mmap`): its pages read as
//! zero and are backed on first write. Asking the allocator for zeroed memory is not enough:
//! measured with mimalloc, a 4 MB ring allocated after the rules were compiled came from
//! memory the compile had used and freed, and was zeroed, so written, at once (6 MB of
//! resident memory for two empty journals).

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// Below this many bytes an array comes from the allocator (and is written at once).
const MAP_FROM: usize = 64 << 10;

/// `len` atomics, all zero.
pub(crate) struct Atomics(Inner);

enum Inner {
    Heap(Box<[AtomicU64]>),
    Mapped { ptr: NonNull<AtomicU64>, len: usize },
}

// SAFETY: the mapping is owned by this value alone (unmapped on drop) and only ever handed
// out as `&[AtomicU64]`, which is `Send` and `Sync`.
unsafe impl Send for Atomics {}
// SAFETY: as above.
unsafe impl Sync for Atomics {}

impl Atomics {
    /// `len` atomics, all zero; memory from `MAP_FROM` bytes on is backed as it is written.
    pub(crate) fn new(len: usize) -> Self {
        let bytes = len.checked_mul(8).expect("an array of counters that fits in memory");
        if bytes >= MAP_FROM {
            // SAFETY: an anonymous private mapping of `bytes` > 0 bytes at an address of the
            // kernel's choosing; it touches no existing memory.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr != libc::MAP_FAILED {
                // The kernel maps at page boundaries: aligned for `AtomicU64`, and zeroed,
                // which is a valid `AtomicU64`.
                if let Some(ptr) = NonNull::new(ptr.cast::<AtomicU64>()) {
                    return Atomics(Inner::Mapped { ptr, len });
                }
            }
            // Out of address space: the allocator may still find the memory.
        }
        Atomics(Inner::Heap((0..len).map(|_| AtomicU64::new(0)).collect()))
    }
}

impl Deref for Atomics {
    type Target = [AtomicU64];

    fn deref(&self) -> &[AtomicU64] {
        match &self.0 {
            Inner::Heap(b) => b,
            // SAFETY: `ptr` is a live mapping of `len` zero-initialised atomics, owned by
            // `self` until drop; the slice borrows `self`.
            Inner::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
        }
    }
}

impl Drop for Atomics {
    fn drop(&mut self) {
        if let Inner::Mapped { ptr, len } = self.0 {
            // SAFETY: unmaps exactly the mapping made in `new`; no slice of it outlives `self`.
            unsafe { libc::munmap(ptr.as_ptr().cast(), len * 8) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn arrays_start_at_zero_and_hold_what_is_stored() {
        for len in [0, 10, MAP_FROM / 8, 1_000_000] {
            let a = Atomics::new(len);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|x| x.load(Ordering::Relaxed) == 0));
            if let Some(last) = a.last() {
                last.store(7, Ordering::Relaxed);
                assert_eq!(a[len - 1].load(Ordering::Relaxed), 7);
            }
        }
    }

    /// The point of the module: a large array costs no resident memory until written, and
    /// then only the pages written.
    #[test]
    fn a_large_array_is_backed_only_where_written() {
        // SAFETY: sysconf only reads a system setting.
        let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let page = page_bytes / 8;
        let a = Atomics::new(1024 * page);
        let resident = |a: &Atomics| {
            let mut pages = vec![0u8; 1024];
            // SAFETY: `a` is one mapping of 1024 whole pages; `pages` has a byte per page.
            let r = unsafe {
                libc::mincore(a.as_ptr() as *mut libc::c_void, 1024 * page_bytes, pages.as_mut_ptr())
            };
            assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
            pages.iter().filter(|&&p| p & 1 == 1).count()
        };
        assert_eq!(resident(&a), 0);
        for i in 0..10 {
            a[i * page].store(1, Ordering::Relaxed);
        }
        assert_eq!(resident(&a), 10);
    }
}
