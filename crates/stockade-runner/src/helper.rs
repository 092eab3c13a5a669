//! `stockade helper`: jails built ahead for `stockade run`.
//!
//! A cold run spends as long building its jail (namespaces, the root's mounts, cgroups,
//! Landlock's rules, the seccomp filter) as Python takes to start. The helper does that work
//! before the request: it keeps one jail built for its policy, with the interpreter's process
//! waiting for its program ([`JailMode::Standby`]). `stockade run` hands its request to the
//! helper on a unix socket; the helper checks that the jail built ahead is exactly the jail the
//! request needs ([`Plan::serves`]), gives it the program, and watches it as `stockade run`
//! would have — then builds the next one. Every run still gets a fresh jail of its own and a
//! fresh interpreter; nothing is reused.
//!
//! Processes: the helper itself is a single-threaded accept loop that never touches a jail.
//! Each jail belongs to a process the helper forked for it (its supervisor), which builds the
//! jail, waits to be handed a client, serves that one request and exits. The helper forks the
//! next one once no run is in progress (a request that finds none ready gets its own at once),
//! so building a jail never competes with a run — except for a caller whose requests come back
//! to back, for whom it is built during the run so that the next request finds it ready.
//!
//! The helper only saves a client time; it never does for a client what the client could not
//! do itself. It serves only the jail it built ahead: a request whose jail differs (another
//! policy, interpreter or environment), one with an audit log file, and any client more
//! confined than the helper (other namespaces, fewer capabilities, `no_new_privs`, a seccomp
//! filter, another security label) is declined before anything of the request touches the host,
//! and `stockade run` builds that jail itself. So the helper never probes an interpreter, resolves
//! a path or opens a file a client named.
//!
//! Trust: the socket is made mode 0600, the helper serves only peers of its own uid, and the
//! client talks only to a socket its own uid owns, served by its own uid.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use stockade_jail::plan::{self, AuditSink, LateProgram, Plan, Program, Request, StdinMode};
use stockade_jail::{JailMode, SetupError};
use stockade_policy::Policy;
use stockade_protocol::caller::Fatal;
use stockade_protocol::frame::{self, Kind};
use stockade_protocol::helper::{HelperProgram, HelperRun, MAX_RUN_FRAME};
use stockade_protocol::RunResult;

use crate::supervisor::fatal_of;

/// The environment variable naming the helper's socket; `off` (or empty) never uses one.
pub const SOCKET_ENV: &str = "STOCKADE_HELPER";

/// Where root's helper listens by default.
pub const DEFAULT_SOCKET: &str = "/run/stockade/helper.sock";

/// A request this soon after the last run ended comes from a caller running back to back.
const BACK_TO_BACK: Duration = Duration::from_millis(25);

/// How long `stockade run` waits for an answer after passing a stop on before it gives up.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long a client may take to send its request once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer a client reads: a result holds at most the policy's output cap of each
/// stream (escaped), violations and reports; anything larger is not a helper's answer.
const MAX_ANSWER_FRAME: u32 = 256 << 20;

/// The socket `stockade run` tries: `$STOCKADE_HELPER`, else [`DEFAULT_SOCKET`]; None when
/// turned off.
#[must_use]
pub fn socket_path() -> Option<PathBuf> {
    match std::env::var_os(SOCKET_ENV) {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
    }
}

/// Pin the interpreter a policy names by a bare name (or leaves to the default) to its path
/// here, so the helper resolves the same one whatever its own `PATH`.
pub fn pin_interpreter(policy: &mut Policy) {
    let bare = policy
        .python
        .interpreter
        .as_ref()
        .is_none_or(|p| p.components().count() == 1);
    if bare && policy.python.venv.is_none() {
        if let Ok(path) = stockade_jail::interpreter::resolve(policy.python.interpreter.as_deref(), None) {
            policy.python.interpreter = Some(path);
        }
    }
}

