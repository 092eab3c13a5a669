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
    pub answer_write: Option<RawFd>,
    pub request: Option<RawFd>,
    pub control: Option<RawFd>,
    /// Where the egress proxy's listening socket is sent (`network.mode = "proxy"`).
    pub egress: Option<RawFd>,
    /// The run's end of its host-function socket (API runs).
    pub calls: Option<RawFd>,
    /// Where a jail built ahead reads its program ([`crate::plan::LateProgram`]).
    pub late: Option<RawFd>,
}

/// Fixed fd numbers after the close-fds step. The interpreter gets 0-2 (stdio), 3 (the
/// guard's reports), 4 (an API run's answer), 5 (its request), 6 (a warm jail's control
/// socket), 9 (an API run's host-function socket) — the numbers `stockade_protocol::run::fds`
/// names. Init keeps 7 (setup reports) and
/// 8 (the interpreter's wait status); both are close-on-exec.
const EVENTS_FD: RawFd = 3;
const ANSWER_FD: RawFd = 4;
const REQUEST_FD: RawFd = 5;
const CONTROL_FD: RawFd = 6;
const ERROR_FD: RawFd = 7;
const STATUS_FD: RawFd = 8;
const CALLS_FD: RawFd = stockade_protocol::run::fds::CALLS;
/// A jail built ahead: its program arrives here (close-on-exec; init closes it at once).
const LATE_FD: RawFd = CALLS_FD + 1;

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

/// One record on the setup-report pipe: a failure, or a layer as it was enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// A step failed; nothing of the user's code ran.
    Failed { step: Step, errno: i32, detail: String },
    /// A layer applied, as the kernel enforced it (`layer` is an isolation-report layer name).
    Enforced { layer: String, detail: String },
}

const TAG_FAILED: u8 = 1;
const TAG_ENFORCED: u8 = 2;

/// Wire format: tag (1 byte), length (2 bytes LE), then for a failure step (1 byte), errno (4
/// bytes LE) and the detail, for an enforced layer `name\0detail` (UTF-8, at most 400 bytes).
/// One write per record, below PIPE_BUF, so a record arrives whole.
fn write_record(fd: RawFd, tag: u8, body: &[u8]) {
    let body = &body[..body.len().min(420)];
    let mut msg = Vec::with_capacity(3 + body.len());
    msg.push(tag);
    msg.extend_from_slice(&u16::try_from(body.len()).unwrap_or(0).to_le_bytes());
    msg.extend_from_slice(body);
    let _ = stockade_sys::write_all_raw(fd, &msg);
}

fn report(fd: RawFd, e: &SetupError) {
    let (step, errno, detail) = match e {
        SetupError::Step { step, detail, source } => {
            (*step, source.raw_os_error().unwrap_or(0), format!("{detail}: {source}"))
        }
        other => (other.step(), 0, other.to_string()),
    };
    let mut body = Vec::with_capacity(420);
    body.push(step.code());
    body.extend_from_slice(&errno.to_le_bytes());
    let mut detail = detail.into_bytes();
    detail.truncate(400);
    body.extend_from_slice(&detail);
    write_record(fd, TAG_FAILED, &body);
}

fn report_enforced(layer: &str, detail: &str) {
    let mut body = Vec::with_capacity(layer.len() + 1 + detail.len());
    body.extend_from_slice(layer.as_bytes());
    body.push(0);
    body.extend_from_slice(detail.as_bytes());
    write_record(ERROR_FD, TAG_ENFORCED, &body);
}

