//! The caller's side: start a supervisor process (`stockade supervise`) and drive it in typed
//! frames. Thread-safe pools and sessions for multi-threaded front ends (the Python binding,
//! the HTTP server), which must never `clone` into a jail themselves.
//!
//! What the supervisor sends is trusted (it is stockade's own process), but every frame is
//! still read with a cap derived from the run's output limit, so a caller never holds more of
//! a run's output than that limit allows, and every wait has a deadline: a supervisor that stops
//! answering is killed and reported lost, never waited for.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use stockade_protocol::caller::{Fatal, Hello, Mode, RunSpec, Start};
use stockade_protocol::calls::{Call, Reply};
use stockade_protocol::frame::{self, Decoder, Frame, Kind};
use stockade_protocol::result::{Answer, Violation};
use stockade_protocol::{RunResult, Status};

/// How to start `stockade supervise`.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The program.
    pub program: PathBuf,
    /// Its arguments (ending in whatever makes it `supervise`).
    pub args: Vec<OsString>,
}

impl Launcher {
    /// This executable's own `supervise` subcommand (for front ends built into `stockade`).
    pub fn this_executable() -> io::Result<Launcher> {
        Ok(Launcher {
            program: std::env::current_exe()?,
            args: vec!["supervise".into()],
        })
    }
}

/// Why a call failed (a run that ran and failed is a [`RunResult`], not this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The policy is invalid.
    #[error("{0}")]
    Policy(String),
    /// The run's request is invalid (a bad input name, bad base64...).
    #[error("{0}")]
    Request(String),
    /// A protection layer is missing on this host.
    #[error("{message}")]
    LayerMissing {
        /// The step.
        step: String,
        /// Why.
        message: String,
    },
    /// The jail could not be built.
    #[error("{message}")]
    Setup {
        /// The step.
        step: String,
        /// Why.
        message: String,
    },
    /// The supervisor or its jail died or stopped answering.
    #[error("{0}")]
    Lost(String),
    /// The supervisor could not be started.
    #[error("cannot start the supervisor: {0}")]
    Spawn(String),
}

impl ClientError {
    fn of(f: Fatal) -> ClientError {
        match f.kind.as_str() {
            "policy" => ClientError::Policy(f.message),
            "request" => ClientError::Request(f.message),
            "layer-missing" => ClientError::LayerMissing {
                step: f.step,
                message: f.message,
            },
            "lost" => ClientError::Lost(f.message),
            _ => ClientError::Setup {
                step: f.step,
                message: f.message,
            },
        }
    }
}

/// Something a streaming run sent before its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A chunk of stdout.
    Stdout(Vec<u8>),
    /// A chunk of stderr.
    Stderr(Vec<u8>),
    /// A guard decision.
    Violation(Violation),
}

/// Grace beyond a run's own wall time before its supervisor is presumed hung.
const GRACE: Duration = Duration::from_secs(15);

/// One supervisor process and its jail.
pub struct Supervisor {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    decoder: Decoder,
    backlog: std::collections::VecDeque<Frame>,
    /// The pipe's read buffer, made once: zeroing 256 KiB for every frame read was ~3 % of a
    /// server's CPU per trivial run.
    read_buf: Vec<u8>,
    hello: Hello,
    dead: Option<String>,
}

fn caps(output: u64) -> [(Kind, u32); 7] {
    // A result holds stdout, stderr and the answer, each at most `output` bytes of the run's,
    // which JSON may grow (escapes, replacement characters): bounded all the same.
    let result = u32::try_from(output.saturating_mul(24).saturating_add(4 << 20)).unwrap_or(u32::MAX);
    [
        (Kind::Hello, 4 << 20),
        (Kind::Fatal, 1 << 20),
        (Kind::Result, result),
        (Kind::Stdout, 1 << 20),
        (Kind::Stderr, 1 << 20),
        (Kind::Violation, 1 << 20),
        // The supervisor passes on calls of at most the run's `max_bytes` (re-encoded).
        (Kind::Call, 64 << 20),
    ]
}

