//! stockade's guard: a native PEP 578 audit hook, the second layer inside the interpreter.
//!
//! The jail is the boundary; the guard sees what code tries to do at the level Python
//! understands (an import, an open of a path, a connect, a subprocess, a ctypes call, a code
//! object built from a string), decides by policy, tells the code why it was refused, and
//! reports every decision to the supervisor as it happens.
//!
//! It is loaded with `LD_PRELOAD` and installs its hook from an ELF constructor, before
//! `main`, so before `Py_Initialize` (CPython keeps hooks added before initialisation, and runs
//! them for the start-up imports too). It cannot be removed from Python: the runtime offers no
//! way to remove a hook, hooks added later run after ours, and the ways around that (ctypes,
//! writing `/proc/self/mem`, gc walks) are denied by the guard and, for what it cannot see,
//! contained by the jail. docs/guard.md says exactly what it cannot stop.

#![allow(unsafe_code, reason = "FFI crate: the audit hook is called by CPython through C")]

pub mod config;
pub mod decide;
pub mod events;
mod ffi;

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use config::GuardConfig;
use decide::{Caller, CallerScope, Verdict};

/// Environment variable naming the JSON configuration file.
pub const CONFIG_ENV: &str = "STOCKADE_GUARD_CONFIG";
/// Environment variable naming the fd the guard reports on.
pub const FD_ENV: &str = "STOCKADE_GUARD_FD";
/// Environment variable asking the constructor to make the process non-dumpable. A warm pool's
/// zygote outlives its runs, which share its uid: `execve` made it dumpable again, so without
/// this a run could open `/proc/<zygote>/mem` and rewrite the process every later run is forked
/// from. Non-dumpable, it is out of reach of everything in the jail (no capability there).
pub const NONDUMPABLE_ENV: &str = "STOCKADE_NONDUMPABLE";

struct State {
    config: GuardConfig,
    fd: i32,
    pid: i64,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Set when the interpreter is about to run user code (`cpython.run_*`). Events before that
/// come from the interpreter's own start-up (getpath probing for `pyvenv.cfg`, the first
/// imports): no user code exists yet, so they are allowed without a decision.
static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// One JSON line to the supervisor, in a single write (lines are capped below PIPE_BUF, so
/// they never interleave with other threads' lines).
fn emit(state: &State, mut line: serde_json::Value) {
    if state.fd < 0 {
        return;
    }
    let mut text = line.to_string();
    for secret in state.config.secrets.iter().filter(|s| s.len() >= 4) {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[secret]");
            line = serde_json::from_str(&text).unwrap_or(line);
        }
    }
    if text.len() > 3800 {
        text = serde_json::json!({"type": "event", "event": line["event"], "class": line["class"], "decision": line["decision"],
            "rule": line["rule"], "reason": line["reason"], "args": ["<cut>"]})
        .to_string();
    }
    text.push('\n');
    // SAFETY: writing a live buffer to an fd number; a closed fd only yields EBADF.
    let _ = unsafe { libc::write(state.fd, text.as_ptr().cast(), text.len()) };
}

/// Standard-library functions that call whatever callable they were handed (thread and pool
/// workers, event-loop handles, cleanup and callback runners, `copy`'s reconstructor). A
/// sensitive call made directly from one of them was chosen by someone else, so it does not
/// inherit the library's trust. Heuristic by nature: docs/guard.md says what it cannot catch.
const DISPATCHERS: &[(&str, &str)] = &[
    ("/concurrent/futures/thread.py", "run"),
    ("/concurrent/futures/_base.py", "_invoke_callbacks"),
    ("/threading.py", "run"),
    ("/asyncio/events.py", "_run"),
    ("/contextlib.py", "_exit_wrapper"),
    ("/contextlib.py", "__exit__"),
    ("/contextlib.py", "_invoke"),
    ("/sched.py", "run"),
    ("/weakref.py", "__call__"),
    ("/copy.py", "_reconstruct"),
    ("/copyreg.py", "__newobj__"),
    ("/copyreg.py", "__newobj_ex__"),
    ("/logging/__init__.py", "filter"),
    ("/unittest/case.py", "_callCleanup"),
    ("/unittest/case.py", "doCleanups"),
    ("/atexit.py", ""),
    ("/functools.py", "wrapper"),
    ("/functools.py", "_method"),
    ("/pickle.py", "load_reduce"),
    ("/pickle.py", "load_newobj"),
    ("/pickle.py", "load_build"),
];

fn is_dispatcher(file: &str, name: &str) -> bool {
    DISPATCHERS
        .iter()
        .any(|(suffix, func)| file.ends_with(suffix) && (func.is_empty() || *func == name))
}

