//! The host side of a run: create the cgroups, clone the jail, map its ids, let it go, then
//! watch it — pumping stdin, capturing and capping output, enforcing the wall clock and the
//! run's total CPU — and turn what happened into a [`RunResult`].

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::audit::Audit;
use crate::child::{self, ChildFds};
use crate::error::{AtStep, SetupError, Step};
use crate::host::HostSupport;
use crate::outcome::{AppliedLimits, Isolation, Layer, RunResult, SetupFailure, Status, Usage, SCHEMA};
use crate::plan::{Plan, StdinMode, JAIL_GID, JAIL_UID};
use crate::redact_lines::LineRedactor;

const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// Why the supervisor stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Timeout,
    Cpu,
    Output,
    Signal(i32),
}

struct Capture {
    data: Vec<u8>,
    limit: usize,
    truncated: bool,
    echo: Option<i32>,
    open: bool,
    /// Secret values to replace before echoing, and output held back because it might be the
    /// start of one.
    secrets: Vec<Vec<u8>>,
    held: Vec<u8>,
    /// Serve mode with secrets: the stream is JSON lines, redacted after decoding.
    lines: Option<LineRedactor>,
}

impl Capture {
    fn new(limit: u64, echo: Option<i32>, secrets: &[String], json_lines: bool) -> Capture {
        let serving = limit == u64::MAX;
        Capture {
            lines: (serving && json_lines && !secrets.is_empty()).then(|| LineRedactor::new(secrets)),
            data: Vec::new(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            truncated: false,
            echo,
            open: true,
            secrets: secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
            held: Vec::new(),
        }
    }

    /// Keep what fits; return false when something had to be cut.
    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.limit == usize::MAX {
            // Serve mode: a stream, not a capture; nothing is kept.
            if let Some(fd) = self.echo {
                if let Some(lines) = &mut self.lines {
                    let mut out = Vec::with_capacity(bytes.len());
                    lines.push(bytes, &mut out);
                    let _ = stockade_sys::write_all_raw(fd, &out);
                } else if self.secrets.is_empty() {
                    let _ = stockade_sys::write_all_raw(fd, bytes);
                } else {
                    self.held.extend_from_slice(bytes);
                    self.flush_echo(false);
                }
            }
            return true;
        }
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
    fn flush_echo(&mut self, last: bool) {
        let Some(fd) = self.echo else { return };
        if let (true, Some(lines)) = (last, &mut self.lines) {
            let mut out = Vec::new();
            lines.finish(&mut out);
            let _ = stockade_sys::write_all_raw(fd, &out);
        }
        for secret in &self.secrets {
            self.held = replace_bytes(&self.held, secret, b"[secret]");
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

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn write_file(path: String, contents: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .write_all(contents.as_bytes())
}

/// Run a plan to completion. Errors are returned only for failures before the jail exists;
/// everything after (including the jail's own setup failures) is a [`RunResult`].
pub fn run(plan: &Plan, host: &HostSupport) -> Result<RunResult, SetupError> {
    let start = Instant::now();
    stockade_cgroup::sweep_stale(&host.cgroups);
    let cgroup_name = format!(
        "run-{}-{}",
        std::process::id(),
        start.elapsed().as_nanos() ^ u128::from(nonce())
    );
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
    let (in_r, in_w) = stockade_sys::pipe().at(Step::Pipes, "stdin pipe")?;
    let (out_r, out_w) = stockade_sys::pipe().at(Step::Pipes, "stdout pipe")?;
    let (eout_r, eout_w) = stockade_sys::pipe().at(Step::Pipes, "stderr pipe")?;
    let (events_r, events_w) = stockade_sys::pipe().at(Step::Pipes, "guard events pipe")?;
    let run_id = format!("{:016x}", nonce());
    let mut audit = Audit::new(plan, run_id.clone()).at(Step::Pipes, "open the audit log")?;
    audit.write(serde_json::json!({
        "type": "run-start",
        "policy_hash": plan.policy_hash,
        "isolation": isolation_report(plan, host),
        "limits": applied_limits(plan, host, host.cgroups.cpu.is_some()),
    }));

    let fds = ChildFds {
        sync_read: sync_r.as_raw_fd(),
        error_write: err_w.as_raw_fd(),
        status_write: status_w.as_raw_fd(),
        stdin_read: in_r.as_raw_fd(),
        stdout_write: out_w.as_raw_fd(),
        stderr_write: eout_w.as_raw_fd(),
        events_write: events_w.as_raw_fd(),
    };
    let (pid, pidfd) =
        match stockade_sys::clone_into_namespaces(NAMESPACES).at(Step::Clone, "clone into new namespaces")? {
            stockade_sys::Cloned::Child => child::run(plan, fds),
            stockade_sys::Cloned::Parent { pid, pidfd } => (pid, pidfd),
        };
    drop((sync_r, err_w, status_w, in_r, out_w, eout_w, events_w));

    // Until the go-ahead the child only waits; on any failure here, kill it before returning.
    let kill_child = |e: SetupError| {
        let _ = stockade_sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        let _ = stockade_sys::wait4(pid);
        e
    };
    write_id_maps(pid, plan).map_err(kill_child)?;
    stockade_sys::write_all_raw(sync_w.as_raw_fd(), b"G")
        .at(Step::WaitForIdMaps, "send go-ahead")
        .map_err(kill_child)?;
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
        .map_err(kill_child)?;
    // Keep `sync_w` open for the whole run: the child checks it to know the supervisor lives.

    // From here a SIGINT/SIGTERM to stockade stops the jail and still produces a result.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        mask.add(s);
    }
    let _ = mask.thread_block();
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();

    let output_cap = if plan.serve.is_some() {
        u64::MAX
    } else {
        plan.limits.output
    };
    let mut watch = Watch {
        plan,
        cgroup: &cgroup,
        pidfd: &pidfd,
        // A warm jail answers in JSON lines on stdout (see `redact_lines`).
        stdout: Capture::new(output_cap, plan.passthrough.then_some(1), &plan.secrets, true),
        stderr: Capture::new(output_cap, plan.passthrough.then_some(2), &plan.secrets, false),
        error_report: Vec::new(),
        audit,
        status_bytes: Vec::new(),
        stop: None,
        deadline: match &plan.serve {
            None => start + plan.limits.wall_time,
            Some(serve) => start + serve.lifetime.unwrap_or(Duration::from_secs(100 * 365 * 86_400)),
        },
    };
    let stdin_w = if plan.stdin == StdinMode::Forward {
        Some(in_w)
    } else {
        None
    };
    watch.pump([out_r, eout_r, err_r, status_r, events_r], stdin_w, signals.as_ref());
    let _ = mask.thread_unblock();

    let reaped = stockade_sys::wait4(pid).at(Step::Supervise, "reap jail init")?;
    let wall = start.elapsed();
    let result = watch.finish(host, reaped, wall);
    drop(sync_w);
    drop(cgroup);
    Ok(result)
}

fn nonce() -> u64 {
    let mut buf = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        return u64::from(std::process::id());
    }
    u64::from_le_bytes(buf)
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

struct Watch<'a> {
    plan: &'a Plan,
    cgroup: &'a stockade_cgroup::RunCgroup,
    pidfd: &'a OwnedFd,
    stdout: Capture,
    stderr: Capture,
    error_report: Vec<u8>,
    status_bytes: Vec<u8>,
    audit: Audit,
    stop: Option<StopReason>,
    deadline: Instant,
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

/// Read what is available; Ok(None) on EOF.
fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(n)),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Watch<'_> {
    fn kill(&mut self, reason: StopReason) {
        if self.stop.is_none() {
            self.stop = Some(reason);
        }
        let _ = stockade_sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
    }

    #[allow(clippy::too_many_lines)]
    fn pump(&mut self, readers: [OwnedFd; 5], stdin_w: Option<OwnedFd>, signals: Option<&SignalFd>) {
        let [out_r, eout_r, err_r, status_r, events_r] = readers;
        let mut out_r = Some(out_r);
        let mut eout_r = Some(eout_r);
        let mut err_r = Some(err_r);
        let mut status_r = Some(status_r);
        let mut events_r = Some(events_r);
        let mut stdin_w = stdin_w;
        if let Some(w) = &stdin_w {
            set_nonblocking(w.as_fd());
        }
        let stdin_src = io::stdin();
        let mut stdin_open = stdin_w.is_some();
        let mut pending: Vec<u8> = Vec::new();
        let mut exited_at: Option<Instant> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let cpu_limit_ns = u64::try_from(self.plan.limits.cpu_time.as_nanos()).unwrap_or(u64::MAX);
        loop {
            let outputs_open =
                out_r.is_some() || eout_r.is_some() || err_r.is_some() || status_r.is_some() || events_r.is_some();
            if exited_at.is_some() && !outputs_open {
                break;
            }
            // After init is gone every writer is dead; a pipe that still has not reached EOF
            // means something unexpected holds it. Never hang on it.
            if exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                break;
            }
            let now = Instant::now();
            if exited_at.is_none() && now >= self.deadline {
                self.kill(StopReason::Timeout);
            }
            // In serve mode the CPU limit is per run (each run's process has RLIMIT_CPU).
            if exited_at.is_none()
                && self.plan.serve.is_none()
                && self.cgroup.cpu_usage_ns().is_some_and(|ns| ns >= cpu_limit_ns)
            {
                self.kill(StopReason::Cpu);
            }
            let mut timeout = self
                .deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(100));
            if exited_at.is_some() || self.stop.is_some() {
                timeout = timeout.max(Duration::from_millis(10));
            }
            let mut watched: Vec<(u8, BorrowedFd<'_>, PollFlags)> = Vec::with_capacity(8);
            if let Some(fd) = &out_r {
                watched.push((1, fd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(fd) = &eout_r {
                watched.push((2, fd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(fd) = &err_r {
                watched.push((3, fd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(fd) = &events_r {
                watched.push((9, fd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(fd) = &status_r {
                watched.push((4, fd.as_fd(), PollFlags::POLLIN));
            }
            if exited_at.is_none() {
                watched.push((5, self.pidfd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(w) = &stdin_w {
                if pending.is_empty() && stdin_open {
                    watched.push((6, stdin_src.as_fd(), PollFlags::POLLIN));
                } else if !pending.is_empty() {
                    watched.push((7, w.as_fd(), PollFlags::POLLOUT));
                }
            }
            if let Some(s) = signals {
                watched.push((8, s.as_fd(), PollFlags::POLLIN));
            }
            let mut fds: Vec<PollFd<'_>> = watched.iter().map(|(_, fd, flags)| PollFd::new(*fd, *flags)).collect();
            let roles: Vec<u8> = watched.iter().map(|(r, _, _)| *r).collect();
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(_) => {
                    self.kill(StopReason::Signal(0));
                    break;
                }
            }
            let ready: Vec<(u8, PollFlags)> = fds
                .iter()
                .zip(&roles)
                .filter_map(|(p, r)| p.revents().filter(|f| !f.is_empty()).map(|f| (*r, f)))
                .collect();
            drop(fds);
            drop(watched);
            for (role, _flags) in ready {
                match role {
                    1..=4 | 9 => {
                        let slot = match role {
                            1 => &mut out_r,
                            2 => &mut eout_r,
                            3 => &mut err_r,
                            9 => &mut events_r,
                            _ => &mut status_r,
                        };
                        let Some(fd) = slot.as_ref() else { continue };
                        match read_some(fd.as_fd(), &mut buf) {
                            Ok(Some(n)) => {
                                let chunk = &buf[..n];
                                let fits = match role {
                                    1 => self.stdout.push(chunk),
                                    2 => self.stderr.push(chunk),
                                    9 => {
                                        self.audit.feed(chunk);
                                        true
                                    }
                                    3 => {
                                        self.error_report.extend_from_slice(chunk);
                                        self.error_report.truncate(4096);
                                        true
                                    }
                                    _ => {
                                        self.status_bytes.extend_from_slice(chunk);
                                        self.status_bytes.truncate(64);
                                        true
                                    }
                                };
                                if !fits {
                                    self.kill(StopReason::Output);
                                }
                            }
                            Ok(None) | Err(_) => {
                                *slot = None;
                                if role == 1 {
                                    self.stdout.open = false;
                                } else if role == 2 {
                                    self.stderr.open = false;
                                }
                            }
                        }
                    }
                    5 => exited_at = Some(Instant::now()),
                    6 => match read_some(stdin_src.as_fd(), &mut buf) {
                        Ok(Some(n)) => pending.extend_from_slice(&buf[..n]),
                        Ok(None) | Err(_) => {
                            stdin_open = false;
                            stdin_w = None;
                        }
                    },
                    7 => {
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
                    8 => {
                        if let Some(s) = signals {
                            if let Ok(Some(info)) = s.read_signal() {
                                self.kill(StopReason::Signal(
                                    i32::try_from(info.ssi_signo).unwrap_or(libc::SIGTERM),
                                ));
                            }
                        }
                    }
                    _ => {}
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
        let python_status = (self.status_bytes.len() >= 4).then(|| {
            i32::from_le_bytes([
                self.status_bytes[0],
                self.status_bytes[1],
                self.status_bytes[2],
                self.status_bytes[3],
            ])
        });
        let (mut exit_code, mut signal) = match python_status {
            Some(s) if libc::WIFEXITED(s) => (Some(libc::WEXITSTATUS(s)), None),
            Some(s) if libc::WIFSIGNALED(s) => (None, Some(libc::WTERMSIG(s))),
            _ => (None, None),
        };
        let cpu_ms = (reaped.user_us + reaped.sys_us) / 1000;
        let cgroup_cpu_ms = self.cgroup.cpu_usage_ns().map(|ns| ns / 1_000_000);
        let cpu_limit_ms = u64::try_from(plan.limits.cpu_time.as_millis()).unwrap_or(u64::MAX);
        let stderr_text = String::from_utf8_lossy(&self.stderr.data).into_owned();
        let oom = self.cgroup.oom_kills() > 0;
        let pids_hit = self.cgroup.pids_limit_hits() > 0;
        let mut reason = None;
        let mut error = None;
        let setup = child::decode_report(&self.error_report);
        let status = if let Some(why) = self.audit.guard.failed.clone() {
            error = Some(SetupFailure {
                step: "guard".into(),
                message: why,
            });
            Status::SetupFailed
        } else if let Some((step, _errno, detail)) = setup {
            error = Some(SetupFailure {
                step: step.name().to_string(),
                message: detail,
            });
            Status::SetupFailed
        } else if let Some(stop) = self.stop {
            if python_status.is_none() {
                // The interpreter died with init, by the SIGKILL stockade sent.
                signal = Some(libc::SIGKILL);
            }
            match stop {
                StopReason::Timeout => {
                    reason = Some(format!(
                        "wall-clock limit of {} ms reached",
                        plan.limits.wall_time.as_millis()
                    ));
                    Status::Timeout
                }
                StopReason::Cpu => {
                    reason = Some(format!(
                        "CPU-time limit of {cpu_limit_ms} ms reached (all processes of the run)"
                    ));
                    Status::CpuLimit
                }
                StopReason::Output => {
                    reason = Some(format!(
                        "output limit of {} bytes per stream exceeded",
                        plan.limits.output
                    ));
                    Status::OutputLimit
                }
                StopReason::Signal(s) => {
                    reason = Some(format!("stockade received signal {s}"));
                    Status::Killed
                }
            }
        } else if python_status.is_none() {
            // Init died without a report: killed from outside.
            if libc::WIFSIGNALED(reaped.status) {
                signal = Some(libc::WTERMSIG(reaped.status));
            }
            exit_code = None;
            Status::Killed
        } else if signal == Some(libc::SIGXCPU) || (signal == Some(libc::SIGKILL) && cpu_ms + 50 >= cpu_limit_ms) {
            reason = Some(format!("CPU-time limit of {cpu_limit_ms} ms reached"));
            Status::CpuLimit
        } else if signal == Some(libc::SIGXFSZ) {
            reason = Some(format!("file-size limit of {} bytes reached", plan.limits.file_size));
            Status::FileLimit
        } else if oom && exit_code != Some(0) {
            reason = Some(format!(
                "memory limit of {} bytes reached (OOM kill)",
                plan.limits.memory
            ));
            Status::MemoryLimit
        } else if pids_hit && exit_code != Some(0) {
            reason = Some(format!("process/thread limit of {} reached", plan.limits.processes));
            Status::PidsLimit
        } else if exit_code.is_some_and(|c| c != 0) && stderr_text.contains("[Errno 27] File too large") {
            reason = Some(format!(
                "file-size limit of {} bytes reached (EFBIG)",
                plan.limits.file_size
            ));
            Status::FileLimit
        } else if exit_code.is_some_and(|c| c != 0)
            && host.cgroups.memory.is_none()
            && stderr_text.lines().any(|l| l.starts_with("MemoryError"))
        {
            reason = Some(format!(
                "memory limit of {} bytes reached (RLIMIT_AS)",
                plan.limits.memory
            ));
            Status::MemoryLimit
        } else if exit_code == Some(0) {
            Status::Ok
        } else if exit_code.is_some() {
            Status::Error
        } else {
            Status::Killed
        };
        let peak_kib = self.cgroup.memory_peak().map_or(reaped.max_rss_kib, |b| b / 1024);
        let (mut user_ms, mut sys_ms) = (reaped.user_us / 1000, reaped.sys_us / 1000);
        if let Some((u, s)) = self.cgroup.cpu_user_sys_ms() {
            // Killed processes are never reaped by init, so wait4 misses them; the cgroup does not.
            if u + s > user_ms + sys_ms {
                (user_ms, sys_ms) = (u, s);
            }
        }
        let mut isolation = isolation_report(plan, host);
        if plan.guard && !self.audit.guard.installed && status != Status::SetupFailed {
            if let Some(l) = isolation.layers.iter_mut().find(|l| l.name == "guard") {
                l.active = false;
                l.mechanism = "configured, but the hook never reported that it was installed".into();
            }
        }
        let secrets = &plan.secrets;
        let mut audit = self.audit;
        if let Some(r) = &reason {
            audit.write(serde_json::json!({"type": "limit", "status": status.name(), "reason": r}));
        }
        let result = RunResult {
            schema: SCHEMA,
            status,
            exit_code,
            signal,
            stdout: crate::audit::redact(&String::from_utf8_lossy(&self.stdout.data), secrets),
            stderr: crate::audit::redact(&stderr_text, secrets),
            stdout_truncated: self.stdout.truncated,
            stderr_truncated: self.stderr.truncated,
            usage: Usage {
                wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
                user_cpu_ms: user_ms,
                sys_cpu_ms: sys_ms,
                peak_memory_kib: peak_kib,
            },
            limits: applied_limits(plan, host, cgroup_cpu_ms.is_some()),
            isolation,
            error,
            reason,
            violations: std::mem::take(&mut audit.violations),
            events_dropped: audit.dropped,
            result: audit.result.take(),
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

fn applied_limits(plan: &Plan, host: &HostSupport, cgroup_cpu: bool) -> AppliedLimits {
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

/// The isolation report: every layer, active or not, and by what mechanism.
#[must_use]
pub fn isolation_report(plan: &Plan, host: &HostSupport) -> Isolation {
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
                    " (unused, unprivileged, unique to this run)"
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
            "own network namespace; loopback only, no route out".into(),
        ),
        layer(
            "ipc-namespace",
            true,
            "own System V IPC and POSIX message queues".into(),
        ),
        layer("uts-namespace", true, format!("hostname {:?}", plan.hostname)),
        layer("cgroup-namespace", true, "rooted at the run's own cgroup".into()),
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