/// What a client learns.
#[derive(Debug)]
pub enum Answer {
    /// The run happened (whatever its status).
    Ran(Box<RunResult>),
    /// Nothing ran.
    Failed(Fatal),
    /// The helper does not serve this request (another jail than the one it built, or a
    /// client more confined than itself): run it here, as without a helper.
    Declined(String),
}

/// The `kind` of the answer that declines a request.
const DECLINED: &str = "declined";

/// Why a client did not get an answer from a helper.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No helper serves this socket (run locally instead).
    #[error("no helper at {0}")]
    Absent(PathBuf),
    /// Something serves it that must not be trusted, or it broke mid-request.
    #[error("helper at {path}: {why}")]
    Broken {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
}

/// The request `stockade run` hands to a helper.
#[must_use]
pub fn request_of(req: &Request) -> HelperRun {
    let env: BTreeMap<String, String> = plan::env_names(&req.policy)
        .into_iter()
        .filter_map(|n| std::env::var(&n).ok().map(|v| (n, v)))
        .collect();
    HelperRun {
        policy: req.policy.to_toml(),
        program: match &req.program {
            Program::Code(code) => HelperProgram::Code(code.clone()),
            Program::Script { name, source } => HelperProgram::Script {
                name: name.clone(),
                source: base64::engine::general_purpose::STANDARD.encode(source),
            },
        },
        args: req.args.clone(),
        passthrough: req.passthrough,
        forward_stdin: req.stdin == StdinMode::Forward,
        audit_log: req.audit_log.as_ref().map(|a| match a {
            AuditSink::Stderr => "-".to_string(),
            AuditSink::File(p) => p.to_string_lossy().into_owned(),
        }),
        env,
    }
}

/// What confines a process, as far as the helper's trust goes: a client is served only when it
/// is no more confined than the helper, so that the helper never does for it what it could not
/// do itself (the helper only saves it the time of building the jail).
#[derive(Debug)]
struct Confinement {
    /// Its namespaces (mount, user, pid, network, cgroup, IPC, UTS) by device and inode.
    namespaces: Vec<(u64, u64)>,
    /// `CapEff` and `CapBnd`.
    effective: u64,
    bounding: u64,
    no_new_privs: bool,
    /// `Seccomp`: 0 none, else a mode.
    seccomp: u32,
    /// The LSM's label (`attr/current`), when there is one.
    label: Option<Vec<u8>>,
}

impl Confinement {
    fn of(proc_dir: &Path) -> io::Result<Confinement> {
        use std::os::unix::fs::MetadataExt as _;
        let mut namespaces = Vec::new();
        for ns in ["mnt", "user", "pid", "net", "cgroup", "ipc", "uts"] {
            let m = std::fs::metadata(proc_dir.join("ns").join(ns))?;
            namespaces.push((m.dev(), m.ino()));
        }
        let status = std::fs::read_to_string(proc_dir.join("status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                .map(str::trim)
                .ok_or_else(|| io::Error::other(format!("no {name} in its status")))
        };
        let hex = |name: &str| {
            field(name).and_then(|v| u64::from_str_radix(v, 16).map_err(|e| io::Error::other(format!("{name}: {e}"))))
        };
        let num = |name: &str| {
            field(name).and_then(|v| v.parse::<u32>().map_err(|e| io::Error::other(format!("{name}: {e}"))))
        };
        Ok(Confinement {
            namespaces,
            effective: hex("CapEff")?,
            bounding: hex("CapBnd")?,
            no_new_privs: num("NoNewPrivs")? != 0,
            seccomp: num("Seccomp")?,
            label: std::fs::read(proc_dir.join("attr").join("current")).ok(),
        })
    }

    /// Why `self` (a client) is more confined than `ours` (the helper), if it is.
    fn more_than(&self, ours: &Confinement) -> Option<&'static str> {
        if self.namespaces != ours.namespaces {
            Some("it is in other namespaces than the helper")
        } else if self.effective & ours.effective != ours.effective || self.bounding & ours.bounding != ours.bounding {
            Some("it holds fewer capabilities than the helper")
        } else if self.no_new_privs && !ours.no_new_privs {
            Some("it runs with no_new_privs")
        } else if self.seccomp != 0 && ours.seccomp == 0 {
            Some("it runs under a seccomp filter")
        } else if self.label != ours.label {
            Some("its security label differs")
        } else {
            None
        }
    }
}

