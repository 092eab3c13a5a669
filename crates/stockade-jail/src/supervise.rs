//! The host side of a jail: create its cgroups, clone it, map its ids, let it go ([`spawn`]);
//! and, for a one-shot jail (`stockade run`, one API run), watch it to the end — pumping stdin,
//! capturing and capping output, reading the guard's reports and the runner's answer with caps,
//! enforcing the wall clock and the run's total CPU — and classify what happened ([`run`]).
//! Long-lived jails (pools, sessions) are watched by `stockade-runner`, on the same [`Jail`].

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use stockade_protocol::classify::{self, Exit, LimitValues, Observation, Stop};
use stockade_protocol::result::{AppliedLimits, Isolation, Layer, SetupFailure, Usage, SCHEMA};
use stockade_protocol::RunResult;

use crate::audit::Audit;
use crate::child::{self, ChildFds, Report};
use crate::error::{AtStep, SetupError, Step};
use crate::host::HostSupport;
use crate::plan::{JailMode, LateProgram, Plan, StdinMode, JAIL_GID, JAIL_UID};

const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// A live jail, as [`spawn`] leaves it: running, in its cgroups, with the supervisor's ends of
/// its channels.
pub struct Jail {
    /// Host pid of the jail's init.
    pub pid: libc::pid_t,
    /// A pidfd on init: signal and watch without pid-reuse races.
    pub pidfd: OwnedFd,
    /// The jail's cgroups.
    pub cgroup: stockade_cgroup::RunCgroup,
    /// The write end of stdin (`StdinMode::Forward` only).
    pub stdin: Option<OwnedFd>,
    /// The interpreter's stdout.
    pub stdout: OwnedFd,
    /// The interpreter's stderr.
    pub stderr: OwnedFd,
    /// The guard's reports (fd 3 in the jail).
    pub events: OwnedFd,
    /// The runner's answer (fd 4; API runs).
    pub answer: Option<OwnedFd>,
    /// The control socket (fd 6; pools and sessions).
    pub control: Option<OwnedFd>,
    /// Where the jail sends the egress proxy's listening socket during its setup.
    pub egress: Option<OwnedFd>,
    /// The supervisor's end of an API run's host-function socket (fd 9 in the run).
    pub calls: Option<OwnedFd>,
    /// Setup failures and enforced-layer reports from the jail's setup.
    pub reports: OwnedFd,
    /// The interpreter's wait status, from init.
    pub status: OwnedFd,
    /// A jail built ahead ([`JailMode::Standby`]): where its program goes ([`Jail::begin`]).
    pub late: Option<OwnedFd>,
    /// When the clone happened.
    pub started: Instant,
    /// The jail's id in audit records and cgroup names.
    pub id: String,
    /// While this is open, the jail knows the supervisor lives.
    _lifeline: OwnedFd,
}

impl Jail {
    /// SIGKILL init: the kernel then kills every process of the jail.
    pub fn kill(&self) {
        let _ = stockade_sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
    }

    /// Receive the egress proxy's listening socket from the jail's setup (blocks until the
    /// setup sends it; None when the jail has no proxy or its setup failed first).
    pub fn take_egress_listener(&mut self) -> io::Result<Option<OwnedFd>> {
        let Some(channel) = self.egress.take() else {
            return Ok(None);
        };
        let mut buf = [0u8; 4];
        let (n, mut fds) = stockade_sys::recv_with_fds(channel.as_fd(), &mut buf)?;
        if n == 0 || fds.is_empty() {
            return Ok(None);
        }
        Ok(Some(fds.swap_remove(0)))
    }

    /// Give a jail built ahead its program: its interpreter then restricts itself and execs.
    /// The wall clock starts here.
    pub fn begin(&mut self, program: &LateProgram) -> io::Result<()> {
        let late = self
            .late
            .take()
            .ok_or_else(|| io::Error::other("this jail was not built ahead, or it has begun"))?;
        self.started = Instant::now();
        stockade_sys::write_all_raw(late.as_raw_fd(), &program.encode())
    }

    /// Wait for init to exit (after [`Jail::kill`], promptly).
    pub fn reap(&self) -> io::Result<stockade_sys::Reaped> {
        stockade_sys::wait4(self.pid)
    }
}

fn write_file(path: String, contents: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .write_all(contents.as_bytes())
}

fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        return u64::from(std::process::id()) ^ u64::from(Instant::now().elapsed().subsec_nanos());
    }
    u64::from_le_bytes(buf)
}

/// A sealed memfd holding `data`, read from its start (a request, or a run's stdin).
pub fn sealed_memfd(data: &[u8]) -> io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag as MFdFlags};
    let fd = memfd_create(c"stockade", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
    let fd = OwnedFd::from(file);
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    Ok(fd)
}

