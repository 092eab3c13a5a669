//! A pool's zygote: the fork loop, a run's own setup, and a run receiving its fds.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use stockade_protocol::frame::Kind;
use stockade_protocol::result::Layer;
use stockade_protocol::zygote::{Exited, Go, Ready, Retired, Started, ZygoteConfig, CONFIG_PATH, GO_FDS};

use crate::channel;
use crate::pidns_init::PidnsInit;
use crate::CONTROL_FD;

/// The interpreter's fork hooks (`PyOS_BeforeFork`, `PyOS_AfterFork_Parent`,
/// `PyOS_AfterFork_Child`), called around every fork of a run's process, as `os.fork` does.
pub struct ForkHooks {
    /// Before the fork.
    pub before: fn(),
    /// In the zygote after it.
    pub after_parent: fn(),
    /// In the run's process after it.
    pub after_child: fn(),
}

/// In a run's process: the socket on which its fds arrive (at [`RUN_SOCKET_FD`]).
static RUN_SOCKET: AtomicI32 = AtomicI32::new(-1);
/// Where a run's process keeps its socket to the zygote until its fds arrive.
const RUN_SOCKET_FD: RawFd = 9;

fn control() -> BorrowedFd<'static> {
    stockade_sys::borrow_raw(CONTROL_FD)
}

/// Tell the supervisor this zygote stops serving, and stop.
fn retire(reason: String) -> ! {
    let _ = channel::send(control(), Kind::Retired, 0, &Retired { reason });
    stockade_sys::exit_now(1)
}

