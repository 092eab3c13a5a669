//! The supervisor of a warm jail (a pool worker or a session), in the supervisor process.
//!
//! Everything that decides a run's fate happens here, outside the run: its deadline (absolute,
//! from the moment its request is handed over), its CPU (the jail's cgroup, or its process
//! tree, measured from here), its output (read from pipes this process created, capped before
//! it is kept), its answer (a frame read with a cap, then checked), and its status (the one
//! classifier, fed with what the zygote reaped and what was measured here). The run holds only
//! fresh pipes and memfds made for it; nothing it writes reaches another run.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use stockade_jail::audit::Audit;
use stockade_jail::plan::{self, Inputs, JailMode};
use stockade_jail::supervise::{self, Capture, Jail};
use stockade_jail::{Plan, Program, Request, StdinMode};
use stockade_policy::Policy;
use stockade_protocol::caller::{Fatal, Hello, Mode, RunSpec, Start};
use stockade_protocol::classify::{self, Exit, Observation, Stop};
use stockade_protocol::frame::{self, Kind};
use stockade_protocol::result::{Isolation, Layer, SetupFailure, Usage, SCHEMA};
use stockade_protocol::zygote::{Exited, Go, Ready, Retired, Started};
use stockade_protocol::RunResult;

use crate::caller::Caller;
use crate::{cold, runner_files};

/// How long a jail may take to say it is ready (a pool's zygote imports its preload modules).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// After the supervisor asked the zygote to stop a run, how long before the whole jail is
/// killed instead.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How often CPU is measured while a run is going.
const CPU_POLL: Duration = Duration::from_millis(50);

/// Start a warm jail for `start` and serve the caller until it closes; returns the process's
/// exit code.
pub fn serve(start: &Start, policy: Policy, caller: &mut Caller) -> u8 {
    let mode = start.mode;
    let (jail_mode, arg) = match mode {
        Mode::Pool => (JailMode::Pool, "pool"),
        _ => (JailMode::Session, "session"),
    };
    let request = Request {
        program: Program::Script {
            name: "__stockade_runner__.py".into(),
            source: runner_files::runner_source().as_bytes().to_vec(),
        },
        args: vec![arg.into(), start.preload.join(",")],
        passthrough: false,
        stdin: StdinMode::Null,
        audit_log: None,
        extra_files: runner_files::support_files(),
        internal_files: runner_files::internal_files(),
        mode: jail_mode,
        preload: start.preload.clone(),
        policy: policy.clone(),
    };
    let fatal = |caller: &mut Caller, e: &stockade_jail::SetupError| {
        caller.send(Kind::Fatal, 0, &crate::supervisor::fatal_of(e));
        1
    };
    let inputs = match plan::gather(&policy) {
        Ok(i) => i,
        Err(e) => return fatal(caller, &e),
    };
    let plan = match plan::compile(&request, &inputs) {
        Ok(p) => p,
        Err(e) => return fatal(caller, &e),
    };
    let mut jail = match supervise::spawn(&plan, &inputs.host) {
        Ok(j) => j,
        Err(e) => return fatal(caller, &e),
    };
    // The proxy's threads start after the clone: this process spawns no other jail.
    let egress = match (&plan.egress, jail.take_egress_listener()) {
        (Some(net), Ok(Some(listener))) => match stockade_egress::Egress::start(listener, net) {
            Ok(e) => Some(e),
            Err(e) => {
                jail.kill();
                let _ = jail.reap();
                let e = stockade_jail::SetupError::Step {
                    step: stockade_jail::Step::Supervise,
                    detail: "start the egress proxy".into(),
                    source: e,
                };
                return fatal(caller, &e);
            }
        },
        // The setup failed before it made the socket: its report says why.
        _ => None,
    };
    let lifetime_end = start.lifetime_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut warm = Warm {
        mode,
        policy,
        plan,
        inputs,
        jail,
        egress,
        caller,
        queue: VecDeque::new(),
        active: None,
        lifetime_end,
        reports: Vec::new(),
        interpreter: 0,
        idle_cpu_mark: 0,
        cells: 0,
        base_isolation: None,
        retired: false,
    };
    warm.main()
}

