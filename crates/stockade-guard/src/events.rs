//! Every audit event CPython 3.9 to 3.13 raises on Linux, which versions raise it, and how the
//! guard treats it.
//!
//! The table is the single source of docs/guard.md (a test regenerates the table there and
//! fails if it drifted) and is checked against every installed interpreter of the supported
//! versions: for each version, every `sys.audit("…")` name in its standard library must be in
//! the table for that version, and every name the table claims for that version must occur in
//! that interpreter's standard library or binaries (and no name it does not claim may). An event
//! that is not in the table is allowed and recorded (class `unknown`), so a newer interpreter's
//! new events are visible rather than silent.

/// How an event is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Always allowed; never interesting for security.
    Allow,
    /// `import`: module allow/deny lists, for imports not made by trusted code.
    Import,
    /// Reads a path (arg 0): `files.read`.
    Read,
    /// Writes a path (arg 0, and arg 1 for two-path events): `files.write`.
    Write,
    /// `open`: read or write depending on mode and flags.
    Open,
    /// Copies from arg 0 (read) to arg 1 (write).
    CopyFile,
    /// Opens or sends to a network address: `network.connect`.
    Connect,
    /// Binds a network address: `network.bind`.
    Bind,
    /// Host-name resolution and other network look-ups: `network.connect` host match.
    Resolve,
    /// Creates a process or replaces the image: `rules.process`.
    Process,
    /// compile/exec of source by user code: `rules.code`.
    Code,
    /// Code objects and marshal by user code: `rules.code-objects`.
    CodeObjects,
    /// pickle.find_class: `rules.deserialize` for dangerous globals.
    Deserialize,
    /// Frames, gc, tracing, type patching by user code: `rules.introspection`.
    Introspection,
    /// ctypes and native extension loading: `rules.ctypes`.
    Ctypes,
    /// os.putenv/os.unsetenv: `rules.env`.
    Env,
    /// Signals to other processes: `rules.signal`.
    Signal,
}

impl Handling {
    /// The policy class name (for `record`, violations and docs).
    #[must_use]
    pub fn class(self) -> &'static str {
        match self {
            Handling::Allow => "other",
            Handling::Import => "import",
            Handling::Read | Handling::Write | Handling::Open | Handling::CopyFile => "open",
            Handling::Connect | Handling::Bind | Handling::Resolve => "network",
            Handling::Process => "process",
            Handling::Code => "code",
            Handling::CodeObjects => "code",
            Handling::Deserialize => "deserialize",
            Handling::Introspection => "introspection",
            Handling::Ctypes => "ctypes",
            Handling::Env => "env",
            Handling::Signal => "signal",
        }
    }

    /// The policy key that governs it.
    #[must_use]
    pub fn rule(self) -> &'static str {
        match self {
            Handling::Allow => "-",
            Handling::Import => "guard.imports",
            Handling::Read => "guard.files.read",
            Handling::Write => "guard.files.write",
            Handling::Open | Handling::CopyFile => "guard.files.read / guard.files.write",
            Handling::Connect | Handling::Resolve => "guard.network.connect",
            Handling::Bind => "guard.network.bind",
            Handling::Process => "guard.rules.process",
            Handling::Code => "guard.rules.code",
            Handling::CodeObjects => "guard.rules.code-objects",
            Handling::Deserialize => "guard.rules.deserialize",
            Handling::Introspection => "guard.rules.introspection",
            Handling::Ctypes => "guard.rules.ctypes",
            Handling::Env => "guard.rules.env",
            Handling::Signal => "guard.rules.signal",
        }
    }
}

use Handling::{
    Allow, Bind, Code, CodeObjects, Connect, CopyFile, Ctypes, Deserialize, Env, Import, Introspection, Open, Process,
    Read, Resolve, Signal, Write,
};

/// A CPython version, `(major, minor)`.
pub type Version = (u8, u8);

/// The oldest CPython version the guard supports; entries without [`Event::since`] go back to it.
pub const OLDEST: Version = (3, 9);

/// The newest CPython version the table was checked against. Entries without [`Event::until`]
/// are assumed for later versions too, until an interpreter of such a version is checked.
pub const NEWEST_CHECKED: Version = (3, 13);

/// The CPython versions the guard supports (the last one when an interpreter is available).
pub const SUPPORTED: &[Version] = &[(3, 9), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14)];