/// What the helper knows of itself before any request, read once (its supervisors are forks of
/// it and share both).
struct Own {
    /// Its policy as clients send it, parsed: a request that sends exactly this text gets the
    /// same parse without paying for it on its path.
    policy: Option<(String, Policy)>,
    /// Its confinement, to compare each client's with (none read: every client is declined).
    confinement: Option<Confinement>,
}

impl Own {
    fn of(policy: &Policy) -> Own {
        let text = policy.to_toml();
        Own {
            policy: parse_policy(&text).ok().map(|parsed| (text, parsed)),
            confinement: Confinement::of(Path::new("/proc/self")).ok(),
        }
    }
}

/// Why the client on `conn` is not to be served by this process, if it is not: read through its
/// pidfd, so the process whose `/proc` was read is the one that connected.
fn peer_more_confined(conn: BorrowedFd<'_>, ours: Option<&Confinement>) -> Option<String> {
    let Some(ours) = ours else {
        return Some("the helper's own confinement could not be read".into());
    };
    let check = || -> io::Result<Option<&'static str>> {
        let pidfd = stockade_sys::peer_pidfd(conn)?;
        let cred = nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials)?;
        let theirs = Confinement::of(&Path::new("/proc").join(cred.pid().to_string()))?;
        // Still that process: a live process keeps its pid, so what was read was its own.
        stockade_sys::pidfd_send_signal(pidfd.as_fd(), 0)?;
        Ok(theirs.more_than(ours))
    };
    match check() {
        Ok(None) => None,
        Ok(Some(why)) => Some(why.to_string()),
        Err(e) => Some(format!("its confinement could not be read ({e})")),
    }
}

