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
mod pidfd;
mod repeats;
mod runner_module;

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use config::GuardConfig;
use decide::{Caller, CallerScope, Verdict};

/// The audit event stockade's runner raises when a run or a cell ends, so counts of repeated
/// records reach the supervisor before the process exits without finalising (`os._exit`).
pub const FLUSH_EVENT: &str = "stockade.flush";

/// Environment variable naming the JSON configuration file.
pub const CONFIG_ENV: &str = "STOCKADE_GUARD_CONFIG";
/// Environment variable naming the fd the guard reports on.
pub const FD_ENV: &str = "STOCKADE_GUARD_FD";
/// Environment variable asking the constructor to make the process non-dumpable. A warm pool's
/// zygote outlives its runs, which share its uid: `execve` made it dumpable again, so without
/// this a run could open `/proc/<zygote>/mem` and rewrite the process every later run is forked
/// from. Non-dumpable, it is out of reach of everything in the jail (no capability there).
pub const NONDUMPABLE_ENV: &str = "STOCKADE_NONDUMPABLE";
/// Environment variable asking the constructor to register the runner's native module
/// (`_stockade_jail`: the zygote's fork loop, a session's cell channels) as a built-in module of
/// the interpreter about to start.
pub const RUNNER_MODULE_ENV: &str = "STOCKADE_RUNNER_MODULE";

struct State {
    config: GuardConfig,
    fd: i32,
    pid: i64,
    /// The seccomp program to install when user code starts (`GuardConfig::seccomp_on_arm`).
    on_arm: Option<Vec<u8>>,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Set when the interpreter is about to run user code (`cpython.run_*`). Events before that
/// come from the interpreter's own start-up (getpath probing for `pyvenv.cfg`, the first
/// imports): no user code exists yet, so they are allowed without a decision.
static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set at the first `compile` and `exec` after arming (the program being started).
static MAIN_COMPILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static MAIN_EXECUTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// One JSON line to the supervisor, in a single write (lines are capped below PIPE_BUF, so
/// they never interleave with other threads' lines). Returns the line as written.
fn emit(state: &State, mut line: serde_json::Value) -> Option<String> {
    if state.fd < 0 {
        return None;
    }
    let mut text = line.to_string();
    for secret in state.config.secrets.iter().filter(|s| s.len() >= 4) {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), &stockade_protocol::redact::marker(secret.len()));
            line = serde_json::from_str(&text).unwrap_or(line);
        }
    }
    if text.len() > 3800 {
        let mut cut = serde_json::json!({"type": "event", "event": line["event"], "class": line["class"], "decision": line["decision"],
            "rule": line["rule"], "reason": line["reason"], "args": ["<cut>"]});
        if let Some(n) = line.get("repeat") {
            cut["repeat"] = n.clone(); // the count survives the cut
        }
        text = cut.to_string();
    }
    text.push('\n');
    write_line(state, &text);
    text.pop();
    Some(text)
}

/// Write one line (ending in a newline) to the supervisor.
fn write_line(state: &State, line: &str) {
    // SAFETY: writing a live buffer to an fd number; a closed fd only yields EBADF.
    let _ = unsafe { libc::write(state.fd, line.as_ptr().cast(), line.len()) };
}

/// One decision as the trail records it.
struct Record<'a> {
    event: &'a str,
    class: &'a str,
    decision: &'a str,
    rule: Option<&'a str>,
    reason: Option<&'a str>,
    args: &'a [decide::Value<'a>],
}

impl Record<'_> {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "event",
            "event": self.event,
            "class": self.class,
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "args": self.args.iter().map(decide::Value::short).collect::<Vec<_>>(),
        })
    }
}

/// Report a record, counting repeats of one already written ([`repeats`]): the line is only
/// built when one is due.
fn report(state: &State, r: &Record<'_>) {
    if state.fd < 0 {
        return;
    }
    let key = repeats::key(r.event, r.decision, r.rule, r.args);
    match repeats::seen(key, repeats::now_ms()) {
        repeats::Seen::Counted => {}
        repeats::Seen::Write => {
            if let Some(text) = emit(state, r.json()) {
                repeats::remember(key, &text);
            }
        }
        repeats::Seen::Repeat(n) => {
            let mut line = r.json();
            line["repeat"] = serde_json::json!(n);
            emit(state, line);
        }
    }
}

