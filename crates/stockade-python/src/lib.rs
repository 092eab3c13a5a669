//! `stockade._stockade`: the thin native half of the Python package, over `stockade-runner`.
//!
//! It converts arguments and calls the run engine: cold runs, pools and sessions drive
//! supervisor processes (the caller's interpreter may have threads, so it never enters a jail
//! itself); `supervise_main` is what such a supervisor process runs (a fresh, single-threaded
//! launcher interpreter). The same shared object also carries the guard and the runner's
//! native half: the jail loads it with `LD_PRELOAD`.

use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;
use stockade_policy::Policy;
use stockade_protocol::caller::{Mode, RunSpec, Start};
use stockade_protocol::calls::{Call, Reply};
use stockade_runner::client::{self, ClientError, Launcher};
use stockade_runner::prepare::{self, Overrides, PolicyFailure, PolicySource};

create_exception!(
    _stockade,
    EngineError,
    PyException,
    "An engine error: args are (kind, step, message); the Python package turns it into its own exceptions."
);

fn engine_error(kind: &str, step: &str, message: impl Into<String>) -> PyErr {
    EngineError::new_err((kind.to_string(), step.to_string(), message.into()))
}

fn client_error(e: ClientError) -> PyErr {
    match e {
        ClientError::Policy(m) => engine_error("policy", "policy", m),
        ClientError::Request(m) => engine_error("request", "request", m),
        ClientError::LayerMissing { step, message } => engine_error("layer-missing", &step, message),
        ClientError::Setup { step, message } => engine_error("setup", &step, message),
        ClientError::Lost(m) => engine_error("lost", "worker", m),
        ClientError::Spawn(m) => engine_error("setup", "spawn", m),
    }
}

/// Run the `stockade` command line with `argv` (argv[0] is the program name); returns the exit
/// code. Must be called from a single-threaded process (the jail is entered with `clone`).
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.allow_threads(|| stockade::run(argv))
}

/// A supervisor process's main loop (`stockade supervise`): frames on stdin and stdout.
#[pyfunction]
fn supervise_main(py: Python<'_>) -> u8 {
    py.allow_threads(stockade_runner::supervisor::main)
}

/// The guard's report: whether its constructor ran in this process.
#[pyfunction]
fn guard_linked() -> bool {
    stockade_guard::linked()
}

fn parse_memory(text: &str) -> PyResult<u64> {
    stockade_policy::parse_size(text).map_err(|e| engine_error("input", "memory", format!("memory: {e}")))
}

/// The effective policy as TOML: `policy` (a file, a TOML document or a profile name, or None
/// for strict) with the API's overrides. Relative paths are the caller's. Raises EngineError
/// (kind `policy` or `usage`).
#[pyfunction]
#[pyo3(signature = (policy, timeout=None, memory=None, venv=None, python=None, allow_degraded=false))]
fn effective_policy(
    policy: Option<String>,
    timeout: Option<f64>,
    memory: Option<String>,
    venv: Option<String>,
    python: Option<String>,
    allow_degraded: bool,
) -> PyResult<(String, u64, u64)> {
    let source = policy.as_deref().map_or(PolicySource::Default, PolicySource::guess);
    let overrides = Overrides {
        timeout: timeout.map(Duration::from_secs_f64),
        memory: memory.as_deref().map(parse_memory).transpose()?,
        venv: venv.map(Into::into),
        python: python.map(Into::into),
        allow_degraded,
        ..Overrides::default()
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let p = prepare::effective_policy(&source, &overrides, &cwd).map_err(|e| match e {
        PolicyFailure::Usage(m) => engine_error("policy", "policy", m),
        PolicyFailure::Invalid(m) => engine_error("policy", "policy", m),
    })?;
    let wall = u64::try_from(p.limits.wall_time.as_millis()).unwrap_or(u64::MAX);
    Ok((p.to_toml(), p.limits.output, wall))
}

fn launcher(argv: Vec<String>) -> PyResult<Launcher> {
    let mut it = argv.into_iter();
    let program = it
        .next()
        .ok_or_else(|| engine_error("setup", "spawn", "empty launcher"))?;
    Ok(Launcher {
        program: program.into(),
        args: it.map(Into::into).collect(),
    })
}

fn spec_of(json: &str) -> PyResult<RunSpec> {
    serde_json::from_str(json).map_err(|e| engine_error("request", "request", format!("malformed request: {e}")))
}

fn output_of(policy_toml: &str) -> PyResult<u64> {
    Policy::from_toml(policy_toml, "<policy>")
        .map(|p| p.limits.output)
        .map_err(|e| engine_error("policy", "policy", format!("invalid policy: {e}")))
}

fn to_json(result: &stockade_protocol::RunResult) -> String {
    serde_json::to_string(result).unwrap_or_default()
}

/// A run's host-function calls answered by `on_call(call_json) -> reply_json` (the package's
/// dispatcher), called with the GIL taken back. Whatever goes wrong on this side becomes the
/// call's error in the run, never a failure of the run itself.
fn calls_via(on_call: Option<PyObject>) -> impl FnMut(&Call) -> Reply {
    move |call: &Call| {
        let Some(f) = &on_call else {
            return Reply::error(
                call.id,
                "UnknownFunction",
                format!("no function {:?} is registered", call.name),
            );
        };
        let text = serde_json::to_string(call).unwrap_or_default();
        let answered: Result<String, String> = Python::with_gil(|py| {
            f.call1(py, (text,))
                .and_then(|r| r.extract::<String>(py))
                .map_err(|e| e.to_string())
        });
        match answered.and_then(|t| serde_json::from_str::<Reply>(&t).map_err(|e| e.to_string())) {
            Ok(r) => r,
            Err(e) => Reply::error(call.id, "HostError", format!("the host's dispatcher failed: {e}")),
        }
    }
}

/// One cold run: a supervisor process with a fresh jail. Returns the result document (JSON).
#[pyfunction]
#[pyo3(signature = (launcher_argv, policy_toml, spec_json, on_call=None))]
fn run_cold(
    py: Python<'_>,
    launcher_argv: Vec<String>,
    policy_toml: String,
    spec_json: String,
    on_call: Option<PyObject>,
) -> PyResult<String> {
    let l = launcher(launcher_argv)?;
    let spec = spec_of(&spec_json)?;
    let output = output_of(&policy_toml)?;
    let mut calls = calls_via(on_call);
    py.allow_threads(|| client::run_cold_with_calls(&l, &policy_toml, output, &spec, &mut calls))
        .map(|r| to_json(&r))
        .map_err(client_error)
}

/// `stockade.guards.safe_open`'s kernel half: open `path` beneath the directory `dirfd` with
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (see `stockade_sys::open_beneath`) and
/// return the new fd (close-on-exec). A failure is the `OSError` subclass of its errno
/// (`ENOSYS` when the kernel has no `openat2`: the package falls back to its own walk).
#[pyfunction]
#[pyo3(signature = (dirfd, path, flags, mode=0o666))]
fn open_beneath(py: Python<'_>, dirfd: i32, path: std::path::PathBuf, flags: i32, mode: u32) -> PyResult<i32> {
    use std::os::fd::IntoRawFd;
    let opened = py.allow_threads(|| stockade_sys::open_beneath(dirfd, &path, flags, mode));
    match opened {
        Ok(fd) => Ok(fd.into_raw_fd()),
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            Err(PyOSError::new_err((errno, e.to_string(), path)))
        }
    }
}