fn own_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn peer_uid(sock: BorrowedFd<'_>) -> io::Result<u32> {
    let cred = nix::sys::socket::getsockopt(&sock, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(cred.uid())
}

/// Run `run` through the helper at `socket`, with this process's stdio. Signals that would stop
/// `stockade run` (SIGINT, SIGTERM, SIGHUP) are passed on while it waits.
pub fn run_via(socket: &Path, run: &HelperRun) -> Result<Answer, ClientError> {
    let broken = |why: String| ClientError::Broken {
        path: socket.to_path_buf(),
        why,
    };
    // Only a socket of our own uid: anyone else's could lie about the run.
    match std::fs::symlink_metadata(socket) {
        Ok(m) if m.file_type().is_socket() && m.uid() == own_uid() => {}
        _ => return Err(ClientError::Absent(socket.to_path_buf())),
    }
    // Stdio is always open here: Rust's runtime reopens a closed one on /dev/null at start.
    let mut conn = match UnixStream::connect(socket) {
        Ok(c) => c,
        Err(_) => return Err(ClientError::Absent(socket.to_path_buf())),
    };
    match peer_uid(conn.as_fd()) {
        Ok(uid) if uid == own_uid() => {}
        Ok(uid) => return Err(broken(format!("served by uid {uid}, not ours"))),
        Err(e) => return Err(broken(format!("peer credentials: {e}"))),
    }
    let sent = stockade_sys::send_with_fds(conn.as_fd(), b"S", &[0, 1, 2])
        .map_err(|e| format!("send stdio: {e}"))
        .and_then(|()| {
            conn.write_all(&frame::encode(Kind::HelperRun, 0, run))
                .map_err(|e| format!("send request: {e}"))
        });
    if let Err(e) = sent {
        // A helper that declines without reading (it could not start a supervisor) may close
        // before the request is written: its answer is still there to read.
        let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
        let declined = frame::read_frame(
            &mut conn,
            frame::Accept {
                kinds: &[(Kind::Fatal, 1 << 20)],
                nonce: None,
            },
        )
        .ok()
        .and_then(|f| f.decode::<Fatal>().ok())
        .filter(|f| f.kind == DECLINED);
        return match declined {
            Some(f) => Ok(Answer::Declined(f.message)),
            None => Err(broken(e)),
        };
    }

    let mut mask = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        mask.add(s);
    }
    let _ = mask.thread_block();
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();
    let mut decoder = frame::Decoder::new(&[(Kind::Result, MAX_ANSWER_FRAME), (Kind::Fatal, 1 << 20)]);
    let mut buf = vec![0u8; 64 * 1024];
    // A stop passed on, and when: a helper side that answers nothing within STOP_GRACE (stopped,
    // stuck before its run began), or a second stop, ends this client as the signal would.
    let mut stop_sent: Option<(std::time::Instant, i32)> = None;
    let answer = loop {
        let mut fds = vec![PollFd::new(conn.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &signals {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        // Woken only to count the grace down once a stop was passed on.
        let wait = if stop_sent.is_some() {
            PollTimeout::from(500u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, wait) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => break Err(broken(format!("poll: {e}"))),
        }
        let readable = fds[0].revents().is_some_and(|r| !r.is_empty());
        let signalled = fds
            .get(1)
            .and_then(|p| p.revents())
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        drop(fds);
        if signalled {
            if let Some(Ok(Some(info))) = signals.as_ref().map(SignalFd::read_signal) {
                let signo = i32::try_from(info.ssi_signo).unwrap_or(libc::SIGTERM);
                if let Some((_, first)) = stop_sent {
                    give_up(&mask, first);
                }
                let _ = conn.write_all(&[u8::try_from(signo).unwrap_or(15)]);
                stop_sent = Some((std::time::Instant::now(), signo));
            }
        }
        if let Some((at, signo)) = stop_sent {
            if !readable && at.elapsed() > STOP_GRACE {
                give_up(&mask, signo);
            }
        }
        if !readable {
            continue;
        }
        match conn.read(&mut buf) {
            Ok(0) => break Err(broken("it closed the connection without an answer".into())),
            Ok(n) => match decoder.push(&buf[..n]) {
                Ok(frames) => {
                    if let Some(f) = frames.into_iter().next() {
                        break match f.kind {
                            Kind::Result => f
                                .decode::<RunResult>()
                                .map(|r| Answer::Ran(Box::new(r)))
                                .map_err(|e| broken(e.to_string())),
                            _ => f
                                .decode::<Fatal>()
                                .map(|f| {
                                    if f.kind == DECLINED {
                                        Answer::Declined(f.message)
                                    } else {
                                        Answer::Failed(f)
                                    }
                                })
                                .map_err(|e| broken(e.to_string())),
                        };
                    }
                }
                Err(e) => break Err(broken(e.to_string())),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(broken(e.to_string())),
        }
    };
    let _ = mask.thread_unblock();
    answer
}

/// End this client with `signo`, as that signal ends a program: its default action, unblocked.
/// The connection closes with the process, and its hang-up stops the run on the helper's side.
fn give_up(mask: &SigSet, signo: i32) -> ! {
    // `stockade run` installs no handler for the signals it passes on: their action is the
    // default one, to end the process.
    if let Ok(sig) = Signal::try_from(signo) {
        let _ = mask.thread_unblock();
        let _ = nix::sys::signal::raise(sig);
    }
    std::process::exit(128 + signo)
}

/// Serve `policy`'s jails built ahead on `socket` until SIGINT or SIGTERM. A jail unused for
/// `max_age` is replaced by a new one, so what it bound (the interpreter, its files) is never
/// older than that. Must run in a single-threaded process (each jail's supervisor is a fork of
/// it). `log` gets one line per event, never a secret.
pub fn serve(socket: &Path, mut policy: Policy, max_age: Duration, log: &mut dyn Write) -> Result<(), String> {
    pin_interpreter(&mut policy);
    let own = Own::of(&policy);
    let listener = listen(socket)?;
    let mut mask = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        mask.add(s);
    }
    mask.thread_block().map_err(|e| format!("block signals: {e}"))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| format!("signalfd: {e}"))?;
    let _ = writeln!(
        log,
        "stockade helper: serving {} (pid {})",
        socket.display(),
        std::process::id()
    );
    // An fd kept in reserve: out of fds, it is given up to accept a client and decline it,
    // rather than leave clients waiting in the backlog while the accept loop spins.
    let mut reserve = std::fs::File::open("/dev/null").ok();
    let mut ready: Option<(libc::pid_t, OwnedFd)> = None;
    // The hand-off sockets of supervisors serving a client: each hangs up when its supervisor
    // exits, after its run's result is delivered and its jail torn down.
    let mut serving: Vec<OwnedFd> = Vec::new();
    let mut built_at = std::time::Instant::now();
    // When the last run in progress ended, and whether requests come back to back.
    let mut idle_since: Option<std::time::Instant> = None;
    let mut back_to_back = false;
    let outcome = loop {
        reap_children();
        if built_at.elapsed() > max_age {
            // Dropping the hand-off socket ends that supervisor and its jail.
            drop(ready.take());
        }
        // The next jail is built when no run is in progress, so its ≈ 10 ms of CPU and its
        // mounts never compete with a run (on two cores that made the run ≈ 2 ms slower); a
        // request that finds none ready gets one at once. For a caller whose requests come
        // back to back there is no such moment: the next jail is built during the run, so the
        // next request finds it ready instead of waiting for it.
        if ready.is_none() && (serving.is_empty() || back_to_back) {
            // A failure (out of fds or processes) leaves none ready; it is tried again at the
            // next turn, at most once a second while idle, and clients are declined meanwhile.
            match start_one(&policy, &own) {
                Ok(r) => ready = Some(r),
                Err(e) => {
                    let _ = writeln!(log, "stockade helper: could not start a jail's supervisor: {e}");
                }
            }
            built_at = std::time::Instant::now();
        }
        let mut fds = vec![
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        fds.extend(serving.iter().map(|s| PollFd::new(s.as_fd(), PollFlags::empty())));
        let wait = max_age.saturating_sub(built_at.elapsed()).min(Duration::from_secs(1));
        match poll(
            &mut fds,
            PollTimeout::from(u16::try_from(wait.as_millis()).unwrap_or(1000).max(1)),
        ) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => break Err(format!("poll: {e}")),
        }
        let revents: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        let stop = revents[1].contains(PollFlags::POLLIN);
        let incoming = revents[0].contains(PollFlags::POLLIN);
        let was_serving = !serving.is_empty();
        let mut i = 0;
        serving.retain(|_| {
            i += 1;
            revents[1 + i].is_empty()
        });
        if was_serving && serving.is_empty() {
            idle_since = Some(std::time::Instant::now());
        }
        if stop {
            break Ok(());
        }
        if !incoming {
            continue;
        }
        let mut conn = match listener.accept() {
            Ok((conn, _)) => conn,
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) && reserve.is_some() => {
                drop(reserve.take());
                if let Ok((mut conn, _)) = listener.accept() {
                    let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
                    decline(&mut conn, format!("the helper is out of file descriptors ({e})"));
                }
                reserve = std::fs::File::open("/dev/null").ok();
                continue;
            }
            Err(_) => continue,
        };
        match peer_uid(conn.as_fd()) {
            Ok(uid) if uid == own_uid() => {}
            other => {
                let _ = writeln!(log, "stockade helper: refused a client of another uid ({other:?})");
                continue;
            }
        }
        back_to_back = !serving.is_empty() || idle_since.is_some_and(|t| t.elapsed() < BACK_TO_BACK);
        let handed = match ready.take() {
            Some(r) => Ok(r),
            // Every jail built ahead is in use: this client's supervisor builds one now.
            None => start_one(&policy, &own),
        };
        match handed {
            Ok((pid, handoff)) => {
                if stockade_sys::send_with_fds(handoff.as_fd(), b"C", &[conn.as_raw_fd()]).is_err() {
                    // That supervisor is gone (its jail failed to build); the client reads end
                    // of file and says so.
                    let _ = writeln!(log, "stockade helper: the jail's supervisor {pid} was gone");
                } else {
                    serving.push(handoff);
                }
            }
            Err(e) => {
                // Out of fds or processes: this client builds its own jail; the helper goes on.
                let _ = writeln!(log, "stockade helper: could not start a jail's supervisor: {e}");
                let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
                decline(&mut conn, format!("the helper could not start a supervisor ({e})"));
            }
        }
    };
    // Dropping the ready supervisor's hand-off socket ends it (it reads end of file), and its
    // jail with it (parent-death signal). A supervisor serving a client finishes that run.
    drop(ready.take());
    let _ = std::fs::remove_file(socket);
    let _ = writeln!(log, "stockade helper: stopped");
    outcome
}

fn listen(socket: &Path) -> Result<UnixListener, String> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    if let Ok(m) = std::fs::symlink_metadata(socket) {
        if !m.file_type().is_socket() {
            return Err(format!("{} exists and is not a socket", socket.display()));
        }
        if UnixStream::connect(socket).is_ok() {
            return Err(format!("another helper serves {}", socket.display()));
        }
        std::fs::remove_file(socket).map_err(|e| format!("remove stale {}: {e}", socket.display()))?;
    }
    // Made with no access for anyone, then opened to the owner only: never a moment in which
    // another user could connect.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(socket);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| format!("bind {}: {e}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", socket.display()))?;
    listener.set_nonblocking(true).map_err(|e| format!("{e}"))?;
    Ok(listener)
}

fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Fork the supervisor of the next jail. It builds the jail, then waits on the hand-off socket
/// for its client.
fn start_one(policy: &Policy, own: &Own) -> io::Result<(libc::pid_t, OwnedFd)> {
    let (ours, theirs) = stockade_sys::seqpacket_pair()?;
    match stockade_sys::fork()? {
        Some(pid) => Ok((pid, ours)),
        None => {
            // The child keeps nothing of the helper's but its hand-off socket: not the
            // listener, the signals, nor another supervisor's hand-off (whose hang-up tells
            // the helper that supervisor is done).
            std::mem::forget(ours);
            let keep = theirs.as_raw_fd();
            for fd in 3..keep {
                let _ = nix::unistd::close(fd);
            }
            let _ = stockade_sys::close_fds_from(keep + 1);
            let code = supervise_one(policy, own, &theirs);
            stockade_sys::exit_now(code)
        }
    }
}

/// One jail's supervisor: build it ahead, take one client, serve its request, exit.
fn supervise_one(policy: &Policy, own: &Own, handoff: &OwnedFd) -> i32 {
    // A jail's build opens many fds (its rule paths, channels); the helper's own soft limit is
    // about how many clients it holds, so a supervisor takes what the hard limit allows.
    if let Ok((_, hard)) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    // The helper's SIGINT/SIGTERM stay blocked here: the one-shot watcher reads them itself.
    let built = plan::gather(policy).and_then(|inputs| {
        let template = Request {
            policy: policy.clone(),
            program: Program::Code(String::new()),
            args: Vec::new(),
            passthrough: false,
            stdin: StdinMode::Forward,
            audit_log: None,
            extra_files: Vec::new(),
            internal_files: Vec::new(),
            mode: JailMode::Standby,
            preload: Vec::new(),
        };
        let ahead = plan::compile(&template, &inputs)?;
        if ahead.landlock.is_none() {
            // Only Landlock makes the jail's own /sandbox read-only to the code: without it
            // (a degraded policy) every request is declined, and its client builds a jail itself.
            return Err(SetupError::Request("no jail is built ahead without Landlock".into()));
        }
        let jail = stockade_jail::supervise::spawn(&ahead, &inputs.host)?;
        Ok((ahead, jail))
    });
    let mut buf = [0u8; 8];
    let conn = match stockade_sys::recv_with_fds(handoff.as_fd(), &mut buf) {
        Ok((n, mut fds)) if n > 0 && !fds.is_empty() => UnixStream::from(fds.swap_remove(0)),
        // The helper stopped, or replaced this jail for its age, before handing anyone over:
        // end the jail and remove its cgroups before going.
        _ => {
            if let Ok((_, jail)) = built {
                jail.kill();
                let _ = jail.reap();
            }
            return 0;
        }
    };
    serve_client(built.ok(), conn, own)
}

