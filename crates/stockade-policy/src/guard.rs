//! The `[guard]` section: the policy of the in-interpreter guard, a native PEP 578 audit
//! hook that decides on each audit event the jailed Python raises.
//!
//! This module holds the types, the built-in profiles' guard settings, the validation rules
//! and [`ImportRules::allows`], the reference for how import lists are matched.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

use crate::model::{Issue, Seg};

/// Placeholders a `[guard.files]` entry may start with; the jail expands them.
///
/// `{scratch}` is the writable scratch space, `{python}` the interpreter's standard library
/// and site-packages, `{venv}` the virtual environment (nothing when there is none) and
/// `{sandbox}` the directory the script lives in.
pub const GUARD_PATH_PLACEHOLDERS: &[&str] = &["{scratch}", "{python}", "{venv}", "{sandbox}"];

/// The policy of the in-interpreter guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Guard {
    /// Run the guard at all.
    pub enabled: bool,
    /// Whether denied events are blocked or only recorded.
    pub mode: GuardMode,
    /// What happens on a denied event in [`GuardMode::Enforce`].
    pub on_violation: OnViolation,
    /// Classes of *allowed* events that are recorded in the audit log as well. Denied and
    /// [`Decision::Audit`] events are always recorded.
    pub record: Vec<EventClass>,
    /// Which modules user code may import.
    pub imports: ImportRules,
    /// Which paths may be opened for reading and writing.
    pub files: FileRules,
    /// Which socket addresses may be used.
    pub network: NetRules,
    /// Decisions for the other event classes.
    pub rules: ClassRules,
}

/// Whether the guard blocks what it denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardMode {
    /// A denied event fails (see [`OnViolation`]).
    Enforce,
    /// Every event is allowed; the ones that would have been denied are recorded.
    Audit,
}

/// What a denied event does in [`GuardMode::Enforce`]; ignored in [`GuardMode::Audit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnViolation {
    /// The operation raises a `PermissionError` subclass in the Python code.
    Raise,
    /// The run is killed.
    Kill,
}

/// The decision for an event class (the one decision type, shared with the guard).
pub use stockade_protocol::Decision;

/// The decision for a module that neither import list names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportDefault {
    /// Import it.
    Allow,
    /// Refuse it.
    Deny,
}

/// A class of audit events, for [`Guard::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventClass {
    /// `import`.
    Import,
    /// `open` and the other file events (`os.remove`, `os.rename`, `os.chmod`, ...).
    Open,
    /// `socket.*`.
    Network,
    /// Process creation: `os.system`, `subprocess.Popen`, `os.exec*`, `os.fork`, ...
    Process,
    /// `compile`, `exec`, and code object construction.
    Code,
    /// `pickle.find_class` and `marshal`.
    Deserialize,
    /// Frame, garbage collector and tracing internals.
    Introspection,
    /// `ctypes.*` and `cffi`.
    Ctypes,
    /// `os.putenv`, `os.unsetenv`.
    Env,
    /// `os.kill` and friends.
    Signal,
    /// Every class.
    All,
}

/// Which modules user code may import.
///
/// An entry `a` covers the module `a` and every submodule `a.b.c`. The longest entry that
/// covers a module decides; an entry in `deny` wins over the same entry in `allow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImportRules {
    /// Decision for a module no entry covers.
    pub default: ImportDefault,
    /// Modules user code may import.
    pub allow: Vec<String>,
    /// Modules user code may not import.
    pub deny: Vec<String>,
    /// Allow every top-level package installed in the virtual environment's site-packages
    /// (unless an entry covers it).
    pub venv: bool,
}

/// Which paths may be opened. Entries are absolute path prefixes, compared by component, or
/// start with one of [`GUARD_PATH_PLACEHOLDERS`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileRules {
    /// Paths that may be opened for reading.
    pub read: Vec<String>,
    /// Paths that may be written, appended to, truncated, created, removed, renamed or
    /// chmod-ed.
    pub write: Vec<String>,
}