/// Write the counts of repeated records not yet reported (`"repeat": n` on a copy of each).
fn flush_repeats(state: &State) {
    for (text, n) in repeats::drain(repeats::now_ms()) {
        if let Ok(mut line) = serde_json::from_str::<serde_json::Value>(&text) {
            line["repeat"] = serde_json::json!(n);
            write_line(state, &format!("{line}\n"));
        }
    }
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
        .any(|(suffix, func)| (func.is_empty() || *func == name) && file.ends_with(suffix))
}

/// Frames of the standard library's import machinery: exactly its frozen modules, and the
/// `importlib` package of this interpreter's standard library (never a user file whose name
/// merely contains `/importlib/`: user code cannot compile under a trusted name).
fn is_import_machinery(state: &State, file: &str) -> bool {
    matches!(
        file,
        "<frozen importlib._bootstrap>" | "<frozen importlib._bootstrap_external>" | "<frozen zipimport>"
    ) || state
        .config
        .stdlib
        .iter()
        .any(|root| decide::is_under(file, &format!("{root}/importlib")))
}

/// Standard-library functions that import a module whose name they were handed (a string from
/// their caller): they lend no trust to that import. `importlib` itself is import machinery.
const NAME_IMPORTERS: &[(&str, &str)] = &[
    ("pkgutil.py", "resolve_name"),
    ("pydoc.py", "locate"),
    ("pydoc.py", "safeimport"),
    ("pydoc.py", "importfile"),
    ("unittest/loader.py", "loadTestsFromName"),
    ("unittest/loader.py", "loadTestsFromNames"),
    ("unittest/loader.py", "_get_module_from_name"),
    ("logging/config.py", "_resolve"),
    ("logging/config.py", "resolve"),
    ("logging/config.py", "_import"),
    ("runpy.py", "_get_module_details"),
    ("runpy.py", "run_module"),
    ("doctest.py", "_normalize_module"),
    ("warnings.py", "_getcategory"),
    ("xml/sax/__init__.py", "_create_parser"),
    ("xml/sax/__init__.py", "make_parser"),
    ("pickle.py", "find_class"),
    ("multiprocessing/managers.py", "__init__"),
    ("multiprocessing/spawn.py", "import_main_path"),
];

fn is_name_importer(state: &State, file: &str, name: &str) -> bool {
    NAME_IMPORTERS
        .iter()
        .any(|(rel, func)| *func == name && state.config.stdlib.iter().any(|root| file == format!("{root}/{rel}")))
}

/// Whether a frame's file is trusted: a frozen module, or under a trusted directory (the
/// interpreter's standard library, the venv when the policy trusts it, stockade's own files) —
/// matched by whole path components.
fn is_trusted_file(state: &State, file: &str) -> bool {
    file.starts_with("<frozen ") || state.config.trusted.iter().any(|t| decide::is_under(file, t))
}

/// How deep a walk goes before it answers "user" (a deeper stack is user code's doing).
const WALK_LIMIT: usize = 256;

