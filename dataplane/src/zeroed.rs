//! Arrays of atomic counters allocated as zeroed memory: the allocator asks the kernel for
//! fresh pages (or reuses zeroed ones), and the kernel backs a page only when it is first
//! written, so a journal ring or a table's per-rule counters cost memory in proportion to
//! what has been recorded, not to their capacity.
//!
//! Building the same array element by element (`AtomicU64::new(0)` each) would write every
//! page at once.

use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
use std::sync::atomic::AtomicU64;

/// `len` atomics, all zero, in memory the kernel maps only as it is written.
pub(crate) fn atomics(len: usize) -> Box<[AtomicU64]> {
    if len == 0 {
        return Box::new([]);
    }
    let layout = Layout::array::<AtomicU64>(len).expect("a counter array that fits in memory");
    // SAFETY: `layout` has a non-zero size (len > 0). All-zero bytes are a valid `AtomicU64`
    // (it has the same in-memory representation as `u64`), so the zeroed allocation is `len`
    // initialised atomics. The box frees it with `Layout::array::<AtomicU64>(len)`, the
    // layout it was allocated with.
    unsafe {
        let ptr = alloc_zeroed(layout).cast::<AtomicU64>();
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    #[test]
    fn arrays_start_at_zero_and_hold_what_is_stored() {
        let empty = super::atomics(0);
        assert!(empty.is_empty());
        let a = super::atomics(100_000);
        assert_eq!(a.len(), 100_000);
        assert!(a.iter().all(|x| x.load(Ordering::Relaxed) == 0));
        a[99_999].store(7, Ordering::Relaxed);
        assert_eq!(a[99_999].load(Ordering::Relaxed), 7);
    }
}