impl Supervisor {
    /// Start a supervisor for `start` (whose policy allows `output` bytes per stream) and wait
    /// for its jail to be ready.
    pub fn start(
        launcher: &Launcher,
        start: &Start,
        output: u64,
        timeout: Duration,
    ) -> Result<Supervisor, ClientError> {
        let mut cmd = Command::new(&launcher.program);
        cmd.args(&launcher.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // The caller's Python settings must not steer the launcher's interpreter.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PYTHON") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().map_err(|e| ClientError::Spawn(e.to_string()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ClientError::Spawn("no pipes".into()));
        };
        let mut sup = Supervisor {
            child,
            stdin,
            stdout,
            decoder: Decoder::new(&caps(output)),
            backlog: std::collections::VecDeque::new(),
            read_buf: vec![0u8; 256 * 1024],
            hello: Hello {
                protocol: 0,
                mode: start.mode,
                wall_time_ms: 0,
                policy_hash: String::new(),
                isolation: None,
                python: None,
                warnings: Vec::new(),
            },
            dead: None,
        };
        if let Err(e) = sup.write(&frame::encode(Kind::Start, 0, start)) {
            sup.kill();
            return Err(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let f = match sup.next_frame(deadline) {
                Ok(f) => f,
                Err(e) => {
                    sup.kill();
                    return Err(e);
                }
            };
            match f.kind {
                Kind::Hello => {
                    sup.hello = f.decode().map_err(|e| ClientError::Lost(e.to_string()))?;
                    return Ok(sup);
                }
                Kind::Fatal => {
                    let fatal: Fatal = f.decode().map_err(|e| ClientError::Lost(e.to_string()))?;
                    sup.kill();
                    return Err(ClientError::of(fatal));
                }
                _ => {}
            }
        }
    }

    /// What the jail said when it was ready.
    #[must_use]
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stdin
            .write_all(bytes)
            .and_then(|()| self.stdin.flush())
            .map_err(|e| ClientError::Lost(format!("the supervisor is gone: {e}")))
    }