/// Serve runs until the supervisor hangs up. Returns only in a run's process, once it is set
/// up (its own namespaces, scratch, Landlock, no capabilities, lockdown filter); the zygote
/// itself never returns.
pub fn serve(python: &str, warnings: Vec<String>, hooks: &ForkHooks) -> Result<(), String> {
    let conf: ZygoteConfig = fs::read_to_string(CONFIG_PATH)
        .map_err(|e| format!("cannot read {CONFIG_PATH}: {e}"))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("bad {CONFIG_PATH}: {e}")))?;
    let lockdown = match &conf.lockdown_filter {
        Some(path) => Some(fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?),
        None => None,
    };
    let jail_pidns = fs::File::open("/proc/self/ns/pid").map_err(|e| format!("cannot open the pid namespace: {e}"))?;
    let setup = RunSetup::prepare(&conf, lockdown)?;
    // Heap the interpreter freed while it started stays resident until trimmed, and every run
    // would copy its page tables and fault on it: give it back before the first fork.
    stockade_sys::trim_heap();
    channel::send(
        control(),
        Kind::Ready,
        0,
        &Ready {
            pid: std::process::id().cast_signed(),
            python: python.to_string(),
            warnings,
        },
    )
    .map_err(|e| format!("cannot reach the supervisor: {e}"))?;
    loop {
        let spare = match fork_run(hooks, jail_pidns.as_fd()) {
            Ok(Forked::Run(sock)) => {
                // Namespaces, mounts and Landlock first (they need the pre-opened rule paths),
                // then every fd of the zygote's goes, then capabilities and the lockdown filter.
                let namespaces = setup.namespaces();
                // The zygote's own handles are closed below by number, not dropped.
                std::mem::forget(jail_pidns);
                // The socket to the zygote at a fixed number; every other fd of the zygote's
                // (its control socket, the jail's channels, the rule paths) is closed.
                let placed = stockade_sys::dup_onto(sock.as_fd(), RUN_SOCKET_FD)
                    .and_then(|()| stockade_sys::set_cloexec(RUN_SOCKET_FD, true));
                drop(sock);
                if placed.is_err() {
                    stockade_sys::exit_now(125);
                }
                for fd in 3..RUN_SOCKET_FD {
                    let _ = nix::unistd::close(fd);
                }
                let _ = stockade_sys::close_fds_from(RUN_SOCKET_FD + 1);
                let sock = stockade_sys::borrow_raw(RUN_SOCKET_FD);
                return match namespaces.and_then(|partial| setup.lock_down().map(|()| partial)) {
                    Ok(partial) => {
                        if stockade_sys::send_with_fds(sock, &setup.report(partial), &[]).is_err() {
                            stockade_sys::exit_now(0);
                        }
                        // The zygote's own memory stays as it was: nothing is freed here.
                        std::mem::forget(setup);
                        RUN_SOCKET.store(RUN_SOCKET_FD, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(e) => {
                        let _ = channel::send(sock, Kind::Retired, 0, &Retired { reason: e });
                        stockade_sys::exit_now(125)
                    }
                };
            }
            Ok(Forked::Zygote(spare)) => spare,
            Err(e) => retire(format!("could not make a run's process: {e}")),
        };
        let layers = match spare.wait_ready() {
            Ok(layers) => layers,
            Err(e) => {
                spare.finish();
                retire(format!("a run's process failed its setup: {e}"));
            }
        };
        let (nonce, fds) = loop {
            match channel::recv(control()) {
                Ok(None) => {
                    spare.finish();
                    stockade_sys::exit_now(0);
                }
                Ok(Some((f, fds))) if f.kind == Kind::Go && fds.len() == GO_FDS.len() && f.decode::<Go>().is_ok() => {
                    break (f.nonce, fds)
                }
                // Fds ride along whole or not at all: a Go with another count of them comes from a
                // supervisor of another build. Waiting would only make every run time out.
                Ok(Some((f, fds))) if f.kind == Kind::Go && !fds.is_empty() => {
                    spare.finish();
                    retire(format!(
                        "a run came with {} fds where this worker takes {} (the supervisor and the jail's guard library are from different builds of stockade)",
                        fds.len(),
                        GO_FDS.len()
                    ));
                }
                // A Kill for a run that is already over, or a Go without its fds (dropped).
                Ok(Some(_)) => {}
                Err(e) => retire(format!("control channel: {e}")),
            }
        };
        if let Err(e) = spare.hand_over(&fds) {
            spare.finish();
            retire(format!("could not hand a run its fds: {e}"));
        }
        drop(fds);
        let _ = channel::send(control(), Kind::Started, nonce, &Started { pid: spare.pid, layers });
        spare.watch(nonce);
        let exited = spare.finish();
        if channel::send(control(), Kind::Exited, nonce, &exited).is_err() {
            stockade_sys::exit_now(0);
        }
        if let Err(why) = no_named_sockets(setup.shares_network()) {
            retire(why);
        }
    }
}

/// The worker's network namespace is shared by its runs (unless each has its own): a unix
/// socket with a name (abstract, or a path in a scratch) can outlive the run that bound it
/// when its only reference is an in-flight `SCM_RIGHTS` cycle the kernel collects later, and
/// the next run could list the name in `/proc/net/unix` or find it taken when it binds. So
/// before the next run starts, the namespace must hold no named socket (the zygote and the
/// runs' channels are unnamed socketpairs): wait for the kernel's collector a little, then
/// give the worker up.
fn no_named_sockets(shared: bool) -> Result<(), String> {
    if !shared {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        let table = fs::read("/proc/net/unix").map_err(|e| format!("cannot read /proc/net/unix: {e}"))?;
        let named = named_unix_sockets(&table);
        if named == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "{named} named unix socket(s) of an earlier run outlived it; a fresh worker replaces this one"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// How many sockets in a `/proc/net/unix` table have a name (its eighth column).
fn named_unix_sockets(table: &[u8]) -> usize {
    table
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|line| line.split(|&b| b == b' ').filter(|f| !f.is_empty()).nth(7).is_some())
        .count()
}

enum Forked {
    /// This is the run's process; its end of the socket to the zygote.
    Run(OwnedFd),
    /// This is the zygote; the run's process, not yet given a request.
    Zygote(Spare),
}

/// A run's process and its pid namespace's init.
struct Spare {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    init: PidnsInit,
    sock: OwnedFd,
}

/// Make a pid namespace with our init as pid 1 and fork the run's process into it as pid 2.
fn fork_run(hooks: &ForkHooks, jail_pidns: BorrowedFd<'_>) -> io::Result<Forked> {
    let old = stockade_sys::block_all_signals()?;
    let made = (|| {
        nix::sched::unshare(CloneFlags::CLONE_NEWPID)?;
        // Whatever happens next, the zygote's later children go back to its own namespace.
        let result = (|| {
            let init = PidnsInit::start()?;
            let (ours, theirs) = match stockade_sys::seqpacket_pair() {
                Ok(pair) => pair,
                Err(e) => {
                    kill_and_reap(init);
                    return Err(e);
                }
            };
            (hooks.before)();
            let forked = stockade_sys::fork_in_zygote();
            match forked {
                Ok(None) => {
                    stockade_sys::restore_signals(&old);
                    (hooks.after_child)();
                    drop(ours);
                    Ok(Forked::Run(theirs))
                }
                Ok(Some(pid)) => {
                    (hooks.after_parent)();
                    drop(theirs);
                    let pidfd = stockade_sys::pidfd_open(pid)?;
                    Ok(Forked::Zygote(Spare {
                        pid,
                        pidfd,
                        init,
                        sock: ours,
                    }))
                }
                Err(e) => {
                    (hooks.after_parent)();
                    kill_and_reap(init);
                    Err(e)
                }
            }
        })();
        if matches!(result, Ok(Forked::Zygote(_)) | Err(_)) {
            nix::sched::setns(jail_pidns, CloneFlags::CLONE_NEWPID)?;
        }
        result
    })();
    if matches!(made, Ok(Forked::Zygote(_)) | Err(_)) {
        stockade_sys::restore_signals(&old);
    }
    made
}

fn kill_and_reap(init: PidnsInit) {
    let _ = stockade_sys::kill_child(init.pid, libc::SIGKILL);
    let _ = stockade_sys::wait4(init.pid);
    init.release_after_reaped();
}

impl Spare {
    /// The run's process reports its per-run layers when its setup is done.
    fn wait_ready(&self) -> Result<Vec<Layer>, String> {
        let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(10_000u16)) {
            Ok(0) => return Err("no answer in 10 s".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        match channel::recv(self.sock.as_fd()) {
            Ok(Some((f, _))) if f.kind == Kind::Started => f.decode::<Vec<Layer>>().map_err(|e| e.to_string()),
            Ok(Some((f, _))) if f.kind == Kind::Retired => {
                Err(f.decode::<Retired>().map(|r| r.reason).unwrap_or_default())
            }
            Ok(_) => Err("it ended during its setup".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn hand_over(&self, fds: &[OwnedFd]) -> io::Result<()> {
        let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        stockade_sys::send_with_fds(
            self.sock.as_fd(),
            &stockade_protocol::frame::encode(Kind::Go, 0, &channel::empty()),
            &raw,
        )
    }

    /// Until the run's process exits, or the supervisor says to stop it (then its init is
    /// killed, and the kernel kills every process of the run's namespace).
    fn watch(&self, nonce: u64) {
        loop {
            let mut fds = [
                PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(control(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::Error::EINTR) => continue,
                Err(_) => return,
                Ok(_) => {}
            }
            if fds[0].revents().is_some_and(|r| !r.is_empty()) {
                return;
            }
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                match channel::recv(control()) {
                    Ok(Some((f, _))) if f.kind == Kind::Kill && f.nonce == nonce => {
                        let _ = stockade_sys::kill_child(self.init.pid, libc::SIGKILL);
                    }
                    Ok(Some(_)) => {}
                    // The supervisor is gone: so is the reason to serve.
                    Ok(None) | Err(_) => {
                        let _ = stockade_sys::kill_child(self.init.pid, libc::SIGKILL);
                        let _ = stockade_sys::wait4(self.pid);
                        stockade_sys::exit_now(0);
                    }
                }
            }
        }
    }

    /// End the run: kill its namespace's init (every leftover process dies with it), reap the
    /// run's process and the init, and say how the run's process ended.
    fn finish(self) -> Exited {
        let _ = stockade_sys::kill_child(self.init.pid, libc::SIGKILL);
        let run = stockade_sys::wait4(self.pid).unwrap_or_default();
        let init = stockade_sys::wait4(self.init.pid).unwrap_or_default();
        self.init.release_after_reaped();
        Exited {
            wait_status: Some(run.status),
            user_us: run.user_us + init.user_us,
            sys_us: run.sys_us + init.sys_us,
            max_rss_kib: run.max_rss_kib.max(init.max_rss_kib),
            setup_error: None,
        }
    }
}

fn layer(name: &str, mechanism: String) -> Layer {
    Layer {
        name: name.into(),
        active: true,
        mechanism,
    }
}

/// Everything a run's process needs for its own setup, prepared once by the zygote: after the
/// fork every page the run's process writes is a copy-on-write fault, so its setup allocates
/// and formats nothing, opens no rule path it can be handed, and sends a report encoded here.
struct RunSetup {
    flags: CloneFlags,
    tmpfs_opts: std::ffi::CString,
    cpu_seconds: u64,
    landlock: Option<(stockade_protocol::zygote::LandlockPaths, RulePaths)>,
    lockdown: Option<Vec<u8>>,
    /// The layers as enforced when every step succeeds (Landlock fully enforced).
    layers: Vec<Layer>,
    /// Those layers as the `Started` frame the run's process sends.
    started: Vec<u8>,
}

const LANDLOCK: &str = "landlock";

impl RunSetup {
    fn prepare(conf: &ZygoteConfig, lockdown: Option<Vec<u8>>) -> Result<RunSetup, String> {
        let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC;
        if conf.net_per_run {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        let tmpfs_opts = std::ffi::CString::new(format!(
            "mode=0700,uid={},gid={},size={},nr_inodes={}",
            conf.uid, conf.gid, conf.scratch_bytes, conf.scratch_inodes
        ))
        .map_err(|e| format!("scratch options: {e}"))?;
        let landlock = match &conf.landlock {
            Some(paths) => Some((paths.clone(), RulePaths::open(paths)?)),
            None => None,
        };
        let mut layers = vec![
            layer(
                "pid-namespace",
                "own pid namespace per run: the run is pid 2, stockade's init pid 1; the zygote is outside it, and every process of the run ends with it".into(),
            ),
            layer(
                "mount-namespace",
                format!(
                    "own mount namespace per run: a fresh scratch tmpfs at /tmp ({} bytes, {} inodes) and /proc; the jail's read-only root",
                    conf.scratch_bytes, conf.scratch_inodes
                ),
            ),
            layer("ipc-namespace", "own System V IPC and POSIX message queues per run".into()),
        ];
        if conf.net_per_run {
            layers.push(layer(
                "network-namespace",
                "own network namespace per run, no interface up".into(),
            ));
        }
        if landlock.is_some() {
            let kernel = stockade_sys::landlock_abi().unwrap_or(0);
            layers.push(layer(
                LANDLOCK,
                format!(
                    "ruleset applied by the run's own process after its mounts, fully enforced (kernel ABI {kernel}: files, TCP, abstract unix sockets and signals scoped to the run)"
                ),
            ));
        }
        layers.push(layer(
            "capabilities",
            "all dropped (bounding, ambient, effective, permitted, inheritable); securebits locked".into(),
        ));
        if let Some(program) = &lockdown {
            layers.push(layer(
                "seccomp",
                format!(
                    "the jail's seccomp-bpf deny list plus the run's lockdown ({} instructions: no mount, unshare or setns)",
                    program.len() / 8
                ),
            ));
        }
        let started = stockade_protocol::frame::encode(Kind::Started, 0, &layers);
        // Read once here, so that a run's process (on a fresh /proc) does not look it up.
        let _ = stockade_sys::cap_last_cap();
        Ok(RunSetup {
            flags,
            tmpfs_opts,
            cpu_seconds: conf.cpu_seconds,
            landlock,
            lockdown,
            layers,
            started,
        })
    }

    /// In the run's process, before any of its code: its own mount and IPC namespaces with a
    /// fresh scratch and `/proc`, a new session, its own CPU limit and the policy's Landlock
    /// ruleset. Whether Landlock was only partly enforced (this kernel lacks some rights).
    fn namespaces(&self) -> Result<bool, String> {
        fn err(what: &'static str) -> impl Fn(nix::Error) -> String {
            move |e| format!("{what}: {e}")
        }
        nix::sched::unshare(self.flags).map_err(err("unshare the run's namespaces"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(err("make the run's mounts private"))?;
        let hidden = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(
            Some("tmpfs"),
            "/tmp",
            Some("tmpfs"),
            hidden,
            Some(self.tmpfs_opts.as_c_str()),
        )
        .map_err(err("mount the run's scratch"))?;
        mount(Some("proc"), "/proc", Some("proc"), hidden, None::<&str>).map_err(err("mount the run's /proc"))?;
        nix::unistd::chdir("/tmp").map_err(err("chdir /tmp"))?;
        nix::unistd::setsid().map_err(err("setsid"))?;
        nix::sys::resource::setrlimit(
            nix::sys::resource::Resource::RLIMIT_CPU,
            self.cpu_seconds,
            self.cpu_seconds + 1,
        )
        .map_err(err("RLIMIT_CPU"))?;
        match &self.landlock {
            Some((paths, rules)) => landlock_self(paths, rules),
            None => Ok(false),
        }
    }

    /// The last of a run's setup, once it holds no fd of the zygote's: no capabilities, and the
    /// lockdown filter.
    fn lock_down(&self) -> Result<(), String> {
        stockade_sys::drop_all_capabilities().map_err(|e| format!("drop capabilities: {e}"))?;
        if let Some(program) = &self.lockdown {
            stockade_sys::install_seccomp_bytes(program)
                .map_err(|e| format!("install the run's seccomp filter: {e}"))?;
        }
        Ok(())
    }

    /// Whether runs share the worker's network namespace.
    fn shares_network(&self) -> bool {
        !self.flags.contains(CloneFlags::CLONE_NEWNET)
    }

    /// The `Started` frame for what was enforced.
    fn report(&self, landlock_partial: bool) -> std::borrow::Cow<'_, [u8]> {
        if !landlock_partial {
            return std::borrow::Cow::Borrowed(&self.started);
        }
        let kernel = stockade_sys::landlock_abi().unwrap_or(0);
        let mut layers = self.layers.clone();
        if let Some(l) = layers.iter_mut().find(|l| l.name == LANDLOCK) {
            l.mechanism = format!(
                "ruleset applied by the run's own process, partially enforced (kernel ABI {kernel} lacks some rights)"
            );
        }
        std::borrow::Cow::Owned(stockade_protocol::frame::encode(Kind::Started, 0, &layers))
    }
}

/// The rule paths that are the same for every run (the read-only binds and the devices), opened
/// by the zygote. The scratch and `/proc` are new mounts in each run, so each run opens those.
struct RulePaths {
    read_only: Vec<landlock::PathFd>,
    devices: Vec<landlock::PathFd>,
}

impl RulePaths {
    fn open(paths: &stockade_protocol::zygote::LandlockPaths) -> Result<RulePaths, String> {
        let open = |list: &[String]| -> Result<Vec<landlock::PathFd>, String> {
            list.iter()
                .map(|p| landlock::PathFd::new(p).map_err(|e| format!("landlock: open {p}: {e}")))
                .collect()
        };
        Ok(RulePaths {
            read_only: open(&paths.read_only)?,
            devices: open(&paths.devices)?,
        })
    }
}

/// Apply the policy's Landlock ruleset to this process; true when the kernel enforced it only
/// in part.
fn landlock_self(paths: &stockade_protocol::zygote::LandlockPaths, rules: &RulePaths) -> Result<bool, String> {
    use landlock::{
        path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, Ruleset,
        RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
    };
    let abi = ABI::V6;
    let all = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    let e = |e: landlock::RulesetError| format!("landlock: {e}");
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(e)?
        .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
        .map_err(e)?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(e)?
        .create()
        .map_err(e)?
        .add_rules(path_beneath_rules(["/"], AccessFs::ReadDir))
        .map_err(e)?
        .add_rules(
            rules
                .read_only
                .iter()
                .map(|fd| Ok::<_, landlock::RulesetError>(PathBeneath::new(fd, read))),
        )
        .map_err(e)?
        .add_rules(path_beneath_rules(
            &paths.pseudo,
            AccessFs::ReadFile | AccessFs::ReadDir,
        ))
        .map_err(e)?
        .add_rules(
            rules
                .devices
                .iter()
                .map(|fd| Ok::<_, landlock::RulesetError>(PathBeneath::new(fd, device))),
        )
        .map_err(e)?
        .add_rules(path_beneath_rules(
            &paths.read_write,
            all & !(AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::Execute),
        ))
        .map_err(e)?
        .add_rules(
            paths
                .connect_ports
                .iter()
                .map(|&port| Ok::<_, landlock::RulesetError>(NetPort::new(port, AccessNet::ConnectTcp))),
        )
        .map_err(e)?
        .restrict_self()
        .map_err(e)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(false),
        RulesetStatus::PartiallyEnforced => Ok(true),
        RulesetStatus::NotEnforced => Err("the kernel did not enforce the Landlock ruleset".into()),
    }
}

/// In a run's process: receive the run's fds and put them at their numbers (0 stdin, 1 stdout,
/// 2 stderr, 3 the guard's reports, 4 the answer, 5 the request, 9 host-function calls). Blocks until they come; if the
/// zygote is gone instead, the process ends.
pub fn await_run() -> Result<(), String> {
    let raw = RUN_SOCKET.load(Ordering::Relaxed);
    if raw < 0 {
        return Err("not a run's process".into());
    }
    let sock = stockade_sys::borrow_raw(raw);
    let fds = match channel::recv(sock) {
        Ok(Some((f, fds))) if f.kind == Kind::Go && fds.len() == GO_FDS.len() => fds,
        Ok(_) => stockade_sys::exit_now(0),
        Err(e) => return Err(format!("receiving the run: {e}")),
    };
    // The run's socket to the zygote sits at fd 9, where the calls socket goes: close it first.
    let _ = nix::unistd::close(raw);
    RUN_SOCKET.store(-1, Ordering::Relaxed);
    install_run_fds(fds)?;
    Ok(())
}

/// Put a run's fds (in [`GO_FDS`] order) at their fixed numbers. They arrive at whatever
/// numbers were free, possibly among the targets, so they are first moved above them.
pub(crate) fn install_run_fds(fds: Vec<OwnedFd>) -> Result<(), String> {
    const TARGETS: [RawFd; 7] = [5, 0, 1, 2, 4, 3, stockade_protocol::run::fds::CALLS];
    let lifted: Vec<OwnedFd> = fds
        .iter()
        .map(|fd| {
            nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(16))
                // F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
                .map(stockade_sys::own_raw)
                .map_err(|e| format!("move a received fd: {e}"))
        })
        .collect::<Result<_, _>>()?;
    drop(fds);
    for (fd, target) in lifted.iter().zip(TARGETS) {
        stockade_sys::dup_onto(fd.as_fd(), target).map_err(|e| format!("install fd {target}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::named_unix_sockets;

    #[test]
    fn named_sockets_are_counted_from_proc_net_unix() {
        let table = b"Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00000000 0005 03 41204
0000000000000000: 00000002 00000000 00000000 0005 03 41203
0000000000000000: 00000002 00000000 00010000 0001 01 41300 @secret-4b1d
0000000000000000: 00000002 00000000 00010000 0001 01 41301 /tmp/x.sock
";
        assert_eq!(named_unix_sockets(table), 2);
        assert_eq!(
            named_unix_sockets(b"Num       RefCount Protocol Flags    Type St Inode Path\n"),
            0
        );
    }
}
