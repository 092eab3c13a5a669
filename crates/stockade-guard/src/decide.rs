//! The decision engine: pure Rust, no Python. The hook converts an event's arguments into
//! [`Value`]s and asks [`decide`]; tests drive it directly.

use std::borrow::Cow;

use crate::config::{Decision, GuardConfig};
use crate::events::Handling;

/// An audit-event argument, read from a Python object. Text is borrowed from the object while
/// the hook runs (the hot path allocates nothing); lossily decoded bytes are owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value<'a> {
    /// `None`.
    #[default]
    None,
    /// `str`, or `bytes`/`bytearray` decoded lossily.
    Str(Cow<'a, str>),
    /// `int` that fits in 64 bits.
    Int(i64),
    /// A tuple (first few items).
    Tuple(Vec<Value<'a>>),
    /// Anything else: its type name, and whether it is a type object that is not a heap type
    /// (i.e. a built-in or extension type) or a module.
    Object {
        type_name: Cow<'a, str>,
        builtin_type_or_module: bool,
    },
}

impl Value<'_> {
    fn as_str(&self) -> Option<&str> {
        if let Value::Str(s) = self {
            Some(s)
        } else {
            None
        }
    }

    fn as_int(&self) -> Option<i64> {
        if let Value::Int(i) = self {
            Some(*i)
        } else {
            None
        }
    }

    /// Short printable form for the audit trail.
    #[must_use]
    pub fn short(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Str(s) => {
                let mut t: String = s.chars().take(200).collect();
                if t.len() < s.len() {
                    t.push('…');
                }
                format!("{t:?}")
            }
            Value::Int(i) => i.to_string(),
            Value::Tuple(items) => format!("({})", items.iter().map(Value::short).collect::<Vec<_>>().join(", ")),
            Value::Object { type_name, .. } => format!("<{type_name}>"),
        }
    }
}

/// An event's arguments, by position, as a decision reads them. The hook reads each from its
/// Python object only when a decision asks for it (most decisions read one or two, some none);
/// a slice of [`Value`]s is one too (tests, calls the hook judges itself).
pub trait Args<'a> {
    /// Argument `i`, or `None` past the last one.
    fn arg(&self, i: usize) -> Option<&Value<'a>>;
}

impl<'a> Args<'a> for [Value<'a>] {
    fn arg(&self, i: usize) -> Option<&Value<'a>> {
        self.get(i)
    }
}

/// Who caused the event, as far as the guard can tell from the Python stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Standard library, frozen modules, or (when allowed) the venv.
    Trusted,
    /// The user's code (or anything not trusted).
    User,
}

/// Which frame counts as the caller, and when it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerScope<'a> {
    /// The innermost Python frame.
    Innermost,
    /// Who is importing this module: the first frame outside the import machinery, where a
    /// standard-library frame lends its trust only if its own code names the module — a
    /// function that imports a name it was handed (`pkgutil.resolve_name`, `pydoc.locate`, the
    /// `unittest` loader, `logging.config`) passes the question on to its caller.
    Importer(&'a str),
    /// The first frame outside the standard library's ctypes package, trusted only when it is
    /// the import machinery (a module calling ctypes while it is being imported).
    OutsideCtypes,
    /// The innermost frame, trusted only if it is one of stockade's own internal files.
    Internal,
    /// Trusted only when it is the import system compiling a module's source
    /// (`SourceLoader.source_to_code`): the one place that may compile under a trusted name.
    SourceLoader,
}

/// What the decision needs from the process it runs in; the hook implements it, tests fake it.
pub trait World {
    /// Who is asking, in `scope`.
    fn caller(&mut self, scope: CallerScope<'_>) -> Caller;
    /// The normalised path an absolute path really names (symlinks in writable places
    /// resolved as the kernel will).
    fn resolve<'p>(&self, path: &'p str) -> Cow<'p, str> {
        normalised(path, "/")
    }
    /// Whether `top` is a module of the run's own (a file it was given, in its scratch or
    /// next to its script) and no module of the interpreter's has that name.
    fn own_module(&self, _top: &str) -> bool {
        false
    }
    /// Whether the file at `path` contains `text` verbatim.
    fn file_contains(&self, _path: &str, _text: &str) -> bool {
        false
    }
    /// The working directory. Asked only when a relative path needs it (in the hook it is a
    /// system call, and most events name no relative path).
    fn cwd(&self) -> String {
        "/".into()
    }
}

/// A [`World`] from a closure that answers who the caller is, and a working directory (tests).
struct ClosureWorld<'a, 'c>(&'a mut dyn FnMut(CallerScope<'_>) -> Caller, &'c str);

impl World for ClosureWorld<'_, '_> {
    fn caller(&mut self, scope: CallerScope<'_>) -> Caller {
        (self.0)(scope)
    }

    fn cwd(&self) -> String {
        self.1.to_string()
    }
}

/// `raw` made absolute against the working directory (asked of `world` only for a relative
/// path) and resolved by `world`: borrowed from `raw` when it is absolute and already what it
/// names (every import's files).
fn resolved<'p>(world: &dyn World, raw: &'p str, cwd: &Cwd) -> Cow<'p, str> {
    if raw.starts_with('/') {
        world.resolve(raw)
    } else {
        Cow::Owned(world.resolve(&join(raw, cwd.of(world, raw))).into_owned())
    }
}

/// The working directory of one decision, asked of the world the first time a relative path
/// needs it.
struct Cwd(std::cell::OnceCell<String>);

impl Cwd {
    fn of(&self, world: &dyn World, path: &str) -> &str {
        if path.starts_with('/') {
            "/"
        } else {
            self.0.get_or_init(|| world.cwd())
        }
    }
}

/// The guard's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allow silently.
    Allow,
    /// Allow and record.
    Record,
    /// Deny (in audit mode the hook records it and allows).
    Deny {
        /// The policy key that denied it.
        rule: String,
        /// What was refused, in words.
        reason: String,
    },
}

/// `path` made absolute against `cwd`, not normalised.
#[must_use]
pub fn join(path: &str, cwd: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    }
}

