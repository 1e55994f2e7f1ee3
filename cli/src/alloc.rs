//! The allocator of the `mockplane` binary, and giving memory back.
//!
//! Compiling, encoding and decoding rule sets allocate a lot; mimalloc does that about a third
//! faster than glibc's malloc (benches/benches/wire.rs). The request path does not allocate.
//!
//! mimalloc returns freed memory to the OS lazily, as the thread that freed it goes on
//! allocating. The threads that compile rule sets (the main thread at start, the rules-file
//! watcher, the xDS client) then sit idle, and a data plane with 1,000 rules held ~10 MB that
//! the compile had freed. [`release_freed_memory`] is called after each compile and swap.

#![allow(unsafe_code)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns the memory the calling thread's heap has freed to the OS.
pub(crate) fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers and has no preconditions; it may be called from
    // any thread at any time (it only walks the calling thread's heap and the abandoned pages).
    unsafe { libmimalloc_sys::mi_collect(true) }
}
