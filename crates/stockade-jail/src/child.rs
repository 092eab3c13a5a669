//! The jail side: what the cloned process does, in order, until the interpreter runs.
//!
//! The cloned process becomes pid 1 of the new pid namespace (the jail's init). It builds the
//! root, applies limits, drops every privilege it has, then forks the interpreter, which adds
//! no_new_privs, Landlock and seccomp and execs Python. Init stays behind only to reap and to
//! report Python's wait status; when Python exits, init exits, and the kernel kills whatever is
//! left in the namespace, so no process of the run can outlive it.
//!
//! Any failure is written to the error pipe as (step, errno, detail) and the process exits;
//! the supervisor turns that into `setup_failed` naming the step.

use std::convert::Infallible;
use std::io;
use std::os::fd::RawFd;

use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};

use crate::error::{AtStep, SetupError, Step};
use crate::mounts;
use crate::plan::{Plan, JAIL_GID, JAIL_UID};

/// The raw fds the child starts with (numbers as inherited from the supervisor).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    pub sync_read: RawFd,
    pub error_write: RawFd,
    pub status_write: RawFd,
    pub stdin_read: RawFd,
    pub stdout_write: RawFd,
    pub stderr_write: RawFd,
    pub events_write: RawFd,
}

/// Fixed fd numbers after the close-fds step: 0-2 stdio, 3 the guard's event channel (kept
/// across exec when the guard is loaded), 4 setup errors, 5 the interpreter's wait status.
const EVENTS_FD: RawFd = 3;
const ERROR_FD: RawFd = 4;
const STATUS_FD: RawFd = 5;

/// Entry point of the cloned child. Never returns.
pub(crate) fn run(plan: &Plan, fds: ChildFds) -> ! {
    let error_fd = fds.error_write;
    match enter(plan, fds) {
        Ok(never) => match never {},
        Err(e) => {
            let fd = if error_fd_is_final() { ERROR_FD } else { error_fd };
            report(fd, &e);
            stockade_sys::exit_now(125)
        }
    }
}

