//! The validated policy types, the built-in profiles and every validation rule.
//!
//! The rules live here rather than in the parser so that they also run on a policy that
//! the CLI changed after loading it (`--memory`, `--timeout`, ...).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::error::PolicyError;
use crate::guard::Guard;
use crate::net::NetAllow;
use crate::units::format_duration;

/// The only policy file version this crate understands.
pub const VERSION: u32 = 1;

/// Mount points inside the jail that stockade sets up itself; extra mounts may not cover them.
pub const RESERVED_JAIL_PATHS: &[&str] = &["/proc", "/dev", "/tmp", "/sandbox"];

/// Environment variables that stockade sets or clears itself; a policy may not set or pass them.
/// Every `LD_*` name is reserved as well.
pub const RESERVED_ENV: &[&str] = &[
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PYTHONUSERBASE",
    "PYTHONPLATLIBDIR",
    "PYTHONEXECUTABLE",
    "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH",
];

/// A complete, effective policy: a built-in profile with a policy file (and possibly CLI
/// flags) applied on top.
///
/// Serializes with the file's kebab-case key names; durations serialize as strings such
/// as `"10s"` and sizes as a number of bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Policy {
    /// Policy file format version; always [`VERSION`].
    pub version: u32,
    /// Name of the built-in profile the policy started from.
    pub extends: String,
    /// Which Python to run.
    pub python: Python,
    /// Resource limits.
    pub limits: Limits,
    /// The jail's environment.
    pub env: Env,
    /// Network access.
    pub network: Network,
    /// Credentials the code uses without holding them: the jail's variable holds a
    /// placeholder; the egress proxy puts the value into requests to the named hosts.
    pub secrets: BTreeMap<String, SecretSpec>,
    /// Extra mounts.
    pub filesystem: Filesystem,
    /// Isolation switches.
    pub isolation: Isolation,
    /// Static checks before running.
    pub check: Check,
    /// The in-interpreter guard.
    pub guard: Guard,
}

/// The `[check]` section: static analysis applied to the program before it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Check {
    /// Refuse to run code that fails `stockade check --prescreen` (imports the guard would
    /// refuse, dunder walks, dynamic code, reflection; unparsable code). Off by default: the jail
    /// is the boundary, and the pre-screen is an early, explained refusal on top of it.
    pub prescreen: bool,
}

/// Which Python interpreter to run; `None` means the runtime's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Python {
    /// Absolute path of the interpreter binary.
    pub interpreter: Option<PathBuf>,
    /// Absolute path of a virtual environment to activate.
    pub venv: Option<PathBuf>,
}

/// Resource limits, all enforced for the jail as a whole unless noted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Limits {
    /// Wall-clock time before the jail is killed.
    #[serde(serialize_with = "duration_str")]
    pub wall_time: Duration,
    /// CPU time (user + system).
    #[serde(serialize_with = "duration_str")]
    pub cpu_time: Duration,
    /// Memory in bytes.
    pub memory: u64,
    /// Processes plus threads.
    pub processes: u32,
    /// Largest file that may be written, in bytes.
    pub file_size: u64,
    /// Size of the writable scratch space (`/tmp`), in bytes.
    pub scratch: u64,
    /// Open file descriptors per process.
    pub open_files: u64,
    /// Captured output per stream (stdout and stderr each), in bytes.
    pub output: u64,
}

/// The jail's environment. Nothing else is inherited from the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Env {
    /// Variables set in the jail.
    pub set: BTreeMap<String, String>,
    /// Names copied from the caller's environment when present there.
    pub pass: Vec<String>,
    /// Names (in `pass` or `set`) whose values are secret: the code may use them, but they are
    /// replaced by `[secret]` in the result, the audit trail and error messages.
    pub secret: Vec<String>,
}

/// Network access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Network {
    /// The network mode.
    pub mode: NetworkMode,
    /// Where code may connect through the host proxy (`mode = "proxy"` only).
    pub allow: Vec<NetAllow>,
    /// Connections a run may open through the proxy (refused ones included).
    pub max_connections: u32,
    /// Bytes a run may move through the proxy, both directions together.
    pub max_bytes: u64,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            mode: NetworkMode::None,
            allow: Vec::new(),
            max_connections: 64,
            max_bytes: 256 * MIB,
        }
    }
}