/// Which socket addresses may be used: `host:port` entries, where `host` is an IP address
/// (IPv6 in brackets), a host name or `*`, and `port` a number or `*`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetRules {
    /// Addresses for `socket.connect`, `socket.sendto` and `socket.getaddrinfo`.
    pub connect: Vec<String>,
    /// Addresses for `socket.bind`.
    pub bind: Vec<String>,
}

/// Decisions for the event classes that have no list of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClassRules {
    /// `os.system`, `subprocess.Popen`, `os.exec*`, `os.posix_spawn`, `os.fork`, `pty.spawn`.
    pub process: Decision,
    /// `compile`/`exec`/`eval` of strings and code objects by user code.
    pub code: Decision,
    /// `types.CodeType` construction and `marshal.load(s)` of code by user code.
    pub code_objects: Decision,
    /// `pickle.find_class` of dangerous globals.
    pub deserialize: Decision,
    /// Frame, garbage collector, tracing and type-internals access by user code.
    pub introspection: Decision,
    /// Any `ctypes.*` or `cffi` event.
    pub ctypes: Decision,
    /// `os.putenv`, `os.unsetenv`.
    pub env: Decision,
    /// `os.kill`, `os.killpg`, `os.pidfd_send_signal` aimed at another process.
    pub signal: Decision,
}