fn caller_for(state: &State, scope: CallerScope) -> Caller {
    let skip = |f: &str| match scope {
        CallerScope::Innermost | CallerScope::Internal => false,
        CallerScope::OutsideImportlib => f.starts_with("<frozen importlib") || f.contains("/importlib/"),
        CallerScope::OutsideCtypes => f.contains("/ctypes/"),
    };
    // SAFETY: the hook runs with the GIL held.
    let Some((file, name)) = (unsafe { ffi::first_frame(64, &skip) }) else {
        // No Python frame at all: the runtime itself (start-up, finalisation).
        return Caller::Trusted;
    };
    // For ctypes only the import machinery is trusted (a module calling ctypes while it is being
    // imported, as ctypes itself and numpy do); a library that merely passes a user's callable
    // on would otherwise launder a foreign-function call.
    if scope == CallerScope::OutsideCtypes {
        return if file.starts_with("<frozen importlib") {
            Caller::Trusted
        } else {
            Caller::User
        };
    }
    // Forking and signalling are lent to stockade's own runner only, never to the standard
    // library in general (subprocess.py raises `subprocess.Popen` from its own frame).
    if scope == CallerScope::Internal {
        return if state.config.internal.contains(&file) {
            Caller::Trusted
        } else {
            Caller::User
        };
    }
    if is_dispatcher(&file, &name) {
        return Caller::User;
    }
    let trusted = file.starts_with("<frozen ") || state.config.trusted.iter().any(|t| file.starts_with(t.as_str()));
    if trusted {
        Caller::Trusted
    } else {
        Caller::User
    }
}

unsafe extern "C" fn hook(event: *const c_char, args: *mut ffi::PyObject, _data: *mut c_void) -> c_int {
    let Some(state) = STATE.get() else { return 0 };
    if IN_HOOK.with(Cell::get) {
        return 0;
    }
    // SAFETY: CPython passes a NUL-terminated event name.
    let name = unsafe { CStr::from_ptr(event) }.to_str().unwrap_or("");
    let Some(handling) = events::handling(name) else {
        if decide::records(&state.config, "unknown") || decide::records(&state.config, "all") {
            emit(
                state,
                serde_json::json!({"type": "event", "event": name, "class": "unknown", "decision": "allowed"}),
            );
        }
        return 0;
    };
    if name.starts_with("cpython.run_") {
        if !ARMED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            emit(state, serde_json::json!({"type": "guard", "state": "armed"}));
        }
        return 0;
    }
    if !ARMED.load(std::sync::atomic::Ordering::Relaxed) {
        return 0;
    }
    if handling == events::Handling::Allow && !decide::records(&state.config, "all") {
        return 0;
    }
    IN_HOOK.with(|f| f.set(true));
    // SAFETY: GIL held; `args` is the event's tuple.
    let values = unsafe { ffi::args_of(args, 6) };
    // The working directory is only needed to resolve a relative path.
    let relative = values
        .iter()
        .any(|v| matches!(v, decide::Value::Str(s) if !s.starts_with('/') && !s.is_empty()));
    let cwd = if relative {
        std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into())
    } else {
        String::from("/")
    };
    let verdict = decide::decide_resolving(
        &state.config,
        name,
        handling,
        &values,
        &cwd,
        // The pid at install time is the zygote's in a forked run: ask each time it matters.
        if handling == events::Handling::Signal {
            // SAFETY: getpid has no preconditions.
            i64::from(unsafe { libc::getpid() })
        } else {
            state.pid
        },
        &mut |scope| caller_for(state, scope),
        &real_path,
    );
    let result = match verdict {
        Verdict::Allow => 0,
        Verdict::Record => {
            emit(state, record(name, handling, "allowed", None, None, &values));
            0
        }
        Verdict::Deny { rule, reason } if !state.config.enforce => {
            emit(
                state,
                record(name, handling, "audited", Some(&rule), Some(&reason), &values),
            );
            0
        }
        Verdict::Deny { rule, reason } => {
            emit(
                state,
                record(name, handling, "denied", Some(&rule), Some(&reason), &values),
            );
            if state.config.kill_on_violation {
                // SAFETY: killing ourselves; the record above already reached the supervisor.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            let message = format!("stockade guard: {name} denied by {rule}: {reason}");
            // SAFETY: GIL held, interpreter initialised (hooks only deny after start-up imports).
            unsafe { ffi::raise(ffi::violation_type(), &message) };
            -1
        }
    };
    IN_HOOK.with(|f| f.set(false));
    result
}