/// Warm workers (`stockade.Pool`).
#[pyclass]
struct Pool {
    inner: client::Pool,
}

#[pymethods]
impl Pool {
    #[new]
    fn new(
        py: Python<'_>,
        launcher_argv: Vec<String>,
        policy_toml: String,
        size: usize,
        preload: Vec<String>,
    ) -> PyResult<Pool> {
        let l = launcher(launcher_argv)?;
        let output = output_of(&policy_toml)?;
        let start = Start {
            mode: Mode::Pool,
            policy: policy_toml,
            preload,
            lifetime_ms: None,
        };
        let inner = py
            .allow_threads(|| client::Pool::new(l, start, output, size))
            .map_err(client_error)?;
        Ok(Pool { inner })
    }

    /// Run one request (JSON) on an idle worker; the result document (JSON).
    #[pyo3(signature = (spec_json, on_call=None))]
    fn run(&self, py: Python<'_>, spec_json: String, on_call: Option<PyObject>) -> PyResult<String> {
        let spec = spec_of(&spec_json)?;
        let mut calls = calls_via(on_call);
        py.allow_threads(|| self.inner.run_with_calls(&spec, &mut |_| {}, &mut calls))
            .map(|r| to_json(&r))
            .map_err(client_error)
    }

    /// Live workers.
    #[getter]
    fn size(&self) -> usize {
        self.inner.size()
    }

    /// The policy's wall time in ms.
    #[getter]
    fn wall_time_ms(&self) -> u64 {
        self.inner.wall_time_ms()
    }

    /// The supervisor processes' pids (of idle workers).
    fn supervisor_pids(&self) -> Vec<u32> {
        self.inner.supervisor_pids()
    }

    fn close(&self, py: Python<'_>) {
        py.allow_threads(|| self.inner.close());
    }
}

/// A session (`stockade.Session`).
#[pyclass]
struct Session {
    inner: client::Session,
}

#[pymethods]
impl Session {
    #[new]
    #[pyo3(signature = (launcher_argv, policy_toml, lifetime_ms=None))]
    fn new(
        py: Python<'_>,
        launcher_argv: Vec<String>,
        policy_toml: String,
        lifetime_ms: Option<u64>,
    ) -> PyResult<Session> {
        let l = launcher(launcher_argv)?;
        let output = output_of(&policy_toml)?;
        let start = Start {
            mode: Mode::Session,
            policy: policy_toml,
            preload: Vec::new(),
            lifetime_ms,
        };
        let inner = py
            .allow_threads(|| client::Session::new(&l, &start, output))
            .map_err(client_error)?;
        Ok(Session { inner })
    }

    #[pyo3(signature = (spec_json, on_call=None))]
    fn run(&self, py: Python<'_>, spec_json: String, on_call: Option<PyObject>) -> PyResult<String> {
        let spec = spec_of(&spec_json)?;
        let mut calls = calls_via(on_call);
        py.allow_threads(|| self.inner.run_with_calls(&spec, &mut |_| {}, &mut calls))
            .map(|r| to_json(&r))
            .map_err(client_error)
    }

    #[getter]
    fn wall_time_ms(&self) -> u64 {
        self.inner.wall_time_ms()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed()
    }

    fn close(&self, py: Python<'_>) {
        py.allow_threads(|| self.inner.close());
    }
}

#[pymodule]
fn _stockade(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(supervise_main, m)?)?;
    m.add_function(wrap_pyfunction!(guard_linked, m)?)?;
    m.add_function(wrap_pyfunction!(effective_policy, m)?)?;
    m.add_function(wrap_pyfunction!(run_cold, m)?)?;
    m.add_function(wrap_pyfunction!(open_beneath, m)?)?;
    m.add_class::<Pool>()?;
    m.add_class::<Session>()?;
    m.add("EngineError", m.py().get_type::<EngineError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
