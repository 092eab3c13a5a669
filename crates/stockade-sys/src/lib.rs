//! The only home of raw syscalls in stockade.
//!
//! Everything here is a thin, documented wrapper around one system call that `nix` does not
//! cover (or covers without the flag stockade needs). Each `unsafe` block holds exactly one call
//! and says why the call is sound. Higher crates build the sandbox out of these pieces and never
//! touch `libc::syscall` themselves.
#![allow(unsafe_code, reason = "FFI crate: wraps raw syscalls for the rest of stockade")]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// What [`clone_into_namespaces`] returned, seen from one side of the fork.
#[derive(Debug)]
pub enum Cloned {
    /// We are the new process.
    Child,
    /// We are the caller; `pid` is the child's pid in our namespace, `pidfd` refers to it.
    Parent { pid: libc::pid_t, pidfd: OwnedFd },
}

fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `clone(2)` with fork semantics (no new stack, `SIGCHLD` on exit) plus `namespace_flags`,
/// returning a pidfd for the child (`CLONE_PIDFD`).
///
/// Refused unless the caller is single-threaded: the child is a copy of the calling thread only,
/// so locks held by other threads (the allocator's included) would stay locked in the child.
pub fn clone_into_namespaces(namespace_flags: libc::c_int) -> io::Result<Cloned> {
    require_single_thread()?;
    let mut pidfd: libc::c_int = -1;
    let flags = (namespace_flags | libc::CLONE_PIDFD) as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: with a null stack pointer clone(2) behaves like fork(2): the child continues on a
    // copy of this stack. `pidfd` is a live, writable c_int for the whole call (CLONE_PIDFD stores
    // the new fd through the parent_tid argument). We checked above that there is one thread.
    let rc = check(unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            &mut pidfd as *mut libc::c_int,
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    })?;
    if rc == 0 {
        return Ok(Cloned::Child);
    }
    // SAFETY: CLONE_PIDFD succeeded, so the kernel stored a new fd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Cloned::Parent {
        pid: rc as libc::pid_t,
        pidfd,
    })
}

/// Whether the calling process has exactly one thread (fork and clone are only sound then).
pub fn is_single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() == 1)
        .unwrap_or(false)
}

fn require_single_thread() -> io::Result<()> {
    // Out of fds, /proc/self/task cannot be read: say that, not "multi-threaded".
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(|e| io::Error::new(e.kind(), format!("cannot count this process's threads: {e}")))?
        .count();
    if threads == 1 {
        Ok(())
    } else {
        Err(io::Error::other("refusing to fork a multi-threaded process"))
    }
}

/// `fork(2)`, refused unless the caller is single-threaded.
pub fn fork() -> io::Result<Option<libc::pid_t>> {
    require_single_thread()?;
    // SAFETY: checked just above that there is a single thread, so the child inherits no lock
    // held by another thread.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

/// `pidfd_send_signal(2)`: signal the process behind `pidfd`, immune to pid reuse.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is borrowed, so it stays open for the call; a null siginfo is allowed and
    // means "as if sent by kill(2)"; flags must be 0.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    })
    .map(drop)
}

/// `SO_PEERPIDFD` (Linux 6.5+): a pidfd of the process that connected to a unix socket, so what
/// is read of that process under `/proc/<pid>` can be checked to be of that process still (its
/// pidfd signals while it lives, and a live process keeps its pid).
pub fn peer_pidfd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    const SO_PEERPIDFD: libc::c_int = 77;
    let mut fd: libc::c_int = -1;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: the socket is borrowed for the call; `fd` and `len` are valid for writes of the
    // sizes given, and the kernel writes at most `len` bytes.
    check(libc::c_long::from(unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            std::ptr::addr_of_mut!(fd).cast(),
            &mut len,
        )
    }))?;
    if fd < 0 {
        return Err(io::Error::other("SO_PEERPIDFD gave no pidfd"));
    }
    // SAFETY: the kernel just made this fd for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Resource usage and wait status returned by [`wait4`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Reaped {
    /// Raw wait status (decode with the `libc::W*` helpers).
    pub status: libc::c_int,
    /// User CPU time of the child and all descendants it waited for, in microseconds.
    pub user_us: u64,
    /// System CPU time, same scope, in microseconds.
    pub sys_us: u64,
    /// Largest resident set size seen in that tree, in KiB.
    pub max_rss_kib: u64,
}

/// `wait4(2)` on one child, blocking, retrying on `EINTR`.
pub fn wait4(pid: libc::pid_t) -> io::Result<Reaped> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both out-pointers are live locals for the duration of the call.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == -1 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        break;
    }
    let micros = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    Ok(Reaped {
        status,
        user_us: micros(usage.ru_utime),
        sys_us: micros(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
    })
}