/// One audit event: its name, how the guard treats it and which versions raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The event name, as passed to `sys.audit` / `PySys_Audit`.
    pub name: &'static str,
    /// How the guard judges it (the same in every version that raises it).
    pub handling: Handling,
    /// The first version that raises it ([`OLDEST`] for events older than the oldest supported).
    pub since: Version,
    /// The last version that raises it; `None` while the newest checked version still does.
    pub until: Option<Version>,
    /// Raised only by builds configured with this option (`None`: every build raises it).
    pub build: Option<&'static str>,
    /// Why it is handled this way, where that is not obvious (docs' "Note" column).
    pub note: &'static str,
}

impl Event {
    /// Whether CPython `version` raises the event (in builds that have its [`Event::build`]
    /// option). Versions before [`OLDEST`] are not supported and raise nothing here.
    #[must_use]
    pub const fn raised_in(&self, version: Version) -> bool {
        let after_since = version.0 > self.since.0 || (version.0 == self.since.0 && version.1 >= self.since.1);
        let before_until = match self.until {
            None => true,
            Some(u) => version.0 < u.0 || (version.0 == u.0 && version.1 <= u.1),
        };
        after_since && before_until
    }

    const fn since(mut self, version: Version) -> Self {
        self.since = version;
        self
    }

    const fn until(mut self, version: Version) -> Self {
        self.until = Some(version);
        self
    }

    const fn build(mut self, option: &'static str) -> Self {
        self.build = Some(option);
        self
    }
}

/// An event raised by every supported version (narrowed with `.since`/`.until`).
const fn ev(name: &'static str, handling: Handling, note: &'static str) -> Event {
    Event {
        name,
        handling,
        since: OLDEST,
        until: None,
        build: None,
        note,
    }
}