fn caller_for(state: &State, scope: CallerScope<'_>) -> Caller {
    if scope == CallerScope::SourceLoader {
        // The import system compiling a module's source: source_to_code calls compile through
        // _call_with_frames_removed; nothing else qualifies.
        // SAFETY: the hook runs with the GIL held.
        let ok = unsafe {
            ffi::innermost_are(&[
                ("<frozen importlib._bootstrap>", Some("_call_with_frames_removed")),
                ("<frozen importlib._bootstrap_external>", Some("source_to_code")),
            ])
        };
        return if ok { Caller::Trusted } else { Caller::User };
    }
    // The innermost frame's trust, when it is cached, without reading its names' text (the walk
    // below would find the same frame and ask the same cache).
    if scope == CallerScope::Innermost {
        // SAFETY: the hook runs with the GIL held.
        if let Some(answer) = unsafe { ffi::innermost_ids() }.and_then(cached_trust) {
            return answer;
        }
    }
    // Once the walk has passed a function that imports a name it was handed, a trusted frame
    // further out lends its trust only if its own code names the module (else the name came
    // from further out still: the question goes on to its caller).
    let handed = Cell::new(false);
    let skip = |f: &ffi::FrameView| match scope {
        CallerScope::Innermost | CallerScope::Internal | CallerScope::SourceLoader => false,
        CallerScope::Importer(module) => {
            if is_import_machinery(state, f.file) {
                return true;
            }
            if is_name_importer(state, f.file, f.name) {
                handed.set(true);
                return true;
            }
            handed.get()
                && is_trusted_file(state, f.file)
                && !state.config.internal.iter().any(|i| i == f.file)
                && !f.mentions(module)
        }
        CallerScope::OutsideCtypes => state
            .config
            .stdlib
            .iter()
            .any(|root| decide::is_under(f.file, &format!("{root}/ctypes"))),
    };
    // SAFETY: the hook runs with the GIL held.
    let (file, name, ids) = match unsafe { ffi::first_frame(WALK_LIMIT, &skip) } {
        ffi::Walk::Found(file, name, ids) => (file, name, ids),
        // Once user code runs, "no Python frame" is a C-level callback of its making (a thread
        // started with a C callable, a finaliser), never the runtime vouching for itself; and a
        // stack deeper than the walk is the user's doing.
        ffi::Walk::NoFrame if !ARMED.load(std::sync::atomic::Ordering::Relaxed) => return Caller::Trusted,
        ffi::Walk::NoFrame | ffi::Walk::Limit => return Caller::User,
    };
    // For ctypes only the import machinery is trusted (a module calling ctypes while it is being
    // imported, as ctypes itself and numpy do); a library that merely passes a user's callable
    // on would otherwise launder a foreign-function call.
    if scope == CallerScope::OutsideCtypes {
        return if file == "<frozen importlib._bootstrap>" {
            Caller::Trusted
        } else {
            Caller::User
        };
    }
    // Forking and signalling are lent to stockade's own runner only, never to the standard
    // library in general (subprocess.py raises `subprocess.Popen` from its own frame).
    if scope == CallerScope::Internal {
        return if state.config.internal.iter().any(|i| i == file) {
            Caller::Trusted
        } else {
            Caller::User
        };
    }
    classified(ids, || {
        if !is_dispatcher(file, name) && is_trusted_file(state, file) {
            Caller::Trusted
        } else {
            Caller::User
        }
    })
}

const CLASSIFIED_SLOTS: usize = 128;

thread_local! {
    /// Frames already classified, by the addresses of their `co_filename` and `co_name` str
    /// objects. The cache holds a reference to both, so while an entry exists neither address
    /// can be reused for other text (str is immutable); the answer depends only on that text
    /// and the fixed configuration.
    static CLASSIFIED: [Cell<(usize, usize, Caller)>; CLASSIFIED_SLOTS] =
        const { [const { Cell::new((0, 0, Caller::User)) }; CLASSIFIED_SLOTS] };
}

/// The cached trust of a frame by the identity of its file and function name, if any.
fn cached_trust(ids: (usize, usize)) -> Option<Caller> {
    if ids.0 == 0 || ids.1 == 0 {
        return None;
    }
    let entry = CLASSIFIED.with(|c| c[classified_slot(ids)].get());
    ((entry.0, entry.1) == ids).then_some(entry.2)
}

fn classified_slot(ids: (usize, usize)) -> usize {
    (ids.0 >> 4 ^ ids.1 >> 4) % CLASSIFIED_SLOTS
}

/// The trust of a frame by its file and function name, from the cache or `classify`.
fn classified(ids: (usize, usize), classify: impl FnOnce() -> Caller) -> Caller {
    if ids.0 == 0 || ids.1 == 0 {
        return classify();
    }
    let slot = classified_slot(ids);
    let entry = CLASSIFIED.with(|c| c[slot].get());
    if (entry.0, entry.1) == ids {
        return entry.2;
    }
    let answer = classify();
    // SAFETY: GIL held (the hook's); both are live str objects of a frame on the stack, and
    // releasing an evicted str runs no Python code.
    unsafe {
        ffi::keep(ids.0);
        ffi::keep(ids.1);
        if entry.0 != 0 {
            ffi::release(entry.0);
            ffi::release(entry.1);
        }
    }
    CLASSIFIED.with(|c| c[slot].set((ids.0, ids.1, answer)));
    answer
}

/// The hook's [`decide::World`]: the live interpreter and filesystem.
struct Live<'a> {
    state: &'a State,
}

impl decide::World for Live<'_> {
    fn caller(&mut self, scope: CallerScope<'_>) -> Caller {
        caller_for(self.state, scope)
    }

    fn resolve<'p>(&self, path: &'p str) -> std::borrow::Cow<'p, str> {
        real_path(path)
    }

    fn own_module(&self, top: &str) -> bool {
        own_module(self.state, top)
    }

    fn cwd(&self) -> String {
        std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into())
    }

    fn file_contains(&self, path: &str, text: &str) -> bool {
        // Trusted files are read-only in the jail; a few hundred KiB at most.
        std::fs::read(path).is_ok_and(|data| {
            let needle = text.as_bytes();
            !needle.is_empty() && data.windows(needle.len()).any(|w| w == needle)
        })
    }
}