static FINAL_FDS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn error_fd_is_final() -> bool {
    FINAL_FDS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Wire format: step (1 byte), errno (4 bytes LE), detail (UTF-8, at most 400 bytes), in one
/// write so it arrives whole (below PIPE_BUF).
fn report(fd: RawFd, e: &SetupError) {
    let (step, errno, detail) = match e {
        SetupError::Step { step, detail, source } => {
            (*step, source.raw_os_error().unwrap_or(0), format!("{detail}: {source}"))
        }
        other => (other.step(), 0, other.to_string()),
    };
    let mut msg = Vec::with_capacity(420);
    msg.push(step.code());
    msg.extend_from_slice(&errno.to_le_bytes());
    let mut detail = detail.into_bytes();
    detail.truncate(400);
    msg.extend_from_slice(&detail);
    let _ = stockade_sys::write_all_raw(fd, &msg);
}

/// Decode a child report (supervisor side).
pub(crate) fn decode_report(buf: &[u8]) -> Option<(Step, i32, String)> {
    let (&code, rest) = buf.split_first()?;
    let errno = i32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    let detail = String::from_utf8_lossy(rest.get(4..)?).into_owned();
    Some((Step::from_code(code)?, errno, detail))
}

fn wait_for_go(sync_read: RawFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(sync_read, &mut byte) {
            Ok(1) => return Ok(()),
            // EOF: the supervisor died before the go-ahead; nothing may run unsupervised.
            Ok(_) => return Err(io::Error::new(io::ErrorKind::BrokenPipe, "supervisor went away")),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn supervisor_alive(sync_read: RawFd) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::BorrowedFd;
    // SAFETY-free: poll only needs the fd for the duration of the call; it is open until
    // arrange_fds closes it later in this same function chain.
    let fd = stockade_sys::borrow_raw(sync_read);
    let mut fds = [PollFd::new(fd, PollFlags::empty())];
    poll(&mut fds, PollTimeout::ZERO)?;
    let _: Option<BorrowedFd<'_>> = None;
    if fds[0]
        .revents()
        .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
    {
        return Err(io::Error::new(io::ErrorKind::BrokenPipe, "supervisor went away"));
    }
    Ok(())
}

/// The pipeline. Each line is one step; the order matters and is explained in docs/pipeline.md.
fn enter(plan: &Plan, fds: ChildFds) -> Result<Infallible, SetupError> {
    // If the supervisor dies (even by SIGKILL), init dies, and with it the whole pid namespace.
    prctl::set_pdeathsig(Signal::SIGKILL).at(Step::WaitForIdMaps, "set parent-death signal")?;
    // The caller's argv (host paths) would otherwise be readable in the jail as /proc/1/cmdline.
    stockade_sys::scrub_cmdline_and_environ("stockade-init").at(Step::WaitForIdMaps, "scrub cmdline")?;
    wait_for_go(fds.sync_read).at(Step::WaitForIdMaps, "wait for the supervisor")?;
    if plan.ids.privileged {
        // Root's supplementary groups (gid 0 among them) would otherwise follow us in.
        nix::unistd::setgroups(&[]).at(Step::Groups, "clear supplementary groups")?;
    }
    // Open every bind source while we still hold the supervisor's host credentials...
    let sources = mounts::open_sources(&plan.root).at(Step::BuildRoot, "open bind sources")?;
    // ...then become the jail user (caps in this namespace are kept: its root is unmapped, so
    // the kernel's uid-0 rules do not clear them), so files made in the new root are ours.
    let (uid, gid) = (Uid::from_raw(JAIL_UID), Gid::from_raw(JAIL_GID));
    nix::unistd::setresgid(gid, gid, gid).at(Step::DropPrivileges, "setresgid")?;
    nix::unistd::setresuid(uid, uid, uid).at(Step::DropPrivileges, "setresuid")?;
    // Changing uids cleared the parent-death signal: arm it again, then make sure the
    // supervisor did not die in between (its end of the sync pipe would have hung up).
    prctl::set_pdeathsig(Signal::SIGKILL).at(Step::DropPrivileges, "re-arm parent-death signal")?;
    supervisor_alive(fds.sync_read).at(Step::DropPrivileges, "check supervisor")?;
    mounts::build_root(&plan.root, sources).at(Step::BuildRoot, "root")?;
    mounts::pivot_into_new_root().at(Step::PivotRoot, "new root")?;
    nix::unistd::sethostname(&plan.hostname).at(Step::Hostname, "sethostname")?;
    stockade_sys::loopback_up().at(Step::Loopback, "bring lo up")?;
    nix::unistd::setsid().at(Step::Session, "setsid")?;
    // Nothing may be forked or run before the supervisor has moved us into the run's cgroups
    // (it does so while we built the root). The new cgroup namespace is then rooted there, so
    // /proc/self/cgroup shows "/" and nothing of the host's hierarchy.
    wait_for_go(fds.sync_read).at(Step::JoinCgroup, "wait for the cgroup move")?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .at(Step::CgroupNamespace, "unshare cgroup namespace")?;
    arrange_fds(&fds).at(Step::CloseFds, "arrange fds")?;
    FINAL_FDS.store(true, std::sync::atomic::Ordering::Relaxed);
    apply_rlimits(plan).at(Step::Rlimits, "setrlimit")?;
    stockade_sys::drop_all_capabilities().at(Step::DropCapabilities, "drop capabilities")?;
    // Nothing in the jail may ptrace init or read its memory through /proc.
    prctl::set_dumpable(false).at(Step::DropCapabilities, "clear dumpable")?;
    // Init is single-threaded (a clone of the single-threaded supervisor); fork checks it.
    let forked = stockade_sys::fork().at(Step::Fork, "fork interpreter")?;
    match forked {
        None => exec_interpreter(plan),
        Some(python) => init_reap(python),
    }
}

/// Move the fds the jail keeps to 0..=4 and close every other one.
fn arrange_fds(fds: &ChildFds) -> io::Result<()> {
    // First lift the keepers above the target range so no dup3 overwrites a keeper.
    let keep = [
        fds.stdin_read,
        fds.stdout_write,
        fds.stderr_write,
        fds.events_write,
        fds.error_write,
        fds.status_write,
    ];
    let mut lifted = [0; 6];
    for (slot, fd) in lifted.iter_mut().zip(keep) {
        *slot = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(64))?;
    }
    for (target, fd) in lifted.iter().enumerate() {
        stockade_sys::dup_raw_onto(*fd, target as RawFd)?;
    }
    stockade_sys::close_fds_from(6)?;
    // The report channel stays open for the code: the guard writes to it when loaded, and a
    // bootstrap (`stockade exec`) returns the program's result on it.
    stockade_sys::set_cloexec(EVENTS_FD, false)?;
    stockade_sys::set_cloexec(ERROR_FD, true)?;
    stockade_sys::set_cloexec(STATUS_FD, true)?;
    Ok(())
}

fn apply_rlimits(plan: &Plan) -> io::Result<()> {
    for r in &plan.rlimits {
        let resource = match r.resource {
            x if x == libc::RLIMIT_CPU => nix::sys::resource::Resource::RLIMIT_CPU,
            x if x == libc::RLIMIT_FSIZE => nix::sys::resource::Resource::RLIMIT_FSIZE,
            x if x == libc::RLIMIT_NOFILE => nix::sys::resource::Resource::RLIMIT_NOFILE,
            x if x == libc::RLIMIT_NPROC => nix::sys::resource::Resource::RLIMIT_NPROC,
            x if x == libc::RLIMIT_CORE => nix::sys::resource::Resource::RLIMIT_CORE,
            x if x == libc::RLIMIT_MEMLOCK => nix::sys::resource::Resource::RLIMIT_MEMLOCK,
            x if x == libc::RLIMIT_MSGQUEUE => nix::sys::resource::Resource::RLIMIT_MSGQUEUE,
            x if x == libc::RLIMIT_AS => nix::sys::resource::Resource::RLIMIT_AS,
            _ => continue,
        };
        nix::sys::resource::setrlimit(resource, r.soft, r.hard).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("RLIMIT_{}: {e}", r.name.to_uppercase()),
            )
        })?;
    }
    Ok(())
}