impl ClassRules {
    /// `(key, decision)` pairs in file order, with the file's key names.
    pub fn entries(&self) -> [(&'static str, Decision); 8] {
        [
            ("process", self.process),
            ("code", self.code),
            ("code-objects", self.code_objects),
            ("deserialize", self.deserialize),
            ("introspection", self.introspection),
            ("ctypes", self.ctypes),
            ("env", self.env),
            ("signal", self.signal),
        ]
    }

    /// The decision stored under the file key `key`, for the parser.
    pub(crate) fn slot(&mut self, key: &str) -> Option<&mut Decision> {
        Some(match key {
            "process" => &mut self.process,
            "code" => &mut self.code,
            "code-objects" => &mut self.code_objects,
            "deserialize" => &mut self.deserialize,
            "introspection" => &mut self.introspection,
            "ctypes" => &mut self.ctypes,
            "env" => &mut self.env,
            "signal" => &mut self.signal,
            _ => return None,
        })
    }
}

impl Default for ClassRules {
    fn default() -> Self {
        ClassRules {
            process: Decision::Deny,
            code: Decision::Audit,
            code_objects: Decision::Deny,
            deserialize: Decision::Deny,
            introspection: Decision::Deny,
            ctypes: Decision::Deny,
            env: Decision::Audit,
            signal: Decision::Deny,
        }
    }
}

/// `as_str`, `VALUES`, `FromStr` and `Display` for an enum with file names.
macro_rules! file_names {
    ($ty:ident, $what:literal, { $($var:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in documentation order.
            pub const VALUES: &'static [$ty] = &[$($ty::$var),+];

            /// The name used in policy files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$var => $name),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = String;

            /// Reads the name used in policy files; the error lists the valid names.
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($ty::$var),)+
                    _ => Err(unknown_name($what, s, &[$($name),+])),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

file_names!(GuardMode, "mode", { Enforce => "enforce", Audit => "audit" });
file_names!(OnViolation, "violation action", { Raise => "raise", Kill => "kill" });
file_names!(ImportDefault, "import default", { Allow => "allow", Deny => "deny" });
file_names!(EventClass, "event class", {
    Import => "import",
    Open => "open",
    Network => "network",
    Process => "process",
    Code => "code",
    Deserialize => "deserialize",
    Introspection => "introspection",
    Ctypes => "ctypes",
    Env => "env",
    Signal => "signal",
    All => "all",
});

/// `unknown mode "x" (use "enforce" or "audit")`.
fn unknown_name(what: &str, found: &str, names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let list = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    };
    format!("unknown {what} {found:?} (use {list})")
}

/// Ordinary standard library modules that user code may import under `strict`.
///
/// `_strptime` and `encodings` are imported by C code (`time.strptime`, codec lookup) on
/// behalf of the calling user code, so the guard sees user code as the importer.
const STRICT_ALLOW: &[&str] = &[
    "__future__",
    "_strptime",
    "_bootlocale",
    "abc",
    "argparse",
    "array",
    "ast",
    "asyncio",
    "base64",
    "binascii",
    "bisect",
    "bz2",
    "calendar",
    "cmath",
    "codecs",
    "collections",
    "colorsys",
    "concurrent",
    "concurrent.futures._base",
    "concurrent.futures.thread",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "dis",
    "encodings",
    "enum",
    "errno",
    "fnmatch",
    "fractions",
    "functools",
    "getopt",
    "gettext",
    "glob",
    "graphlib",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "math",
    "mimetypes",
    "numbers",
    "operator",
    "optparse",
    "os",
    "pathlib",
    "pickle",
    "platform",
    "posixpath",
    "pprint",
    "queue",
    "quopri",
    "random",
    "re",
    "reprlib",
    "sched",
    "secrets",
    "selectors",
    "shlex",
    "shutil",
    "sqlite3",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "sys",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "tokenize",
    "tomllib",
    "traceback",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "uuid",
    "warnings",
    "weakref",
    "xml.etree",
    "zipfile",
    "zlib",
    "zoneinfo",
];

/// Modules user code may not import under `strict`: native code, processes, sockets and
/// network protocols, signals and terminals, shared memory, and the frame-walking,
/// debugging and tracing toolkits. With `default = "deny"` most of these would be refused
/// anyway; the list matters when `default` is `"allow"`, below an allowed package
/// (`concurrent.futures.process`), and for `pickle.find_class` (see `rules.deserialize`).
const STRICT_DENY: &[&str] = &[
    "ctypes",
    "ctypes.util",
    "_ctypes",
    "cffi",
    "subprocess",
    "_posixsubprocess",
    "posix",
    "socket",
    "_socket",
    "ssl",
    "_ssl",
    "select",
    "multiprocessing",
    "_multiprocessing",
    "concurrent.futures.process",
    "signal",
    "pty",
    "tty",
    "termios",
    "fcntl",
    "resource",
    "mmap",
    "_posixshmem",
    "http",
    "urllib",
    "ftplib",
    "smtplib",
    "poplib",
    "imaplib",
    "nntplib",
    "telnetlib",
    "xmlrpc",
    "socketserver",
    "webbrowser",
    "gc",
    "inspect",
    "code",
    "codeop",
    "pdb",
    "bdb",
    "trace",
    "tracemalloc",
    "faulthandler",
];

/// Modules the `data` profile moves from `deny` to `allow`.
const DATA_ALLOW: &[&str] = &["multiprocessing", "concurrent.futures.process"];

const STRICT_READ: &[&str] = &[
    "{scratch}",
    "{python}",
    "{venv}",
    "{sandbox}",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/hostname",
    "/usr/share/zoneinfo",
];

const STRICT_WRITE: &[&str] = &["{scratch}", "/dev/null"];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Guard {
    /// The guard of the `strict` profile.
    pub fn strict() -> Guard {
        Guard {
            enabled: true,
            mode: GuardMode::Enforce,
            on_violation: OnViolation::Raise,
            record: Vec::new(),
            imports: ImportRules {
                default: ImportDefault::Deny,
                allow: strings(STRICT_ALLOW),
                deny: strings(STRICT_DENY),
                venv: true,
            },
            files: FileRules {
                read: strings(STRICT_READ),
                write: strings(STRICT_WRITE),
            },
            network: NetRules::default(),
            rules: ClassRules::default(),
        }
    }

    /// The guard of the `data` profile: `strict`, but `multiprocessing` and
    /// `concurrent.futures.process` may be imported (starting processes is still denied).
    pub fn data() -> Guard {
        let mut guard = Guard::strict();
        guard.imports.deny.retain(|m| !DATA_ALLOW.contains(&m.as_str()));
        guard.imports.allow.extend(strings(DATA_ALLOW));
        guard
    }

    pub(crate) fn check(&self, out: &mut Vec<Issue>) {
        let at = |path: &[&str], i: usize| {
            let mut p: Vec<Seg> = ["guard"].iter().chain(path).map(|k| Seg::key(k)).collect();
            p.push(Seg::Index(i));
            p
        };
        let mut list = |path: &[&str], items: &[String], check: fn(&str) -> Result<(), String>| {
            for (i, item) in items.iter().enumerate() {
                let reason = match check(item) {
                    Err(reason) => reason,
                    Ok(()) if items[..i].contains(item) => format!("{item:?} is listed twice"),
                    Ok(()) => continue,
                };
                out.push(Issue {
                    path: at(path, i),
                    reason,
                    at_key: false,
                });
            }
        };
        let imports = &self.imports;
        list(&["imports", "allow"], &imports.allow, check_module);
        list(&["imports", "deny"], &imports.deny, check_module);
        list(&["files", "read"], &self.files.read, check_guard_path);
        list(&["files", "write"], &self.files.write, check_guard_path);
        list(&["network", "connect"], &self.network.connect, check_endpoint);
        list(&["network", "bind"], &self.network.bind, check_endpoint);
        for (i, module) in imports.deny.iter().enumerate() {
            if imports.allow.contains(module) {
                out.push(Issue {
                    path: at(&["imports", "deny"], i),
                    reason: format!("{module:?} is also in guard.imports.allow; a module is either allowed or denied"),
                    at_key: false,
                });
            }
        }
        for (i, class) in self.record.iter().enumerate() {
            if self.record[..i].contains(class) {
                out.push(Issue {
                    path: at(&["record"], i),
                    reason: format!("{:?} is listed twice", class.as_str()),
                    at_key: false,
                });
            }
        }
    }
}

impl ImportRules {
    /// Whether user code may import `module` (a dotted name).
    ///
    /// The longest `allow` or `deny` entry that covers the module decides, `deny` on a tie.
    /// With no covering entry, the module is allowed if `venv` is on and
    /// `installed_in_venv` (its top-level package is installed in the virtual
    /// environment's site-packages), and otherwise `default` decides.
    pub fn allows(&self, module: &str, installed_in_venv: bool) -> bool {
        let longest = |list: &[String]| list.iter().filter(|entry| covers(entry, module)).map(String::len).max();
        match (longest(&self.allow), longest(&self.deny)) {
            (Some(a), Some(d)) => a > d,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => (self.venv && installed_in_venv) || self.default == ImportDefault::Allow,
        }
    }
}

/// `entry` is `module` or one of its parent packages.
fn covers(entry: &str, module: &str) -> bool {
    module
        .strip_prefix(entry)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// A dotted module name: `[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*`.
pub(crate) fn check_module(name: &str) -> Result<(), String> {
    let ident = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if name.split('.').all(ident) {
        Ok(())
    } else {
        Err(format!(
            "invalid module name {name:?} (use dotted names such as \"xml.etree\": letters, digits and _, \
             no part starting with a digit)"
        ))
    }
}

/// An absolute path without `..`, or a placeholder optionally followed by `/sub/path`.
pub(crate) fn check_guard_path(entry: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid path {entry:?}: {why}"));
    let placeholders = GUARD_PATH_PLACEHOLDERS.join(", ");
    let rest = match GUARD_PATH_PLACEHOLDERS.iter().find(|p| entry.starts_with(**p)) {
        Some(p) => {
            let rest = &entry[p.len()..];
            if !rest.is_empty() && !rest.starts_with('/') {
                return bad("a placeholder may only be followed by `/` and a path");
            }
            rest
        }
        None if entry.starts_with('{') => {
            return bad(&format!("unknown placeholder (use {placeholders})"));
        }
        None => entry,
    };
    if rest.contains(['{', '}']) {
        return bad(&format!("a placeholder ({placeholders}) may only start the path"));
    }
    if entry.contains('\0') {
        return bad("contains a NUL byte");
    }
    let whole = rest.len() == entry.len();
    if (rest.is_empty() && !whole) || (rest == "/" && whole) {
        return Ok(());
    }
    let Some(components) = rest.strip_prefix('/') else {
        return bad(&format!(
            "must be absolute or start with a placeholder ({placeholders})"
        ));
    };
    // Entries are compared as strings by component, so they must be in normal form.
    for component in components.split('/') {
        match component {
            ".." => return bad("must not contain `..`"),
            "" | "." => return bad("write the path without `//`, `/.` or a trailing `/`"),
            _ => {}
        }
    }
    Ok(())
}

/// `host:port`: an IPv4 address, `[IPv6]`, a host name or `*`; a port 1–65535 or `*`.
pub(crate) fn check_endpoint(entry: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid address {entry:?}: {why}"));
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let Some((ip, port)) = rest.split_once("]:") else {
            return bad("expected \"[IPv6 address]:port\"");
        };
        if ip.parse::<Ipv6Addr>().is_err() {
            return bad("not an IPv6 address between [ and ]");
        }
        ("*", port)
    } else {
        let Some((host, port)) = entry.rsplit_once(':') else {
            return bad("expected host:port");
        };
        if host.contains(':') {
            return bad("write an IPv6 address in brackets, as in \"[::1]:80\"");
        }
        (host, port)
    };
    let port_ok =
        port == "*" || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0));
    if !port_ok {
        return bad("the port must be a number from 1 to 65535 or *");
    }
    if host == "*" || host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && !host
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if labels_ok {
        Ok(())
    } else {
        bad("the host must be an IP address, a host name or *")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn key_of(change: impl FnOnce(&mut Guard)) -> String {
        let mut p = Policy::strict();
        change(&mut p.guard);
        p.validate().expect_err("policy should be invalid").key.unwrap()
    }

    #[test]
    fn profiles_are_valid_and_disjoint() {
        for name in Policy::PROFILES {
            let guard = Policy::profile(name).unwrap().guard;
            let mut issues = Vec::new();
            guard.check(&mut issues);
            assert!(issues.is_empty(), "{name}: {issues:?}");
            // `record` is appended to the profile's on parsing; `to_toml` relies on this.
            assert!(guard.record.is_empty(), "{name}");
        }
        let data = Guard::data();
        assert!(data.imports.allows("multiprocessing.pool", false));
        assert!(data.imports.allows("concurrent.futures.process", false));
        assert!(!Guard::strict().imports.allows("concurrent.futures.process", false));
        assert_eq!(data.rules.process, Decision::Deny);
    }

    #[test]
    fn import_matching() {
        let g = Guard::strict().imports;
        for ok in [
            "json",
            "json.decoder",
            "os.path",
            "xml.etree.ElementTree",
            "concurrent.futures.thread",
        ] {
            assert!(g.allows(ok, false), "{ok}");
        }
        for no in [
            "ctypes",
            "ctypes.util",
            "jsonx",
            "xml",
            "xml.dom",
            "socket",
            "gc",
            "numpy",
            "inspect",
        ] {
            assert!(!g.allows(no, false), "{no}");
        }
        assert!(g.allows("numpy.linalg", true));
        assert!(!g.allows("cffi", true), "deny wins over venv");
        let mut r = ImportRules {
            default: ImportDefault::Allow,
            allow: vec!["a".into(), "a.b.c".into(), "x".into()],
            deny: vec!["a.b".into(), "x".into()],
            venv: false,
        };
        assert!(r.allows("a.z", false));
        assert!(!r.allows("a.b", false), "longer deny wins");
        assert!(!r.allows("a.b.d", false));
        assert!(r.allows("a.b.c.d", false), "longer allow wins");
        assert!(!r.allows("x.y", false), "deny wins a tie");
        assert!(r.allows("other", false));
        r.default = ImportDefault::Deny;
        assert!(!r.allows("other", false));
        r.venv = true;
        assert!(r.allows("other", true));
    }

    #[test]
    fn names_round_trip() {
        for c in EventClass::VALUES {
            assert_eq!(c.as_str().parse::<EventClass>(), Ok(*c));
        }
        for d in Decision::VALUES {
            assert_eq!(d.to_string().parse::<Decision>(), Ok(*d));
        }
        assert_eq!(
            "Deny".parse::<Decision>(),
            Err(r#"unknown decision "Deny" (use "allow", "deny" or "audit")"#.to_owned())
        );
        assert_eq!(
            "x".parse::<GuardMode>(),
            Err(r#"unknown mode "x" (use "enforce" or "audit")"#.to_owned())
        );
        assert_eq!("kill".parse::<OnViolation>(), Ok(OnViolation::Kill));
        assert_eq!(EventClass::VALUES.len(), 11);
    }

    #[test]
    fn module_names() {
        for ok in ["a", "_a", "a.b_c.D9", "__future__"] {
            assert_eq!(check_module(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a.", ".a", "a..b", "9a", "a.9", "a-b", "a b", "é", "a.*"] {
            assert!(check_module(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guard_paths() {
        for ok in ["/", "/etc/passwd", "/dev", "{scratch}", "{venv}/lib", "/a b/.c"] {
            assert_eq!(check_guard_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "etc",
            "./x",
            "/a/../b",
            "{scratch}/..",
            "{scratch}x",
            "{home}",
            "{scratch",
            "/x/{scratch}",
            "/a\0b",
            "/dev/",
            "{python}/",
            "//x",
            "/x/./y",
            "/x//y",
        ] {
            assert!(check_guard_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn endpoints() {
        for ok in [
            "127.0.0.1:80",
            "*:*",
            "localhost:8080",
            "api.example.com:443",
            "[::1]:80",
            "[fe80::1]:*",
            "a-b.c:65535",
        ] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in [
            "localhost",
            "localhost:0",
            "localhost:65536",
            "localhost:+80",
            "localhost:",
            ":80",
            "::1:80",
            "[::1]80",
            "[x]:80",
            "1.2.3.256:80",
            "a_b:80",
            "*.example.com:80",
            "-a:80",
            "http://x:80",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_keys() {
        let strict = Guard::strict();
        let (allow, deny) = (strict.imports.allow.len(), strict.imports.deny.len());
        let key = format!("guard.imports.allow[{allow}]");
        assert_eq!(key_of(|g| g.imports.allow.push("a-b".into())), key);
        assert_eq!(key_of(|g| g.imports.allow.push("json".into())), key);
        assert_eq!(
            key_of(|g| g.imports.deny.push("json".into())),
            format!("guard.imports.deny[{deny}]")
        );
        assert_eq!(key_of(|g| g.files.write.push("tmp".into())), "guard.files.write[2]");
        assert_eq!(key_of(|g| g.network.bind.push("x".into())), "guard.network.bind[0]");
        assert_eq!(
            key_of(|g| g.record = vec![EventClass::Open, EventClass::Open]),
            "guard.record[1]"
        );
    }

    #[test]
    fn serializes_with_file_names() {
        let json = serde_json::to_value(Policy::strict()).unwrap();
        assert_eq!(json["guard"]["on-violation"], "raise");
        assert_eq!(json["guard"]["rules"]["code-objects"], "deny");
        assert_eq!(json["guard"]["imports"]["default"], "deny");
        assert_eq!(json["guard"]["files"]["write"][0], "{scratch}");
    }
}