/// Where packages installed at run time go (`stockade_policy::PACKAGES_DIR`; the jail's plan
/// tests hold the two equal — the guard library links no policy code).
pub const PACKAGES_DIR: &str = "/tmp/packages";

/// `top` is the run's own module: a `top.py` or a `top/` package in the scratch, next to the
/// script or among the packages installed at run time, while no directory of the interpreter's has one of that name (a file named like a
/// standard-library module does not turn that module's import into the run's own).
fn own_module(state: &State, top: &str) -> bool {
    if top.is_empty() || !top.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return false;
    }
    // A built-in module is imported before any file of that name is looked for.
    // SAFETY: the hook runs with the GIL held.
    if unsafe { ffi::is_builtin_module(top) } {
        return false;
    }
    let exists_in = |dir: &str| {
        let base = std::path::Path::new(dir);
        base.join(format!("{top}.py")).is_file() || base.join(top).join("__init__.py").is_file()
    };
    // The scratch, the script's directory, and the packages installed at run time.
    let own = ["/tmp", "/sandbox", PACKAGES_DIR].iter().any(|d| exists_in(d));
    let theirs = state.config.trusted.iter().any(|d| {
        exists_in(d)
            || std::fs::read_dir(d).is_ok_and(|mut entries| {
                entries.any(|e| {
                    e.ok().is_some_and(|e| {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        n == top || n.starts_with(&format!("{top}."))
                    })
                })
            })
    });
    own && !theirs
}

const EVENT_CACHE: usize = 64;

thread_local! {
    /// Events found before, by the address of their name.
    static EVENTS_SEEN: [Cell<(usize, Option<&'static events::Event>)>; EVENT_CACHE] =
        const { [const { Cell::new((0, None)) }; EVENT_CACHE] };
}

/// The table's entry for an event. CPython raises its own events with string literals, so a
/// hot event is found by its name's address and one comparison instead of a binary search;
/// the comparison keeps a name built at run time (`sys.audit`) at a reused address honest.
fn known_event(event: *const c_char) -> Option<&'static events::Event> {
    let addr = event as usize;
    // Literals sit close together: mix the address so neighbours do not share a slot.
    let slot = (addr.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) % EVENT_CACHE;
    let cached = EVENTS_SEEN.with(|c| c[slot].get());
    if cached.0 == addr {
        if let Some(e) = cached.1 {
            // SAFETY: `event` is NUL-terminated; the loop stops at the first byte that differs,
            // and a table name holds no NUL, so it never reads past the terminator.
            let same = unsafe {
                e.name.bytes().enumerate().all(|(i, b)| *event.add(i).cast::<u8>() == b)
                    && *event.add(e.name.len()) == 0
            };
            if same {
                return Some(e);
            }
        }
    }
    // SAFETY: CPython passes a NUL-terminated event name.
    let name = unsafe { CStr::from_ptr(event) }.to_str().ok()?;
    let found = events::event(name)?;
    EVENTS_SEEN.with(|c| c[slot].set((addr, Some(found))));
    Some(found)
}

unsafe extern "C" fn hook(event: *const c_char, args: *mut ffi::PyObject, _data: *mut c_void) -> c_int {
    let Some(state) = STATE.get() else { return 0 };
    if IN_HOOK.with(Cell::get) {
        return 0;
    }
    let Some(known) = known_event(event) else {
        // SAFETY: CPython passes a NUL-terminated event name.
        let name = unsafe { CStr::from_ptr(event) }.to_str().unwrap_or("");
        if name == FLUSH_EVENT {
            flush_repeats(state);
        } else if decide::records(&state.config, "unknown") || decide::records(&state.config, "all") {
            let r = Record {
                event: name,
                class: "unknown",
                decision: "allowed",
                rule: None,
                reason: None,
                args: &[],
            };
            report(state, &r);
        }
        return 0;
    };
    let (name, handling) = (known.name, known.handling);
    if handling == events::Handling::Allow && name == "cpython._PySys_ClearAuditHooks" {
        flush_repeats(state); // the interpreter is finalising: the last counts, now
        return 0;
    }
    if name.starts_with("cpython.run_") {
        if !ARMED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            IN_HOOK.with(|f| f.set(true));
            // SAFETY: the hook runs with the GIL held, in an initialised interpreter.
            let wrapped = unsafe { pidfd::wrap() };
            IN_HOOK.with(|f| f.set(false));
            if let Err(e) = wrapped {
                refuse(&format!("cannot wrap the pidfd functions: {e}"), state.fd);
            }
            if let Some(program) = &state.on_arm {
                // The kernel refuses what the policy denies from here on, with or without an
                // audit event; if it cannot, nothing of the user's code may run.
                if let Err(e) = stockade_sys::install_seccomp_bytes(program) {
                    refuse(&format!("cannot install the process filter: {e}"), state.fd);
                }
            }
            emit(state, serde_json::json!({"type": "guard", "state": "armed"}));
        }
        return 0;
    }
    if !ARMED.load(std::sync::atomic::Ordering::Relaxed) {
        return 0;
    }
    // The runtime compiles the program it was told to run right after `cpython.run_*`, from C
    // (no Python frame): that first compile is the program's own start, not user code
    // compiling a string.
    let once = |flag: &std::sync::atomic::AtomicBool| {
        !flag.load(std::sync::atomic::Ordering::Relaxed) && !flag.swap(true, std::sync::atomic::Ordering::SeqCst)
    };
    let first = match name {
        "compile" => once(&MAIN_COMPILED),
        "exec" => once(&MAIN_EXECUTED),
        _ => false,
    };
    // SAFETY: the hook runs with the GIL held.
    if first && matches!(unsafe { ffi::first_frame(1, &|_| false) }, ffi::Walk::NoFrame) {
        return 0;
    }
    if handling == events::Handling::Allow && !decide::records(&state.config, "all") {
        return 0;
    }
    IN_HOOK.with(|f| f.set(true));
    // SAFETY: GIL held; `args` is the event's tuple.
    let values = unsafe { ffi::args_of(args) };
    if quietly_refused(state, name, &values) {
        let message = "stockade guard: bytecode and zip imports are not read from writable directories";
        // SAFETY: GIL held; the import system catches this OSError and compiles the source.
        unsafe { ffi::raise(*ffi::api().PyExc_PermissionError, message) };
        IN_HOOK.with(|f| f.set(false));
        return -1;
    }
    let verdict = decide::decide_in(
        &state.config,
        name,
        handling,
        &values,
        // The pid at install time is the zygote's in a forked run: ask each time it matters.
        if handling == events::Handling::Signal {
            // SAFETY: getpid has no preconditions.
            i64::from(unsafe { libc::getpid() })
        } else {
            state.pid
        },
        &mut Live { state },
    );
    // Arguments no decision read are read now only if the verdict is to be recorded.
    let result = if verdict == Verdict::Allow {
        0
    } else {
        act(state, name, handling, &values.all(), verdict)
    };
    IN_HOOK.with(|f| f.set(false));
    result
}