/// Build the jail for `plan` and start it: steps 1-5 of docs/pipeline.md on this side, the
/// child's pipeline (`child::enter`) on the other. Returns once the child was let go.
pub fn spawn(plan: &Plan, host: &HostSupport) -> Result<Jail, SetupError> {
    let started = Instant::now();
    stockade_cgroup::sweep_stale(&host.cgroups);
    let id = format!("{:016x}", random_u64());
    let cgroup_name = format!("run-{}-{id}", std::process::id());
    let cgroup = stockade_cgroup::RunCgroup::create(&host.cgroups, &cgroup_name, plan.cgroup_limits).map_err(|e| {
        SetupError::Step {
            step: Step::Cgroup,
            detail: e.to_string(),
            source: io::Error::other(
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
        }
    })?;

    let (sync_r, sync_w) = stockade_sys::pipe().at(Step::Pipes, "sync pipe")?;
    let (err_r, err_w) = stockade_sys::pipe().at(Step::Pipes, "error pipe")?;
    let (status_r, status_w) = stockade_sys::pipe().at(Step::Pipes, "status pipe")?;
    let standby = plan.mode == JailMode::Standby;
    let (in_r, in_w) = match &plan.stdin {
        // Built ahead, the jail cannot know its caller's stdin yet: a pipe, fed once it begins.
        _ if standby => {
            let (r, w) = stockade_sys::pipe().at(Step::Pipes, "stdin pipe")?;
            (r, Some(w))
        }
        StdinMode::Data(bytes) => (sealed_memfd(bytes).at(Step::Pipes, "stdin memfd")?, None),
        StdinMode::Forward => {
            let (r, w) = stockade_sys::pipe().at(Step::Pipes, "stdin pipe")?;
            (r, Some(w))
        }
        // The write end is dropped below: the code reads end of file at once.
        StdinMode::Null => (stockade_sys::pipe().at(Step::Pipes, "stdin pipe")?.0, None),
    };
    let (out_r, out_w) = stockade_sys::pipe().at(Step::Pipes, "stdout pipe")?;
    let (eout_r, eout_w) = stockade_sys::pipe().at(Step::Pipes, "stderr pipe")?;
    let (events_r, events_w) = stockade_sys::pipe().at(Step::Pipes, "guard events pipe")?;
    let (answer, request) = match &plan.mode {
        JailMode::Api { request } => {
            let (answer_r, answer_w) = stockade_sys::pipe().at(Step::Pipes, "answer pipe")?;
            let memfd = sealed_memfd(request).at(Step::Pipes, "request memfd")?;
            (Some((answer_r, answer_w)), Some(memfd))
        }
        _ => (None, None),
    };
    let control = if plan.mode.is_warm() {
        Some(stockade_sys::seqpacket_pair().at(Step::Pipes, "control socket")?)
    } else {
        None
    };
    let egress = if plan.egress.is_some() {
        Some(stockade_sys::seqpacket_pair().at(Step::Pipes, "egress socket channel")?)
    } else {
        None
    };
    let calls = if matches!(plan.mode, JailMode::Api { .. }) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().at(Step::Pipes, "host function socket")?;
        Some((OwnedFd::from(ours), OwnedFd::from(theirs)))
    } else {
        None
    };
    let late = if standby {
        Some(stockade_sys::pipe().at(Step::Pipes, "program pipe")?)
    } else {
        None
    };
    let fds = ChildFds {
        sync_read: sync_r.as_raw_fd(),
        error_write: err_w.as_raw_fd(),
        status_write: status_w.as_raw_fd(),
        stdin_read: in_r.as_raw_fd(),
        stdout_write: out_w.as_raw_fd(),
        stderr_write: eout_w.as_raw_fd(),
        events_write: events_w.as_raw_fd(),
        answer_write: answer.as_ref().map(|(_, w)| w.as_raw_fd()),
        request: request.as_ref().map(AsRawFd::as_raw_fd),
        control: control.as_ref().map(|(_, theirs)| theirs.as_raw_fd()),
        egress: egress.as_ref().map(|(_, theirs)| theirs.as_raw_fd()),
        calls: calls.as_ref().map(|(_, theirs)| theirs.as_raw_fd()),
        late: late.as_ref().map(|(r, _)| r.as_raw_fd()),
    };
    let (pid, pidfd) =
        match stockade_sys::clone_into_namespaces(NAMESPACES).at(Step::Clone, "clone into new namespaces")? {
            stockade_sys::Cloned::Child => child::run(plan, fds),
            stockade_sys::Cloned::Parent { pid, pidfd } => (pid, pidfd),
        };
    drop((sync_r, err_w, status_w, in_r, out_w, eout_w, events_w, request));
    let answer = answer.map(|(r, _w)| r);
    let control = control.map(|(ours, _theirs)| ours);
    let egress = egress.map(|(ours, _theirs)| ours);
    let calls = calls.map(|(ours, _theirs)| ours);
    let late = late.map(|(_r, w)| w);

    // Until the go-ahead the child only waits; on any failure here, kill it before returning.
    let kill_child = |e: SetupError| {
        let _ = stockade_sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        let _ = stockade_sys::wait4(pid);
        e
    };
    // A child that stopped early closed its end of the sync pipe: its own report says where
    // and why, which beats "broken pipe" at ours.
    let reported = |e: SetupError| child_failure(err_r.as_fd()).unwrap_or(e);
    write_id_maps(pid, plan).map_err(kill_child)?;
    stockade_sys::write_all_raw(sync_w.as_raw_fd(), b"G")
        .at(Step::WaitForIdMaps, "send go-ahead")
        .map_err(kill_child)
        .map_err(reported)?;
    // Moving a task between cgroups waits for an RCU grace period (~7-25 ms on cgroup v1 here).
    // The child builds its root meanwhile and waits for this second token before it forks
    // anything or runs any code, so the wait overlaps the setup instead of adding to it.
    cgroup.add_process(pid).map_err(|e| {
        kill_child(SetupError::Step {
            step: Step::JoinCgroup,
            detail: e.to_string(),
            source: io::Error::other("cgroup"),
        })
    })?;
    stockade_sys::write_all_raw(sync_w.as_raw_fd(), b"C")
        .at(Step::JoinCgroup, "send cgroup joined")
        .map_err(kill_child)
        .map_err(reported)?;
    Ok(Jail {
        pid,
        pidfd,
        cgroup,
        stdin: in_w,
        stdout: out_r,
        stderr: eout_r,
        events: events_r,
        answer,
        control,
        egress,
        calls,
        reports: err_r,
        status: status_r,
        late,
        started,
        id,
        _lifeline: sync_w,
    })
}