/// [`normalise`], borrowing `path` when it is normal already (the common case: every import's
/// files).
#[must_use]
pub fn normalised<'a>(path: &'a str, cwd: &str) -> Cow<'a, str> {
    if is_normal(path) {
        return Cow::Borrowed(path);
    }
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Cow::Owned(format!("/{}", parts.join("/")))
}

/// Normalise a path lexically against `cwd` (no symlink resolution).
#[must_use]
pub fn normalise(path: &str, cwd: &str) -> String {
    normalised(path, cwd).into_owned()
}

/// An absolute path that [`normalise`] would return unchanged: no empty, `.` or `..`
/// component, no trailing slash.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes == b"/" {
        return true;
    }
    if bytes.first() != Some(&b'/') {
        return false;
    }
    // Every component (between slashes, and after the last) is neither empty (`//`, a trailing
    // slash) nor `.` nor `..`: only those are at most two bytes of dots.
    bytes[1..]
        .split(|&b| b == b'/')
        .all(|c| c.len() > 2 || c.iter().any(|&b| b != b'.'))
}

/// `path` holds `/..` or `/./` anywhere (a byte scan: no substring searcher set up per path).
#[must_use]
pub fn dotted(path: &str) -> bool {
    let bytes = path.as_bytes();
    (0..bytes.len().saturating_sub(2))
        .any(|i| bytes[i] == b'/' && bytes[i + 1] == b'.' && matches!(bytes[i + 2], b'.' | b'/'))
}

/// `path` is `prefix` or below it, by whole components.
#[must_use]
pub fn is_under(path: &str, prefix: &str) -> bool {
    under(path, prefix)
}

fn under(path: &str, prefix: &str) -> bool {
    // The byte after the prefix first: most prefixes tried are not `path`'s, and that one byte
    // tells without comparing the text.
    prefix == "/"
        || match path.as_bytes().get(prefix.len()) {
            None => path == prefix,
            Some(b'/') => path.starts_with(prefix),
            Some(_) => false,
        }
}

fn path_allowed(path: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| under(path, p))
}

/// Module `name` matches `prefix` if equal or a submodule of it.
fn module_under(name: &str, prefix: &str) -> bool {
    name == prefix || (name.starts_with(prefix) && name.as_bytes().get(prefix.len()) == Some(&b'.'))
}

/// Import decision for a module name: deny wins over allow for the same or a longer prefix.
pub fn import_allowed(cfg: &GuardConfig, name: &str) -> Result<(), String> {
    use crate::config::ImportSets;
    let marks = ImportSets::of(cfg);
    // The longest dotted prefix of `name` (the name itself included) in each list: prefixes are
    // tried shortest first, so the last hit is the longest.
    let (mut allow, mut deny) = (None, None);
    let dots = name.match_indices('.').map(|(i, _)| i);
    for end in dots.chain(std::iter::once(name.len())) {
        if let Some(&mark) = marks.get(&name[..end]) {
            if mark & ImportSets::ALLOW != 0 {
                allow = Some(end);
            }
            if mark & ImportSets::DENY != 0 {
                deny = Some(end);
            }
        }
    }
    match (allow, deny) {
        (a, Some(d)) if a.is_none_or(|a| d >= a) => Err(format!("module {name:?} is in guard.imports.deny")),
        (Some(_), _) => Ok(()),
        (None, None) if cfg.import_default_allow => Ok(()),
        _ => Err(format!("module {name:?} is not in guard.imports.allow")),
    }
}

fn host_port_allowed(list: &[String], host: &str, port: Option<i64>) -> bool {
    list.iter().any(|entry| {
        let (h, p) = match entry.rsplit_once(':') {
            Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p),
            None => (entry.as_str(), "*"),
        };
        let host_ok = h == "*" || h.eq_ignore_ascii_case(host);
        let port_ok = p == "*" || port.is_none_or(|port| p.parse::<i64>().ok() == Some(port));
        host_ok && port_ok
    })
}

/// Builtins and modules whose globals turn an unpickle into code execution.
const DANGEROUS_PICKLE_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "importlib",
    "marshal",
    "pickle",
    "_pickle",
    "ctypes",
    "types",
    "runpy",
    "code",
    "codeop",
    "shutil",
    "socket",
    "pty",
    "operator",
    "functools",
    "io",
    "_io",
    "platform",
    "webbrowser",
    "timeit",
    "pdb",
    "bdb",
    "posixpath",
    "multiprocessing",
    "asyncio",
    "threading",
    "_thread",
    "gc",
    "inspect",
];
/// Globals of otherwise dangerous modules that carry no power of their own and that ordinary
/// programs pickle: `multiprocessing`'s task wrappers and exception carriers (what its workers
/// unpickle), and `functools.partial` (whose function is unpickled, and judged, on its own).
const SAFE_PICKLE_GLOBALS: &[(&str, &str)] = &[
    ("multiprocessing.pool", "mapstar"),
    ("multiprocessing.pool", "starmapstar"),
    ("multiprocessing.pool", "ExceptionWithTraceback"),
    ("multiprocessing.pool", "RemoteTraceback"),
    ("multiprocessing.pool", "rebuild_exc"),
    ("multiprocessing.pool", "MaybeEncodingError"),
    ("functools", "partial"),
];

const DANGEROUS_BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "compile",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "open",
    "breakpoint",
    "input",
    "globals",
    "locals",
    "vars",
    "__loader__",
    "__build_class__",
];

fn deny(handling: Handling, reason: String) -> Verdict {
    Verdict::Deny {
        rule: handling.rule().to_string(),
        reason,
    }
}

fn by_decision(decision: Decision, handling: Handling, reason: impl FnOnce() -> String) -> Verdict {
    match decision {
        Decision::Allow => Verdict::Allow,
        Decision::Audit => Verdict::Record,
        Decision::Deny => deny(handling, reason()),
    }
}