/// Decode the setup-report pipe (supervisor side). Malformed bytes end the decoding: they can
/// only come from stockade's own setup code, which writes whole records.
pub(crate) fn decode_reports(mut buf: &[u8]) -> Vec<Report> {
    let mut out = Vec::new();
    while buf.len() >= 3 {
        let tag = buf[0];
        let len = usize::from(u16::from_le_bytes([buf[1], buf[2]]));
        let Some(body) = buf.get(3..3 + len) else { break };
        buf = &buf[3 + len..];
        match tag {
            TAG_FAILED if body.len() >= 5 => {
                let Some(step) = Step::from_code(body[0]) else { break };
                let errno = i32::from_le_bytes([body[1], body[2], body[3], body[4]]);
                out.push(Report::Failed {
                    step,
                    errno,
                    detail: String::from_utf8_lossy(&body[5..]).into_owned(),
                });
            }
            TAG_ENFORCED => {
                let text = String::from_utf8_lossy(body);
                let (layer, detail) = text.split_once('\0').unwrap_or((&text, ""));
                out.push(Report::Enforced {
                    layer: layer.to_string(),
                    detail: detail.to_string(),
                });
            }
            _ => break,
        }
    }
    out
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
    let own_sandbox = plan.mode == crate::plan::JailMode::Standby;
    mounts::build_root(&plan.root, sources, own_sandbox).at(Step::BuildRoot, "root")?;
    mounts::pivot_into_new_root().at(Step::PivotRoot, "new root")?;
    nix::unistd::sethostname(&plan.hostname).at(Step::Hostname, "sethostname")?;
    stockade_sys::loopback_up().at(Step::Loopback, "bring lo up")?;
    if let Some(fd) = fds.egress {
        hand_over_proxy_socket(fd).at(Step::Loopback, "egress proxy socket")?;
    }
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
    if plan.keep_caps.is_empty() {
        stockade_sys::drop_all_capabilities().at(Step::DropCapabilities, "drop capabilities")?;
    } else {
        // A pool's zygote: these few, in the jail's own user namespace, survive the exec as
        // ambient capabilities; each run drops them before its code runs.
        stockade_sys::keep_only_capabilities(&plan.keep_caps).at(Step::DropCapabilities, "keep capabilities")?;
    }
    // Nothing in the jail may ptrace init or read its memory through /proc.
    prctl::set_dumpable(false).at(Step::DropCapabilities, "clear dumpable")?;
    // Init is single-threaded (a clone of the single-threaded supervisor); fork checks it.
    let forked = stockade_sys::fork().at(Step::Fork, "fork interpreter")?;
    match forked {
        None => exec_interpreter(plan),
        Some(python) => init_reap(plan, python),
    }
}

/// Bind the egress proxy's socket on 127.0.0.1 in this (the jail's) network namespace, send it
/// to the supervisor, which serves it from the host, and keep no copy: nothing of the proxy is
/// left in the jail, and its port is taken before any code of the run exists.
fn hand_over_proxy_socket(channel: RawFd) -> io::Result<()> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, stockade_policy::PROXY_PORT))?;
    let channel = stockade_sys::borrow_raw(channel);
    stockade_sys::send_with_fds(channel, b"L", &[std::os::fd::AsRawFd::as_raw_fd(&listener)])?;
    drop(listener);
    let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(&channel));
    Ok(())
}