/// Every audit event CPython 3.9 to 3.13 raises on Linux, sorted by name, with the versions
/// that raise it.
///
/// Checked against the binaries and standard libraries of CPython 3.9.18, 3.10.13, 3.11.2
/// (Debian), 3.11.7, 3.12.1 and 3.13.0. Left out because no supported version raises them on
/// Linux: the Windows-only events (`msvcrt.*`, `winreg.*`, `_winapi.*`, `os.startfile`,
/// `os.add_dll_directory`, `ctypes.get_last_error`, `ctypes.set_last_error`,
/// `ctypes.set_exception`, `ctypes.seh_exception`, `os.spawn`, and the Windows-only additions of
/// later versions) and the BSD/macOS `os.chflags`. CPython's documentation spells two events
/// `sys.set_asyncgen_hooks_*`; the interpreter raises `sys.set_asyncgen_hook_*`. The two
/// `sqlite3` extension-loading events exist only in builds configured with
/// `--enable-loadable-sqlite-extensions` (Debian's are; a default source build is not).
pub const EVENTS: &[Event] = &[
    // 3.13+: what threading.Thread.start calls from 3.13 on; same as _thread.start_new_thread
    ev(
        "_thread.start_joinable_thread",
        Allow,
        "a thread of this process; the cgroup counts it against the processes limit",
    )
    .since((3, 13)),
    // 3.12+: what threading.Thread.start calls in 3.12; a thread is no new process, and pids.max counts threads
    ev(
        "_thread.start_new_thread",
        Allow,
        "a thread of this process; the cgroup counts it against the processes limit",
    )
    .since((3, 12)),
    ev("array.__new__", Allow, ""),
    ev("builtins.breakpoint", Introspection, "enters a debugger hook"),
    ev("builtins.id", Allow, ""),
    ev("builtins.input", Allow, "reads stdin"),
    ev("builtins.input/result", Allow, ""),
    ev(
        "code.__new__",
        CodeObjects,
        "types.CodeType / code.replace: hand-built bytecode",
    ),
    ev(
        "compile",
        Code,
        "compile() of source by user code; the import system's own compiles are trusted",
    ),
    ev("cpython.PyInterpreterState_Clear", Allow, ""),
    ev("cpython.PyInterpreterState_New", Allow, ""),
    ev(
        "cpython._PySys_ClearAuditHooks",
        Allow,
        "finalization; hooks cannot be cleared earlier",
    ),
    ev("cpython.run_command", Allow, "marks the start of user code (-c)"),
    ev("cpython.run_file", Allow, "marks the start of user code (script)"),
    ev("cpython.run_interactivehook", Allow, ""),
    ev("cpython.run_module", Allow, "marks the start of user code (-m)"),
    ev("cpython.run_startup", Allow, ""),
    ev("cpython.run_stdin", Allow, "marks the start of user code (stdin)"),
    ev("ctypes.PyObj_FromPtr", Ctypes, "an object from a raw address"),
    ev("ctypes.addressof", Ctypes, ""),
    ev("ctypes.call_function", Ctypes, "calling a foreign function"),
    ev("ctypes.cdata", Ctypes, "object from a raw address"),
    ev("ctypes.cdata/buffer", Ctypes, ""),
    ev("ctypes.create_string_buffer", Ctypes, ""),
    ev("ctypes.create_unicode_buffer", Ctypes, ""),
    ev("ctypes.dlopen", Ctypes, "loading a shared library"),
    ev("ctypes.dlsym", Ctypes, ""),
    ev("ctypes.dlsym/handle", Ctypes, ""),
    ev("ctypes.get_errno", Ctypes, ""),
    ev("ctypes.set_errno", Ctypes, ""),
    ev("ctypes.string_at", Ctypes, "reading raw memory"),
    ev("ctypes.wstring_at", Ctypes, "reading raw memory"),
    ev("ensurepip.bootstrap", Process, "runs pip"),
    ev("exec", Code, "exec()/eval() of a code object by user code"),
    ev("fcntl.fcntl", Allow, "on the process's own fds"),
    ev("fcntl.flock", Allow, ""),
    ev("fcntl.ioctl", Allow, "TIOCSTI/TIOCLINUX are denied by seccomp"),
    ev("fcntl.lockf", Allow, ""),
    ev("ftplib.connect", Connect, ""),
    ev("ftplib.sendcmd", Allow, "after connect"),
    ev(
        "function.__new__",
        CodeObjects,
        "a function from a hand-made code object",
    ),
    ev("gc.get_objects", Introspection, "reaches every object, hooks included"),
    ev("gc.get_referents", Introspection, ""),
    ev("gc.get_referrers", Introspection, "classic sandbox escape walk"),
    ev("glob.glob", Read, ""),
    ev("glob.glob/2", Read, "").since((3, 10)),
    ev("http.client.connect", Connect, "").since((3, 10)),
    ev("http.client.send", Allow, "after connect").since((3, 10)),
    ev("imaplib.open", Connect, ""),
    ev("imaplib.send", Allow, "after open"),
    ev("import", Import, "module allow/deny lists"),
    ev("marshal.dumps", Allow, ""),
    ev("marshal.load", CodeObjects, "can build code objects"),
    ev(
        "marshal.loads",
        CodeObjects,
        "can build code objects; the import system's .pyc loads are trusted",
    ),
    ev("mmap.__new__", Allow, "maps files the process could open anyway"),
    ev("nntplib.connect", Connect, "").until((3, 12)),
    ev("nntplib.putline", Allow, "after connect").until((3, 12)),
    ev(
        "object.__delattr__",
        Introspection,
        "deleting attributes of built-in types",
    ),
    ev(
        "object.__getattr__",
        Introspection,
        "restricted attributes: frames of tracebacks, generators, coroutines",
    ),
    ev(
        "object.__setattr__",
        Introspection,
        "patching built-in types (user classes are allowed)",
    ),
    ev("open", Open, "read or write by mode and flags"),
    ev("os.chdir", Read, ""),
    ev("os.chmod", Write, ""),
    ev("os.chown", Write, ""),
    ev("os.exec", Process, "os.execv*/execl*"),
    ev("os.fork", Process, ""),
    ev("os.forkpty", Process, ""),
    ev("os.fwalk", Read, ""),
    ev("os.getxattr", Read, ""),
    ev("os.kill", Signal, "allowed for the process itself"),
    ev("os.killpg", Signal, ""),
    ev("os.link", Write, ""),
    ev("os.listdir", Read, ""),
    ev("os.listxattr", Read, ""),
    ev("os.lockf", Allow, ""),
    ev("os.mkdir", Write, ""),
    ev("os.posix_spawn", Process, ""),
    ev("os.putenv", Env, ""),
    ev("os.remove", Write, ""),
    ev("os.removexattr", Write, ""),
    ev("os.rename", Write, "both paths"),
    ev("os.rmdir", Write, ""),
    ev("os.scandir", Read, ""),
    ev("os.setxattr", Write, ""),
    ev("os.symlink", Write, "the link's path (arg 1)"),
    ev("os.system", Process, ""),
    ev("os.truncate", Write, "a path (an fd was opened under the open rules)"),
    ev("os.unsetenv", Env, ""),
    ev("os.utime", Write, ""),
    ev("os.walk", Read, ""),
    ev("pathlib.Path.glob", Allow, "each match is opened under the open rules"),
    ev("pathlib.Path.rglob", Allow, "each match is opened under the open rules"),
    // 3.12+: lists a directory tree, as os.walk does, so Read like os.walk (not Allow like Path.glob)
    ev(
        "pathlib.Path.walk",
        Read,
        "like os.walk; arg 0 is the Path, the os.scandir calls under it are checked",
    )
    .since((3, 12)),
    ev("pdb.Pdb", Introspection, "debugger"),
    ev("pickle.find_class", Deserialize, "dangerous globals only"),
    ev("poplib.connect", Connect, ""),
    ev("poplib.putline", Allow, "after connect"),
    ev("pty.spawn", Process, ""),
    ev("resource.prlimit", Allow, "limits can only be lowered in the jail"),
    ev("resource.setrlimit", Allow, "limits can only be lowered in the jail"),
    ev("setopencodehook", Introspection, "would take over how code is read"),
    ev("shutil.chown", Write, ""),
    ev("shutil.copyfile", CopyFile, ""),
    ev("shutil.copymode", CopyFile, ""),
    ev("shutil.copystat", CopyFile, ""),
    ev("shutil.copytree", CopyFile, ""),
    ev("shutil.make_archive", Write, "base name (arg 0)"),
    ev("shutil.move", CopyFile, ""),
    ev("shutil.rmtree", Write, ""),
    ev(
        "shutil.unpack_archive",
        Read,
        "the archive; members are written under the open rules",
    ),
    ev("signal.pthread_kill", Allow, "threads of the process itself"),
    ev("smtplib.connect", Connect, ""),
    ev("smtplib.send", Allow, "after connect"),
    ev(
        "socket.__new__",
        Allow,
        "families are limited by seccomp; addresses are checked on use",
    ),
    ev("socket.bind", Bind, ""),
    ev("socket.connect", Connect, ""),
    ev("socket.getaddrinfo", Resolve, ""),
    ev("socket.gethostbyaddr", Resolve, ""),
    ev("socket.gethostbyname", Resolve, ""),
    ev("socket.gethostname", Allow, ""),
    ev("socket.getnameinfo", Resolve, ""),
    ev("socket.getservbyname", Allow, "reads a local table"),
    ev("socket.getservbyport", Allow, "reads a local table"),
    ev("socket.sendmsg", Connect, "destination address"),
    ev("socket.sendto", Connect, "destination address"),
    ev(
        "socket.sethostname",
        Process,
        "a system change; the jail refuses it too",
    ),
    ev("sqlite3.connect", Open, "the database file (':memory:' is allowed)"),
    ev("sqlite3.connect/handle", Allow, "").since((3, 10)),
    ev("sqlite3.enable_load_extension", Ctypes, "native code loading")
        .since((3, 10))
        .build("--enable-loadable-sqlite-extensions"),
    ev("sqlite3.load_extension", Ctypes, "native code loading")
        .since((3, 10))
        .build("--enable-loadable-sqlite-extensions"),
    ev("subprocess.Popen", Process, ""),
    ev("sys._current_exceptions", Introspection, "").since((3, 10)),
    ev("sys._current_frames", Introspection, ""),
    ev(
        "sys._getframe",
        Introspection,
        "frame walks by user code; trusted library callers are allowed",
    ),
    // 3.12+: reads a caller's frame (the stdlib's replacement for sys._getframe(n)), so handled like sys._getframe
    ev(
        "sys._getframemodulename",
        Introspection,
        "a caller frame's module; namedtuple/enum/typing calls are trusted",
    )
    .since((3, 12)),
    ev(
        "sys.addaudithook",
        Allow,
        "code may add hooks; ours stays first and cannot be removed",
    ),
    ev("sys.excepthook", Allow, ""),
    // 3.12+: installs callbacks that see every code object and frame event, as sys.settrace does
    ev(
        "sys.monitoring.register_callback",
        Introspection,
        "PEP 669 monitoring: a tracer, like sys.settrace",
    )
    .since((3, 12)),
    ev("sys.set_asyncgen_hook_finalizer", Allow, ""),
    ev("sys.set_asyncgen_hook_firstiter", Allow, ""),
    ev("sys.setprofile", Introspection, ""),
    ev("sys.settrace", Introspection, ""),
    ev("sys.unraisablehook", Allow, ""),
    ev("syslog.closelog", Allow, ""),
    ev("syslog.openlog", Allow, ""),
    ev("syslog.setlogmask", Allow, ""),
    ev("syslog.syslog", Allow, "there is no syslog socket in the jail"),
    ev("telnetlib.Telnet.open", Connect, "").until((3, 12)),
    ev("telnetlib.Telnet.write", Allow, "after open").until((3, 12)),
    ev("tempfile.mkdtemp", Write, ""),
    ev("tempfile.mkstemp", Write, ""),
    // 3.13+: only waits; the supervisor kills the run at the wall-time limit whatever it does
    ev("time.sleep", Allow, "the wall-time limit is enforced from outside").since((3, 13)),
    ev("urllib.Request", Resolve, "the URL's host"),
    ev("webbrowser.open", Process, ""),
];