fn rule_decision(cfg: &GuardConfig, handling: Handling) -> Decision {
    match handling {
        Handling::Process => cfg.process,
        Handling::Code => cfg.code,
        Handling::CodeObjects => cfg.code_objects,
        Handling::Deserialize => cfg.deserialize,
        Handling::Introspection => cfg.introspection,
        Handling::Ctypes => cfg.ctypes,
        Handling::Env => cfg.env,
        Handling::Signal => cfg.signal,
        _ => Decision::Allow,
    }
}

/// Decide one event. `caller` is only called when the decision depends on who called.
pub fn decide(
    cfg: &GuardConfig,
    event: &str,
    handling: Handling,
    args: &[Value],
    cwd: &str,
    own_pid: i64,
    caller: &mut dyn FnMut(CallerScope<'_>) -> Caller,
) -> Verdict {
    decide_in(cfg, event, handling, args, own_pid, &mut ClosureWorld(caller, cwd))
}

/// [`decide`] against a [`World`] (which also knows the working directory).
pub fn decide_in<'a, A: Args<'a> + ?Sized>(
    cfg: &GuardConfig,
    event: &str,
    handling: Handling,
    args: &A,
    own_pid: i64,
    world: &mut dyn World,
) -> Verdict {
    let verdict = decide_inner(cfg, event, handling, args, own_pid, world);
    if verdict == Verdict::Allow && handling != Handling::Allow && records(cfg, handling.class()) {
        return Verdict::Record;
    }
    verdict
}

/// Whether allowed events of `class` are recorded.
#[must_use]
pub fn records(cfg: &GuardConfig, class: &str) -> bool {
    cfg.record.iter().any(|r| r == "all" || r == class)
}

#[allow(clippy::too_many_lines)]
fn decide_inner<'a, A: Args<'a> + ?Sized>(
    cfg: &GuardConfig,
    event: &str,
    handling: Handling,
    args: &A,
    own_pid: i64,
    world: &mut dyn World,
) -> Verdict {
    let arg = |i: usize| args.arg(i);
    let cwd = Cwd(std::cell::OnceCell::new());
    let path_at = |world: &dyn World, i: usize| arg(i).and_then(Value::as_str).map(|p| resolved(world, p, &cwd));
    match handling {
        Handling::Allow => Verdict::Allow,
        Handling::Import => {
            let Some(name) = arg(0).and_then(Value::as_str) else {
                return Verdict::Allow;
            };
            // The list check is cheap and usually passes; walk the stack only when it does not.
            match import_allowed(cfg, name) {
                Ok(()) => Verdict::Allow,
                Err(_) if world.caller(CallerScope::Importer(name)) == Caller::Trusted => Verdict::Allow,
                // The run's own modules (files it was given) are more of its own code.
                Err(_)
                    if !cfg.import_deny.iter().any(|d| module_under(name, d))
                        && world.own_module(name.split('.').next().unwrap_or(name)) =>
                {
                    Verdict::Allow
                }
                Err(reason) => deny(handling, reason),
            }
        }
        Handling::Read => match path_at(world, 0) {
            Some(p) if !path_allowed(&p, &cfg.read) => deny(handling, format!("reading {p:?} is not allowed")),
            _ => Verdict::Allow,
        },
        Handling::Write => {
            // Two-path events (rename, link, symlink) check the destination too.
            let idx: &[usize] = if matches!(event, "os.rename" | "os.link") {
                &[0, 1]
            } else if event == "os.symlink" {
                &[1]
            } else {
                &[0]
            };
            // Removing, renaming or linking acts on the name itself, not on what a symlink
            // there points to: resolve the directory, keep the last component.
            let on_name = matches!(
                event,
                "os.remove" | "os.rmdir" | "os.rename" | "os.link" | "os.symlink" | "shutil.rmtree" | "shutil.move"
            );
            let path_of = |i: usize| -> Option<String> {
                let raw = arg(i).and_then(Value::as_str)?;
                if !on_name {
                    return Some(resolved(&*world, raw, &cwd).into_owned());
                }
                let lexical = normalise(raw, cwd.of(&*world, raw));
                let (dir, name) = lexical.rsplit_once('/')?;
                let dir = if dir.is_empty() {
                    "/".to_string()
                } else {
                    world.resolve(dir).into_owned()
                };
                Some(if dir == "/" {
                    format!("/{name}")
                } else {
                    format!("{dir}/{name}")
                })
            };
            for &i in idx {
                if let Some(p) = path_of(i) {
                    if !path_allowed(&p, &cfg.write) {
                        return deny(handling, format!("writing {p:?} is not allowed"));
                    }
                }
            }
            Verdict::Allow
        }
        Handling::CopyFile => {
            if let Some(p) = path_at(world, 0) {
                if !path_allowed(&p, &cfg.read) {
                    return deny(Handling::Read, format!("reading {p:?} is not allowed"));
                }
            }
            match path_at(world, 1) {
                Some(p) if !path_allowed(&p, &cfg.write) => {
                    deny(Handling::Write, format!("writing {p:?} is not allowed"))
                }
                _ => Verdict::Allow,
            }
        }
        Handling::Open => {
            let Some(raw) = arg(0).and_then(Value::as_str) else {
                return Verdict::Allow;
            }; // an fd
            if event == "sqlite3.connect" && (raw == ":memory:" || raw.is_empty()) {
                return Verdict::Allow;
            }
            let path = resolved(&*world, raw, &cwd);
            // Imports that raise no `import` event (importlib.import_module, _gcd_import) still
            // read the module's source or bytecode: judge that read as the import it is.
            if event == "open" {
                if let Some(module) = module_of_file(&path, &cfg.trusted) {
                    if let Err(reason) = import_allowed(cfg, &module) {
                        if world.caller(CallerScope::Importer(&module)) == Caller::User {
                            return deny(Handling::Import, reason);
                        }
                    }
                }
            }
            let writes = if event == "sqlite3.connect" {
                true
            } else {
                let by_mode = arg(1)
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.contains(['w', 'a', 'x', '+']));
                let by_flags = arg(2).and_then(Value::as_int).is_some_and(|f| {
                    f & i64::from(libc::O_ACCMODE) != i64::from(libc::O_RDONLY)
                        || f & i64::from(libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) != 0
                });
                by_mode || by_flags
            };
            if writes && !path_allowed(&path, &cfg.write) {
                deny(Handling::Write, format!("opening {path:?} for writing is not allowed"))
            } else if !writes && !path_allowed(&path, &cfg.read) {
                deny(Handling::Read, format!("opening {path:?} for reading is not allowed"))
            } else {
                Verdict::Allow
            }
        }
        Handling::Connect | Handling::Bind | Handling::Resolve => {
            let list = if handling == Handling::Bind {
                &cfg.bind
            } else {
                &cfg.connect
            };
            let (host, port) = network_target(event, args);
            match host {
                NetTarget::Unix(path) => {
                    if path.starts_with('\0')
                        || path.starts_with('@')
                        || path_allowed(&normalise(&path, cwd.of(&*world, &path)), &cfg.write)
                    {
                        Verdict::Allow
                    } else {
                        deny(
                            Handling::Write,
                            format!("unix socket {path:?} is outside the writable paths"),
                        )
                    }
                }
                NetTarget::Host(h) if host_port_allowed(list, &h, port) => Verdict::Allow,
                // The proxy on the host decides where an http(s) URL may go (and reports its
                // refusals); other schemes (file:, ftp:, data:) are decided as before.
                NetTarget::Host(_) if cfg.urls_via_proxy && event == "urllib.Request" && is_http_url(args) => {
                    Verdict::Allow
                }
                NetTarget::Host(h) => deny(
                    handling,
                    match port {
                        Some(p) => format!("{h}:{p} is not in {}", handling.rule()),
                        None => format!("{h} is not in {}", handling.rule()),
                    },
                ),
                NetTarget::Unknown if list.iter().any(|e| e == "*:*") => Verdict::Allow,
                NetTarget::Unknown => deny(handling, format!("{event} to an unrecognised address")),
            }
        }
        Handling::Signal => {
            let target = arg(0).and_then(Value::as_int);
            if matches!(event, "os.kill" | "stockade.pidfd_send_signal" | "stockade.pidfd_open")
                && target == Some(own_pid)
            {
                return Verdict::Allow;
            }
            // In a jail every process but its init (pid 1) is the run's own: when the policy
            // lets the run make processes, it may signal them (multiprocessing stops its
            // workers so).
            if cfg.process == Decision::Allow
                && matches!(event, "os.kill" | "stockade.pidfd_send_signal" | "stockade.pidfd_open")
                && target.is_some_and(|p| p > 1)
            {
                return Verdict::Allow;
            }
            if !cfg.internal.is_empty() && world.caller(CallerScope::Internal) == Caller::Trusted {
                return Verdict::Allow;
            }
            by_decision(cfg.signal, handling, || match target {
                Some(p) => format!("{event} of process {p}"),
                None => format!("{event} of another process"),
            })
        }
        Handling::Deserialize => {
            let module = arg(0).and_then(Value::as_str).unwrap_or("");
            let name = arg(1).and_then(Value::as_str).unwrap_or("");
            // A dotted name is an attribute walk from the module (`dataclasses` + `builtins.eval`):
            // judge every component, not just the module.
            let dotted = name.contains('.');
            let parts: Vec<&str> = name.split('.').collect();
            if SAFE_PICKLE_GLOBALS.contains(&(module, name)) {
                return Verdict::Allow;
            }
            let dangerous = DANGEROUS_PICKLE_MODULES.iter().any(|m| module_under(module, m))
                || (matches!(module, "builtins" | "__builtin__") && DANGEROUS_BUILTINS.contains(&name))
                || cfg.import_deny.iter().any(|d| module_under(module, d))
                || (dotted
                    && parts.iter().any(|p| {
                        DANGEROUS_PICKLE_MODULES.contains(p)
                            || DANGEROUS_BUILTINS.contains(p)
                            || matches!(*p, "builtins" | "__builtins__" | "__globals__" | "__class__")
                    }));
            if dangerous {
                by_decision(cfg.deserialize, handling, || format!("unpickling {module}.{name}"))
            } else {
                Verdict::Allow
            }
        }
        Handling::Introspection => {
            if matches!(event, "object.__setattr__" | "object.__delattr__")
                && !matches!(
                    arg(0),
                    Some(Value::Object {
                        builtin_type_or_module: true,
                        ..
                    })
                )
            {
                // Setting attributes on the code's own classes is ordinary Python.
                return Verdict::Allow;
            }
            if world.caller(CallerScope::Innermost) == Caller::Trusted {
                return Verdict::Allow;
            }
            let what = match (event, arg(1).and_then(Value::as_str)) {
                (_, Some(attr)) if event.starts_with("object.") => format!("{event} {attr:?}"),
                _ => event.to_string(),
            };
            by_decision(cfg.introspection, handling, || format!("{what} by user code"))
        }
        Handling::Code | Handling::CodeObjects | Handling::Ctypes => {
            // Trust is read from code objects' file names, so no code may be compiled under a
            // trusted name (`<frozen …>`, a standard-library path, stockade's own files) except
            // by the import system loading that module's source: not by user code, and not by
            // a standard-library helper compiling what it was handed (`code.InteractiveInterpreter`).
            // What is compiled from text that the trusted file itself holds (a traceback
            // parsing one of its lines to place its carets) carries no more than the file.
            if event == "compile" {
                if let Some(name) = arg(1).and_then(Value::as_str) {
                    let frozen = name.starts_with("<frozen");
                    let spoof =
                        frozen || cfg.trusted.iter().any(|t| under(name, t)) || cfg.internal.iter().any(|t| t == name);
                    let verbatim = || {
                        !frozen
                            && matches!(arg(0), Some(Value::Str(text)) if !text.trim().is_empty() && world.file_contains(name, text))
                    };
                    if spoof && !verbatim() && world.caller(CallerScope::SourceLoader) == Caller::User {
                        return deny(handling, format!("compiling code under the trusted file name {name:?}"));
                    }
                }
            }
            let scope = if handling == Handling::Ctypes {
                CallerScope::OutsideCtypes
            } else {
                CallerScope::Innermost
            };
            let decision = rule_decision(cfg, handling);
            if decision == Decision::Allow || world.caller(scope) == Caller::Trusted {
                return Verdict::Allow;
            }
            by_decision(decision, handling, || format!("{event} by user code"))
        }
        Handling::Process | Handling::Env => {
            if handling == Handling::Process
                && !cfg.internal.is_empty()
                && world.caller(CallerScope::Internal) == Caller::Trusted
            {
                return Verdict::Allow;
            }
            by_decision(rule_decision(cfg, handling), handling, || event.to_string())
        }
    }
}

