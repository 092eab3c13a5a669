//! The init of a run's pid namespace: a process of ours that is pid 1 there, so that the run's
//! own process is pid 2 (as in a cold jail, where stockade's init is pid 1) and so that killing
//! it ends every process the run made (the kernel kills a pid namespace with its init).
//!
//! It is cloned with `CLONE_VM` — it shares the zygote's memory instead of copying it, which
//! makes it cost microseconds rather than a fork of the whole interpreter — and runs on a stack
//! of its own. Sharing memory (and the zygote's TLS pointer) means it may not call into libc or
//! touch anything of the zygote: it runs two raw syscalls in a loop (reap any child, wait for
//! the next SIGCHLD) with every signal blocked, as the zygote blocked them before cloning it, so
//! no handler of the zygote's can ever run on it. The mm is the zygote's, non-dumpable, so
//! nothing in the run can ptrace it or read its memory through `/proc`.
#![allow(
    unsafe_code,
    reason = "a raw clone with its own stack, and raw syscalls in the child"
)]

use std::ffi::{c_int, c_void};
use std::io;

/// A running pid-namespace init.
pub(crate) struct PidnsInit {
    /// Its pid in the zygote's (the jail's) pid namespace.
    pub pid: libc::pid_t,
    stack: *mut c_void,
}

const STACK: usize = 64 * 1024;

impl PidnsInit {
    /// Start it. The caller has just unshared `CLONE_NEWPID` (so this is pid 1 of the new
    /// namespace) and blocked every signal (the init inherits that mask and keeps it).
    pub(crate) fn start() -> io::Result<PidnsInit> {
        // SAFETY: an anonymous private mapping; the result is checked below.
        let stack = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if stack == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the top of the mapping above (16-byte aligned: mmap returns pages); the child
        // runs `init_main`, which never returns and never touches anything but its own stack.
        let pid = unsafe {
            libc::clone(
                init_main,
                stack.cast::<u8>().add(STACK).cast(),
                libc::CLONE_VM | libc::SIGCHLD,
                std::ptr::null_mut(),
            )
        };
        if pid == -1 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping what was mapped above; no child uses it.
            unsafe { libc::munmap(stack, STACK) };
            return Err(err);
        }
        Ok(PidnsInit { pid, stack })
    }

    /// Free its stack. Only after it was reaped: until then it may still run on it.
    pub(crate) fn release_after_reaped(self) {
        // SAFETY: the process that used this stack is gone (the caller reaped it).
        unsafe { libc::munmap(self.stack, STACK) };
    }
}

/// The init's loop. No libc: raw syscalls only (see the module docs).
extern "C" fn init_main(_arg: *mut c_void) -> c_int {
    const WALL: i64 = 0x4000_0000; // __WALL
    let sigchld: u64 = 1 << (libc::SIGCHLD - 1);
    loop {
        // SAFETY: wait4 with null status and rusage pointers only reaps.
        while unsafe { raw4(libc::SYS_wait4, -1, 0, i64::from(libc::WNOHANG) | WALL, 0) } > 0 {}
        // SAFETY: the set is a live local on this stack; sizeof(kernel sigset) is 8.
        unsafe { raw4(libc::SYS_rt_sigtimedwait, (&raw const sigchld) as i64, 0, 0, 8) };
    }
}

/// A raw 4-argument syscall that does not touch errno (shared with the zygote).
///
/// # Safety
/// The syscall's own contract: pointer arguments must be valid for it.
#[cfg(target_arch = "x86_64")]
unsafe fn raw4(n: i64, a: i64, b: i64, c: i64, d: i64) -> i64 {
    let ret: i64;
    // SAFETY: the x86_64 syscall convention; rcx and r11 are clobbered by `syscall`.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A raw 4-argument syscall that does not touch errno (shared with the zygote).
///
/// # Safety
/// The syscall's own contract: pointer arguments must be valid for it.
#[cfg(target_arch = "aarch64")]
unsafe fn raw4(n: i64, a: i64, b: i64, c: i64, d: i64) -> i64 {
    let ret: i64;
    // SAFETY: the aarch64 syscall convention: number in x8, arguments and result in x0-x3.
    unsafe {
        std::arch::asm!(
            "svc 0",
            inlateout("x0") a => ret,
            in("x1") b,
            in("x2") c,
            in("x3") d,
            in("x8") n,
            options(nostack),
        );
    }
    ret
}