/// `close_range(2)`: close every fd from `first` upwards.
pub fn close_fds_from(first: RawFd) -> io::Result<()> {
    // SAFETY: closing fds we do not use is the point; the caller has moved every fd it keeps
    // below `first`. No Rust object owns the closed fds after this (the jail child owns none).
    check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    })
    .map(drop)
}

/// Set or clear `FD_CLOEXEC` on a raw fd number.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_SETFD on any fd number is harmless; a bad fd yields EBADF.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 }) } as libc::c_long).map(drop)
}

/// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`), read once
/// per process (a zygote reads it before it forks, so a run's process, on a fresh `/proc`, does
/// not look it up again).
pub fn cap_last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(63)
    })
}

/// Drop every capability for good: the bounding set, the ambient set, then the
/// effective/permitted/inheritable sets, and lock the securebits so a uid-0 exec can never
/// regain any.
///
/// Needed even after `setresuid` away from root: inside a user namespace whose root is not
/// mapped, the kernel's "leaving uid 0 clears capabilities" rule does not fire.
pub fn drop_all_capabilities() -> io::Result<()> {
    let last = cap_last_cap();
    for cap in 0..=last {
        // SAFETY: PR_CAPBSET_DROP takes a capability number; no pointers are involved.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc == -1 {
            let err = io::Error::last_os_error();
            // EINVAL: the kernel does not know this capability; nothing to drop.
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(err);
            }
        }
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    check(unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) } as libc::c_long)?;
    // SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | its lock |
    // SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | its lock.
    const SECUREBITS: libc::c_ulong = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80;
    // SAFETY: PR_SET_SECUREBITS takes an integer; it needs CAP_SETPCAP, which we still hold.
    check(unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) } as libc::c_long)?;
    capset([0; 2], [0; 2], [0; 2])
}

/// Keep only `caps` (in the current user namespace) and arrange for them to survive `execve` as
/// ambient capabilities; drop every other one from every set, and lock the securebits as
/// [`drop_all_capabilities`] does (so no further ambient capability can be raised).
pub fn keep_only_capabilities(caps: &[u32]) -> io::Result<()> {
    let last = cap_last_cap();
    for cap in (0..=last).filter(|c| !caps.contains(c)) {
        // SAFETY: PR_CAPBSET_DROP takes a capability number; no pointers are involved.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc == -1 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(err);
            }
        }
    }
    let mask = caps.iter().fold([0u32; 2], |mut m, &c| {
        m[(c / 32) as usize] |= 1 << (c % 32);
        m
    });
    capset([mask[0], mask[1]], [mask[0], mask[1]], [mask[0], mask[1]])?;
    for &cap in caps {
        // SAFETY: PR_CAP_AMBIENT_RAISE takes a capability number; it must be in the permitted
        // and inheritable sets, which the capset above put it in.
        check(unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                cap as libc::c_ulong,
                0,
                0,
            )
        } as libc::c_long)?;
    }
    const SECUREBITS: libc::c_ulong = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80;
    // SAFETY: PR_SET_SECUREBITS takes an integer; it needs CAP_SETPCAP, which is kept.
    check(unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) } as libc::c_long)?;
    Ok(())
}

/// `capset(2)` of the calling thread: (effective, permitted, inheritable), each as two 32-bit
/// words (capabilities 0-31, 32-63).
fn capset(effective: [u32; 2], permitted: [u32; 2], inheritable: [u32; 2]) -> io::Result<()> {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [0, 1].map(|i| CapData {
        effective: effective[i],
        permitted: permitted[i],
        inheritable: inheritable[i],
    });
    // SAFETY: version 3 expects a header and an array of two data structs; both are live
    // #[repr(C)] locals matching the kernel's layout.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) }).map(drop)
}

/// A connected pair of `SOCK_SEQPACKET` unix sockets, both `O_CLOEXEC`: message boundaries are
/// kept and fds can ride along (`SCM_RIGHTS`).
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).map_err(io::Error::from)
}

/// Create a pipe whose both ends are `O_CLOEXEC`.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Write all of `buf` to a raw fd (used by the jail child, which holds fds by number).
pub fn write_all_raw(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice; the kernel reads at most `buf.len()` bytes from it.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n == -1 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Immediately end the process without running destructors or atexit handlers (`_exit(2)`).
/// Used in forked children, where unwinding into the parent's stack frames would be wrong.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Give the heap's free pages back to the kernel (`malloc_trim(0)`), so that a process about
/// to fork many children does not hand each of them resident memory nobody uses.
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases free memory; no allocation is moved or invalidated.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bring the loopback interface up in the current network namespace (`SIOCSIFFLAGS`).
pub fn loopback_up() -> io::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    // SAFETY: ifreq is plain old data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads an ifreq through the pointer, which is a live local.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req as *mut libc::ifreq) } as libc::c_long)
        .map(drop)
}