    /// The next frame, or Lost when the supervisor ends or says nothing until `deadline`.
    fn next_frame(&mut self, deadline: Instant) -> Result<Frame, ClientError> {
        loop {
            if let Some(f) = self.backlog.pop_front() {
                return Ok(f);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Lost("the supervisor stopped answering".into()));
            }
            let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(left.as_millis().min(1000)).unwrap_or(1000);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) | Err(nix::Error::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(ClientError::Lost(format!("poll: {e}"))),
            }
            let n = match nix::unistd::read(self.stdout.as_raw_fd(), &mut self.read_buf) {
                Ok(0) => return Err(ClientError::Lost("the supervisor ended".into())),
                Ok(n) => n,
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => continue,
                Err(e) => return Err(ClientError::Lost(format!("read: {e}"))),
            };
            let frames = self
                .decoder
                .push(&self.read_buf[..n])
                .map_err(|e| ClientError::Lost(format!("malformed frame from the supervisor: {e}")))?;
            self.backlog.extend(frames);
        }
    }

    /// Run `spec`; `on_event` sees stdout, stderr and violations as they happen when
    /// `spec.stream` is set.
    pub fn run(&mut self, spec: &RunSpec, on_event: &mut dyn FnMut(Event)) -> Result<RunResult, ClientError> {
        self.run_with_calls(spec, on_event, &mut no_functions)
    }

    /// [`Supervisor::run`], answering the run's host-function calls with `on_call`.
    pub fn run_with_calls(
        &mut self,
        spec: &RunSpec,
        on_event: &mut dyn FnMut(Event),
        on_call: &mut dyn FnMut(&Call) -> Reply,
    ) -> Result<RunResult, ClientError> {
        if let Some(why) = &self.dead {
            return Err(ClientError::Lost(why.clone()));
        }
        // Never 0 (a frame without a run), never with the top bit (the session runner reads
        // nonces back as signed integers).
        let nonce = (random_u64() >> 1).max(1);
        self.write(&frame::encode(Kind::Run, nonce, spec))?;
        let wall = spec
            .timeout_ms
            .map_or(self.hello.wall_time_ms, |t| t.min(self.hello.wall_time_ms.max(t)));
        let deadline = Instant::now() + Duration::from_millis(wall) + GRACE;
        loop {
            let f = match self.next_frame(deadline) {
                Ok(f) => f,
                Err(e) => {
                    self.dead = Some(e.to_string());
                    self.kill();
                    return Err(e);
                }
            };
            if f.kind == Kind::Fatal && f.nonce == 0 {
                let fatal: Fatal = f.decode().unwrap_or(Fatal {
                    step: "worker".into(),
                    message: "the worker failed".into(),
                    kind: "lost".into(),
                });
                self.dead = Some(fatal.message.clone());
                self.kill();
                return Err(ClientError::of(fatal));
            }
            if f.nonce != nonce {
                continue;
            }
            match f.kind {
                Kind::Result => {
                    let result = f
                        .decode::<RunResult>()
                        .map_err(|e| ClientError::Lost(format!("malformed result: {e}")))?;
                    self.notice_death();
                    return Ok(result);
                }
                Kind::Fatal => {
                    let fatal: Fatal = f.decode().map_err(|e| ClientError::Lost(e.to_string()))?;
                    return Err(ClientError::of(fatal));
                }
                Kind::Call => {
                    // The run waits for this: answer whatever `on_call` says, even an error.
                    let reply = match f.decode::<Call>() {
                        Ok(call) => {
                            let mut r = on_call(&call);
                            r.id = call.id;
                            r
                        }
                        Err(e) => Reply::error(0, "MalformedCall", e.to_string()),
                    };
                    self.write(&frame::encode(Kind::Reply, nonce, &reply))?;
                }
                Kind::Stdout => on_event(Event::Stdout(f.payload)),
                Kind::Stderr => on_event(Event::Stderr(f.payload)),
                Kind::Violation => {
                    if let Ok(v) = f.decode() {
                        on_event(Event::Violation(v));
                    }
                }
                _ => {}
            }
        }
    }

    /// After a result: a worker that ended is dead. It says so in the same write as the
    /// result, so whatever follows the result is already here or on its way.
    fn notice_death(&mut self) {
        let soon = Instant::now() + Duration::from_millis(50);
        loop {
            let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) && self.backlog.is_empty() {
                return;
            }
            match self.next_frame(soon) {
                Ok(f) if f.kind == Kind::Fatal && f.nonce == 0 => {
                    self.dead = Some(f.decode::<Fatal>().map(|x| x.message).unwrap_or_default());
                    self.kill();
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    self.dead = Some(e.to_string());
                    return;
                }
            }
        }
    }

    /// Whether it can take another run.
    #[must_use]
    pub fn alive(&mut self) -> bool {
        self.dead.is_none() && matches!(self.child.try_wait(), Ok(None))
    }

    /// Ask it to stop its jail and end; kill it if it does not within `grace`.
    pub fn close(mut self, grace: Duration) {
        let _ = self
            .stdin
            .write_all(&frame::encode(Kind::Close, 0, &serde_json::json!({})));
        let _ = self.stdin.flush();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
    }

    /// Kill it (its jail dies with it: the jail's init has a parent-death signal).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The supervisor's pid (tests).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    u64::from_le_bytes(buf) ^ u64::from(std::process::id()).rotate_left(32)
}

/// A result for a run whose jail was lost under it.
#[must_use]
pub fn lost_result(kind: &str, why: &str) -> RunResult {
    let mut r = RunResult::not_run(Status::Killed, Some(why.to_string()), None);
    r.answer = Some(Answer::error(kind, why));
    r
}