/// The interpreter's last steps: no_new_privs, Landlock, seccomp (last), exec.
fn exec_interpreter(plan: &Plan) -> ! {
    let result: Result<Infallible, SetupError> = (|| {
        let _ = nix::unistd::close(STATUS_FD);
        prctl::set_no_new_privs().at(Step::NoNewPrivs, "PR_SET_NO_NEW_PRIVS")?;
        if let Some(rules) = &plan.landlock {
            crate::landlock_rules::restrict_self(rules).at(Step::Landlock, "landlock_restrict_self")?;
        }
        if let Some(bpf) = &plan.seccomp {
            // Last: from here on only the exec itself runs under the filter before Python.
            crate::seccomp::install(bpf).map_err(|e| SetupError::Step {
                step: Step::Seccomp,
                detail: "seccomp".into(),
                source: io::Error::other(e.to_string()),
            })?;
        }
        let err = nix::unistd::execve(&plan.exec_path, &plan.argv, &plan.envp).unwrap_err();
        Err(SetupError::Step {
            step: Step::Exec,
            detail: "execve interpreter".into(),
            source: err.into(),
        })
    })();
    let e = match result {
        Ok(never) => match never {},
        Err(e) => e,
    };
    report(ERROR_FD, &e);
    let code = match &e {
        SetupError::Step {
            step: Step::Exec,
            source,
            ..
        } if source.raw_os_error() == Some(libc::ENOENT) => 127,
        SetupError::Step { step: Step::Exec, .. } => 126,
        _ => 125,
    };
    stockade_sys::exit_now(code)
}

/// Init: reap everything; when the interpreter exits, report its status and exit, which makes
/// the kernel kill every other process left in the namespace.
fn init_reap(python: libc::pid_t) -> ! {
    for fd in [ERROR_FD, EVENTS_FD, 0, 1, 2] {
        let _ = nix::unistd::close(fd);
    }
    loop {
        match stockade_sys::wait_any() {
            Ok((pid, status)) if pid == python => {
                let _ = stockade_sys::write_all_raw(STATUS_FD, &status.to_le_bytes());
                stockade_sys::exit_now(0);
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => stockade_sys::exit_now(0),
        }
    }
}