/// One run in flight.
struct Active {
    nonce: u64,
    spec_stream: bool,
    started: Instant,
    deadline: Instant,
    wall_limit: Duration,
    stop: Option<Stop>,
    kill_sent: Option<Instant>,
    stdout: Capture,
    stderr: Capture,
    answer: Vec<u8>,
    answer_cap: usize,
    answer_over: bool,
    audit: Audit,
    pipes: Vec<(Channel, OwnedFd)>,
    exited: Option<(Exited, Instant)>,
    layers: Vec<Layer>,
    cpu0: u64,
    oom0: u64,
    pids0: u64,
    peak_reset: bool,
    limits: stockade_policy::Limits,
    lost: Option<String>,
    /// The run's host-function channel (when it registered functions).
    calls: Option<stockade_jail::calls::HostCalls>,
}

/// A run's fds: the ones it is handed (in `GO_FDS` order), the supervisor's ends of its pipes,
/// and the supervisor's end of its host-function socket.
type RunChannels = (Vec<OwnedFd>, Vec<(Channel, OwnedFd)>, OwnedFd);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Stdout,
    Stderr,
    Answer,
    Events,
}

struct Warm<'a> {
    mode: Mode,
    policy: Policy,
    plan: Plan,
    inputs: Inputs,
    jail: Jail,
    /// The egress proxy serving this jail (`network.mode = "proxy"`); one account per run.
    egress: Option<stockade_egress::Egress>,
    caller: &'a mut Caller,
    queue: VecDeque<(u64, RunSpec)>,
    active: Option<Active>,
    lifetime_end: Option<Instant>,
    reports: Vec<u8>,
    /// Host pid of the jail's interpreter (a session's leftovers are everything else).
    interpreter: i32,
    /// A session's CPU at the end of its last cell: what is used after it counts too.
    idle_cpu_mark: u64,
    cells: u64,
    base_isolation: Option<Isolation>,
    /// The caller has been told this worker takes no more runs.
    retired: bool,
}

/// Poll roles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Caller,
    Control,
    JailExit,
    Drain(u8),
    Run(Channel),
    Calls,
}

fn read_nonblocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match supervise::read_some(fd, buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Some(0)),
        other => other,
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