/// The answer to a call when the caller registered no functions.
fn no_functions(call: &Call) -> Reply {
    Reply::error(
        call.id,
        "UnknownFunction",
        format!("no function {:?} is registered", call.name),
    )
}

/// One cold run through a supervisor process.
pub fn run_cold(launcher: &Launcher, policy_toml: &str, output: u64, spec: &RunSpec) -> Result<RunResult, ClientError> {
    run_cold_with_calls(launcher, policy_toml, output, spec, &mut no_functions)
}

/// [`run_cold`], answering the run's host-function calls with `on_call`.
pub fn run_cold_with_calls(
    launcher: &Launcher,
    policy_toml: &str,
    output: u64,
    spec: &RunSpec,
    on_call: &mut dyn FnMut(&Call) -> Reply,
) -> Result<RunResult, ClientError> {
    let start = Start {
        mode: Mode::Cold,
        policy: policy_toml.to_string(),
        preload: Vec::new(),
        lifetime_ms: None,
    };
    let mut sup = Supervisor::start(launcher, &start, output, Duration::from_secs(60))?;
    let result = sup.run_with_calls(spec, &mut |_| {}, on_call);
    sup.close(Duration::from_secs(5));
    result
}

struct PoolState {
    idle: std::collections::VecDeque<Supervisor>,
    /// Pids of supervisors serving a run now (unreaped children of this process while their
    /// run thread holds them, so the pid cannot be reused before `kill_busy` signals it).
    busy: Vec<u32>,
    live: usize,
    closed: bool,
    starting: usize,
}

struct PoolShared {
    launcher: Launcher,
    start: Start,
    output: u64,
    state: Mutex<PoolState>,
    ready: Condvar,
}

/// Warm workers, each a supervisor process with a pool jail. Thread-safe.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<PoolShared>,
}

impl Pool {
    /// Start `size` workers (in parallel) and wait until all are ready.
    pub fn new(launcher: Launcher, start: Start, output: u64, size: usize) -> Result<Pool, ClientError> {
        let shared = Arc::new(PoolShared {
            launcher,
            start,
            output,
            state: Mutex::new(PoolState {
                idle: std::collections::VecDeque::new(),
                busy: Vec::new(),
                live: 0,
                closed: false,
                starting: 0,
            }),
            ready: Condvar::new(),
        });
        let handles: Vec<_> = (0..size.max(1))
            .map(|_| {
                let s = shared.clone();
                std::thread::spawn(move || Supervisor::start(&s.launcher, &s.start, s.output, Duration::from_secs(120)))
            })
            .collect();
        let mut error = None;
        for h in handles {
            match h.join() {
                Ok(Ok(sup)) => {
                    let mut st = lock(&shared.state);
                    st.idle.push_back(sup);
                    st.live += 1;
                }
                Ok(Err(e)) => error = Some(e),
                Err(_) => error = Some(ClientError::Spawn("a starting thread panicked".into())),
            }
        }
        let pool = Pool { shared };
        if let Some(e) = error {
            pool.close();
            return Err(e);
        }
        Ok(pool)
    }

    /// The policy's wall time (a run without its own timeout gets it).
    #[must_use]
    pub fn wall_time_ms(&self) -> u64 {
        let st = lock(&self.shared.state);
        st.idle.front().map_or(0, |s| s.hello.wall_time_ms)
    }

    /// Live workers.
    #[must_use]
    pub fn size(&self) -> usize {
        self.prune();
        lock(&self.shared.state).live
    }

    /// Drop idle workers whose supervisor ended (killed from outside, lifetime over) and start
    /// their replacements.
    fn prune(&self) {
        let dead = {
            let mut st = lock(&self.shared.state);
            let (alive, dead): (Vec<Supervisor>, Vec<Supervisor>) = st.idle.drain(..).partition_map_alive();
            st.idle = alive.into();
            st.live -= dead.len().min(st.live);
            dead.len()
        };
        for _ in 0..dead {
            self.replace();
        }
    }