/// Move the fds the jail keeps to their fixed numbers and close every other one.
fn arrange_fds(fds: &ChildFds) -> io::Result<()> {
    // First lift the keepers above the target range so no dup3 overwrites a keeper.
    let keep: [(RawFd, Option<RawFd>); 11] = [
        (0, Some(fds.stdin_read)),
        (1, Some(fds.stdout_write)),
        (2, Some(fds.stderr_write)),
        (EVENTS_FD, Some(fds.events_write)),
        (ANSWER_FD, fds.answer_write),
        (REQUEST_FD, fds.request),
        (CONTROL_FD, fds.control),
        (ERROR_FD, Some(fds.error_write)),
        (STATUS_FD, Some(fds.status_write)),
        (CALLS_FD, fds.calls),
        (LATE_FD, fds.late),
    ];
    let mut lifted = Vec::with_capacity(keep.len());
    for (target, fd) in keep {
        if let Some(fd) = fd {
            lifted.push((
                target,
                nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(64))?,
            ));
        }
    }
    for (target, fd) in &lifted {
        stockade_sys::dup_raw_onto(*fd, *target)?;
    }
    // A number with nothing to hold (no answer, request or control channel in this jail) must
    // not keep whatever the caller had open there.
    for target in 0..=LATE_FD {
        if !lifted.iter().any(|(t, _)| *t == target) {
            let _ = nix::unistd::close(target);
        }
    }
    stockade_sys::close_fds_from(LATE_FD + 1)?;
    // 0-6 and 9 stay open across exec; the guard writes to 3, the runner uses 4-6 and 9.
    stockade_sys::set_cloexec(ERROR_FD, true)?;
    stockade_sys::set_cloexec(STATUS_FD, true)?;
    if fds.late.is_some() {
        stockade_sys::set_cloexec(LATE_FD, true)?;
    }
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
        if plan.mode == crate::plan::JailMode::Standby {
            return exec_when_the_program_comes(plan);
        }
        if let (Some(rules), true) = (&plan.landlock, plan.landlock_at_exec) {
            let enforcement =
                crate::landlock_rules::restrict_self(rules).at(Step::Landlock, "landlock_restrict_self")?;
            report_enforced("landlock", &enforcement.describe());
        }
        // Last (Step::Seccomp): from here on only the exec (Step::Exec) runs under the filter
        // before Python.
        install_seccomp(plan)?;
        Err(exec(plan, &plan.argv))
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
/// the kernel kill every other process left in the namespace. Init holds no privilege (its
/// capabilities are gone, or in a pool it keeps the zygote's few in the jail's own user
/// namespace) and runs under `no_new_privs` and an allow-list filter of its own.
fn init_reap(plan: &Plan, python: libc::pid_t) -> ! {
    for fd in [
        ERROR_FD, EVENTS_FD, ANSWER_FD, REQUEST_FD, CONTROL_FD, CALLS_FD, LATE_FD, 0, 1, 2,
    ] {
        let _ = nix::unistd::close(fd);
    }
    if prctl::set_no_new_privs().is_err() {
        stockade_sys::exit_now(125);
    }
    if let Some(bpf) = &plan.init_seccomp {
        if crate::seccomp::install(bpf).is_err() {
            stockade_sys::exit_now(125);
        }
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

/// A jail built ahead: everything that does not depend on the program is done first — the
/// Landlock ruleset is prepared and the seccomp filter installed — then the process waits for
/// its program, writes the script into its own `/sandbox` (a tmpfs only this process has
/// written; Landlock makes it read-only from the restriction on), restricts itself and execs.
/// Nothing of the caller's runs before the last two steps.
fn exec_when_the_program_comes(plan: &Plan) -> Result<Infallible, SetupError> {
    let ruleset = match &plan.landlock {
        Some(rules) => Some(crate::landlock_rules::prepare(rules).at(Step::Landlock, "landlock ruleset")?),
        // A writable `/sandbox` is read-only to the code only through Landlock.
        None => {
            return Err(SetupError::Step {
                step: Step::Landlock,
                detail: "a jail built ahead".into(),
                source: io::Error::other("needs Landlock"),
            })
        }
    };
    install_seccomp(plan)?;
    let late = read_late_program().at(Step::Exec, "receive the program")?;
    for file in &late.files {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file.mode)
            .open(&file.path)
            .and_then(|mut f| f.write_all(&file.contents))
            .at(Step::Exec, "write the program")?;
    }
    if let Some(ruleset) = ruleset {
        let enforcement = crate::landlock_rules::restrict(ruleset).at(Step::Landlock, "landlock_restrict_self")?;
        report_enforced("landlock", &enforcement.describe());
    }
    let mut argv = plan.argv.clone();
    argv.extend(late.args);
    Err(exec(plan, &argv))
}

/// Read the whole program from [`LATE_FD`] (the supervisor closes its end after writing).
fn read_late_program() -> io::Result<crate::plan::LateProgram> {
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match nix::unistd::read(LATE_FD, &mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let _ = nix::unistd::close(LATE_FD);
    if bytes.is_empty() {
        // The supervisor let the jail go unused: end without a report.
        stockade_sys::exit_now(0);
    }
    crate::plan::LateProgram::decode(&bytes).ok_or_else(|| io::Error::other("malformed program"))
}

/// Report the seccomp layer and install its filter (none when degraded).
fn install_seccomp(plan: &Plan) -> Result<(), SetupError> {
    if let Some(bpf) = &plan.seccomp {
        report_enforced(
            "seccomp",
            &format!("seccomp-bpf deny list, {} instructions (docs/seccomp.md)", bpf.len()),
        );
        crate::seccomp::install(bpf).map_err(|e| SetupError::Step {
            step: Step::Seccomp,
            detail: "seccomp".into(),
            source: io::Error::other(e.to_string()),
        })?;
    }
    Ok(())
}

/// Exec the interpreter with `argv`; returns only its failure.
fn exec(plan: &Plan, argv: &[std::ffi::CString]) -> SetupError {
    let err = nix::unistd::execve(&plan.exec_path, argv, &plan.envp).unwrap_err();
    SetupError::Step {
        step: Step::Exec,
        detail: "execve interpreter".into(),
        source: err.into(),
    }
}