/// Carry out a verdict: record it, raise (or kill) when it denies. Returns the hook's answer.
fn act(state: &State, name: &str, handling: events::Handling, values: &[decide::Value], verdict: Verdict) -> c_int {
    let record = |decision, rule, reason| Record {
        event: name,
        class: handling.class(),
        decision,
        rule,
        reason,
        args: values,
    };
    match verdict {
        Verdict::Allow => 0,
        Verdict::Record => {
            report(state, &record("allowed", None, None));
            0
        }
        Verdict::Deny { rule, reason } if !state.config.enforce => {
            report(state, &record("audited", Some(&rule), Some(&reason)));
            0
        }
        Verdict::Deny { rule, reason } => {
            report(state, &record("denied", Some(&rule), Some(&reason)));
            if state.config.kill_on_violation {
                // SAFETY: killing ourselves; the record above already reached the supervisor.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            let message = format!("stockade guard: {name} denied by {rule}: {reason}");
            // SAFETY: GIL held, interpreter initialised (hooks only deny after start-up imports).
            unsafe { ffi::raise(ffi::violation_type(), &message) };
            -1
        }
    }
}

/// Judge a call that raises no audit event of CPython's own (`os.pidfd_open`,
/// `signal.pidfd_send_signal`): the guard wraps those functions when user code starts, and the
/// wrapper asks here first. 0: go ahead; -1: refused (the exception is set).
pub(crate) fn judge_signal(event: &str, target: Option<i64>) -> c_int {
    let Some(state) = STATE.get() else { return 0 };
    if IN_HOOK.with(Cell::get) {
        return 0;
    }
    IN_HOOK.with(|f| f.set(true));
    let values = vec![target.map_or(decide::Value::None, decide::Value::Int)];
    // SAFETY: getpid has no preconditions.
    let own = i64::from(unsafe { libc::getpid() });
    let verdict = decide::decide_in(
        &state.config,
        event,
        events::Handling::Signal,
        &values[..],
        own,
        &mut Live { state },
    );
    let result = act(state, event, events::Handling::Signal, &values, verdict);
    IN_HOOK.with(|f| f.set(false));
    result
}

/// Bytecode caches and zip archives in writable directories are never read by the import
/// system: a `.pyc` (or a zipped module) the code planted could carry a trusted file name in
/// its code objects, and trust is read from file names. Refused without a violation: the import
/// system recompiles the source (whose compile the guard judges as usual), so ordinary imports of
/// the run's own modules keep working.
fn quietly_refused<'a>(state: &State, event: &str, values: &impl decide::Args<'a>) -> bool {
    if event != "open" {
        return false;
    }
    let Some(decide::Value::Str(path)) = values.arg(0) else {
        return false;
    };
    // A `.pyc` anywhere writable; any file zipimport reads there. One normalisation for both.
    let pyc = path.ends_with(".pyc");
    // zipimport reads its archive through io.open_code, for reading.
    let reading = matches!(values.arg(1), Some(decide::Value::Str(m)) if m == "r" || m == "rb");
    if !pyc && !reading {
        return false;
    }
    let normal = decide::normalised(path, "/");
    if !state.config.write.iter().any(|w| decide::is_under(&normal, w)) {
        return false;
    }
    // SAFETY: the hook runs with the GIL held.
    pyc || unsafe { ffi::innermost_are(&[("<frozen zipimport>", None)]) }
}