/// The table entry of an event, whichever versions raise it (binary search; the table is sorted).
#[must_use]
pub fn event(name: &str) -> Option<&'static Event> {
    EVENTS.binary_search_by(|e| e.name.cmp(name)).ok().map(|i| &EVENTS[i])
}

/// How the guard treats an event raised by any supported version (the union of the versions:
/// every event has one handling whichever version raises it).
#[must_use]
pub fn handling(event: &str) -> Option<Handling> {
    self::event(event).map(|e| e.handling)
}

/// How the guard treats an event raised by CPython `version`; `None` when that version does not
/// raise it (or is older than [`OLDEST`]). Versions after [`NEWEST_CHECKED`] get the answers
/// of the newest checked version.
#[must_use]
pub fn handling_for(version: Version, event: &str) -> Option<Handling> {
    self::event(event).filter(|e| e.raised_in(version)).map(|e| e.handling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in EVENTS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} !< {}", pair[0].name, pair[1].name);
        }
    }

    #[test]
    fn ranges_are_within_the_supported_versions() {
        for e in EVENTS {
            assert!(SUPPORTED.contains(&e.since), "{}: since {:?}", e.name, e.since);
            assert!(
                e.since <= NEWEST_CHECKED,
                "{}: since {:?} was never checked",
                e.name,
                e.since
            );
            if let Some(u) = e.until {
                assert!(e.since <= u && u < NEWEST_CHECKED, "{}: until {u:?}", e.name);
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(handling("open"), Some(Handling::Open));
        assert_eq!(handling("os.system"), Some(Handling::Process));
        assert_eq!(handling("no.such.event"), None);
        // The union answers for events of any version.
        assert_eq!(handling("sys._getframemodulename"), Some(Handling::Introspection));
        assert_eq!(handling("telnetlib.Telnet.open"), Some(Handling::Connect));
    }

    #[test]
    fn lookups_by_version() {
        for &v in SUPPORTED {
            assert_eq!(handling_for(v, "open"), Some(Handling::Open), "{v:?}");
            assert_eq!(handling_for(v, "no.such.event"), None, "{v:?}");
        }
        assert_eq!(handling_for((3, 8), "open"), None);
        assert_eq!(handling_for((3, 9), "sys._current_exceptions"), None);
        assert_eq!(
            handling_for((3, 10), "sys._current_exceptions"),
            Some(Handling::Introspection)
        );
        assert_eq!(handling_for((3, 11), "sys._getframemodulename"), None);
        assert_eq!(
            handling_for((3, 12), "sys._getframemodulename"),
            Some(Handling::Introspection)
        );
        assert_eq!(handling_for((3, 12), "time.sleep"), None);
        assert_eq!(handling_for((3, 13), "time.sleep"), Some(Handling::Allow));
        assert_eq!(handling_for((3, 14), "time.sleep"), Some(Handling::Allow));
        assert_eq!(handling_for((3, 12), "telnetlib.Telnet.open"), Some(Handling::Connect));
        assert_eq!(handling_for((3, 13), "telnetlib.Telnet.open"), None);
        assert_eq!(handling_for((4, 0), "telnetlib.Telnet.open"), None);
        assert_eq!(handling_for((4, 0), "open"), Some(Handling::Open));
    }
}
