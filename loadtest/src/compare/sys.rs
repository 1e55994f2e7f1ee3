//! The system calls of the comparison harness that std does not wrap: pinning another
//! process's thread (a JVM's JIT compiler) to a core, and killing the servers' process groups
//! when the harness is interrupted.

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicI32, Ordering};

/// Pins one thread of any process to one core (`sched_setaffinity` on a thread id).
pub fn pin_thread(tid: u32, core: usize) -> std::io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it for a core below
    // CPU_SETSIZE (checked above), and sched_setaffinity only reads it.
    let failed = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(tid as libc::pid_t, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
    };
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Process groups of the servers running now (0: a free slot), for [`kill_servers_on_signal`].
pub static GROUPS: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];

/// On SIGINT or SIGTERM, kills every server's process group and exits: the servers run in their
/// own groups (so a terminal's Ctrl-C does not reach them), and nothing else would stop them.
pub fn kill_servers_on_signal() {
    extern "C" fn on_signal(signal: libc::c_int) {
        for slot in &GROUPS {
            let group = slot.load(Ordering::SeqCst);
            if group > 0 {
                // SAFETY: kill is async-signal-safe.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
        }
        // SAFETY: _exit is async-signal-safe and ends the process at once.
        unsafe { libc::_exit(128 + signal) };
    }
    let handler = on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
    // SAFETY: the handler only reads atomics and calls async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}