/// The dotted module a `.py`/`.pyc` file under one of `roots` implements, if any: borrowed
/// from `path` when it is a single name (a top-level module, or a package's `__init__`).
#[must_use]
pub fn module_of_file<'p>(path: &'p str, roots: &[String]) -> Option<Cow<'p, str>> {
    let ext_ok = path.ends_with(".py") || path.ends_with(".pyc");
    if !ext_ok {
        return None;
    }
    let root = roots
        .iter()
        .filter(|r| under(path, r) && path != r.as_str())
        .max_by_key(|r| r.len())?;
    let rel = path[root.len()..].trim_start_matches('/');
    // The directories (bytecode caches left out), then the file's stem unless it is a package's
    // `__init__`.
    let (dirs, last) = match rel.bytes().rposition(|b| b == b'/') {
        Some(i) => (Some(&rel[..i]), &rel[i + 1..]),
        None => (None, rel),
    };
    let stem = last.split('.').next().unwrap_or(last);
    let mut parts = dirs
        .into_iter()
        .flat_map(|d| d.split('/'))
        .filter(|p| *p != "__pycache__")
        .chain((stem != "__init__").then_some(stem));
    // Most are one name (borrowed); a package's module is joined with dots.
    let first = parts.next()?;
    let valid = |p: &str| !p.is_empty() && !p.bytes().any(|b| b == b'-' || b == b'.');
    if !valid(first) {
        return None;
    }
    let mut name = Cow::Borrowed(first);
    for part in parts {
        if !valid(part) {
            return None;
        }
        let joined = name.to_mut();
        joined.push('.');
        joined.push_str(part);
    }
    Some(name)
}

