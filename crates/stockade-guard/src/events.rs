//! Every audit event CPython 3.11 raises, and how the guard treats it.
//!
//! The table is the single source of docs/guard.md (a test regenerates the table there and
//! fails if it drifted) and is checked against the interpreter: every `sys.audit("…")` name in
//! the standard library must be here, and every name here must occur in the interpreter's
//! standard library or binaries. An event that is not in the table is allowed and recorded
//! (class `unknown`), so a newer interpreter's new events are visible rather than silent.

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

/// `(event, handling, note)` for every CPython 3.11 audit event on Linux, sorted by name.
///
/// Checked against CPython 3.11.2's binaries and standard library. Left out because 3.11 never
/// raises them on Linux: the Windows-only events (`msvcrt.*`, `winreg.*`, `_winapi.*`,
/// `os.startfile`, `os.add_dll_directory`, `ctypes.get_last_error`, `ctypes.set_last_error`,
/// `ctypes.set_exception`, `ctypes.seh_exception`, `os.spawn`), the BSD/macOS `os.chflags`, and
/// `_thread.start_new_thread` (added in 3.12). CPython's documentation spells two events
/// `sys.set_asyncgen_hooks_*`; the interpreter raises `sys.set_asyncgen_hook_*`.
pub const EVENTS: &[(&str, Handling, &str)] = &[
    ("array.__new__", Allow, ""),
    ("builtins.breakpoint", Introspection, "enters a debugger hook"),
    ("builtins.id", Allow, ""),
    ("builtins.input", Allow, "reads stdin"),
    ("builtins.input/result", Allow, ""),
    (
        "code.__new__",
        CodeObjects,
        "types.CodeType / code.replace: hand-built bytecode",
    ),
    (
        "compile",
        Code,
        "compile() of source by user code; the import system's own compiles are trusted",
    ),
    ("cpython.PyInterpreterState_Clear", Allow, ""),
    ("cpython.PyInterpreterState_New", Allow, ""),
    (
        "cpython._PySys_ClearAuditHooks",
        Allow,
        "finalization; hooks cannot be cleared earlier",
    ),
    ("cpython.run_command", Allow, "marks the start of user code (-c)"),
    ("cpython.run_file", Allow, "marks the start of user code (script)"),
    ("cpython.run_interactivehook", Allow, ""),
    ("cpython.run_module", Allow, "marks the start of user code (-m)"),
    ("cpython.run_startup", Allow, ""),
    ("cpython.run_stdin", Allow, "marks the start of user code (stdin)"),
    ("ctypes.PyObj_FromPtr", Ctypes, "an object from a raw address"),
    ("ctypes.addressof", Ctypes, ""),
    ("ctypes.call_function", Ctypes, "calling a foreign function"),
    ("ctypes.cdata", Ctypes, "object from a raw address"),
    ("ctypes.cdata/buffer", Ctypes, ""),
    ("ctypes.create_string_buffer", Ctypes, ""),
    ("ctypes.create_unicode_buffer", Ctypes, ""),
    ("ctypes.dlopen", Ctypes, "loading a shared library"),
    ("ctypes.dlsym", Ctypes, ""),
    ("ctypes.dlsym/handle", Ctypes, ""),
    ("ctypes.get_errno", Ctypes, ""),
    ("ctypes.set_errno", Ctypes, ""),
    ("ctypes.string_at", Ctypes, "reading raw memory"),
    ("ctypes.wstring_at", Ctypes, "reading raw memory"),
    ("ensurepip.bootstrap", Process, "runs pip"),
    ("exec", Code, "exec()/eval() of a code object by user code"),
    ("fcntl.fcntl", Allow, "on the process's own fds"),
    ("fcntl.flock", Allow, ""),
    ("fcntl.ioctl", Allow, "TIOCSTI/TIOCLINUX are denied by seccomp"),
    ("fcntl.lockf", Allow, ""),
    ("ftplib.connect", Connect, ""),
    ("ftplib.sendcmd", Allow, "after connect"),
    (
        "function.__new__",
        CodeObjects,
        "a function from a hand-made code object",
    ),
    ("gc.get_objects", Introspection, "reaches every object, hooks included"),
    ("gc.get_referents", Introspection, ""),
    ("gc.get_referrers", Introspection, "classic sandbox escape walk"),
    ("glob.glob", Read, ""),
    ("glob.glob/2", Read, ""),
    ("http.client.connect", Connect, ""),
    ("http.client.send", Allow, "after connect"),
    ("imaplib.open", Connect, ""),
    ("imaplib.send", Allow, "after open"),
    ("import", Import, "module allow/deny lists"),
    ("marshal.dumps", Allow, ""),
    ("marshal.load", CodeObjects, "can build code objects"),
    (
        "marshal.loads",
        CodeObjects,
        "can build code objects; the import system's .pyc loads are trusted",
    ),
    ("mmap.__new__", Allow, "maps files the process could open anyway"),
    ("nntplib.connect", Connect, ""),
    ("nntplib.putline", Allow, "after connect"),
    (
        "object.__delattr__",
        Introspection,
        "deleting attributes of built-in types",
    ),
    (
        "object.__getattr__",
        Introspection,
        "restricted attributes: frames of tracebacks, generators, coroutines",
    ),
    (
        "object.__setattr__",
        Introspection,
        "patching built-in types (user classes are allowed)",
    ),
    ("open", Open, "read or write by mode and flags"),
    ("os.chdir", Read, ""),
    ("os.chmod", Write, ""),
    ("os.chown", Write, ""),
    ("os.exec", Process, "os.execv*/execl*"),
    ("os.fork", Process, ""),
    ("os.forkpty", Process, ""),
    ("os.fwalk", Read, ""),
    ("os.getxattr", Read, ""),
    ("os.kill", Signal, "allowed for the process itself"),
    ("os.killpg", Signal, ""),
    ("os.link", Write, ""),
    ("os.listdir", Read, ""),
    ("os.listxattr", Read, ""),
    ("os.lockf", Allow, ""),
    ("os.mkdir", Write, ""),
    ("os.posix_spawn", Process, ""),
    ("os.putenv", Env, ""),
    ("os.remove", Write, ""),
    ("os.removexattr", Write, ""),
    ("os.rename", Write, "both paths"),
    ("os.rmdir", Write, ""),
    ("os.scandir", Read, ""),
    ("os.setxattr", Write, ""),
    ("os.symlink", Write, "the link's path (arg 1)"),
    ("os.system", Process, ""),
    ("os.truncate", Write, "a path (an fd was opened under the open rules)"),
    ("os.unsetenv", Env, ""),
    ("os.utime", Write, ""),
    ("os.walk", Read, ""),
    ("pathlib.Path.glob", Allow, "each match is opened under the open rules"),
    ("pathlib.Path.rglob", Allow, "each match is opened under the open rules"),
    ("pdb.Pdb", Introspection, "debugger"),
    ("pickle.find_class", Deserialize, "dangerous globals only"),
    ("poplib.connect", Connect, ""),
    ("poplib.putline", Allow, "after connect"),
    ("pty.spawn", Process, ""),
    ("resource.prlimit", Allow, "limits can only be lowered in the jail"),
    ("resource.setrlimit", Allow, "limits can only be lowered in the jail"),
    ("setopencodehook", Introspection, "would take over how code is read"),
    ("shutil.chown", Write, ""),
    ("shutil.copyfile", CopyFile, ""),
    ("shutil.copymode", CopyFile, ""),
    ("shutil.copystat", CopyFile, ""),
    ("shutil.copytree", CopyFile, ""),
    ("shutil.make_archive", Write, "base name (arg 0)"),
    ("shutil.move", CopyFile, ""),
    ("shutil.rmtree", Write, ""),
    (
        "shutil.unpack_archive",
        Read,
        "the archive; members are written under the open rules",
    ),
    ("signal.pthread_kill", Allow, "threads of the process itself"),
    ("smtplib.connect", Connect, ""),
    ("smtplib.send", Allow, "after connect"),
    (
        "socket.__new__",
        Allow,
        "families are limited by seccomp; addresses are checked on use",
    ),
    ("socket.bind", Bind, ""),
    ("socket.connect", Connect, ""),
    ("socket.getaddrinfo", Resolve, ""),
    ("socket.gethostbyaddr", Resolve, ""),
    ("socket.gethostbyname", Resolve, ""),
    ("socket.gethostname", Allow, ""),
    ("socket.getnameinfo", Resolve, ""),
    ("socket.getservbyname", Allow, "reads a local table"),
    ("socket.getservbyport", Allow, "reads a local table"),
    ("socket.sendmsg", Connect, "destination address"),
    ("socket.sendto", Connect, "destination address"),
    (
        "socket.sethostname",
        Process,
        "a system change; the jail refuses it too",
    ),
    ("sqlite3.connect", Open, "the database file (':memory:' is allowed)"),
    ("sqlite3.connect/handle", Allow, ""),
    ("sqlite3.enable_load_extension", Ctypes, "native code loading"),
    ("sqlite3.load_extension", Ctypes, "native code loading"),
    ("subprocess.Popen", Process, ""),
    ("sys._current_exceptions", Introspection, ""),
    ("sys._current_frames", Introspection, ""),
    (
        "sys._getframe",
        Introspection,
        "frame walks by user code; trusted library callers are allowed",
    ),
    (
        "sys.addaudithook",
        Allow,
        "code may add hooks; ours stays first and cannot be removed",
    ),
    ("sys.excepthook", Allow, ""),
    ("sys.set_asyncgen_hook_finalizer", Allow, ""),
    ("sys.set_asyncgen_hook_firstiter", Allow, ""),
    ("sys.setprofile", Introspection, ""),
    ("sys.settrace", Introspection, ""),
    ("sys.unraisablehook", Allow, ""),
    ("syslog.closelog", Allow, ""),
    ("syslog.openlog", Allow, ""),
    ("syslog.setlogmask", Allow, ""),
    ("syslog.syslog", Allow, "there is no syslog socket in the jail"),
    ("telnetlib.Telnet.open", Connect, ""),
    ("telnetlib.Telnet.write", Allow, "after open"),
    ("tempfile.mkdtemp", Write, ""),
    ("tempfile.mkstemp", Write, ""),
    ("urllib.Request", Resolve, "the URL's host"),
    ("webbrowser.open", Process, ""),
];

/// Look an event up (binary search; the table is sorted).
#[must_use]
pub fn handling(event: &str) -> Option<Handling> {
    EVENTS
        .binary_search_by(|(name, _, _)| (*name).cmp(event))
        .ok()
        .map(|i| EVENTS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in EVENTS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} !< {}", pair[0].0, pair[1].0);
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(handling("open"), Some(Handling::Open));
        assert_eq!(handling("os.system"), Some(Handling::Process));
        assert_eq!(handling("no.such.event"), None);
    }
}