fn serve_client(built: Option<(Plan, stockade_jail::supervise::Jail)>, mut conn: UnixStream, own: &Own) -> i32 {
    let answer = |conn: &mut UnixStream, kind: Kind, bytes: Vec<u8>| {
        let _ = conn.write_all(&bytes);
        let _ = conn.flush();
        i32::from(kind != Kind::Result)
    };
    let fatal = |conn: &mut UnixStream, step: &str, message: String, kind: &str| {
        let f = Fatal {
            step: step.into(),
            message,
            kind: kind.into(),
        };
        answer(conn, Kind::Fatal, frame::encode(Kind::Fatal, 0, &f))
    };
    let _ = conn.set_read_timeout(Some(REQUEST_TIMEOUT));
    // The client's stdio first, on one byte; then its request.
    let mut one = [0u8; 1];
    let stdio = match stockade_sys::recv_with_fds(conn.as_fd(), &mut one) {
        Ok((1, fds)) if fds.len() == 3 => fds,
        _ => {
            return fatal(
                &mut conn,
                "request",
                "expected the client's stdio first".into(),
                "request",
            )
        }
    };
    let request = frame::read_frame(
        &mut conn,
        frame::Accept {
            kinds: &[(Kind::HelperRun, MAX_RUN_FRAME)],
            nonce: None,
        },
    )
    .map_err(|e| e.to_string())
    .and_then(|f| f.decode::<HelperRun>().map_err(|e| e.to_string()));
    let run = match request {
        Ok(r) => r,
        Err(e) => return fatal(&mut conn, "request", e, "request"),
    };
    let _ = conn.set_read_timeout(None);
    // The client's stdio becomes this process's: the watcher echoes to 1 and 2 and reads 0.
    for (fd, target) in stdio.iter().zip(0..3) {
        if stockade_sys::dup_raw_onto(fd.as_raw_fd(), target).is_err() {
            return fatal(
                &mut conn,
                "request",
                "could not take over the client's stdio".into(),
                "setup",
            );
        }
    }
    drop(stdio);
    // Only the jail built ahead, only for a client that could have built it itself: anything
    // else is declined before any of the request touches the host here (its interpreter would
    // be run to be probed, its paths resolved, its audit log opened — in this process's
    // namespaces and with its capabilities), and the client runs it as without a helper.
    let why = if built.is_none() {
        Some("no jail was built ahead".to_string())
    } else if own.policy.as_ref().is_none_or(|(text, _)| *text != run.policy) {
        Some("another policy than the helper's".to_string())
    } else if run.audit_log.as_deref().is_some_and(|a| a != "-") {
        Some("an audit log file (the client opens its own)".to_string())
    } else {
        peer_more_confined(conn.as_fd(), own.confinement.as_ref()).map(|w| format!("the client is more confined: {w}"))
    };
    if let Some(why) = why {
        if let Some((_, jail)) = built {
            jail.kill();
            let _ = jail.reap();
        }
        return decline(&mut conn, why);
    }
    let (req, late) = match request_from(&run, own.policy.as_ref()) {
        Ok(r) => r,
        Err((step, message, kind)) => return fatal(&mut conn, step, message, kind),
    };
    let env = run.env.clone();
    let outcome = plan::gather_with_env(&req.policy, &|name| env.get(name).cloned()).and_then(|inputs| {
        let plan = plan::compile(&req, &inputs)?;
        if let Some((ahead, jail)) = built {
            let ran = stockade_jail::supervise::run_built_ahead(
                &ahead,
                &plan,
                &inputs.host,
                jail,
                &late,
                Some(conn.as_fd()),
            )?;
            if ran.is_some() {
                trace(None);
            }
            return Ok(ran);
        }
        Ok(None)
    });
    match outcome {
        // Not the jail built ahead (the caller's environment differs), or that jail ended
        // before the program reached it: nothing ran, so declined.
        Ok(None) => decline(
            &mut conn,
            "the jail built ahead does not serve it (another environment, or it ended before the program came)".into(),
        ),
        // The answer first; the jail's teardown and cleanup after.
        Ok(Some(finished)) => answer(
            &mut conn,
            Kind::Result,
            frame::encode(Kind::Result, 0, &finished.result),
        ),
        Err(e) => {
            let f = fatal_of(&e);
            answer(&mut conn, Kind::Fatal, frame::encode(Kind::Fatal, 0, &f))
        }
    }
}