fn write_id_maps(pid: libc::pid_t, plan: &Plan) -> Result<(), SetupError> {
    let ids = plan.ids;
    if !ids.privileged {
        // Unprivileged writers must give up setgroups before they may write gid_map.
        write_file(format!("/proc/{pid}/setgroups"), "deny").at(Step::IdMaps, "write setgroups")?;
    }
    write_file(
        format!("/proc/{pid}/uid_map"),
        &format!("{JAIL_UID} {} 1\n", ids.host_uid),
    )
    .at(Step::IdMaps, "write uid_map")?;
    write_file(
        format!("/proc/{pid}/gid_map"),
        &format!("{JAIL_GID} {} 1\n", ids.host_gid),
    )
    .at(Step::IdMaps, "write gid_map")?;
    Ok(())
}

/// A captured output stream: kept up to its cap, echoed live (secrets replaced) when asked.
pub struct Capture {
    /// What was kept.
    pub data: Vec<u8>,
    limit: usize,
    /// Something was cut at the cap.
    pub truncated: bool,
    echo: Option<i32>,
    /// Secret values to replace before echoing, and output held back because it might be the
    /// start of one.
    secrets: Vec<Vec<u8>>,
    held: Vec<u8>,
}

impl Capture {
    /// A capture of at most `limit` bytes, echoing to `echo` when given.
    #[must_use]
    pub fn new(limit: u64, echo: Option<i32>, secrets: &[String]) -> Capture {
        Capture {
            data: Vec::new(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            truncated: false,
            echo,
            secrets: secrets
                .iter()
                .flat_map(|s| stockade_protocol::redact::forms(s))
                .map(String::into_bytes)
                .collect(),
            held: Vec::new(),
        }
    }

    /// Keep what fits; return false when something had to be cut.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        let room = self.limit.saturating_sub(self.data.len());
        let take = bytes.len().min(room);
        self.data.extend_from_slice(&bytes[..take]);
        if self.echo.is_some() {
            self.held.extend_from_slice(&bytes[..take]);
            self.flush_echo(false);
        }
        if take < bytes.len() {
            self.truncated = true;
        }
        !self.truncated
    }

    /// Echo held output with secrets replaced; keep back a possible secret prefix unless final.
    pub fn flush_echo(&mut self, last: bool) {
        let Some(fd) = self.echo else { return };
        for secret in &self.secrets {
            self.held = stockade_protocol::redact::bytes(&self.held, secret);
        }
        let keep = if last {
            0
        } else {
            self.secrets.iter().map(Vec::len).max().unwrap_or(1).saturating_sub(1)
        };
        let cut = self.held.len().saturating_sub(keep);
        let _ = stockade_sys::write_all_raw(fd, &self.held[..cut]);
        self.held.drain(..cut);
    }
}

/// Read what is available; Ok(None) on EOF.
pub fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(n)),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(flags) = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL) {
        let _ = fcntl(
            fd.as_raw_fd(),
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        );
    }
}

/// Run a one-shot plan (`JailMode::Script` or `JailMode::Api`) to completion. Errors are
/// returned only for failures before the jail exists; everything after (including the jail's
/// own setup failures) is a [`RunResult`].
pub fn run(plan: &Plan, host: &HostSupport) -> Result<RunResult, SetupError> {
    run_with_calls(plan, host, None)
}

/// [`run`], with the run's host-function calls going to `broker`.
pub fn run_with_calls(
    plan: &Plan,
    host: &HostSupport,
    calls: Option<(stockade_protocol::calls::Functions, &mut dyn crate::calls::Broker)>,
) -> Result<RunResult, SetupError> {
    let jail = spawn(plan, host)?;
    let feed = match plan.stdin {
        StdinMode::Forward => Feed::Caller,
        StdinMode::Null | StdinMode::Data(_) => Feed::Nothing,
    };
    watch_to_end(plan, host, jail, calls, feed, None).map(Finished::into_result)
}

/// A run that has ended: its result, and its jail to reap and clean up — after the result is
/// delivered, where that is sooner ([`Finished::clean_up`], or on drop).
pub struct Finished {
    /// The result document.
    pub result: RunResult,
    jail: Option<Jail>,
    reaped: bool,
}

impl Finished {
    /// Reap the jail's init (the namespaces' teardown) and remove its cgroups.
    pub fn clean_up(mut self) {
        self.release();
    }

    /// [`Finished::clean_up`], then the result.
    #[must_use]
    pub fn into_result(mut self) -> RunResult {
        self.release();
        std::mem::replace(&mut self.result, RunResult::not_run(crate::Status::Ok, None, None))
    }