impl Network {
    /// Whether the jail gets the host proxy.
    #[must_use]
    pub fn egress(&self) -> bool {
        self.mode == NetworkMode::Proxy
    }

    fn check(&self, out: &mut Vec<Issue>) {
        if self.mode == NetworkMode::None && !self.allow.is_empty() {
            out.push(Issue::new(
                &["network", "allow"],
                "network.allow needs mode = \"proxy\" (or no mode: an allow list implies it)".into(),
            ));
        }
        if self.max_connections == 0 || self.max_connections > 10_000 {
            out.push(Issue::new(
                &["network", "max-connections"],
                "must be from 1 to 10000".into(),
            ));
        }
        if self.max_bytes == 0 || self.max_bytes > 1 << 40 {
            out.push(Issue::new(
                &["network", "max-bytes"],
                "must be from 1 byte to 1T".into(),
            ));
        }
    }
}

/// One `[secrets]` entry: where the value comes from on the host, and the only hosts it is sent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SecretSpec {
    /// `env:NAME`: the supervisor's (the caller's) environment variable `NAME`.
    pub from: String,
    /// Host names (or `*.suffix` patterns) whose requests get the value, in headers only.
    pub hosts: Vec<String>,
}

impl SecretSpec {
    /// The host variable the value is read from.
    #[must_use]
    pub fn env_var(&self) -> Option<&str> {
        self.from.strip_prefix("env:")
    }

    /// Whether requests to `host` (lower case) get the value.
    #[must_use]
    pub fn sent_to(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| match h.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
            None => h == host,
        })
    }
}

/// How the jail reaches the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum NetworkMode {
    /// A fresh network namespace with only loopback.
    #[default]
    None,
    /// Loopback only, plus the host proxy on 127.0.0.1:3128 in the jail, which connects to
    /// what `allow` names.
    Proxy,
}

impl NetworkMode {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Proxy => "proxy",
        }
    }
}

/// Extra mounts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Filesystem {
    /// Read-only bind mounts from the host into the jail.
    pub read_only: Vec<Bind>,
}

/// A bind mount of `host` at `jail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Bind {
    /// Absolute path on the host.
    pub host: PathBuf,
    /// Absolute path inside the jail.
    pub jail: PathBuf,
}

/// Isolation switches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Isolation {
    /// Run even if a protection layer cannot be applied; the result reports which.
    pub allow_degraded: bool,
    /// The jail's hostname.
    pub hostname: String,
}