fn is_http_url<'a, A: Args<'a> + ?Sized>(args: &A) -> bool {
    let url = args.arg(0).and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    url.starts_with("http://") || url.starts_with("https://")
}

enum NetTarget {
    Host(String),
    Unix(String),
    Unknown,
}

fn network_target<'a, A: Args<'a> + ?Sized>(event: &str, args: &A) -> (NetTarget, Option<i64>) {
    if event == "urllib.Request" {
        let url = args.arg(0).and_then(Value::as_str).unwrap_or("");
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().ok()),
            _ => (authority, None),
        };
        return (NetTarget::Host(host.trim_matches(['[', ']']).to_string()), port);
    }
    // The address is the first tuple, or a (host, port) pair of plain arguments.
    for (i, a) in (0..).map_while(|i| args.arg(i).map(|a| (i, a))) {
        match a {
            Value::Tuple(items) => {
                if let Some(Value::Str(h)) = items.first() {
                    return (NetTarget::Host(h.to_string()), items.get(1).and_then(Value::as_int));
                }
            }
            Value::Str(s) if s.starts_with('/') || s.starts_with('\0') => {
                return (NetTarget::Unix(s.to_string()), None)
            }
            Value::Str(h) => return (NetTarget::Host(h.to_string()), args.arg(i + 1).and_then(Value::as_int)),
            _ => {}
        }
    }
    (NetTarget::Unknown, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GuardConfig {
        GuardConfig {
            enforce: true,
            kill_on_violation: false,
            record: vec![],
            trusted: vec!["/usr/lib/python3.11".into()],
            import_default_allow: false,
            import_allow: vec!["json".into(), "os".into(), "numpy".into()],
            import_deny: vec!["ctypes".into(), "os.sub".into()],
            read: vec!["/tmp".into(), "/usr/lib/python3.11".into()],
            write: vec!["/tmp".into()],
            connect: vec!["127.0.0.1:8080".into()],
            bind: vec![],
            urls_via_proxy: false,
            process: Decision::Deny,
            code: Decision::Audit,
            code_objects: Decision::Deny,
            deserialize: Decision::Deny,
            introspection: Decision::Deny,
            ctypes: Decision::Deny,
            env: Decision::Audit,
            signal: Decision::Deny,
            secrets: vec![],
            internal: vec![],
            stdlib: vec!["/usr/lib/python3.11".into()],
            seccomp_on_arm: None,
            import_sets: crate::config::ImportSets::default(),
        }
    }

    fn run(event: &str, args: &[Value], caller: Caller) -> Verdict {
        let h = crate::events::handling(event).unwrap();
        decide(&cfg(), event, h, args, "/tmp", 7, &mut |_| caller)
    }

    fn s(v: &str) -> Value<'_> {
        Value::Str(v.into())
    }

    /// The working directory is a system call in the hook: asked once, and only when a
    /// relative path is judged (not for `compile`'s source, not for `open`'s mode).
    #[test]
    fn the_working_directory_is_asked_only_for_relative_paths() {
        struct Counting(std::cell::Cell<u32>);
        impl World for Counting {
            fn caller(&mut self, _: CallerScope<'_>) -> Caller {
                Caller::User
            }
            fn cwd(&self) -> String {
                self.0.set(self.0.get() + 1);
                "/tmp".into()
            }
        }
        let asks = |event: &str, h: Handling, args: &[Value]| {
            let mut w = Counting(std::cell::Cell::new(0));
            let v = decide_in(&cfg(), event, h, args, 7, &mut w);
            (w.0.get(), v)
        };
        assert_eq!(asks("compile", Handling::Code, &[s("x = 1"), s("<s>")]).0, 0);
        assert_eq!(
            asks("open", Handling::Open, &[s("/tmp/f"), s("rb"), Value::Int(0)]).0,
            0
        );
        let (n, v) = asks("open", Handling::Open, &[s("f"), s("rb"), Value::Int(0)]);
        assert_eq!((n, v), (1, Verdict::Allow)); // /tmp/f: under the readable /tmp
        let (n, v) = asks("os.rename", Handling::Write, &[s("a"), s("b")]);
        assert_eq!((n, v), (1, Verdict::Allow));
    }

    #[test]
    fn normalise_keeps_normal_paths_and_fixes_the_rest() {
        for p in ["/", "/a", "/a/b.pyc", "/a/.b/c..d"] {
            assert!(is_normal(p), "{p}");
            assert_eq!(normalise(p, "/cwd"), p);
        }
        for (p, want) in [
            ("/a/", "/a"),
            ("//a", "/a"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/..", "/"),
            ("a/b", "/cwd/a/b"),
            ("", "/cwd"),
        ] {
            assert!(!is_normal(p), "{p}");
            assert_eq!(normalise(p, "/cwd"), want, "{p}");
        }
    }

    fn denied(v: &Verdict) -> bool {
        matches!(v, Verdict::Deny { .. })
    }

    #[test]
    fn imports() {
        assert_eq!(run("import", &[s("json")], Caller::User), Verdict::Allow);
        assert_eq!(run("import", &[s("json.decoder")], Caller::User), Verdict::Allow);
        assert!(denied(&run("import", &[s("ctypes")], Caller::User)));
        assert!(denied(&run("import", &[s("socket")], Caller::User)));
        assert!(
            denied(&run("import", &[s("os.sub.x")], Caller::User)),
            "deny wins for a longer prefix"
        );
        assert_eq!(run("import", &[s("ctypes")], Caller::Trusted), Verdict::Allow);
        assert!(
            denied(&run("import", &[s("jsonx")], Caller::User)),
            "prefixes match whole components"
        );
    }

    #[test]
    fn files() {
        let w = Value::Int(i64::from(libc::O_WRONLY | libc::O_CREAT));
        assert_eq!(
            run("open", &[s("x.txt"), s("w"), w.clone()], Caller::User),
            Verdict::Allow
        );
        assert!(denied(&run("open", &[s("/etc/x"), s("w"), w], Caller::User)));
        assert!(denied(&run(
            "open",
            &[s("/etc/shadow"), s("r"), Value::Int(0)],
            Caller::User
        )));
        assert!(denied(&run(
            "open",
            &[s("/tmp/../etc/shadow"), s("r"), Value::Int(0)],
            Caller::User
        )));
        assert!(denied(&run(
            "open",
            &[s("/tmpx/a"), s("r"), Value::Int(0)],
            Caller::User
        )));
        assert_eq!(
            run("open", &[Value::Int(3), s("r"), Value::Int(0)], Caller::User),
            Verdict::Allow
        );
        assert!(denied(&run("os.rename", &[s("/tmp/a"), s("/etc/b")], Caller::User)));
        assert!(denied(&run(
            "shutil.copyfile",
            &[s("/etc/passwd"), s("/tmp/p")],
            Caller::Trusted
        )));
        assert_eq!(run("sqlite3.connect", &[s(":memory:")], Caller::User), Verdict::Allow);
        assert!(denied(&run("os.listdir", &[s("/proc")], Caller::User)));
    }

    #[test]
    fn network() {
        let addr = |h: &'static str, p| Value::Tuple(vec![s(h), Value::Int(p)]);
        let sock = Value::Object {
            type_name: "socket".into(),
            builtin_type_or_module: false,
        };
        assert_eq!(
            run("socket.connect", &[sock.clone(), addr("127.0.0.1", 8080)], Caller::User),
            Verdict::Allow
        );
        assert!(denied(&run(
            "socket.connect",
            &[sock.clone(), addr("127.0.0.1", 22)],
            Caller::User
        )));
        assert!(denied(&run(
            "socket.getaddrinfo",
            &[s("example.com"), Value::Int(443)],
            Caller::User
        )));
        assert!(denied(&run(
            "urllib.Request",
            &[s("https://example.com/x")],
            Caller::User
        )));
        assert_eq!(
            run("socket.connect", &[sock.clone(), s("/tmp/s.sock")], Caller::User),
            Verdict::Allow
        );
        assert!(denied(&run("socket.bind", &[sock, addr("0.0.0.0", 80)], Caller::User)));
    }

    #[test]
    fn with_the_proxy_http_urls_are_the_proxys_to_decide() {
        let mut c = cfg();
        c.urls_via_proxy = true;
        let run = |url: &str| {
            let h = crate::events::handling("urllib.Request").unwrap();
            decide(&c, "urllib.Request", h, &[s(url)], "/tmp", 7, &mut |_| Caller::User)
        };
        assert_eq!(run("https://example.com/x"), Verdict::Allow);
        assert_eq!(run("HTTP://example.com:8080/"), Verdict::Allow);
        // Other schemes are not the proxy's: decided by the lists as before.
        assert!(denied(&run("ftp://example.com/x")));
        assert!(denied(&run("file://example.com/etc/passwd")));
        // Sockets still only reach the addresses in guard.network.connect.
        let h = crate::events::handling("socket.getaddrinfo").unwrap();
        let v = decide(
            &c,
            "socket.getaddrinfo",
            h,
            &[s("example.com"), Value::Int(443)],
            "/tmp",
            7,
            &mut |_| Caller::User,
        );
        assert!(denied(&v));
    }

    #[test]
    fn classes() {
        assert!(denied(&run("os.system", &[s("id")], Caller::Trusted)));
        assert!(denied(&run("subprocess.Popen", &[s("/bin/sh")], Caller::Trusted)));
        assert_eq!(
            run("compile", &[s("1+1"), s("<string>")], Caller::User),
            Verdict::Record
        );
        assert_eq!(
            run("compile", &[s("1+1"), s("<string>")], Caller::Trusted),
            Verdict::Allow
        );
        assert!(denied(&run("code.__new__", &[], Caller::User)));
        assert!(denied(&run(
            "compile",
            &[s("import ctypes"), s("<frozen x>")],
            Caller::User
        )));
        assert!(denied(&run(
            "compile",
            &[s("1"), s("/usr/lib/python3.11/os.py")],
            Caller::User
        )));
        assert_eq!(
            run("compile", &[s("1"), s("/usr/lib/python3.11/os.py")], Caller::Trusted),
            Verdict::Allow
        );
        assert!(denied(&run("sys._getframe", &[], Caller::User)));
        assert_eq!(run("sys._getframe", &[], Caller::Trusted), Verdict::Allow);
        assert!(denied(&run("ctypes.dlopen", &[s("libc.so.6")], Caller::User)));
        assert_eq!(
            run("os.kill", &[Value::Int(7), Value::Int(15)], Caller::User),
            Verdict::Allow
        );
        assert!(denied(&run("os.kill", &[Value::Int(1), Value::Int(9)], Caller::User)));
        assert_eq!(run("os.putenv", &[s("A"), s("b")], Caller::User), Verdict::Record);
        let user_class = Value::Object {
            type_name: "type".into(),
            builtin_type_or_module: false,
        };
        let builtin = Value::Object {
            type_name: "type".into(),
            builtin_type_or_module: true,
        };
        assert_eq!(
            run("object.__setattr__", &[user_class, s("x"), Value::None], Caller::User),
            Verdict::Allow
        );
        assert!(denied(&run(
            "object.__setattr__",
            &[builtin, s("x"), Value::None],
            Caller::User
        )));
    }

    #[test]
    fn module_files() {
        let roots = vec!["/usr/lib/python3.11".to_string()];
        assert_eq!(
            module_of_file("/usr/lib/python3.11/ctypes/__init__.py", &roots).as_deref(),
            Some("ctypes")
        );
        assert_eq!(
            module_of_file("/usr/lib/python3.11/ctypes/__pycache__/util.cpython-311.pyc", &roots).as_deref(),
            Some("ctypes.util")
        );
        assert_eq!(
            module_of_file("/usr/lib/python3.11/subprocess.py", &roots).as_deref(),
            Some("subprocess")
        );
        assert_eq!(module_of_file("/tmp/x.py", &roots), None);
        assert_eq!(module_of_file("/usr/lib/python3.11/site-packages/x.txt", &roots), None);
        let h = crate::events::handling("open").unwrap();
        let v = decide(
            &cfg(),
            "open",
            h,
            &[s("/usr/lib/python3.11/ctypes/__init__.py"), s("rb"), Value::Int(0)],
            "/tmp",
            7,
            &mut |_| Caller::User,
        );
        assert!(denied(&v));
        let v = decide(
            &cfg(),
            "open",
            h,
            &[s("/usr/lib/python3.11/json/__init__.py"), s("rb"), Value::Int(0)],
            "/tmp",
            7,
            &mut |_| Caller::User,
        );
        assert_eq!(v, Verdict::Allow);
    }

    #[test]
    fn pickle() {
        assert!(denied(&run("pickle.find_class", &[s("os"), s("system")], Caller::User)));
        assert!(denied(&run(
            "pickle.find_class",
            &[s("builtins"), s("eval")],
            Caller::User
        )));
        assert_eq!(
            run("pickle.find_class", &[s("collections"), s("OrderedDict")], Caller::User),
            Verdict::Allow
        );
        assert_eq!(
            run("pickle.find_class", &[s("builtins"), s("set")], Caller::User),
            Verdict::Allow
        );
    }

    /// Paths, module names and lists that stress the fast paths: separators doubled or trailing,
    /// dot components and dot-led names, prefixes that match only as text, bytecode caches,
    /// package `__init__`s, names with dashes and dots, non-ASCII.
    const PATHS: &[&str] = &[
        "/",
        "",
        ".",
        "a",
        "a/b",
        "//",
        "/a",
        "/a/",
        "//a",
        "/a//b",
        "/.",
        "/..",
        "/./a",
        "/../a",
        "/a/.",
        "/a/..",
        "/a/./b",
        "/a/../b",
        "/a/.b",
        "/a/..b",
        "/a/b..",
        "/a/.../b",
        "/a/b.",
        "/tmp",
        "/tmpx",
        "/tmp/",
        "/tmp/f",
        "/tmp/x.py",
        "/tmp/..",
        "/tmp/../etc",
        "/usr/lib/python3.11",
        "/usr/lib/python3.11/",
        "/usr/lib/python3.11.py",
        "/usr/lib/python3.11x/os.py",
        "/usr/lib/python3.11/os.py",
        "/usr/lib/python3.11/os.pyc",
        "/usr/lib/python3.11/os.pyx",
        "/usr/lib/python3.11/.py",
        "/usr/lib/python3.11/__init__.py",
        "/usr/lib/python3.11/__pycache__/colorsys.cpython-311.pyc",
        "/usr/lib/python3.11/__pycache__/__init__.cpython-311.pyc",
        "/usr/lib/python3.11/__pycache__/.pyc",
        "/usr/lib/python3.11/__pycache__/__pycache__.py",
        "/usr/lib/python3.11/json/__init__.py",
        "/usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc",
        "/usr/lib/python3.11/json/__pycache__/decoder.cpython-311.opt-1.pyc",
        "/usr/lib/python3.11/ctypes/macholib/dyld.py",
        "/usr/lib/python3.11/a-b/c.py",
        "/usr/lib/python3.11/a.b/c.py",
        "/usr/lib/python3.11/a//c.py",
        "/usr/lib/python3.11//c.py",
        "/usr/lib/python3.11/a/-c.py",
        "/usr/lib/python3.11/lib-dynload/x.py",
        "/usr/lib/python3.11/site-packages/é/ü.py",
        "/usr/lib/python3.11/site-packages/numpy/core/__init__.py",
        "/usr/local/lib/python3.11/dist-packages/x/__pycache__/y.cpython-311.pyc",
    ];

    /// `is_normal` as it was written first (a component split).
    fn is_normal_reference(path: &str) -> bool {
        path == "/"
            || (path.starts_with('/')
                && !path.ends_with('/')
                && path[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
    }

    /// `module_of_file` as it was written first (collects the parts, joins them).
    fn module_of_file_reference(path: &str, roots: &[String]) -> Option<String> {
        let ext_ok = path.ends_with(".py") || path.ends_with(".pyc");
        if !ext_ok {
            return None;
        }
        let root = roots
            .iter()
            .filter(|r| {
                let p: &str = r;
                (p == "/" || path == p || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/')))
                    && path != p
            })
            .max_by_key(|r| r.len())?;
        let rel = path[root.len()..].trim_start_matches('/');
        let mut parts: Vec<&str> = rel.split('/').filter(|p| *p != "__pycache__").collect();
        let last = parts.pop()?;
        let stem = last.split('.').next()?;
        if stem != "__init__" {
            parts.push(stem);
        }
        if parts.is_empty() || parts.iter().any(|p| p.is_empty() || p.contains('-') || p.contains('.')) {
            return None;
        }
        Some(parts.join("."))
    }

    #[test]
    fn the_fast_path_tests_answer_as_the_first_versions_did() {
        let roots: Vec<String> = [
            "/usr/lib/python3.11",
            "/usr/lib/python3.11",
            "/usr/lib/python3.11/lib-dynload",
            "/usr/local/lib/python3.11/dist-packages",
            "/usr/lib/python3.11/site-packages",
        ]
        .map(String::from)
        .to_vec();
        let prefixes = ["/", "/tmp", "/usr/lib/python3.11", "/usr/lib/python3.11/", "/a", ""];
        for path in PATHS {
            assert_eq!(is_normal(path), is_normal_reference(path), "is_normal({path:?})");
            assert_eq!(
                dotted(path),
                path.contains("/..") || path.contains("/./"),
                "dotted({path:?})"
            );
            assert_eq!(
                module_of_file(path, &roots).map(Cow::into_owned),
                module_of_file_reference(path, &roots),
                "module_of_file({path:?})"
            );
            for prefix in prefixes {
                let reference = prefix == "/"
                    || *path == prefix
                    || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'));
                assert_eq!(under(path, prefix), reference, "under({path:?}, {prefix:?})");
            }
            let borrowed = matches!(normalised(path, "/cwd"), Cow::Borrowed(_));
            assert_eq!(borrowed, is_normal_reference(path), "normalised({path:?})");
        }
    }

    #[test]
    fn imports_are_judged_as_by_two_sets() {
        let mut c = cfg();
        c.import_allow = ["json", "os", "os.path", "a.b", "a.b.c.d", "x", "both", "both.sub"]
            .map(String::from)
            .to_vec();
        c.import_deny = ["ctypes", "os.sub", "a.b.c", "both", "both.sub.deeper", ""]
            .map(String::from)
            .to_vec();
        let reference = |cfg: &GuardConfig, name: &str| {
            let allow: std::collections::HashSet<&str> = cfg.import_allow.iter().map(String::as_str).collect();
            let deny: std::collections::HashSet<&str> = cfg.import_deny.iter().map(String::as_str).collect();
            let longest = |set: &std::collections::HashSet<&str>| {
                let dots = name.match_indices('.').map(|(i, _)| i);
                dots.chain(std::iter::once(name.len()))
                    .filter(|&end| set.contains(&name[..end]))
                    .max()
            };
            match (longest(&allow), longest(&deny)) {
                (a, Some(d)) if a.is_none_or(|a| d >= a) => Err(format!("module {name:?} is in guard.imports.deny")),
                (Some(_), _) => Ok(()),
                (None, None) if cfg.import_default_allow => Ok(()),
                _ => Err(format!("module {name:?} is not in guard.imports.allow")),
            }
        };
        for default_allow in [false, true] {
            c.import_default_allow = default_allow;
            c.import_sets = crate::config::ImportSets::default();
            for name in [
                "",
                ".",
                "json",
                "json.decoder",
                "jsonx",
                "os",
                "os.path",
                "os.sub",
                "os.sub.x",
                "os.subx",
                "a",
                "a.b",
                "a.b.c",
                "a.b.c.d",
                "a.b.c.d.e",
                "a.b.cd",
                "x.y",
                "both",
                "both.sub",
                "both.sub.deeper",
                "both.x",
                "ctypes",
                "ctypes.util",
                "socket",
                "a..b",
                "é.x",
            ] {
                assert_eq!(
                    import_allowed(&c, name),
                    reference(&c, name),
                    "{name:?}, default allow {default_allow}"
                );
            }
        }
    }

    /// The hook reads an argument from Python only when a decision asks for it: the import's
    /// name and not the lists after it; nothing for `exec` and `marshal.loads`.
    #[test]
    fn decisions_read_only_the_arguments_they_use() {
        struct Counting<'v>(&'v [Value<'v>], std::cell::Cell<u32>);
        impl<'v> Args<'v> for Counting<'v> {
            fn arg(&self, i: usize) -> Option<&Value<'v>> {
                self.1.set(self.1.get() | 1 << i);
                self.0.get(i)
            }
        }
        let list = Value::Object {
            type_name: "list".into(),
            builtin_type_or_module: false,
        };
        let code = Value::Object {
            type_name: "code".into(),
            builtin_type_or_module: false,
        };
        let read = |event: &str, args: &[Value], caller: Caller| {
            let counting = Counting(args, std::cell::Cell::new(0));
            let h = crate::events::handling(event).unwrap();
            let mut world = ClosureWorld(&mut |_| caller, "/tmp");
            let verdict = decide_in(&cfg(), event, h, &counting, 7, &mut world);
            assert_eq!(
                verdict,
                decide(&cfg(), event, h, args, "/tmp", 7, &mut |_| caller),
                "{event}"
            );
            counting.1.get()
        };
        let import = [s("json"), Value::None, list.clone(), list.clone(), list];
        assert_eq!(read("import", &import, Caller::User), 0b1);
        assert_eq!(read("exec", std::slice::from_ref(&code), Caller::Trusted), 0);
        assert_eq!(read("marshal.loads", &[code], Caller::Trusted), 0);
        let open = [
            s("/usr/lib/python3.11/__pycache__/json.cpython-311.pyc"),
            s("r"),
            Value::Int(0),
        ];
        assert_eq!(read("open", &open, Caller::User), 0b111);
    }
}
