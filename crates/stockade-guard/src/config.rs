//! The compiled guard configuration: what the hook needs, nothing else. The jail writes it as
//! JSON into the jail (`/etc/stockade/guard.json`); the hook reads it once, before Python
//! initialises. Pure data, shared by the writer (stockade-jail) and the reader (the hook).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

/// What to do with an event of a class: the one decision type, shared with the policy.
pub use stockade_protocol::Decision;

/// The guard's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GuardConfig {
    /// `true`: denied events raise (or kill); `false`: audit mode, everything is allowed and
    /// what would have been denied is recorded.
    pub enforce: bool,
    /// In enforce mode, kill the process on the first violation instead of raising.
    pub kill_on_violation: bool,
    /// Classes of allowed events to record as well.
    pub record: Vec<String>,
    /// Path prefixes of code that is trusted for internal use of code/introspection/imports:
    /// the standard library, frozen modules, and (when allowed) the venv.
    pub trusted: Vec<String>,
    /// Modules for which no decision is made when neither list matches.
    pub import_default_allow: bool,
    /// Allowed module prefixes.
    pub import_allow: Vec<String>,
    /// Denied module prefixes (deny wins for the same or a longer prefix).
    pub import_deny: Vec<String>,
    /// Readable path prefixes.
    pub read: Vec<String>,
    /// Writable path prefixes.
    pub write: Vec<String>,
    /// Allowed `host:port` for connect/sendto/getaddrinfo (`*` wildcards).
    pub connect: Vec<String>,
    /// Allowed `host:port` for bind.
    pub bind: Vec<String>,
    /// URL-level requests (`urllib.Request`) go through the host's egress proxy, which decides
    /// them against `network.allow` and reports its refusals itself; the guard lets them pass.
    /// Sockets are still checked against `connect` (the proxy's own address).
    #[serde(default)]
    pub urls_via_proxy: bool,
    /// Per-class decisions.
    pub process: Decision,
    /// compile/exec/eval of strings by user code.
    pub code: Decision,
    /// Code object construction and marshal loads by user code.
    pub code_objects: Decision,
    /// Dangerous pickle globals.
    pub deserialize: Decision,
    /// Frame, gc, trace and type-patching introspection by user code.
    pub introspection: Decision,
    /// ctypes/cffi calls by user code.
    pub ctypes: Decision,
    /// os.putenv/os.unsetenv.
    pub env: Decision,
    /// Signals to other processes.
    pub signal: Decision,
    /// Strings that must never be written to the audit channel (secret values).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// stockade's own code in the jail (the warm pool's zygote): calls made directly from these
    /// files may fork and signal, which the runs need; everything else is judged as usual.
    #[serde(default)]
    pub internal: Vec<String>,
    /// The interpreter's standard-library directories (where its `importlib` and `ctypes`
    /// packages are: frames there are matched by exact path, never by a substring).
    #[serde(default)]
    pub stdlib: Vec<String>,
    /// A seccomp program (raw `sock_filter`s in this file) to install when user code starts
    /// (`cpython.run_*`): the kernel then refuses what the policy denies even without an audit
    /// event (see docs/seccomp.md).
    #[serde(default)]
    pub seccomp_on_arm: Option<String>,
    /// `import_allow` and `import_deny` as one map, built at first use (an import is then judged
    /// by one lookup per dotted prefix of its name, not a scan of both lists).
    #[serde(skip)]
    pub import_sets: ImportSets,
}

/// In `import_allow` ([`ImportSets::ALLOW`]), in `import_deny` ([`ImportSets::DENY`]), or both.
pub type ImportMark = u8;

/// The import lists as one map from module name to [`ImportMark`] (derived data: equal whenever
/// the lists are; a clone builds its own, so a clone whose lists are then changed is never judged
/// by stale sets).
#[derive(Debug, Default)]
pub struct ImportSets(std::sync::OnceLock<HashMap<String, ImportMark, BuildHasherDefault<Fnv>>>);

impl Clone for ImportSets {
    fn clone(&self) -> Self {
        ImportSets::default()
    }
}

impl ImportSets {
    /// The name is in `import_allow`.
    pub const ALLOW: ImportMark = 1;
    /// The name is in `import_deny`.
    pub const DENY: ImportMark = 2;

    /// The marks of every name in the lists of `cfg`.
    pub fn of(cfg: &GuardConfig) -> &HashMap<String, ImportMark, BuildHasherDefault<Fnv>> {
        cfg.import_sets.0.get_or_init(|| {
            let mut map = HashMap::default();
            for (list, mark) in [(&cfg.import_allow, Self::ALLOW), (&cfg.import_deny, Self::DENY)] {
                for name in list {
                    *map.entry(name.clone()).or_default() |= mark;
                }
            }
            map
        })
    }
}

/// FNV-1a, unkeyed: the lookups of an import's name are a few bytes each, where SipHash's set-up
/// cost more than the text. The map's keys are the policy's (fixed before user code runs); a
/// name chosen to collide only costs its own lookup a few more comparisons, and every hit is
/// still an exact string comparison, so no name can be taken for another.
#[derive(Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl PartialEq for ImportSets {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ImportSets {}

impl GuardConfig {
    /// A permissive configuration (everything allowed, nothing recorded); for tests.
    #[must_use]
    pub fn allow_all() -> GuardConfig {
        GuardConfig {
            enforce: true,
            kill_on_violation: false,
            record: Vec::new(),
            trusted: Vec::new(),
            import_default_allow: true,
            import_allow: Vec::new(),
            import_deny: Vec::new(),
            read: vec!["/".into()],
            write: vec!["/".into()],
            connect: vec!["*:*".into()],
            bind: vec!["*:*".into()],
            urls_via_proxy: false,
            process: Decision::Allow,
            code: Decision::Allow,
            code_objects: Decision::Allow,
            deserialize: Decision::Allow,
            introspection: Decision::Allow,
            ctypes: Decision::Allow,
            env: Decision::Allow,
            signal: Decision::Allow,
            secrets: Vec::new(),
            internal: Vec::new(),
            stdlib: Vec::new(),
            seccomp_on_arm: None,
            import_sets: ImportSets::default(),
        }
    }
}