fn duration_str<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl Policy {
    /// Names of the built-in profiles, the default first.
    pub const PROFILES: &'static [&'static str] = &["strict", "data"];

    /// The default profile: tight limits for short scripts.
    pub fn strict() -> Policy {
        let set = [
            ("HOME", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ];
        Policy {
            version: VERSION,
            extends: "strict".to_owned(),
            python: Python::default(),
            limits: Limits {
                wall_time: Duration::from_secs(10),
                cpu_time: Duration::from_secs(10),
                memory: 512 * MIB,
                processes: 64,
                file_size: 64 * MIB,
                scratch: 256 * MIB,
                open_files: 256,
                output: MIB,
            },
            env: Env {
                set: set.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                pass: Vec::new(),
                secret: Vec::new(),
            },
            network: Network::default(),
            secrets: BTreeMap::new(),
            filesystem: Filesystem::default(),
            isolation: Isolation {
                allow_degraded: false,
                hostname: "stockade".to_owned(),
            },
            check: Check::default(),
            guard: Guard::strict(),
        }
    }

    /// Roomier limits for data work (numpy, pandas); numeric libraries are told to use
    /// two threads (`OMP_NUM_THREADS=2`) so that they stay within the process limit, and
    /// the guard lets code import `multiprocessing`.
    pub fn data() -> Policy {
        let mut policy = Policy::strict();
        policy.extends = "data".to_owned();
        policy.limits = Limits {
            wall_time: Duration::from_secs(60),
            cpu_time: Duration::from_secs(60),
            memory: 4 * GIB,
            processes: 256,
            file_size: GIB,
            scratch: 2 * GIB,
            open_files: 1024,
            output: 16 * MIB,
        };
        policy.env.set.insert("OMP_NUM_THREADS".to_owned(), "2".to_owned());
        policy.guard = Guard::data();
        policy
    }

    /// The built-in profile called `name`, if there is one.
    pub fn profile(name: &str) -> Option<Policy> {
        match name {
            "strict" => Some(Policy::strict()),
            "data" => Some(Policy::data()),
            _ => None,
        }
    }

    /// Checks every rule. Errors name the key (`limits.memory`) but carry no file or line,
    /// since the value may have come from a CLI flag.
    pub fn validate(&self) -> Result<(), PolicyError> {
        match self.first_issue() {
            None => Ok(()),
            Some(issue) => Err(PolicyError {
                file: String::new(),
                line: None,
                column: None,
                key: Some(issue.key()),
                reason: issue.reason,
            }),
        }
    }

    pub(crate) fn first_issue(&self) -> Option<Issue> {
        let mut issues = Vec::new();
        self.check(&mut issues);
        issues.into_iter().next()
    }

    fn check(&self, out: &mut Vec<Issue>) {
        if self.version != VERSION {
            out.push(Issue::new(&["version"], unsupported_version(self.version)));
        }
        if Policy::profile(&self.extends).is_none() {
            out.push(Issue::new(&["extends"], unknown_profile(&self.extends)));
        }
        for (key, path) in [("interpreter", &self.python.interpreter), ("venv", &self.python.venv)] {
            if let Some(path) = path {
                if let Err(reason) = check_host_path(path) {
                    out.push(Issue::new(&["python", key], reason));
                }
            }
        }
        self.limits.check(out);
        self.env.check(out);
        self.network.check(out);
        self.check_secrets(out);
        self.filesystem.check(out);
        if let Err(reason) = check_hostname(&self.isolation.hostname) {
            out.push(Issue::new(&["isolation", "hostname"], reason));
        }
        self.guard.check(out);
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::strict()
    }
}

impl Limits {
    fn check(&self, out: &mut Vec<Issue>) {
        let day = Duration::from_secs(24 * 3600);
        let mut range = |key: &str, ok: bool, reason: &str| {
            if !ok {
                out.push(Issue::new(&["limits", key], reason.to_owned()));
            }
        };
        let w = self.wall_time;
        range(
            "wall-time",
            !w.is_zero() && w <= day,
            "must be more than 0s and at most 24h",
        );
        let c = self.cpu_time;
        range(
            "cpu-time",
            c >= Duration::from_secs(1) && c <= day,
            "must be between 1s and 24h",
        );
        range("memory", self.memory >= 16 * MIB, "must be at least 16M");
        range(
            "processes",
            (1..=65536).contains(&self.processes),
            "must be between 1 and 65536",
        );
        range("file-size", self.file_size >= 1024, "must be at least 1K");
        range("scratch", self.scratch >= 64 * 1024, "must be at least 64K");
        range(
            "open-files",
            (16..=1_048_576).contains(&self.open_files),
            "must be between 16 and 1048576",
        );
    }
}