/// `STOCKADE_HELPER_TRACE=1` in the helper's environment: say on the client's stderr whether a
/// run used the jail built ahead or was declined, and why (for tests and benchmarks; off by
/// default).
fn trace(declined: Option<&str>) {
    if std::env::var_os("STOCKADE_HELPER_TRACE").is_some_and(|v| v == "1") {
        let _ = match declined {
            None => writeln!(io::stderr(), "stockade helper: in the jail built ahead"),
            Some(why) => writeln!(io::stderr(), "stockade helper: declined ({why}); run by the client"),
        };
    }
}

/// Tell the client to run its request itself.
fn decline(conn: &mut UnixStream, why: String) -> i32 {
    trace(Some(&why));
    let f = Fatal {
        step: "helper".into(),
        message: why,
        kind: DECLINED.into(),
    };
    let _ = conn.write_all(&frame::encode(Kind::Fatal, 0, &f));
    let _ = conn.flush();
    0
}

type Refusal = (&'static str, String, &'static str);

/// A client's policy text, parsed and validated.
fn parse_policy(text: &str) -> Result<Policy, Refusal> {
    Policy::from_toml(text, "<policy>")
        .and_then(|p| p.validate().map(|()| p))
        .map_err(|e| ("policy", format!("invalid policy: {e}"), "policy"))
}