/// The Landlock ABI version this kernel offers, or `None` if Landlock is off or absent.
#[must_use]
pub fn landlock_abi() -> Option<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attr, zero size and the VERSION flag, the syscall only returns a number.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (rc > 0).then_some(rc as i32)
}

/// Whether this kernel supports seccomp filters (`PR_GET_SECCOMP` answers and the status file
/// has the field).
#[must_use]
pub fn seccomp_supported() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    let rc = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    rc >= 0
        && std::fs::read_to_string("/proc/self/status")
            .map(|s| s.contains("Seccomp_filters:"))
            .unwrap_or(false)
}

/// `waitpid(-1, …, 0)`: reap any child; returns its pid and raw wait status.
pub fn wait_any() -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a live local the kernel writes the wait status into.
    let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
    if pid == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok((pid, status))
    }
}

/// `dup3(2)` from a raw fd number onto another (used by the jail child, which holds inherited
/// fds by number only).
pub fn dup_raw_onto(fd: RawFd, target: RawFd) -> io::Result<()> {
    if fd == target {
        return set_cloexec(target, false);
    }
    // SAFETY: dup3 on fd numbers touches no Rust-owned object: the jail child owns its fds by
    // number, and an invalid `fd` only yields EBADF.
    check(unsafe { libc::dup3(fd, target, 0) } as libc::c_long).map(drop)
}

/// Open `path` as an `O_PATH` handle. Unless `follow_symlinks`, any symlink on the way is
/// refused (`openat2` with `RESOLVE_NO_SYMLINKS`), so a path checked earlier cannot be swapped
/// for a link to somewhere else.
pub fn open_path(path: &std::path::Path, follow_symlinks: bool) -> io::Result<OwnedFd> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    let mut how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC);
    if !follow_symlinks {
        how = how.resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    }
    let raw = openat2(libc::AT_FDCWD, path, how)?;
    // SAFETY: openat2 just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `openat2(2)` of `path` resolved beneath `dir` by the kernel (`stockade.guards.safe_open`):
/// with `RESOLVE_BENEATH` a `..` above `dir`, an absolute path and a symlink leading out of `dir`
/// fail with `EXDEV`, and `RESOLVE_NO_MAGICLINKS` refuses `/proc/*/fd`-style links with `ELOOP`.
/// The check and the open are one syscall, so nothing can be swapped in between. `ENOSYS` (a
/// kernel before 5.6, or a seccomp profile that hides `openat2`) is returned as is: the caller
/// falls back. `EAGAIN` (a rename raced a `..` step; the kernel refuses rather than guess) is
/// retried a few times.
///
/// `dir` is a raw fd number because the caller (the Python package) holds it as one; a number
/// that is not an open directory fails (`EBADF`, `ENOTDIR`), and so does `AT_FDCWD`: "beneath
/// whatever the current directory is" is never what a caller meant.
pub fn open_beneath(dir: RawFd, path: &std::path::Path, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    use nix::sys::stat::Mode;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_CLOEXEC;
    // openat2 (unlike openat) refuses a mode without O_CREAT or O_TMPFILE with EINVAL.
    let mode = if flags.intersects(OFlag::O_CREAT | OFlag::O_TMPFILE) {
        mode
    } else {
        0
    };
    let how = || {
        OpenHow::new()
            .flags(flags)
            .mode(Mode::from_bits_retain(mode))
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS)
    };
    if dir == libc::AT_FDCWD {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let mut tries = 0;
    loop {
        match openat2(dir, path, how()) {
            // SAFETY: openat2 just returned this fd; nothing else owns it.
            Ok(raw) => return Ok(unsafe { OwnedFd::from_raw_fd(raw) }),
            Err(nix::errno::Errno::EAGAIN) if tries < 8 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Borrow an inherited fd by number, for the jail child that holds its fds by number only.
/// The borrow is `'static` because those fds stay open until the child closes them all at once
/// (`close_fds_from`) after its last use; callers must not keep the borrow past that point.
#[must_use]
pub fn borrow_raw(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: see the contract above; the child never closes these fds individually before
    // the bulk close, and an invalid number only makes later syscalls fail with EBADF.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Overwrite this process's command line and environment strings in place, so that code in the
/// jail reading `/proc/1/cmdline` sees `title` instead of the caller's arguments (which may hold
/// host paths). `/proc/1/environ` is already unreadable there (init is non-dumpable); it is
/// wiped too, as a second layer.
pub fn scrub_cmdline_and_environ(title: &str) -> io::Result<()> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name's closing parenthesis start at field 3 (proc(5)).
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 2..])
        .ok_or_else(|| io::Error::other("malformed /proc/self/stat"))?;
    let fields: Vec<&str> = after.split(' ').collect();
    let field = |n: usize| -> io::Result<usize> {
        fields
            .get(n - 3)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("missing field {n} in /proc/self/stat")))
    };
    let (arg_start, arg_end, env_start, env_end) = (field(48)?, field(49)?, field(50)?, field(51)?);
    for (start, end) in [(arg_start, arg_end), (env_start, env_end)] {
        if end <= start || end - start > 1 << 24 {
            continue;
        }
        // SAFETY: the kernel reports [start, end) as this process's argv/envp string area: mapped,
        // writable stack memory. Rust's std and libc only hold pointers to NUL-terminated strings
        // inside it; zeroing keeps every such string valid (now empty), so no reader can run off.
        unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
    }
    let title = title.as_bytes();
    let len = title.len().min(arg_end.saturating_sub(arg_start).saturating_sub(1));
    // SAFETY: writes `len` bytes at the start of the argv area, which is at least `len + 1` long.
    unsafe { std::ptr::copy_nonoverlapping(title.as_ptr(), arg_start as *mut u8, len) };
    Ok(())
}