    fn release(&mut self) {
        if let Some(jail) = self.jail.take() {
            if !self.reaped {
                let _ = jail.reap();
            }
            drop(jail);
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.release();
    }
}

/// What a run's stdin pipe is fed with.
enum Feed {
    /// This process's stdin, as it comes.
    Caller,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// Nothing (the jail's stdin is a memfd or at its end already).
    Nothing,
}

/// Run a jail built ahead ([`JailMode::Standby`], [`spawn`]ed from `ahead`) with `program`:
/// `plan` is the caller's request compiled as a [`JailMode::Script`] jail, and must be one
/// `ahead` [`Plan::serves`] (checked here). Everything else is [`run`]'s: stdin per `plan`, the
/// output, the limits, the classification. `caller`, when given, is watched for the caller's
/// stop: a byte (a signal number) or its hang-up stops the jail as a signal to `stockade run`
/// would. `None` (the jail killed) when `ahead` is not the jail `plan` needs, or when the jail
/// ended before the program reached it (nothing ran). The result can be
/// delivered before the jail is cleaned up ([`Finished`]).
pub fn run_built_ahead(
    ahead: &Plan,
    plan: &Plan,
    host: &HostSupport,
    mut jail: Jail,
    program: &LateProgram,
    caller: Option<BorrowedFd<'_>>,
) -> Result<Option<Finished>, SetupError> {
    if !ahead.serves(plan, program) {
        jail.kill();
        let _ = jail.reap();
        return Ok(None);
    }
    let feed = match &plan.stdin {
        StdinMode::Forward => Feed::Caller,
        StdinMode::Data(bytes) => Feed::Bytes(bytes.clone()),
        StdinMode::Null => {
            jail.stdin = None;
            Feed::Nothing
        }
    };
    if jail.begin(program).is_err() {
        // The jail ended while it waited (it was killed, or its build failed late): the program
        // never reached it, so nothing ran and the request can still be served elsewhere.
        jail.kill();
        let _ = jail.reap();
        return Ok(None);
    }
    watch_to_end(plan, host, jail, None, feed, caller).map(Some)
}

fn watch_to_end(
    plan: &Plan,
    host: &HostSupport,
    mut jail: Jail,
    calls: Option<(stockade_protocol::calls::Functions, &mut dyn crate::calls::Broker)>,
    feed: Feed,
    caller: Option<BorrowedFd<'_>>,
) -> Result<Finished, SetupError> {
    let (host_calls, broker) = match (calls, jail.calls.take()) {
        (Some((functions, broker)), Some(sock)) => (
            Some(crate::calls::HostCalls::new(sock, functions).at(Step::Pipes, "host function socket")?),
            Some(broker),
        ),
        _ => (None, None),
    };
    let stdin = jail.stdin.take();
    let egress = match (&plan.egress, jail.take_egress_listener()) {
        (Some(net), Ok(Some(listener))) => Some(
            stockade_egress::Egress::start(listener, net)
                .inspect_err(|_| {
                    jail.kill();
                    let _ = jail.reap();
                })
                .at(Step::Supervise, "start the egress proxy")?,
        ),
        // The setup failed before it made the socket: its report says why.
        _ => None,
    };
    let mut audit = Audit::new(plan, jail.id.clone()).at(Step::Pipes, "open the audit log")?;
    audit.write(serde_json::json!({
        "type": "run-start",
        "policy_hash": plan.policy_hash,
        "isolation": isolation_report(plan, host, &[]),
        "limits": applied_limits(plan, host, host.cgroups.cpu.is_some()),
    }));

    // From here a SIGINT/SIGTERM to stockade stops the jail and still produces a result.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        mask.add(s);
    }
    let _ = mask.thread_block();
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();

    let answer_cap = plan
        .limits
        .output
        .saturating_add(stockade_protocol::frame::HEADER_LEN as u64);
    let mut watch = Watch {
        plan,
        jail: &jail,
        stdout: Capture::new(plan.limits.output, plan.passthrough.then_some(1), &plan.secrets),
        stderr: Capture::new(plan.limits.output, plan.passthrough.then_some(2), &plan.secrets),
        reports: Vec::new(),
        answer: Vec::new(),
        answer_cap: usize::try_from(answer_cap).unwrap_or(usize::MAX),
        answer_over: false,
        audit,
        status_bytes: Vec::new(),
        stop: None,
        deadline: jail.started + plan.limits.wall_time,
        calls: host_calls,
        broker,
    };
    watch.pump(stdin, feed, signals.as_ref(), caller);
    let _ = mask.thread_unblock();

    // With the interpreter's status in hand and the cgroup counting CPU and memory, init's own
    // exit adds nothing to the result: it is reaped after the result is delivered.
    let wall = jail.started.elapsed();
    let later =
        watch.status_bytes.len() >= 4 && jail.cgroup.cpu_user_sys_ms().is_some() && jail.cgroup.memory_peak().is_some();
    let reaped = if later {
        stockade_sys::Reaped {
            status: 0,
            user_us: 0,
            sys_us: 0,
            max_rss_kib: 0,
        }
    } else {
        jail.reap().at(Step::Supervise, "reap jail init")?
    };
    let network = egress.map(|e| e.end_run());
    if let Some(net) = &network {
        watch.audit.flows(net);
    }
    let calls = watch
        .calls
        .take()
        .map(crate::calls::HostCalls::finish)
        .unwrap_or_default();
    let mut result = watch.finish(host, reaped, wall);
    result.network = network;
    result.calls = calls;
    Ok(Finished {
        result,
        jail: Some(jail),
        reaped: !later,
    })
}

struct Watch<'a, 'b> {
    plan: &'a Plan,
    jail: &'a Jail,
    stdout: Capture,
    stderr: Capture,
    reports: Vec<u8>,
    answer: Vec<u8>,
    answer_cap: usize,
    answer_over: bool,
    status_bytes: Vec<u8>,
    audit: Audit,
    stop: Option<Stop>,
    deadline: Instant,
    /// An API run's host-function channel, and where its calls go.
    calls: Option<crate::calls::HostCalls>,
    broker: Option<&'b mut dyn crate::calls::Broker>,
}

/// Poll roles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Stdout,
    Stderr,
    Reports,
    Status,
    Events,
    Answer,
    Exited,
    StdinSource,
    StdinSink,
    Calls,
    Broker,
    Signals,
    Caller,
}

impl Watch<'_, '_> {
    fn kill(&mut self, reason: Stop) {
        if self.stop.is_none() {
            self.stop = Some(reason);
        }
        self.jail.kill();
    }