/// The helper request as the jail request `stockade run` would have made, and its program.
/// `known` is a policy text parsed earlier (the parse is a pure function of the text, so an
/// equal text reuses it).
fn request_from(run: &HelperRun, known: Option<&(String, Policy)>) -> Result<(Request, LateProgram), Refusal> {
    let policy = match known {
        Some((text, parsed)) if *text == run.policy => parsed.clone(),
        _ => parse_policy(&run.policy)?,
    };
    let program = match &run.program {
        HelperProgram::Code(code) => Program::Code(code.clone()),
        HelperProgram::Script { name, source } => Program::Script {
            name: name.clone(),
            source: base64::engine::general_purpose::STANDARD
                .decode(source)
                .map_err(|e| ("request", format!("script source: {e}"), "request"))?,
        },
    };
    let audit_log = match run.audit_log.as_deref() {
        None => None,
        Some("-") => Some(AuditSink::Stderr),
        Some(p) if Path::new(p).is_absolute() => Some(AuditSink::File(PathBuf::from(p))),
        Some(p) => return Err(("request", format!("audit log path {p:?} is not absolute"), "request")),
    };
    let late = LateProgram::of(&program, &run.args).map_err(|e: SetupError| ("request", e.to_string(), "request"))?;
    let req = Request {
        policy,
        program,
        args: run.args.clone(),
        passthrough: run.passthrough,
        stdin: if run.forward_stdin {
            StdinMode::Forward
        } else {
            StdinMode::Null
        },
        audit_log,
        extra_files: Vec::new(),
        internal_files: Vec::new(),
        mode: JailMode::Script,
        preload: Vec::new(),
    };
    Ok((req, late))
}