impl Policy {
    fn check_secrets(&self, out: &mut Vec<Issue>) {
        for (name, spec) in &self.secrets {
            let at = |key: &str| vec![Seg::key("secrets"), Seg::key(name), Seg::key(key)];
            if let Err(reason) = check_env_name(name) {
                out.push(Issue::new(&["secrets", name], reason).at_key());
                continue;
            }
            if self.env.set.contains_key(name) || self.env.pass.contains(name) {
                out.push(Issue {
                    path: vec![Seg::key("secrets"), Seg::key(name)],
                    reason: format!(
                        "`{name}` is also in env.set or env.pass; a variable is a secret or an ordinary one"
                    ),
                    at_key: true,
                });
            }
            match spec.env_var() {
                Some(var) if check_env_name(var).is_ok() || var.starts_with("LD_") => {}
                _ => out.push(Issue {
                    path: at("from"),
                    reason: format!("{:?}: a secret comes from a host variable, \"env:NAME\"", spec.from),
                    at_key: false,
                }),
            }
            if !self.network.egress() {
                out.push(Issue {
                    path: at("hosts"),
                    reason: "a secret is sent by the egress proxy: it needs network.mode = \"proxy\" (an allow list)"
                        .into(),
                    at_key: false,
                });
            }
            if spec.hosts.is_empty() {
                out.push(Issue {
                    path: at("hosts"),
                    reason: "name at least one host the value is sent to".into(),
                    at_key: false,
                });
            }
            for (i, host) in spec.hosts.iter().enumerate() {
                let bare = host.strip_prefix("*.").unwrap_or(host);
                let problem = crate::net::check_name(bare).err().or_else(|| {
                    let allowed = self
                        .network
                        .allow
                        .iter()
                        .any(|a| match (&a.host, host.strip_prefix("*.")) {
                            (crate::net::NetHost::Name(n), None) => n == host,
                            (crate::net::NetHost::Suffix(s), None) => host.ends_with(&format!(".{s}")),
                            (crate::net::NetHost::Suffix(s), Some(h)) => h == s || h.ends_with(&format!(".{s}")),
                            _ => false,
                        });
                    (!allowed && self.network.egress()).then(|| format!("{host:?} is not in network.allow"))
                });
                if let Some(reason) = problem {
                    out.push(Issue {
                        path: vec![Seg::key("secrets"), Seg::key(name), Seg::key("hosts"), Seg::Index(i)],
                        reason,
                        at_key: false,
                    });
                }
            }
        }
    }
}

impl Env {
    fn check(&self, out: &mut Vec<Issue>) {
        for (name, value) in &self.set {
            if let Err(reason) = check_env_name(name) {
                out.push(Issue::new(&["env", "set", name], reason).at_key());
            } else if value.contains('\0') {
                out.push(Issue::new(
                    &["env", "set", name],
                    "value contains a NUL byte".to_owned(),
                ));
            }
        }
        for (i, name) in self.pass.iter().enumerate() {
            let issue = |reason| Issue {
                path: vec![Seg::key("env"), Seg::key("pass"), Seg::Index(i)],
                reason,
                at_key: false,
            };
            if let Err(reason) = check_env_name(name) {
                out.push(issue(reason));
            } else if self.set.contains_key(name) {
                out.push(issue(format!(
                    "`{name}` is also in env.set; a variable is either set or passed"
                )));
            } else if self.pass[..i].contains(name) {
                out.push(issue(format!("`{name}` is listed twice")));
            }
        }
        for (i, name) in self.secret.iter().enumerate() {
            let issue = |reason| Issue {
                path: vec![Seg::key("env"), Seg::key("secret"), Seg::Index(i)],
                reason,
                at_key: false,
            };
            if !self.pass.contains(name) && !self.set.contains_key(name) {
                out.push(issue(format!("`{name}` is neither in env.pass nor in env.set")));
            } else if self.secret[..i].contains(name) {
                out.push(issue(format!("`{name}` is listed twice")));
            }
        }
    }
}

impl Filesystem {
    fn check(&self, out: &mut Vec<Issue>) {
        for (i, bind) in self.read_only.iter().enumerate() {
            let at = |key: &str| {
                vec![
                    Seg::key("filesystem"),
                    Seg::key("read-only"),
                    Seg::Index(i),
                    Seg::key(key),
                ]
            };
            if let Err(reason) = check_host_path(&bind.host) {
                out.push(Issue {
                    path: at("host"),
                    reason,
                    at_key: false,
                });
            }
            if let Err(reason) = check_jail_path(&bind.jail) {
                out.push(Issue {
                    path: at("jail"),
                    reason,
                    at_key: false,
                });
            } else if self.read_only[..i].iter().any(|b| same_path(&b.jail, &bind.jail)) {
                out.push(Issue {
                    path: at("jail"),
                    reason: format!("{} is already a mount target", bind.jail.display()),
                    at_key: false,
                });
            }
        }
    }
}