/// The normalised path an absolute path really names. Symlinks can only have been planted where
/// the code can write, and `..` after a symlink means something else to the kernel than to a
/// lexical normaliser: such paths are resolved like the kernel does (`realpath`; for a path
/// that does not exist yet, its parent, plus the last component). Paths into read-only trees
/// (the standard library, the venv) are only normalised, which keeps imports cheap.
fn real_path(path: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    // Borrowed when `path` is normal already (every import's files).
    let lexical = decide::normalised(path, "/");
    let Some(state) = STATE.get() else { return lexical };
    let writable = state
        .config
        .write
        .iter()
        .find(|w| lexical.starts_with(w.as_str()) || path.starts_with(w.as_str()));
    let dotted = decide::dotted(path);
    let Some(prefix) = writable else {
        if !dotted {
            return lexical;
        }
        return Cow::Owned(canonical(path, lexical.into_owned()));
    };
    if dotted {
        return Cow::Owned(canonical(path, lexical.into_owned()));
    }
    // One kernel walk tells whether a symlink is on the way (openat2 with RESOLVE_NO_SYMLINKS
    // fails with ELOOP): O(depth) for the whole check, where an lstat per component cost
    // O(depth²) — 1,000 nested directories took seconds of kernel time. A path that does not
    // exist yet is judged by its parent.
    let _ = prefix;
    let parent =
        lexical.rsplit_once('/').map_or(
            "/".to_string(),
            |(d, _)| if d.is_empty() { "/".into() } else { d.to_string() },
        );
    for candidate in [lexical.to_string(), parent] {
        match stockade_sys::open_path(std::path::Path::new(&candidate), false) {
            Ok(_) => return lexical,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) => {
                return Cow::Owned(canonical(path, lexical.into_owned()))
            }
            Err(_) => {}
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
    let on_arm = match &config.seccomp_on_arm {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => refuse(&format!("cannot read {path}: {e}"), fd),
        },
        None => None,
    };
    if STATE
        .set(State {
            config,
            fd,
            pid,
            on_arm,
        })
        .is_err()
    {
        return;
    }
    // SAFETY: PySys_AddAuditHook may be called before Py_Initialize; `hook` has the right
    // signature and lives for the whole process.
    let rc = unsafe { (api.PySys_AddAuditHook)(hook, std::ptr::null_mut()) };
    if rc != 0 {
        refuse("PySys_AddAuditHook declined the hook", fd);
    }
    repeats::clear_on_fork();
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

/// Register the runner's built-in module when the jail asks for it (warm jails).
fn register_runner_module_from_env() {
    if std::env::var_os(RUNNER_MODULE_ENV).is_none() {
        return;
    }
    if let Err(e) = runner_module::register() {
        let fd = std::env::var(FD_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(-1);
        refuse(&format!("cannot register the runner's module: {e}"), fd);
    }
}

extern "C" fn guard_constructor() {
    make_nondumpable_from_env();
    register_runner_module_from_env();
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