/// Send one datagram with `fds` attached (`SCM_RIGHTS`) on a unix socket.
pub fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let iov = [io::IoSlice::new(bytes)];
    let cmsgs: Vec<ControlMessage<'_>> = if fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(fds)]
    };
    loop {
        match sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(_) => return Err(io::Error::other("short datagram write")),
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receive one datagram (at most `buf.len()` bytes) and the fds attached to it, which arrive
/// close-on-exec. Returns 0 bytes and no fds at end of stream. A datagram cut short (larger
/// than `buf`) is an error: a frame is never half read.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    let mut space = nix::cmsg_space!([RawFd; 8]);
    loop {
        let mut iov = [io::IoSliceMut::new(buf)];
        match recvmsg::<UnixAddr>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for cmsg in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(received) = cmsg {
                        for fd in received {
                            // SAFETY: SCM_RIGHTS just installed this fd in our table; nothing
                            // else owns it.
                            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                        }
                    }
                }
                if msg.flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
                    return Err(io::Error::other("datagram or its fds were cut short"));
                }
                return Ok((msg.bytes, fds));
            }
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// `pidfd_open(2)`: a pidfd for a child of ours.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags (0) and returns a new fd.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) })?;
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `wait4(pid, WNOHANG)`: Some when the child has exited (reaped now), None while it runs.
pub fn try_wait4(pid: libc::pid_t) -> io::Result<Option<Reaped>> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both out-pointers are live locals for the duration of the call.
    let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    if rc == 0 {
        return Ok(None);
    }
    let micros = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    Ok(Some(Reaped {
        status,
        user_us: micros(usage.ru_utime),
        sys_us: micros(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
    }))
}

/// Install a seccomp program given as the raw bytes of its `struct sock_filter` array (as the
/// host wrote it into the jail). `no_new_privs` must already be set.
pub fn install_seccomp_bytes(program: &[u8]) -> io::Result<()> {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    if program.is_empty() || !program.len().is_multiple_of(8) || program.len() / 8 > 4096 {
        return Err(io::Error::other("not a seccomp program"));
    }
    let mut filters: Vec<libc::sock_filter> = program
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: filters.len() as libc::c_ushort,
        filter: filters.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `filters`, which outlives the call; the kernel copies it.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &prog as *const libc::sock_fprog,
        )
    })
    .map(drop)
}

/// Block every signal of the calling thread; returns the previous mask.
pub fn block_all_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain old data; sigfillset/pthread_sigmask write the live locals.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(old)
    }
}

/// Restore a mask from [`block_all_signals`].
pub fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: `old` is a valid mask; a null out-pointer is allowed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut());
    }
}

/// `fork(2)` for a zygote that may have threads (an imported library's idle workers). Only
/// sound when the caller has made the process fork-safe for what the child will run: the
/// Python zygote calls it between `PyOS_BeforeFork` and `PyOS_AfterFork_*`, holding the GIL,
/// exactly as `os.fork` does.
pub fn fork_in_zygote() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: see the contract above; the child only runs code that the interpreter's own fork
    // hooks made safe, as after `os.fork`.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

/// `kill(2)` of a child by pid (used on a process we have not reaped, so the pid is ours).
pub fn kill_child(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers.
    check(unsafe { libc::kill(pid, signal) } as libc::c_long).map(drop)
}

/// `dup3(2)` of a borrowed fd onto a fixed number, close-on-exec off.
pub fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    dup_raw_onto(fd.as_raw_fd(), target)
}

/// Take ownership of a raw fd that a syscall just returned (and nothing else owns).
#[must_use]
pub fn own_raw(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller's contract: `fd` is a new, open fd owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