pub(crate) fn unsupported_version(v: impl std::fmt::Display) -> String {
    format!("unsupported policy version {v} (this stockade supports version {VERSION})")
}

pub(crate) fn unknown_profile(name: &str) -> String {
    format!("unknown profile {name:?} (available: {})", Policy::PROFILES.join(", "))
}

pub(crate) fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "invalid variable name {name:?} (use letters, digits and _, not starting with a digit)"
        ));
    }
    if name.starts_with("LD_") || RESERVED_ENV.contains(&name) {
        return Err(format!("`{name}` is controlled by stockade"));
    }
    Ok(())
}

fn check_path_common(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if text.contains('\0') {
        return Err("path contains a NUL byte".to_owned());
    }
    if !path.is_absolute() {
        return Err(format!("path {text:?} must be absolute"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("path {text:?} must not contain `..`"));
    }
    Ok(())
}

fn check_host_path(path: &Path) -> Result<(), String> {
    check_path_common(path)
}

fn check_jail_path(path: &Path) -> Result<(), String> {
    check_path_common(path)?;
    let first = path.components().find_map(|c| match c {
        Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
        _ => None,
    });
    let Some(first) = first else {
        return Err("cannot mount over the jail's root `/`".to_owned());
    };
    let top = format!("/{first}");
    if RESERVED_JAIL_PATHS.contains(&top.as_str()) {
        return Err(format!(
            "{} is reserved by stockade ({} are set up by the jail itself)",
            path.display(),
            RESERVED_JAIL_PATHS.join(", ")
        ));
    }
    Ok(())
}

fn same_path(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components())
}

/// RFC 1123 host name: dot-separated labels of letters, digits and `-`, each 1 to 63
/// characters and not starting or ending with `-`; at most 64 characters in all (the
/// kernel's limit).
pub(crate) fn check_hostname(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid hostname {name:?}: {why}"));
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 64 {
        return bad("longer than 64 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each dot-separated label must have 1 to 63 characters");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return bad("use only letters, digits, `-` and `.`");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label must not start or end with `-`");
        }
    }
    Ok(())
}

/// One segment of a key path such as `filesystem.read-only[0].jail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    pub(crate) fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }
}

/// A rule violation, before it is placed in a file.
#[derive(Clone, Debug)]
pub(crate) struct Issue {
    pub(crate) path: Vec<Seg>,
    pub(crate) reason: String,
    /// Point at the key rather than the value (e.g. a forbidden variable name).
    pub(crate) at_key: bool,
}

impl Issue {
    pub(crate) fn new(path: &[&str], reason: String) -> Issue {
        Issue {
            path: path.iter().map(|k| Seg::key(k)).collect(),
            reason,
            at_key: false,
        }
    }

    pub(crate) fn at_key(mut self) -> Issue {
        self.at_key = true;
        self
    }

    pub(crate) fn key(&self) -> String {
        key_path(&self.path)
    }
}

/// Renders a key path the way it is written in TOML, quoting keys that are not bare.
pub(crate) fn key_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&toml_key(k));
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A TOML key, quoted if it is not a bare key.
pub(crate) fn toml_key(k: &str) -> String {
    let bare = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        k.to_owned()
    } else {
        toml_string(k)
    }
}