    /// Idle workers now.
    #[must_use]
    pub fn idle(&self) -> usize {
        lock(&self.shared.state).idle.len()
    }

    /// Workers serving a run now.
    #[must_use]
    pub fn busy(&self) -> usize {
        lock(&self.shared.state).busy.len()
    }

    /// Kill the supervisors of runs in progress (a server's drain deadline): each such run
    /// ends with a `killed` result.
    pub fn kill_busy(&self) {
        for pid in lock(&self.shared.state).busy.clone() {
            kill_pid(pid);
        }
    }

    /// Pids of the supervisor processes (tests).
    #[must_use]
    pub fn supervisor_pids(&self) -> Vec<u32> {
        lock(&self.shared.state).idle.iter().map(Supervisor::pid).collect()
    }

    /// Run `spec` on an idle worker (waiting for one). A worker lost under the run gives a
    /// `killed` result with a `WorkerLost` error, and is replaced in the background.
    pub fn run(&self, spec: &RunSpec, on_event: &mut dyn FnMut(Event)) -> Result<RunResult, ClientError> {
        self.run_with_calls(spec, on_event, &mut no_functions)
    }

    /// [`Pool::run`], answering the run's host-function calls with `on_call`.
    pub fn run_with_calls(
        &self,
        spec: &RunSpec,
        on_event: &mut dyn FnMut(Event),
        on_call: &mut dyn FnMut(&Call) -> Reply,
    ) -> Result<RunResult, ClientError> {
        let mut sup = {
            let mut st = lock(&self.shared.state);
            loop {
                if st.closed {
                    return Err(ClientError::Lost("the pool is closed".into()));
                }
                if let Some(mut s) = st.idle.pop_front() {
                    if s.alive() {
                        st.busy.push(s.pid());
                        break s;
                    }
                    // Dead while idle: replaced, and another one taken.
                    st.live -= 1;
                    drop(st);
                    drop(s);
                    self.replace();
                    st = lock(&self.shared.state);
                    continue;
                }
                if st.live == 0 && st.starting == 0 {
                    return Err(ClientError::Lost("the pool has no workers left".into()));
                }
                st = self
                    .shared
                    .ready
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let outcome = sup.run_with_calls(spec, on_event, on_call);
        let healthy = sup.alive();
        let mut st = lock(&self.shared.state);
        let pid = sup.pid();
        st.busy.retain(|p| *p != pid);
        if healthy && !st.closed {
            st.idle.push_back(sup);
            self.shared.ready.notify_one();
        } else {
            st.live -= 1;
            drop(st);
            drop(sup);
            self.replace();
        }
        match outcome {
            Err(ClientError::Lost(why)) => Ok(lost_result("WorkerLost", &format!("the worker jail was lost: {why}"))),
            other => other,
        }
    }

    fn replace(&self) {
        let shared = self.shared.clone();
        {
            let mut st = lock(&shared.state);
            if st.closed {
                return;
            }
            st.starting += 1;
        }
        std::thread::spawn(move || {
            let started = Supervisor::start(&shared.launcher, &shared.start, shared.output, Duration::from_secs(120));
            let mut st = lock(&shared.state);
            st.starting -= 1;
            if let Ok(sup) = started {
                if st.closed {
                    drop(st);
                    sup.close(Duration::from_secs(2));
                    return;
                }
                st.idle.push_back(sup);
                st.live += 1;
            }
            shared.ready.notify_all();
        });
    }

    /// Stop every worker; waits for idle ones, kills the rest as their runs end.
    pub fn close(&self) {
        let idle = {
            let mut st = lock(&self.shared.state);
            st.closed = true;
            st.live -= st.idle.len().min(st.live);
            std::mem::take(&mut st.idle)
        };
        self.shared.ready.notify_all();
        let handles: Vec<_> = idle
            .into_iter()
            .map(|s| std::thread::spawn(move || s.close(Duration::from_secs(2))))
            .collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

trait PartitionAlive {
    fn partition_map_alive(self) -> (Vec<Supervisor>, Vec<Supervisor>);
}

impl<I: Iterator<Item = Supervisor>> PartitionAlive for I {
    fn partition_map_alive(self) -> (Vec<Supervisor>, Vec<Supervisor>) {
        let mut alive = Vec::new();
        let mut dead = Vec::new();
        for mut s in self {
            if s.alive() {
                alive.push(s);
            } else {
                dead.push(s);
            }
        }
        (alive, dead)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn kill_pid(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// A session: one interpreter whose cells share state. Thread-safe (cells run one at a time).
pub struct Session {
    sup: Mutex<Option<Supervisor>>,
    pid: u32,
}

impl Session {
    /// Start a session.
    pub fn new(launcher: &Launcher, start: &Start, output: u64) -> Result<Session, ClientError> {
        let sup = Supervisor::start(launcher, start, output, Duration::from_secs(120))?;
        Ok(Session {
            pid: sup.pid(),
            sup: Mutex::new(Some(sup)),
        })
    }

    /// The policy's wall time.
    #[must_use]
    pub fn wall_time_ms(&self) -> u64 {
        lock(&self.sup).as_ref().map_or(0, |s| s.hello.wall_time_ms)
    }

    /// Whether it is closed (by `close`, or because it was lost).
    #[must_use]
    pub fn closed(&self) -> bool {
        lock(&self.sup).is_none()
    }

    /// Whether it is closed, without waiting for a running cell (which means: not closed).
    #[must_use]
    pub fn closed_now(&self) -> bool {
        self.sup.try_lock().map(|g| g.is_none()).unwrap_or(false)
    }

    /// Whether no cell is running now, without waiting.
    #[must_use]
    pub fn try_idle(&self) -> bool {
        self.sup.try_lock().is_ok()
    }

    /// Run one cell. A session lost under the cell gives its result (a cell stopped at a limit
    /// ends the session) and closes it.
    pub fn run(&self, spec: &RunSpec, on_event: &mut dyn FnMut(Event)) -> Result<RunResult, ClientError> {
        self.run_with_calls(spec, on_event, &mut no_functions)
    }

    /// [`Session::run`], answering the cell's host-function calls with `on_call`.
    pub fn run_with_calls(
        &self,
        spec: &RunSpec,
        on_event: &mut dyn FnMut(Event),
        on_call: &mut dyn FnMut(&Call) -> Reply,
    ) -> Result<RunResult, ClientError> {
        let mut guard = lock(&self.sup);
        let Some(sup) = guard.as_mut() else {
            return Err(ClientError::Lost("the session is closed".into()));
        };
        let outcome = sup.run_with_calls(spec, on_event, on_call);
        if !sup.alive() {
            *guard = None;
        }
        match outcome {
            Err(ClientError::Lost(why)) => {
                *guard = None;
                Ok(lost_result("SessionLost", &format!("the session was lost: {why}")))
            }
            other => other,
        }
    }

    /// Kill the session's supervisor now, even during a cell (the cell ends `killed`).
    pub fn kill(&self) {
        match self.sup.try_lock() {
            Ok(mut guard) => {
                if let Some(mut sup) = guard.take() {
                    sup.kill();
                }
            }
            // A cell holds the lock: the supervisor is this process's unreaped child until
            // that cell's thread waits for it, so the pid is still ours to signal.
            Err(_) => kill_pid(self.pid),
        }
    }

    /// End the session and its jail.
    pub fn close(&self) {
        if let Some(sup) = lock(&self.sup).take() {
            sup.close(Duration::from_secs(2));
        }
    }
}