/// The normalised path an absolute path really names. Symlinks can only have been planted where
/// the code can write, and `..` after a symlink means something else to the kernel than to a
/// lexical normaliser: such paths are resolved like the kernel does (`realpath`; for a path
/// that does not exist yet, its parent, plus the last component). Paths into read-only trees
/// (the standard library, the venv) are only normalised, which keeps imports cheap.
fn real_path(path: &str) -> String {
    let lexical = decide::normalise(path, "/");
    let Some(state) = STATE.get() else { return lexical };
    let writable = state
        .config
        .write
        .iter()
        .find(|w| lexical.starts_with(w.as_str()) || path.starts_with(w.as_str()));
    let dotted = path.contains("/..") || path.contains("/./");
    let Some(prefix) = writable else {
        if !dotted {
            return lexical;
        }
        return canonical(path, lexical);
    };
    if dotted {
        return canonical(path, lexical);
    }
    // Only components below the writable prefix can be links the code planted: lstat those
    // (one syscall for a file directly in the scratch) and fall back to realpath if one is.
    let mut current = prefix.clone();
    for component in lexical[prefix.len()..].split('/').filter(|c| !c.is_empty()) {
        current.push('/');
        current.push_str(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => return canonical(path, lexical),
            Ok(_) => {}
            Err(_) => break, // does not exist (yet): nothing below it can be a link
        }
    }
    lexical
}

fn canonical(path: &str, lexical: String) -> String {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p.to_string_lossy().into_owned();
    }
    let p = std::path::Path::new(path);
    match (p.parent().and_then(|d| std::fs::canonicalize(d).ok()), p.file_name()) {
        (Some(dir), Some(name)) => dir.join(name).to_string_lossy().into_owned(),
        _ => lexical,
    }
}

fn record(
    name: &str,
    handling: events::Handling,
    decision: &str,
    rule: Option<&str>,
    reason: Option<&str>,
    values: &[decide::Value],
) -> serde_json::Value {
    serde_json::json!({
        "type": "event",
        "event": name,
        "class": handling.class(),
        "decision": decision,
        "rule": rule,
        "reason": reason,
        "args": values.iter().map(decide::Value::short).collect::<Vec<_>>(),
    })
}

fn refuse(message: &str, fd: i32) -> ! {
    let line = format!(
        "{}\n",
        serde_json::json!({"type": "guard", "state": "failed", "error": message})
    );
    // SAFETY: plain writes of live buffers to fd numbers.
    unsafe {
        if fd >= 0 {
            libc::write(fd, line.as_ptr().cast(), line.len());
        }
        let text = format!("stockade guard: refusing to run: {message}\n");
        libc::write(2, text.as_ptr().cast(), text.len());
        libc::_exit(125)
    }
}

/// Install the guard from the environment: config file and report fd. Called by the ELF
/// constructor before `main`. Without `STOCKADE_GUARD_CONFIG` it does nothing (the library
/// was inherited by a process that is not under stockade's guard).
fn install_from_env() {
    let Ok(path) = std::env::var(CONFIG_ENV) else { return };
    let fd: i32 = std::env::var(FD_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(-1);
    let config = match std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {path}: {e}"))
        .and_then(|t| serde_json::from_str::<GuardConfig>(&t).map_err(|e| format!("bad config {path}: {e}")))
    {
        Ok(c) => c,
        Err(e) => refuse(&e, fd),
    };
    let api = match ffi::load() {
        Ok(api) => api,
        Err(e) => refuse(&e, fd),
    };
    // SAFETY: getpid has no preconditions.
    let pid = i64::from(unsafe { libc::getpid() });
    if STATE.set(State { config, fd, pid }).is_err() {
        return;
    }
    // SAFETY: PySys_AddAuditHook may be called before Py_Initialize; `hook` has the right
    // signature and lives for the whole process.
    let rc = unsafe { (api.PySys_AddAuditHook)(hook, std::ptr::null_mut()) };
    if rc != 0 {
        refuse("PySys_AddAuditHook declined the hook", fd);
    }
    if let Some(state) = STATE.get() {
        emit(
            state,
            serde_json::json!({"type": "guard", "state": "installed", "pid": pid}),
        );
    }
}

/// Clear the dumpable flag when the jail asks for it; a failure refuses to run at all.
fn make_nondumpable_from_env() {
    if std::env::var_os(NONDUMPABLE_ENV).is_none() {
        return;
    }
    // SAFETY: PR_SET_DUMPABLE takes an integer argument and touches only this process.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        let fd = std::env::var(FD_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(-1);
        refuse("prctl(PR_SET_DUMPABLE, 0) failed", fd);
    }
}

extern "C" fn guard_constructor() {
    make_nondumpable_from_env();
    install_from_env();
}

/// Runs before `main` when the library is loaded (`LD_PRELOAD`).
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = guard_constructor;

/// Always true. Calling it keeps this crate's object (and so the constructor above) in a binary
/// that links the guard as a library rather than loading `libstockade_guard.so`.
#[must_use]
pub fn linked() -> bool {
    std::hint::black_box(CONSTRUCTOR) as usize != 0
}