    #[allow(clippy::too_many_lines)]
    fn pump(
        &mut self,
        stdin_w: Option<OwnedFd>,
        feed: Feed,
        signals: Option<&SignalFd>,
        caller: Option<BorrowedFd<'_>>,
    ) {
        let jail = self.jail;
        let mut open: Vec<(Role, BorrowedFd<'_>)> = vec![
            (Role::Stdout, jail.stdout.as_fd()),
            (Role::Stderr, jail.stderr.as_fd()),
            (Role::Reports, jail.reports.as_fd()),
            (Role::Status, jail.status.as_fd()),
            (Role::Events, jail.events.as_fd()),
        ];
        if let Some(a) = &jail.answer {
            open.push((Role::Answer, a.as_fd()));
        }
        let mut stdin_w = stdin_w;
        if let Some(w) = &stdin_w {
            set_nonblocking(w.as_fd());
        }
        let stdin_src = io::stdin();
        let mut stdin_open = stdin_w.is_some() && matches!(feed, Feed::Caller);
        let mut pending: Vec<u8> = match feed {
            Feed::Bytes(b) => b,
            Feed::Caller | Feed::Nothing => Vec::new(),
        };
        let mut caller = caller;
        let mut exited_at: Option<Instant> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let cpu_limit_ns = u64::try_from(self.plan.limits.cpu_time.as_nanos()).unwrap_or(u64::MAX);
        loop {
            // Init writes the interpreter's status just before it exits, and its exit closes
            // every pipe; the kernel's teardown of the namespaces (~1 ms) comes after that, and
            // the result need not wait for it.
            let python_done = self.status_bytes.len() >= 4;
            if (exited_at.is_some() || python_done) && open.is_empty() {
                break;
            }
            // After init is gone every writer is dead; a pipe that still has not reached EOF
            // means something unexpected holds it. Never hang on it.
            if exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                break;
            }
            let now = Instant::now();
            if exited_at.is_none() && now >= self.deadline {
                self.kill(Stop::Timeout);
            }
            if exited_at.is_none() && self.jail.cgroup.cpu_usage_ns().is_some_and(|ns| ns >= cpu_limit_ns) {
                self.kill(Stop::CpuLimit);
            }
            if let Some(c) = &mut self.calls {
                c.expire(now);
            }
            let mut timeout = self
                .deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(100));
            if let Some(t) = self.calls.as_ref().and_then(crate::calls::HostCalls::next_deadline) {
                timeout = timeout.min(t.saturating_duration_since(now));
            }
            if exited_at.is_some() || self.stop.is_some() {
                timeout = timeout.max(Duration::from_millis(10));
            }
            let mut watched: Vec<(Role, BorrowedFd<'_>, PollFlags)> =
                open.iter().map(|(r, fd)| (*r, *fd, PollFlags::POLLIN)).collect();
            if exited_at.is_none() {
                watched.push((Role::Exited, self.jail.pidfd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(w) = &stdin_w {
                if pending.is_empty() && stdin_open {
                    watched.push((Role::StdinSource, stdin_src.as_fd(), PollFlags::POLLIN));
                } else if !pending.is_empty() {
                    watched.push((Role::StdinSink, w.as_fd(), PollFlags::POLLOUT));
                }
            }
            if let Some(s) = signals {
                watched.push((Role::Signals, s.as_fd(), PollFlags::POLLIN));
            }
            if let Some(c) = caller {
                watched.push((Role::Caller, c, PollFlags::POLLIN));
            }
            if let Some(c) = &self.calls {
                let mut flags = PollFlags::empty();
                if c.wants_read() && exited_at.is_none() {
                    flags |= PollFlags::POLLIN;
                }
                if c.wants_write() {
                    flags |= PollFlags::POLLOUT;
                }
                if !flags.is_empty() {
                    watched.push((Role::Calls, c.fd(), flags));
                }
                if let Some(fd) = self.broker.as_ref().and_then(|b| b.replies_fd()) {
                    watched.push((Role::Broker, fd, PollFlags::POLLIN));
                }
            }
            let mut fds: Vec<PollFd<'_>> = watched.iter().map(|(_, fd, flags)| PollFd::new(*fd, *flags)).collect();
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(_) => {
                    self.kill(Stop::Signal(0));
                    break;
                }
            }
            let ready: Vec<Role> = fds
                .iter()
                .zip(&watched)
                .filter(|(p, _)| p.revents().is_some_and(|f| !f.is_empty()))
                .map(|(_, (r, _, _))| *r)
                .collect();
            drop(fds);
            drop(watched);
            for role in ready {
                match role {
                    Role::Exited => exited_at = Some(Instant::now()),
                    Role::StdinSource => match read_some(stdin_src.as_fd(), &mut buf) {
                        Ok(Some(n)) => pending.extend_from_slice(&buf[..n]),
                        Ok(None) | Err(_) => {
                            stdin_open = false;
                            stdin_w = None;
                        }
                    },
                    Role::StdinSink => {
                        if let Some(w) = &stdin_w {
                            match nix::unistd::write(w, &pending) {
                                Ok(n) => {
                                    pending.drain(..n);
                                    if pending.is_empty() && !stdin_open {
                                        stdin_w = None;
                                    }
                                }
                                Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
                                Err(_) => {
                                    stdin_w = None;
                                    pending.clear();
                                }
                            }
                        }
                    }
                    Role::Calls => {
                        if let (Some(c), Some(b)) = (&mut self.calls, &mut self.broker) {
                            c.flush();
                            c.on_readable(&mut **b);
                        }
                    }
                    Role::Broker => {
                        if let (Some(c), Some(b)) = (&mut self.calls, &mut self.broker) {
                            for reply in b.read_replies() {
                                c.reply(reply);
                            }
                        }
                    }
                    Role::Caller => {
                        // A signal number the caller received, or its hang-up (as SIGHUP).
                        let mut byte = [0u8; 1];
                        let signal = match caller.map(|c| nix::unistd::read(c.as_raw_fd(), &mut byte)) {
                            Some(Ok(1)) => i32::from(byte[0]),
                            _ => libc::SIGHUP,
                        };
                        caller = None;
                        self.kill(Stop::Signal(signal));
                    }
                    Role::Signals => {
                        if let Some(s) = signals {
                            if let Ok(Some(info)) = s.read_signal() {
                                self.kill(Stop::Signal(i32::try_from(info.ssi_signo).unwrap_or(libc::SIGTERM)));
                            }
                        }
                    }
                    _ => match open
                        .iter()
                        .find(|(r, _)| *r == role)
                        .map_or(Ok(None), |(_, fd)| read_some(*fd, &mut buf))
                    {
                        Ok(Some(n)) => {
                            let chunk = &buf[..n];
                            let fits = match role {
                                Role::Stdout => self.stdout.push(chunk),
                                Role::Stderr => self.stderr.push(chunk),
                                Role::Events => {
                                    self.audit.feed(chunk);
                                    true
                                }
                                Role::Reports => {
                                    // Bounded: a handful of small records from stockade's own
                                    // setup code, written before any user code runs.
                                    if self.reports.len() < 16 * 1024 {
                                        self.reports.extend_from_slice(chunk);
                                    }
                                    true
                                }
                                Role::Answer => {
                                    // Checked before keeping: never more than the cap in memory.
                                    if self.answer.len() + chunk.len() > self.answer_cap {
                                        self.answer_over = true;
                                    } else {
                                        self.answer.extend_from_slice(chunk);
                                    }
                                    true
                                }
                                _ => {
                                    self.status_bytes.extend_from_slice(chunk);
                                    self.status_bytes.truncate(64);
                                    true
                                }
                            };
                            if !fits {
                                self.kill(Stop::OutputLimit);
                            }
                        }
                        Ok(None) | Err(_) => open.retain(|(r, _)| *r != role),
                    },
                }
            }
            if stdin_w.is_some() && !stdin_open && pending.is_empty() {
                stdin_w = None;
            }
        }
    }

    fn finish(mut self, host: &HostSupport, reaped: stockade_sys::Reaped, wall: Duration) -> RunResult {
        self.stdout.flush_echo(true);
        self.stderr.flush_echo(true);
        let plan = self.plan;
        let cgroup = &self.jail.cgroup;
        let python_status = (self.status_bytes.len() >= 4).then(|| {
            i32::from_le_bytes([
                self.status_bytes[0],
                self.status_bytes[1],
                self.status_bytes[2],
                self.status_bytes[3],
            ])
        });
        let exit = match python_status {
            Some(s) if libc::WIFEXITED(s) => Exit::Code(libc::WEXITSTATUS(s)),
            Some(s) if libc::WIFSIGNALED(s) => Exit::Signal(libc::WTERMSIG(s)),
            _ => Exit::Unknown(libc::WIFSIGNALED(reaped.status).then(|| libc::WTERMSIG(reaped.status))),
        };
        let (user_ms, sys_ms) = cpu_ms(cgroup, reaped.user_us / 1000, reaped.sys_us / 1000);
        let stderr_text = String::from_utf8_lossy(&self.stderr.data).into_owned();
        let (file_too_large, memory_error) = classify::stderr_markers(&stderr_text);
        let reports = child::decode_reports(&self.reports);
        let setup_failure = if let Some(why) = self.audit.guard.failed.clone() {
            Some(SetupFailure {
                step: "guard".into(),
                message: why,
            })
        } else {
            reports.iter().find_map(|r| match r {
                Report::Failed { step, detail, .. } => Some(SetupFailure {
                    step: step.name().to_string(),
                    message: detail.clone(),
                }),
                Report::Enforced { .. } => None,
            })
        };
        let classified = classify::classify(&Observation {
            setup_failure: setup_failure.clone(),
            stop: self.stop.clone(),
            exit,
            cpu_ms: user_ms + sys_ms,
            oom_kills: cgroup.oom_kills(),
            pids_limit_hits: cgroup.pids_limit_hits(),
            memory_by_cgroup: cgroup.limits_memory().is_some(),
            stderr_file_too_large: file_too_large,
            stderr_memory_error: memory_error,
            limits: limit_values(plan),
        });
        let enforced: Vec<(String, String)> = reports
            .iter()
            .filter_map(|r| match r {
                Report::Enforced { layer, detail } => Some((layer.clone(), detail.clone())),
                Report::Failed { .. } => None,
            })
            .chain(cgroup_layers(cgroup))
            .collect();
        let mut isolation = isolation_report(plan, host, &enforced);
        if plan.guard && !self.audit.guard.installed && setup_failure.is_none() {
            if let Some(l) = isolation.layers.iter_mut().find(|l| l.name == "guard") {
                l.active = false;
                l.mechanism = "configured, but the hook never reported that it was installed".into();
            }
        }
        let secrets = &plan.secrets;
        let answer = match &plan.mode {
            JailMode::Api { .. } => Some(stockade_protocol::run::read_answer(
                &self.answer,
                self.answer_over,
                plan.limits.output,
                secrets,
            )),
            _ => None,
        };
        let mut audit = self.audit;
        if let Some(r) = &classified.reason {
            audit.write(serde_json::json!({"type": "limit", "status": classified.status.name(), "reason": r}));
        }
        let result = RunResult {
            schema: SCHEMA.to_string(),
            status: classified.status,
            reason: classified.reason,
            exit_code: classified.exit_code,
            signal: classified.signal,
            stdout: crate::audit::redact(&String::from_utf8_lossy(&self.stdout.data), secrets),
            stderr: crate::audit::redact(&stderr_text, secrets),
            stdout_truncated: self.stdout.truncated,
            stderr_truncated: self.stderr.truncated,
            usage: Usage {
                wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
                user_cpu_ms: user_ms,
                sys_cpu_ms: sys_ms,
                peak_memory_kib: cgroup.memory_peak().map_or(reaped.max_rss_kib, |b| b / 1024),
            },
            limits: Some(applied_limits(plan, host, cgroup.cpu_usage_ns().is_some())),
            isolation: Some(isolation),
            error: setup_failure,
            violations: std::mem::take(&mut audit.violations),
            events_dropped: audit.dropped,
            answer,
            prescreen: None,
            network: None,
            calls: Vec::new(),
        };
        audit.write(serde_json::json!({
            "type": "run-end",
            "status": result.status.name(),
            "exit_code": result.exit_code,
            "signal": result.signal,
            "usage": result.usage,
            "violations": result.violations.len(),
        }));
        result
    }
}

/// User and system CPU of a jail: the cgroup's (which also counts processes init never reaped)
/// when it has more than what `wait4` on init saw.
#[must_use]
pub fn cpu_ms(cgroup: &stockade_cgroup::RunCgroup, user_ms: u64, sys_ms: u64) -> (u64, u64) {
    match cgroup.cpu_user_sys_ms() {
        Some((u, s)) if u + s > user_ms + sys_ms => (u, s),
        _ => (user_ms, sys_ms),
    }
}

/// The plan's limits, for the classifier's reasons.
#[must_use]
pub fn limit_values(plan: &Plan) -> LimitValues {
    let l = &plan.limits;
    LimitValues {
        wall_ms: u64::try_from(l.wall_time.as_millis()).unwrap_or(u64::MAX),
        cpu_ms: u64::try_from(l.cpu_time.as_millis()).unwrap_or(u64::MAX),
        memory: l.memory,
        processes: l.processes,
        file_size: l.file_size,
        output: l.output,
    }
}

/// The limits in force and their mechanisms.
#[must_use]
pub fn applied_limits(plan: &Plan, host: &HostSupport, cgroup_cpu: bool) -> AppliedLimits {
    let l = &plan.limits;
    AppliedLimits {
        wall_time_ms: u64::try_from(l.wall_time.as_millis()).unwrap_or(u64::MAX),
        cpu_time_ms: u64::try_from(l.cpu_time.as_millis()).unwrap_or(u64::MAX),
        memory_bytes: l.memory,
        processes: l.processes,
        file_size_bytes: l.file_size,
        scratch_bytes: l.scratch,
        open_files: l.open_files,
        output_bytes: l.output,
        memory_mechanism: host.memory_mechanism.to_string(),
        processes_mechanism: format!("{} + rlimit-nproc (per-run uid)", host.pids_mechanism),
        cpu_mechanism: if cgroup_cpu {
            host.cpu_mechanism.to_string()
        } else {
            "rlimit-cpu".into()
        },
    }
}

/// The isolation report: every layer, active or not, and by what mechanism. `enforced` are the
/// jail's own reports of what it applied (`(layer, detail)`, e.g. the Landlock ABI the kernel
/// enforced); they replace the planned text for their layer.
#[must_use]
pub fn isolation_report(plan: &Plan, host: &HostSupport, enforced: &[(String, String)]) -> Isolation {
    let layer = |name: &str, active: bool, mechanism: String| Layer {
        name: name.into(),
        active,
        mechanism,
    };
    let binds = plan
        .root
        .entries
        .iter()
        .filter(|e| matches!(e, crate::interpreter::RootEntry::Bind { .. }))
        .count()
        + plan.root.extra_binds.len();
    let mut layers = vec![
        layer(
            "user-namespace",
            true,
            format!(
                "uid/gid {JAIL_UID} in the jail = host uid {} gid {}{}",
                plan.ids.host_uid,
                plan.ids.host_gid,
                if plan.ids.privileged {
                    " (unused, unprivileged, unique to this jail)"
                } else {
                    " (the caller's own)"
                }
            ),
        ),
        layer(
            "mount-namespace",
            true,
            format!(
                "pivot_root into a fresh tmpfs root, read-only; {binds} read-only binds; scratch tmpfs at /tmp{}",
                plan.policy_binds
                    .iter()
                    .map(|b| if b.real == b.requested {
                        format!("; {} bound at {}", b.real.display(), b.jail.display())
                    } else {
                        format!(
                            "; {} (the symlink {} resolved) bound at {}",
                            b.real.display(),
                            b.requested.display(),
                            b.jail.display()
                        )
                    })
                    .collect::<String>()
            ),
        ),
        layer(
            "pid-namespace",
            true,
            "own pid namespace; stockade's init is pid 1 and reaps".into(),
        ),
        layer(
            "network-namespace",
            true,
            match &plan.egress {
                None => "own network namespace; loopback only, no route out".into(),
                Some(egress) => {
                    let net = &egress.rules;
                    let secrets = egress.secrets.all().len();
                    format!(
                        "own network namespace; loopback only, no route out; the host's egress proxy on 127.0.0.1:{} connects to {} allow-list entr{} ({} connections, {} bytes per run){}",
                        stockade_policy::PROXY_PORT,
                        net.allow.len(),
                        if net.allow.len() == 1 { "y" } else { "ies" },
                        net.max_connections,
                        net.max_bytes,
                        if secrets == 0 {
                            String::new()
                        } else {
                            format!("; {secrets} secret(s) held by the proxy, placeholders in the jail")
                        }
                    )
                }
            },
        ),
        layer(
            "ipc-namespace",
            true,
            "own System V IPC and POSIX message queues".into(),
        ),
        layer("uts-namespace", true, format!("hostname {:?}", plan.hostname)),
        layer("cgroup-namespace", true, "rooted at the jail's own cgroup".into()),
        layer(
            "capabilities",
            true,
            "all dropped (bounding, ambient, effective, permitted, inheritable); securebits locked".into(),
        ),
        layer("no-new-privs", true, "PR_SET_NO_NEW_PRIVS".into()),
        layer("session", true, "new session (setsid), no controlling terminal".into()),
    ];
    match (&plan.landlock, host.landlock_abi) {
        (Some(_), Some(abi)) => layers.push(layer(
            "landlock",
            true,
            format!("ruleset matching the mount view (kernel ABI {abi})"),
        )),
        _ => layers.push(layer("landlock", false, reason_missing(plan, "landlock"))),
    }
    match &plan.seccomp {
        Some(bpf) => layers.push(layer(
            "seccomp",
            true,
            format!("seccomp-bpf deny list, {} instructions (docs/seccomp.md)", bpf.len()),
        )),
        None => layers.push(layer("seccomp", false, reason_missing(plan, "seccomp"))),
    }
    layers.push(layer(
        "rlimits",
        true,
        plan.rlimits.iter().map(|r| r.name).collect::<Vec<_>>().join(","),
    ));
    if plan.guard {
        layers.push(layer(
            "guard",
            true,
            "PEP 578 audit hook in native code (LD_PRELOAD constructor, installed before Py_Initialize)".into(),
        ));
    } else if plan.degradation.missing.iter().any(|(n, _)| n == "guard") {
        layers.push(layer("guard", false, reason_missing(plan, "guard")));
    } else {
        layers.push(layer(
            "guard",
            false,
            "disabled by the policy (guard.enabled = false)".into(),
        ));
    }
    layers.push(layer("memory-limit", true, host.memory_mechanism.to_string()));
    layers.push(layer(
        "process-limit",
        true,
        format!("{} + rlimit-nproc", host.pids_mechanism),
    ));
    for (name, detail) in enforced {
        if let Some(l) = layers.iter_mut().find(|l| &l.name == name) {
            l.active = true;
            l.mechanism.clone_from(detail);
        }
    }
    Isolation {
        degraded: !plan.degradation.missing.is_empty(),
        layers,
    }
}

fn reason_missing(plan: &Plan, name: &str) -> String {
    plan.degradation
        .missing
        .iter()
        .find(|(n, _)| n == name)
        .map_or_else(|| "not applied".into(), |(_, why)| format!("missing: {why}"))
}

/// The memory and process limits as this jail's cgroup enforces them: the controllers it
/// actually joined, or the rlimit that stands in for a missing one.
#[must_use]
pub fn cgroup_layers(cgroup: &stockade_cgroup::RunCgroup) -> Vec<(String, String)> {
    use stockade_cgroup::Version;
    let memory = match cgroup.limits_memory() {
        Some(Version::V1) => "cgroup-v1 memory.limit_in_bytes (joined)",
        Some(Version::V2) => "cgroup-v2 memory.max (joined)",
        None => "rlimit-as (no memory cgroup joined)",
    };
    let pids = match cgroup.limits_pids() {
        Some(Version::V1) => "cgroup-v1 pids.max (joined) + rlimit-nproc",
        Some(Version::V2) => "cgroup-v2 pids.max (joined) + rlimit-nproc",
        None => "rlimit-nproc (no pids cgroup joined)",
    };
    vec![
        ("memory-limit".to_string(), memory.to_string()),
        ("process-limit".to_string(), pids.to_string()),
    ]
}

/// The layers a jail reported as enforced, from the bytes of its setup-report pipe.
#[must_use]
pub fn enforced_layers(reports: &[u8]) -> Vec<(String, String)> {
    child::decode_reports(reports)
        .into_iter()
        .filter_map(|r| match r {
            Report::Enforced { layer, detail } => Some((layer, detail)),
            Report::Failed { .. } => None,
        })
        .collect()
}

/// The failure a dead child reported on its setup-report pipe (read to its end: the child is
/// gone, so the end comes), as a setup error naming the child's step.
fn child_failure(reports: BorrowedFd<'_>) -> Option<SetupError> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while bytes.len() < 16 * 1024 {
        match read_some(reports, &mut buf) {
            Ok(Some(n)) if n > 0 => bytes.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    child::decode_reports(&bytes).into_iter().find_map(|r| match r {
        Report::Failed { step, errno, detail } => {
            let why = if detail.contains("mount /proc") && (errno == libc::EPERM || detail.contains("os error 1)")) {
                // mount_too_revealing: a fresh proc is refused in a user namespace while the
                // caller's /proc has mounts over parts of it, as container runtimes make.
                "the kernel refuses a new /proc here because this host's /proc has paths covered \
                 by other mounts (a container's masked paths; in Kubernetes: procMount: Unmasked \
                 with hostUsers: false, see docs/kubernetes.md)"
            } else {
                "reported by the jail's setup"
            };
            Some(SetupError::Step {
                step,
                detail,
                source: io::Error::other(why),
            })
        }
        Report::Enforced { .. } => None,
    })
}

/// The setup failure a jail reported, if any, from the bytes of its setup-report pipe.
#[must_use]
pub fn setup_failure(reports: &[u8]) -> Option<SetupFailure> {
    child::decode_reports(reports).into_iter().find_map(|r| match r {
        Report::Failed { step, detail, .. } => Some(SetupFailure {
            step: step.name().to_string(),
            message: detail,
        }),
        Report::Enforced { .. } => None,
    })
}