/// A TOML basic string that parses back to `s`: backslash, quote and the control characters
/// TOML forbids unescaped (U+0000–U+001F but tab, and U+007F) escaped, everything else as it is.
/// Written out rather than through the `toml` crate's serializer, which built a document per
/// string: rendering a policy took ~145 µs, on the path of every cold run through the helper.
pub(crate) fn toml_string(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\t' => out.push('\t'),
            c if c <= '\u{1f}' || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string reads back as itself, and a plain one is spelled as the `toml` crate spells it.
    #[test]
    fn toml_strings_read_back_to_themselves() {
        let mut cases: Vec<String> = [
            "",
            "/usr/bin/python3.11",
            "a \"quoted\" word",
            "back\\slash\\",
            "tab\tnew\nline\rreturn",
            "nul\u{0}bell\u{7}esc\u{1b}del\u{7f}",
            "\u{8}\u{c}",
            "c1 \u{85} and \u{9f}",
            "héllo — ✓ 😀",
            "'single' and ''' triple",
            "\"\"\"",
            "${HOME} $(id) `x`",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        cases.extend((0u32..=0x80).filter_map(char::from_u32).map(|c| format!("x{c}y")));
        for s in &cases {
            let doc = format!("k = {}", toml_string(s));
            let back: toml::Table = toml::from_str(&doc).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
            assert_eq!(back["k"].as_str(), Some(s.as_str()), "{doc:?}");
        }
        for plain in ["", "/usr/bin/python3.11", "50ms", "a b c", "héllo"] {
            assert_eq!(toml_string(plain), toml::Value::String(plain.into()).to_string());
        }
    }

    fn issue_of(change: impl FnOnce(&mut Policy)) -> (String, String) {
        let mut p = Policy::strict();
        change(&mut p);
        let e = p.validate().expect_err("policy should be invalid");
        assert_eq!((e.line, e.column, e.file.as_str()), (None, None, ""));
        (e.key.unwrap(), e.reason)
    }

    fn key_of(change: impl FnOnce(&mut Policy)) -> String {
        issue_of(change).0
    }

    fn ok(change: impl FnOnce(&mut Policy)) {
        let mut p = Policy::strict();
        change(&mut p);
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn profiles() {
        let strict = Policy::strict();
        assert_eq!(strict.limits.memory, 512 * MIB);
        assert_eq!(strict.limits.wall_time, Duration::from_secs(10));
        assert_eq!(strict.env.set["PATH"], "/usr/local/bin:/usr/bin:/bin");
        assert_eq!(strict.isolation.hostname, "stockade");
        let data = Policy::data();
        assert_eq!(data.limits.memory, 4 * GIB);
        assert_eq!(data.limits.output, 16 * MIB);
        assert_eq!(data.env.set["OMP_NUM_THREADS"], "2");
        assert_eq!(data.env.set["HOME"], "/tmp");
        assert_eq!(Policy::PROFILES[0], "strict");
    }

    #[test]
    fn limits_ranges() {
        let s = Duration::from_secs;
        assert_eq!(key_of(|p| p.limits.wall_time = Duration::ZERO), "limits.wall-time");
        assert_eq!(key_of(|p| p.limits.wall_time = s(86401)), "limits.wall-time");
        ok(|p| p.limits.wall_time = Duration::from_millis(1));
        ok(|p| p.limits.wall_time = s(86400));
        assert_eq!(
            key_of(|p| p.limits.cpu_time = Duration::from_millis(999)),
            "limits.cpu-time"
        );
        assert_eq!(key_of(|p| p.limits.cpu_time = s(86401)), "limits.cpu-time");
        ok(|p| p.limits.cpu_time = s(1));
        assert_eq!(
            issue_of(|p| p.limits.memory = 16 * MIB - 1),
            ("limits.memory".to_owned(), "must be at least 16M".to_owned())
        );
        ok(|p| p.limits.memory = 16 * MIB);
        assert_eq!(key_of(|p| p.limits.processes = 0), "limits.processes");
        assert_eq!(key_of(|p| p.limits.processes = 65537), "limits.processes");
        ok(|p| p.limits.processes = 65536);
        assert_eq!(key_of(|p| p.limits.file_size = 1023), "limits.file-size");
        ok(|p| p.limits.file_size = 1024);
        assert_eq!(key_of(|p| p.limits.scratch = 65535), "limits.scratch");
        ok(|p| p.limits.scratch = 65536);
        assert_eq!(key_of(|p| p.limits.open_files = 15), "limits.open-files");
        assert_eq!(key_of(|p| p.limits.open_files = 1_048_577), "limits.open-files");
        ok(|p| p.limits.open_files = 16);
        ok(|p| p.limits.output = 0);
    }

    #[test]
    fn version_and_profile() {
        assert_eq!(key_of(|p| p.version = 2), "version");
        assert_eq!(key_of(|p| p.extends = "none".into()), "extends");
    }

    #[test]
    fn python_paths() {
        assert_eq!(
            key_of(|p| p.python.interpreter = Some("python3".into())),
            "python.interpreter"
        );
        assert_eq!(key_of(|p| p.python.venv = Some("venv".into())), "python.venv");
        assert_eq!(key_of(|p| p.python.venv = Some("/a/../b".into())), "python.venv");
        ok(|p| p.python.venv = Some("/opt/venv".into()));
    }

    #[test]
    fn env_rules() {
        let set = |name: &str, value: &str| {
            let (name, value) = (name.to_owned(), value.to_owned());
            move |p: &mut Policy| {
                p.env.set.insert(name, value);
            }
        };
        assert_eq!(key_of(set("LD_PRELOAD", "x")), "env.set.LD_PRELOAD");
        assert_eq!(key_of(set("PYTHONSAFEPATH", "1")), "env.set.PYTHONSAFEPATH");
        assert_eq!(key_of(set("A B", "x")), "env.set.\"A B\"");
        assert_eq!(key_of(set("9A", "x")), "env.set.9A");
        assert_eq!(
            issue_of(set("X", "a\0b")),
            ("env.set.X".to_owned(), "value contains a NUL byte".to_owned())
        );
        ok(set("X", "any value at all"));
        assert_eq!(key_of(|p| p.env.pass.push("HOME".into())), "env.pass[0]");
        assert_eq!(key_of(|p| p.env.pass.push("LD_AUDIT".into())), "env.pass[0]");
        assert_eq!(key_of(|p| p.env.pass.extend(["TZ".into(), "TZ".into()])), "env.pass[1]");
        ok(|p| p.env.pass.push("TZ".into()));
    }

    #[test]
    fn bind_rules() {
        let bind = |host: &str, jail: &str| {
            let b = Bind {
                host: host.into(),
                jail: jail.into(),
            };
            move |p: &mut Policy| p.filesystem.read_only.push(b)
        };
        ok(bind("/srv/data", "/data"));
        ok(bind("/usr/share/dict", "/usr/share/dict"));
        ok(bind("/srv", "/tmpfoo"));
        let jail = "filesystem.read-only[0].jail";
        for bad in [
            "/",
            "/proc",
            "/proc/self",
            "/dev",
            "/tmp/x",
            "/sandbox",
            "/./tmp",
            "data",
            "/a/../tmp",
            "//tmp",
        ] {
            assert_eq!(key_of(bind("/srv", bad)), jail, "{bad}");
        }
        assert_eq!(key_of(bind("srv", "/data")), "filesystem.read-only[0].host");
        assert_eq!(key_of(bind("/srv/../etc", "/data")), "filesystem.read-only[0].host");
        let twice = |p: &mut Policy| {
            bind("/a", "/data")(p);
            bind("/b", "/data/")(p);
        };
        assert_eq!(key_of(twice), "filesystem.read-only[1].jail");
    }

    #[test]
    fn hostnames() {
        for good in ["stockade", "a", "a-b", "a.b.c", "x1", "A1-b", &"a".repeat(63)] {
            assert_eq!(check_hostname(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", "a-", "a..b", "a_b", "a b", ".a", "a.", &"a".repeat(64), "ü"] {
            assert!(check_hostname(bad).is_err(), "{bad}");
        }
        assert_eq!(key_of(|p| p.isolation.hostname = "a_b".into()), "isolation.hostname");
    }

    #[test]
    fn serializes_with_file_names() {
        let json = serde_json::to_value(Policy::strict()).unwrap();
        assert_eq!(json["limits"]["wall-time"], "10s");
        assert_eq!(json["limits"]["memory"], 512 * MIB);
        assert_eq!(json["network"]["mode"], "none");
        assert_eq!(json["isolation"]["allow-degraded"], false);
    }
}