impl Warm<'_> {
    fn control(&self) -> BorrowedFd<'_> {
        self.jail
            .control
            .as_ref()
            .map_or_else(|| stockade_sys::borrow_raw(-1), AsFd::as_fd)
    }

    /// CPU of the whole jail so far (the cgroup's, else its process tree's).
    fn cpu_ns(&self) -> u64 {
        self.jail
            .cgroup
            .cpu_usage_ns()
            .unwrap_or_else(|| crate::procs::tree_cpu_ns(self.jail.pid))
    }

    fn main(&mut self) -> u8 {
        let ready = match self.wait_ready() {
            Ok(r) => r,
            Err(f) => {
                self.jail.kill();
                let _ = self.jail.reap();
                self.caller.send(Kind::Fatal, 0, &f);
                return 1;
            }
        };
        self.interpreter = crate::procs::descendants(self.jail.pid).first().copied().unwrap_or(0);
        let mut enforced: Vec<(String, String)> = stockade_jail_reports(&self.reports);
        enforced.extend(supervise::cgroup_layers(&self.jail.cgroup));
        let isolation = supervise::isolation_report(&self.plan, &self.inputs.host, &enforced);
        self.base_isolation = Some(isolation.clone());
        self.idle_cpu_mark = self.cpu_ns();
        self.caller.send(
            Kind::Hello,
            0,
            &Hello {
                protocol: stockade_protocol::PROTOCOL_VERSION,
                mode: self.mode,
                wall_time_ms: u64::try_from(self.policy.limits.wall_time.as_millis()).unwrap_or(u64::MAX),
                policy_hash: self.plan.policy_hash.clone(),
                isolation: Some(isolation),
                python: Some(ready.python),
                warnings: ready.warnings,
            },
        );
        let code = self.serve_loop();
        self.jail.kill();
        let _ = self.jail.reap();
        code
    }

    /// Wait for the runner's `Ready`; a jail that dies first says why (its setup reports, or
    /// the runner's own stderr).
    fn wait_ready(&mut self) -> Result<Ready, Fatal> {
        let until = Instant::now() + READY_TIMEOUT;
        let mut stderr = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        for fd in [
            &self.jail.stdout,
            &self.jail.stderr,
            &self.jail.events,
            &self.jail.reports,
        ] {
            set_nonblocking(fd.as_fd());
        }
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(lost(format!(
                    "the jail did not get ready within {} s",
                    READY_TIMEOUT.as_secs()
                )));
            }
            let mut fds = [
                PollFd::new(self.control(), PollFlags::POLLIN),
                PollFd::new(self.jail.pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.jail.reports.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.jail.stderr.as_fd(), PollFlags::POLLIN),
            ];
            let ms = u16::try_from(left.as_millis().min(1000)).unwrap_or(1000);
            if let Err(e) = poll(&mut fds, PollTimeout::from(ms)) {
                if e != nix::Error::EINTR {
                    return Err(lost(format!("poll: {e}")));
                }
            }
            let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
            let (control, died, reports, err) = (ready(0), ready(1), ready(2), ready(3));
            if reports {
                if let Ok(Some(n)) = read_nonblocking(self.jail.reports.as_fd(), &mut buf) {
                    if self.reports.len() < 16 * 1024 {
                        self.reports.extend_from_slice(&buf[..n]);
                    }
                }
            }
            if err {
                if let Ok(Some(n)) = read_nonblocking(self.jail.stderr.as_fd(), &mut buf) {
                    if stderr.len() < 16 * 1024 {
                        stderr.extend_from_slice(&buf[..n]);
                    }
                }
            }
            if control {
                match crate::channel::recv(self.control()) {
                    Ok(Some((f, _))) if f.kind == Kind::Ready => {
                        return f.decode::<Ready>().map_err(|e| lost(e.to_string()));
                    }
                    Ok(Some((f, _))) if f.kind == Kind::Retired => {
                        let why = f.decode::<Retired>().map(|r| r.reason).unwrap_or_default();
                        return Err(Fatal {
                            step: "zygote".into(),
                            message: why,
                            kind: "setup".into(),
                        });
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {}
                }
            }
            if died {
                // Collect what it said on its way out.
                while let Ok(Some(n)) = read_nonblocking(self.jail.reports.as_fd(), &mut buf) {
                    if n == 0 || self.reports.len() > 16 * 1024 {
                        break;
                    }
                    self.reports.extend_from_slice(&buf[..n]);
                }
                while let Ok(Some(n)) = read_nonblocking(self.jail.stderr.as_fd(), &mut buf) {
                    if n == 0 || stderr.len() > 16 * 1024 {
                        break;
                    }
                    stderr.extend_from_slice(&buf[..n]);
                }
                if let Some(f) = setup_failure_of(&self.reports) {
                    return Err(Fatal {
                        step: f.step,
                        message: f.message,
                        kind: "setup".into(),
                    });
                }
                let text = String::from_utf8_lossy(&stderr);
                let tail: String = text
                    .lines()
                    .rev()
                    .take(8)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(Fatal {
                    step: "runner".into(),
                    message: format!("the jail's runner ended before it was ready: {}", tail.trim()),
                    kind: "setup".into(),
                });
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn serve_loop(&mut self) -> u8 {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let now = Instant::now();
            if self.lifetime_end.is_some_and(|t| now >= t) {
                self.end_active(Some("the jail's lifetime ended".into()));
                self.retire("the jail's lifetime ended".into());
                return 0;
            }
            self.check_limits(now);
            if let Some(code) = self.maybe_finish() {
                return code;
            }
            if self.active.is_none() {
                if let Some((nonce, spec)) = self.queue.pop_front() {
                    self.start_run(nonce, &spec);
                    continue;
                }
            }
            let mut roles: Vec<(Role, BorrowedFd<'_>)> = Vec::new();
            if !self.caller.closed {
                roles.push((Role::Caller, self.caller.input()));
            }
            roles.push((Role::Control, self.control()));
            roles.push((Role::JailExit, self.jail.pidfd.as_fd()));
            roles.push((Role::Drain(0), self.jail.stdout.as_fd()));
            roles.push((Role::Drain(1), self.jail.stderr.as_fd()));
            roles.push((Role::Drain(2), self.jail.events.as_fd()));
            let mut calls_flags = PollFlags::empty();
            if let Some(a) = &self.active {
                for (ch, fd) in &a.pipes {
                    roles.push((Role::Run(*ch), fd.as_fd()));
                }
                if let Some(c) = &a.calls {
                    if c.wants_read() && a.exited.is_none() {
                        calls_flags |= PollFlags::POLLIN;
                    }
                    if c.wants_write() {
                        calls_flags |= PollFlags::POLLOUT;
                    }
                    if !calls_flags.is_empty() {
                        roles.push((Role::Calls, c.fd()));
                    }
                }
            }
            let timeout = self.next_wakeup(now);
            let mut fds: Vec<PollFd<'_>> = roles
                .iter()
                .map(|(r, fd)| {
                    PollFd::new(
                        *fd,
                        if *r == Role::Calls {
                            calls_flags
                        } else {
                            PollFlags::POLLIN
                        },
                    )
                })
                .collect();
            match poll(&mut fds, PollTimeout::from(timeout)) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(_) => return 1,
            }
            let ready: Vec<Role> = fds
                .iter()
                .zip(&roles)
                .filter(|(p, _)| p.revents().is_some_and(|r| !r.is_empty()))
                .map(|(_, (r, _))| *r)
                .collect();
            drop(fds);
            drop(roles);
            for role in ready {
                match role {
                    Role::Caller => match self.caller.read_frames() {
                        Ok(frames) => {
                            for f in frames {
                                match f.kind {
                                    Kind::Run => match f.decode::<RunSpec>() {
                                        Ok(spec) => self.queue.push_back((f.nonce, spec)),
                                        Err(e) => self.caller.send(
                                            Kind::Fatal,
                                            f.nonce,
                                            &Fatal {
                                                step: "request".into(),
                                                message: e.to_string(),
                                                kind: "request".into(),
                                            },
                                        ),
                                    },
                                    Kind::Close => {
                                        self.end_active(Some("the caller closed the jail".into()));
                                        return 0;
                                    }
                                    Kind::Reply => {
                                        if let Some(a) = &mut self.active {
                                            if let (Some(c), true) = (&mut a.calls, a.nonce == f.nonce) {
                                                if let Ok(r) = f.decode() {
                                                    c.reply(r);
                                                }
                                            }
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                        Err(_) => {
                            // The caller is gone (or broke the protocol): nothing to serve.
                            self.end_active(Some("the caller went away".into()));
                            return 0;
                        }
                    },
                    Role::Control => self.on_control(),
                    Role::JailExit => {
                        let why = "the worker jail died".to_string();
                        if self.active.is_some() {
                            if let Some(a) = &mut self.active {
                                a.lost = Some(why.clone());
                                a.stop.get_or_insert(Stop::JailLost(why.clone()));
                            }
                            self.finish();
                        }
                        self.retire(why);
                        return 1;
                    }
                    Role::Drain(i) => {
                        let fd = match i {
                            0 => self.jail.stdout.as_fd(),
                            1 => self.jail.stderr.as_fd(),
                            _ => self.jail.events.as_fd(),
                        };
                        let _ = read_nonblocking(fd, &mut buf);
                    }
                    Role::Run(ch) => self.on_run_data(ch, &mut buf),
                    Role::Calls => {
                        if let Some(a) = &mut self.active {
                            if let Some(c) = &mut a.calls {
                                c.flush();
                                // Replies come with the caller's other frames (the serve loop reads them).
                                c.on_readable(&mut crate::caller::CallerBroker::new(&mut *self.caller, a.nonce));
                            }
                        }
                    }
                }
            }
        }
    }

    fn next_wakeup(&self, now: Instant) -> u16 {
        let mut wake = Duration::from_millis(500);
        if let Some(a) = &self.active {
            wake = wake.min(a.deadline.saturating_duration_since(now)).min(CPU_POLL);
            if let Some(t) = a
                .calls
                .as_ref()
                .and_then(stockade_jail::calls::HostCalls::next_deadline)
            {
                wake = wake.min(t.saturating_duration_since(now));
            }
            if let Some((_, at)) = a.exited {
                wake = wake.min((at + Duration::from_millis(10)).saturating_duration_since(now));
            }
        } else if self.mode == Mode::Session {
            wake = wake.min(Duration::from_millis(100));
        }
        if let Some(t) = self.lifetime_end {
            wake = wake.min(t.saturating_duration_since(now));
        }
        u16::try_from(wake.as_millis().max(1)).unwrap_or(500)
    }

    /// Validate and start a run (or answer it at once: invalid, or refused by the pre-screen).
    fn start_run(&mut self, nonce: u64, spec: &RunSpec) {
        if let Err(why) = spec.validate() {
            self.caller.send(
                Kind::Fatal,
                nonce,
                &Fatal {
                    step: "request".into(),
                    message: why,
                    kind: "request".into(),
                },
            );
            return;
        }
        if let Some(refused) = crate::prescreen::refusal(&self.policy, "<string>", spec.code.as_bytes()) {
            self.caller.send(Kind::Result, nonce, &refused);
            return;
        }
        let policy = cold::policy_for(&self.policy, spec);
        let limits = policy.limits;
        self.cells += 1;
        let filename = match self.mode {
            Mode::Session => format!("/sandbox/cell-{}.py", self.cells),
            _ => cold::MAIN_FILENAME.to_string(),
        };
        // A pool's run gets placeholders of its own for the policy's secrets (a session keeps
        // its first: its cells share their variables).
        let fresh_secrets = match (&self.egress, &self.plan.egress, self.mode) {
            (Some(_), Some(cfg), Mode::Pool) if !cfg.secrets.is_empty() => cfg.secrets.with_fresh_placeholders().ok(),
            _ => None,
        };
        let run_env = fresh_secrets
            .as_ref()
            .map(stockade_egress::Secrets::placeholders)
            .unwrap_or_default();
        let made = (|| -> io::Result<RunChannels> {
            let request = supervise::sealed_memfd(&cold::request_frame(spec, &filename, limits.output, run_env))?;
            let stdin = match cold::stdin_bytes(spec) {
                Some(bytes) => supervise::sealed_memfd(&bytes)?,
                None => OwnedFd::from(std::fs::File::open("/dev/null")?),
            };
            let (out_r, out_w) = stockade_sys::pipe()?;
            let (err_r, err_w) = stockade_sys::pipe()?;
            let (ans_r, ans_w) = stockade_sys::pipe()?;
            let (ev_r, ev_w) = stockade_sys::pipe()?;
            let (calls_ours, calls_theirs) = std::os::unix::net::UnixStream::pair()?;
            for r in [&out_r, &err_r, &ans_r, &ev_r] {
                set_nonblocking(r.as_fd());
            }
            Ok((
                vec![request, stdin, out_w, err_w, ans_w, ev_w, OwnedFd::from(calls_theirs)],
                vec![
                    (Channel::Stdout, out_r),
                    (Channel::Stderr, err_r),
                    (Channel::Answer, ans_r),
                    (Channel::Events, ev_r),
                ],
                OwnedFd::from(calls_ours),
            ))
        })();
        let (theirs, ours, calls_sock) = match made {
            Ok(x) => x,
            Err(e) => {
                self.caller.send(
                    Kind::Fatal,
                    nonce,
                    &Fatal {
                        step: "pipes".into(),
                        message: format!("cannot make the run's channels: {e}"),
                        kind: "setup".into(),
                    },
                );
                return;
            }
        };
        let cpu0 = match self.mode {
            // A session's CPU since its last cell counts against this one.
            Mode::Session => self.idle_cpu_mark,
            _ => self.cpu_ns(),
        };
        let oom0 = self.jail.cgroup.oom_kills();
        let pids0 = self.jail.cgroup.pids_limit_hits();
        let peak_reset = self.jail.cgroup.reset_memory_peak();
        let raw: Vec<RawFd> = theirs.iter().map(AsRawFd::as_raw_fd).collect();
        let go = frame::encode(
            Kind::Go,
            nonce,
            &Go {
                cpu_seconds: limits.cpu_time.as_secs().max(1),
            },
        );
        if let Some(egress) = &self.egress {
            egress.begin_run(fresh_secrets);
        }
        let sent = stockade_sys::send_with_fds(self.control(), &go, &raw);
        drop(theirs);
        // A run without functions gets a socket nobody serves: its end reads end of file.
        let calls = match &spec.functions {
            Some(f) if !f.names.is_empty() => crate::calls_for(calls_sock, f),
            _ => None,
        };
        let now = Instant::now();
        let answer_cap = usize::try_from(limits.output).unwrap_or(usize::MAX) + frame::HEADER_LEN;
        self.active = Some(Active {
            nonce,
            spec_stream: spec.stream,
            started: now,
            deadline: now + limits.wall_time,
            wall_limit: limits.wall_time,
            stop: None,
            kill_sent: None,
            stdout: Capture::new(limits.output, None, &self.plan.secrets),
            stderr: Capture::new(limits.output, None, &self.plan.secrets),
            answer: Vec::new(),
            answer_cap,
            answer_over: false,
            audit: Audit::collector(&self.plan.secrets),
            pipes: ours,
            exited: None,
            layers: Vec::new(),
            cpu0,
            oom0,
            pids0,
            peak_reset,
            limits,
            lost: None,
            calls,
        });
        if let Err(e) = sent {
            let why = format!("cannot hand the run to the jail: {e}");
            if let Some(a) = &mut self.active {
                a.lost = Some(why.clone());
                a.stop = Some(Stop::JailLost(why));
            }
            self.jail.kill();
        }
    }

    fn on_control(&mut self) {
        let msg = match crate::channel::recv(self.control()) {
            Ok(Some((f, _fds))) => f,
            Ok(None) | Err(_) => {
                // The runner hung up: the jail is ending; its exit is reported by the pidfd.
                self.jail.kill();
                return;
            }
        };
        let Some(a) = &mut self.active else {
            if msg.kind == Kind::Retired {
                self.jail.kill();
            }
            return;
        };
        match msg.kind {
            Kind::Started if msg.nonce == a.nonce => {
                if let Ok(s) = msg.decode::<Started>() {
                    a.layers = s.layers;
                }
            }
            Kind::Exited if msg.nonce == a.nonce && a.exited.is_none() => {
                let exited = msg.decode::<Exited>().unwrap_or_default();
                a.exited = Some((exited, Instant::now()));
                if self.mode == Mode::Session {
                    // A cell's processes end with the cell; the interpreter (its state) stays.
                    crate::procs::kill_descendants_except(self.jail.pid, self.interpreter, 50);
                }
            }
            Kind::Retired => {
                let why = msg.decode::<Retired>().map(|r| r.reason).unwrap_or_default();
                a.lost = Some(format!("the worker retired: {why}"));
                a.stop
                    .get_or_insert(Stop::JailLost(format!("the worker retired: {why}")));
                self.jail.kill();
            }
            // A session's cell can write on the control socket itself: only the running
            // cell's nonce is believed, and only once.
            _ => {}
        }
    }

    fn on_run_data(&mut self, ch: Channel, buf: &mut [u8]) {
        let Some(a) = &mut self.active else { return };
        let Some(pos) = a.pipes.iter().position(|(c, _)| *c == ch) else {
            return;
        };
        let n = match read_nonblocking(a.pipes[pos].1.as_fd(), buf) {
            Ok(Some(0)) => return,
            Ok(Some(n)) => n,
            Ok(None) | Err(_) => {
                a.pipes.remove(pos);
                return;
            }
        };
        let chunk = &buf[..n];
        match ch {
            Channel::Stdout | Channel::Stderr => {
                let capture = if ch == Channel::Stdout {
                    &mut a.stdout
                } else {
                    &mut a.stderr
                };
                let before = capture.data.len();
                let fits = capture.push(chunk);
                if a.spec_stream && capture.data.len() > before {
                    let kept = capture.data[before..].to_vec();
                    let text = stockade_jail::audit::redact(&String::from_utf8_lossy(&kept), &self.plan.secrets);
                    let kind = if ch == Channel::Stdout {
                        Kind::Stdout
                    } else {
                        Kind::Stderr
                    };
                    self.caller.send_raw(kind, a.nonce, text.as_bytes());
                }
                if !fits && a.stop.is_none() {
                    a.stop = Some(Stop::OutputLimit);
                    self.kill_run();
                }
            }
            Channel::Answer => {
                // Checked before keeping: never more than the cap in memory.
                if a.answer.len() + chunk.len() > a.answer_cap {
                    a.answer_over = true;
                    a.pipes.remove(pos);
                } else {
                    a.answer.extend_from_slice(chunk);
                }
            }
            Channel::Events => {
                let before = a.audit.violations.clone();
                a.audit.feed(chunk);
                if a.spec_stream {
                    for v in &a.audit.violations {
                        if !before.contains(v) {
                            self.caller.send(Kind::Violation, a.nonce, v);
                        }
                    }
                }
            }
        }
    }

    /// Ask for the run to be stopped: the zygote kills its pid namespace; a session's cell
    /// cannot be stopped without its interpreter, so the whole session jail goes.
    fn kill_run(&mut self) {
        let Some(a) = &mut self.active else { return };
        if a.kill_sent.is_some() {
            return;
        }
        a.kill_sent = Some(Instant::now());
        if self.mode == Mode::Pool {
            let kill = frame::encode(Kind::Kill, a.nonce, &serde_json::json!({}));
            if stockade_sys::send_with_fds(self.control(), &kill, &[]).is_err() {
                self.jail.kill();
            }
        } else {
            a.lost = Some("the session ended: a cell was stopped at a limit".into());
            self.jail.kill();
        }
    }

    fn check_limits(&mut self, now: Instant) {
        if let Some(c) = self.active.as_mut().and_then(|a| a.calls.as_mut()) {
            c.expire(now);
        }
        let cpu_now = if self.active.as_ref().is_some_and(|a| a.exited.is_none())
            || (self.active.is_none() && self.mode == Mode::Session)
        {
            Some(self.cpu_ns())
        } else {
            None
        };
        let Some(a) = &mut self.active else {
            // A session between cells: leftovers (threads) may still burn CPU; it counts.
            if let Some(cpu) = cpu_now {
                let limit = u64::try_from(self.policy.limits.cpu_time.as_nanos()).unwrap_or(u64::MAX);
                if cpu.saturating_sub(self.idle_cpu_mark) >= limit {
                    self.caller.send(
                        Kind::Fatal,
                        0,
                        &lost(format!(
                            "the session ended: it used its CPU-time limit of {} ms between cells",
                            self.policy.limits.cpu_time.as_millis()
                        )),
                    );
                    self.jail.kill();
                }
            }
            return;
        };
        if a.exited.is_some() {
            return;
        }
        if a.stop.is_none() {
            if now >= a.deadline {
                a.stop = Some(Stop::Timeout);
            } else if let Some(cpu) = cpu_now {
                let limit = u64::try_from(a.limits.cpu_time.as_nanos()).unwrap_or(u64::MAX);
                if cpu.saturating_sub(a.cpu0) >= limit {
                    a.stop = Some(Stop::CpuLimit);
                }
            }
            if a.stop.is_some() {
                self.kill_run();
                return;
            }
        }
        // The zygote did not stop the run in time: the whole jail goes.
        if a.kill_sent.is_some_and(|t| now >= t + KILL_GRACE) && a.lost.is_none() {
            a.lost = Some("the worker did not stop the run in time and was killed".into());
            self.jail.kill();
        }
    }

    /// Finish the active run when it is over: exited and its channels drained (or given up on
    /// after a short grace), or its jail lost.
    fn maybe_finish(&mut self) -> Option<u8> {
        let a = self.active.as_ref()?;
        let grace = match self.mode {
            Mode::Session => Duration::from_millis(200),
            _ => Duration::from_secs(1),
        };
        let done = match &a.exited {
            Some((_, at)) => a.pipes.is_empty() || at.elapsed() >= grace,
            None => false,
        };
        let jail_gone = a.lost.is_some() && a.kill_sent.is_some_and(|t| t.elapsed() >= KILL_GRACE * 2);
        if !(done || jail_gone) {
            return None;
        }
        let retires = a.lost.is_some();
        self.finish();
        retires.then_some(1)
    }

    /// Tell the caller this worker takes no more runs (once: `finish` may have said it already).
    fn retire(&mut self, why: String) {
        if !self.retired {
            self.retired = true;
            self.caller.send(Kind::Fatal, 0, &lost(why));
        }
    }

    /// End the active run with a reason (the jail is going away).
    fn end_active(&mut self, why: Option<String>) {
        if let Some(a) = &mut self.active {
            let why = why.unwrap_or_else(|| "stopped".into());
            a.stop.get_or_insert(Stop::JailLost(why.clone()));
            a.lost = Some(why);
            self.jail.kill();
            self.finish();
        }
    }

    /// Classify the active run, answer the caller, clear it.
    #[allow(clippy::too_many_lines)]
    fn finish(&mut self) {
        let Some(mut a) = self.active.take() else { return };
        // What is still in the pipes (the run's processes are gone, or the jail is).
        let mut buf = vec![0u8; 64 * 1024];
        for (ch, fd) in std::mem::take(&mut a.pipes) {
            for _ in 0..64 {
                let n = match read_nonblocking(fd.as_fd(), &mut buf) {
                    Ok(Some(n)) if n > 0 => n,
                    _ => break,
                };
                let chunk = &buf[..n];
                match ch {
                    Channel::Stdout => {
                        a.stdout.push(chunk);
                    }
                    Channel::Stderr => {
                        a.stderr.push(chunk);
                    }
                    Channel::Answer => {
                        if a.answer.len() + n > a.answer_cap {
                            a.answer_over = true;
                        } else {
                            a.answer.extend_from_slice(chunk);
                        }
                    }
                    Channel::Events => a.audit.feed(chunk),
                }
            }
        }
        let (exited, ended_at) = match a.exited.take() {
            Some((e, at)) => (Some(e), at),
            None => (None, Instant::now()),
        };
        let exit = match exited.as_ref().and_then(|e| e.wait_status) {
            Some(s) if libc::WIFEXITED(s) => Exit::Code(libc::WEXITSTATUS(s)),
            Some(s) if libc::WIFSIGNALED(s) => Exit::Signal(libc::WTERMSIG(s)),
            _ => Exit::Unknown(None),
        };
        let rusage_ms = exited.as_ref().map_or(0, |e| (e.user_us + e.sys_us) / 1000);
        let measured_ms = self.cpu_ns().saturating_sub(a.cpu0) / 1_000_000;
        let cpu_ms = rusage_ms.max(measured_ms);
        let (user_ms, sys_ms) = match &exited {
            Some(e) if e.user_us + e.sys_us > 0 && rusage_ms >= measured_ms => (e.user_us / 1000, e.sys_us / 1000),
            _ => (cpu_ms, 0),
        };
        let stderr_text = String::from_utf8_lossy(&a.stderr.data).into_owned();
        let (file_too_large, memory_error) = classify::stderr_markers(&stderr_text);
        let setup_failure = exited
            .as_ref()
            .and_then(|e| e.setup_error.clone())
            .map(|message| SetupFailure {
                step: "run-setup".into(),
                message,
            });
        let limits = a.limits;
        let classified = classify::classify(&Observation {
            setup_failure: setup_failure.clone(),
            stop: a.stop.clone(),
            exit,
            cpu_ms,
            oom_kills: self.jail.cgroup.oom_kills().saturating_sub(a.oom0),
            pids_limit_hits: self.jail.cgroup.pids_limit_hits().saturating_sub(a.pids0),
            memory_by_cgroup: self.jail.cgroup.limits_memory().is_some(),
            stderr_file_too_large: file_too_large,
            stderr_memory_error: memory_error,
            limits: classify::LimitValues {
                wall_ms: u64::try_from(a.wall_limit.as_millis()).unwrap_or(u64::MAX),
                cpu_ms: u64::try_from(limits.cpu_time.as_millis()).unwrap_or(u64::MAX),
                memory: limits.memory,
                processes: limits.processes,
                file_size: limits.file_size,
                output: limits.output,
            },
        });
        let secrets = &self.plan.secrets;
        let answer = stockade_protocol::run::read_answer(&a.answer, a.answer_over, limits.output, secrets);
        let mut isolation = self.base_isolation.clone();
        if let Some(iso) = &mut isolation {
            for l in &a.layers {
                match iso.layers.iter_mut().find(|x| x.name == l.name) {
                    Some(x) => *x = l.clone(),
                    None => iso.layers.push(l.clone()),
                }
            }
        }
        let peak = if a.peak_reset {
            self.jail.cgroup.memory_peak().map(|b| b / 1024)
        } else {
            None
        };
        let network = self.egress.as_ref().map(stockade_egress::Egress::end_run);
        let calls = a
            .calls
            .take()
            .map(stockade_jail::calls::HostCalls::finish)
            .unwrap_or_default();
        if let Some(net) = &network {
            a.audit.flows(net);
        }
        let mut plan_limits =
            supervise::applied_limits(&self.plan, &self.inputs.host, self.jail.cgroup.cpu_usage_ns().is_some());
        plan_limits.wall_time_ms = u64::try_from(a.wall_limit.as_millis()).unwrap_or(u64::MAX);
        let result = RunResult {
            schema: SCHEMA.to_string(),
            status: classified.status,
            reason: classified.reason,
            exit_code: classified.exit_code,
            signal: classified.signal,
            stdout: stockade_jail::audit::redact(&String::from_utf8_lossy(&a.stdout.data), secrets),
            stderr: stockade_jail::audit::redact(&stderr_text, secrets),
            stdout_truncated: a.stdout.truncated,
            stderr_truncated: a.stderr.truncated,
            usage: Usage {
                wall_ms: u64::try_from(ended_at.duration_since(a.started).as_millis()).unwrap_or(u64::MAX),
                user_cpu_ms: user_ms,
                sys_cpu_ms: sys_ms,
                peak_memory_kib: peak.unwrap_or_else(|| exited.as_ref().map_or(0, |e| e.max_rss_kib)),
            },
            limits: Some(plan_limits),
            isolation,
            error: setup_failure,
            violations: std::mem::take(&mut a.audit.violations),
            events_dropped: a.audit.dropped,
            answer: Some(answer),
            prescreen: None,
            network,
            calls,
        };
        // A worker that retires with this run says so in the same write as the result, so a
        // caller that has read the result can never hand this worker another run.
        let mut out = frame::encode(Kind::Result, a.nonce, &result);
        if let Some(why) = a.lost.take() {
            out.extend(frame::encode(Kind::Fatal, 0, &lost(why)));
            self.retired = true;
        }
        self.caller.send_bytes(&out);
        if self.mode == Mode::Session {
            self.idle_cpu_mark = self.cpu_ns();
        }
    }
}

fn lost(message: String) -> Fatal {
    Fatal {
        step: "worker".into(),
        message,
        kind: "lost".into(),
    }
}

fn stockade_jail_reports(bytes: &[u8]) -> Vec<(String, String)> {
    stockade_jail::supervise::enforced_layers(bytes)
}

fn setup_failure_of(bytes: &[u8]) -> Option<SetupFailure> {
    stockade_jail::supervise::setup_failure(bytes)
}
