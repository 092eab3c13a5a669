//! Policy → Plan: everything the jail will do, worked out before anything is done.
//!
//! Two steps. [`gather`] reads the world (the host's kernel features, the interpreter and its
//! manifest, the guard library, the environment variables the policy names, where the policy's
//! bind sources really are). [`compile`] is pure: the same request and inputs give the same plan
//! (tests/plan.rs keeps snapshots), holding the exact argv, environment, mounts, rlimits, id
//! mapping, Landlock paths and compiled seccomp program, so the child side only executes it.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use stockade_policy::{Limits, Policy};

use crate::error::{SetupError, Step};
use crate::host::HostSupport;
use crate::interpreter::{self, Manifest, RootEntry};
use crate::{guard_plan, seccomp};

/// Inside the jail, code runs as this uid and gid.
pub const JAIL_UID: u32 = 1000;
/// Inside the jail, code runs with this gid.
pub const JAIL_GID: u32 = 1000;
/// Where scripts are placed (read-only).
pub const SANDBOX_DIR: &str = "/sandbox";
/// The writable scratch directory: cwd, `/tmp` and `$HOME`.
pub const SCRATCH_DIR: &str = "/tmp";

/// What to run.
#[derive(Debug, Clone)]
pub enum Program {
    /// A script's source and the file name to show for it (no host directory).
    Script {
        /// File name inside the jail (`/sandbox/<name>`).
        name: String,
        /// Source bytes.
        source: Vec<u8>,
    },
    /// `python -c CODE`.
    Code(String),
}

/// The part of a `stockade run` request that a jail built ahead ([`JailMode::Standby`]) receives
/// last: the argv after the interpreter's own flags, and the program's files under `/sandbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateProgram {
    /// `-c CODE` or the script's jail path, then `sys.argv[1:]`.
    pub args: Vec<CString>,
    /// The script, when there is one.
    pub files: Vec<GeneratedFile>,
}

impl LateProgram {
    /// What `program` with `args` adds to a plan.
    pub fn of(program: &Program, args: &[String]) -> Result<LateProgram, SetupError> {
        let mut out = LateProgram {
            args: Vec::with_capacity(args.len() + 2),
            files: Vec::new(),
        };
        match program {
            Program::Script { name, source } => {
                let path = Path::new(SANDBOX_DIR).join(sanitise_name(name));
                out.args
                    .push(cstring(path.to_string_lossy().into_owned(), "script name")?);
                out.files.push(GeneratedFile {
                    path,
                    contents: source.clone(),
                    mode: 0o444,
                });
            }
            Program::Code(code) => {
                out.args.push(cstring("-c", "")?);
                out.args.push(cstring(code.clone(), "code")?);
            }
        }
        for a in args {
            out.args.push(cstring(a.clone(), "an argument")?);
        }
        Ok(out)
    }

    /// The wire form on the pipe to the waiting interpreter process: little-endian u32 counts
    /// and lengths — argc, each argument; file count, each file's path, mode and contents.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&u32::try_from(self.args.len()).unwrap_or(0).to_le_bytes());
        for a in &self.args {
            put(&mut out, a.as_bytes());
        }
        out.extend_from_slice(&u32::try_from(self.files.len()).unwrap_or(0).to_le_bytes());
        for f in &self.files {
            put(&mut out, f.path.as_os_str().as_encoded_bytes());
            out.extend_from_slice(&f.mode.to_le_bytes());
            put(&mut out, &f.contents);
        }
        out
    }

    /// [`LateProgram::encode`]'s inverse; `None` for anything malformed.
    #[must_use]
    pub fn decode(mut bytes: &[u8]) -> Option<LateProgram> {
        fn u32_of(b: &mut &[u8]) -> Option<u32> {
            let (head, rest) = b.split_first_chunk::<4>()?;
            *b = rest;
            Some(u32::from_le_bytes(*head))
        }
        fn take<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
            let n = usize::try_from(u32_of(b)?).ok()?;
            let (head, rest) = (b.get(..n)?, b.get(n..)?);
            *b = rest;
            Some(head)
        }
        let argc = u32_of(&mut bytes)?;
        let mut args = Vec::new();
        for _ in 0..argc {
            args.push(CString::new(take(&mut bytes)?).ok()?);
        }
        let nfiles = u32_of(&mut bytes)?;
        let mut files = Vec::new();
        for _ in 0..nfiles {
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(take(&mut bytes)?));
            let mode = u32_of(&mut bytes)?;
            let contents = take(&mut bytes)?.to_vec();
            if !path.starts_with(SANDBOX_DIR) || path.components().count() != 3 {
                return None;
            }
            files.push(GeneratedFile { path, contents, mode });
        }
        bytes.is_empty().then_some(LateProgram { args, files })
    }
}

/// Where the jail's stdin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinMode {
    /// Copy the caller's stdin into the jail through a pipe.
    Forward,
    /// An empty stdin (end of file at once).
    Null,
    /// These bytes, then end of file (a sealed memfd).
    Data(Vec<u8>),
}

/// A request to run one program under one policy.
#[derive(Debug, Clone)]
pub struct Request {
    /// The effective policy (file + profile + CLI overrides).
    pub policy: Policy,
    /// The program.
    pub program: Program,
    /// `sys.argv[1:]`.
    pub args: Vec<String>,
    /// Stream stdout/stderr to the caller's as they arrive (still captured and capped).
    pub passthrough: bool,
    /// Stdin handling.
    pub stdin: StdinMode,
    /// Where to write the audit trail (JSON Lines), if anywhere.
    pub audit_log: Option<AuditSink>,
    /// More files to place in the jail: under `/sandbox` (read-only) or `/tmp` (the scratch,
    /// owned by the code). Paths are checked by [`compile`].
    pub extra_files: Vec<GeneratedFile>,
    /// stockade's own files in the jail (its runner): trusted like the standard library, and
    /// allowed to fork and signal for the runs.
    pub internal_files: Vec<String>,
    /// What kind of jail, and so which channels its interpreter gets (docs/engine.md).
    pub mode: JailMode,
    /// Modules a pool's zygote imports before serving.
    pub preload: Vec<String>,
}

/// The kind of jail, and the fds its interpreter starts with beyond stdio and the guard's
/// report channel (fd 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailMode {
    /// `stockade run`: a script or `-c` code, stdio only.
    Script,
    /// One run of code through the API: stockade's runner reads this request frame from a
    /// sealed memfd (fd 5) and writes its answer frame on a pipe (fd 4).
    Api {
        /// The request frame.
        request: Vec<u8>,
    },
    /// A pool's zygote: long-lived; forks a process with its own namespaces for every run;
    /// talks to the supervisor on a unix socket (fd 6), which brings each run's fds.
    Pool,
    /// A session's interpreter: long-lived; runs cells in itself; fd 6 as for a pool.
    Session,
    /// `stockade run` built ahead of its request (`stockade helper`): a [`JailMode::Script`]
    /// jail whose program (the argv after the interpreter's own flags, and its files under a
    /// `/sandbox` of its own) arrives on a pipe once the whole jail stands; the interpreter's
    /// process waits for it with every layer but Landlock's restriction applied.
    Standby,
}

impl JailMode {
    /// Long-lived (pool or session).
    #[must_use]
    pub fn is_warm(&self) -> bool {
        matches!(self, JailMode::Pool | JailMode::Session)
    }
}

/// Destination of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    /// Append to a file.
    File(PathBuf),
    /// stockade's own stderr.
    Stderr,
}

/// How the jail's uids and gids map to the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapping {
    /// Host uid that the jail's uid 1000 is.
    pub host_uid: u32,
    /// Host gid that the jail's gid 1000 is.
    pub host_gid: u32,
    /// Whether the supervisor is root (then setgroups stays allowed so the child can clear the
    /// supplementary groups it inherited from root).
    pub privileged: bool,
}

/// A file stockade writes into the jail's read-only root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path in the jail.
    pub path: PathBuf,
    /// Contents.
    pub contents: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// The jail's filesystem.
#[derive(Debug, Clone)]
pub struct RootPlan {
    /// Interpreter files, libraries, venv: host path = jail path.
    pub entries: Vec<RootEntry>,
    /// Extra read-only binds from the policy (host, jail).
    pub extra_binds: Vec<(PathBuf, PathBuf)>,
    /// Files written into the root.
    pub files: Vec<GeneratedFile>,
    /// Scratch tmpfs size in bytes.
    pub scratch_bytes: u64,
    /// Scratch tmpfs inode limit.
    pub scratch_inodes: u64,
}

/// The paths of `paths` that no other of them contains (by whole components), in their order,
/// each once: a Landlock rule on a directory covers everything beneath it, across mount points,
/// so a rule beneath it with the same rights only costs system calls (five each).
fn outermost(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    // Sorted by components, a path's descendants follow it directly: one pass finds every path
    // inside another (pairwise it was ~30,000 comparisons, a millisecond of every cold run).
    let mut sorted: Vec<&PathBuf> = paths.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut inside = std::collections::HashSet::new();
    let mut last: Option<&PathBuf> = None;
    for p in sorted {
        match last {
            Some(o) if p.starts_with(o) => {
                inside.insert(p);
            }
            _ => last = Some(p),
        }
    }
    let mut seen = std::collections::HashSet::new();
    paths
        .iter()
        .filter(|p| !inside.contains(p) && seen.insert(*p))
        .cloned()
        .collect()
}

/// Landlock rules matching the mount view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandlockPlan {
    /// Read (and execute) only.
    pub read_only: Vec<PathBuf>,
    /// Full access beneath (the scratch).
    pub read_write: Vec<PathBuf>,
    /// Device files: read and write.
    pub devices: Vec<PathBuf>,
    /// Read-only pseudo filesystems (/proc).
    pub pseudo: Vec<PathBuf>,
    /// TCP ports the code may connect to (the egress proxy's, with `network.mode = "proxy"`);
    /// every other TCP connect and every TCP bind is refused.
    pub connect_ports: Vec<u16>,
}

/// One rlimit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `libc::RLIMIT_*`.
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
    /// Name for reports.
    pub name: &'static str,
}

/// Which layers the plan applies and which are missing (allowed only with allow-degraded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Degradation {
    /// Layer names that will not be applied, with why.
    pub missing: Vec<(String, String)>,
}

/// Everything the jail will do.
#[derive(Debug)]
pub struct Plan {
    /// Interpreter path (same in jail and host).
    pub exec_path: CString,
    /// argv.
    pub argv: Vec<CString>,
    /// Environment, `NAME=value`.
    pub envp: Vec<CString>,
    /// Filesystem.
    pub root: RootPlan,
    /// Hostname.
    pub hostname: String,
    /// rlimits for the jail's processes.
    pub rlimits: Vec<Rlimit>,
    /// Id mapping.
    pub ids: IdMapping,
    /// Landlock rules (None when degraded).
    pub landlock: Option<LandlockPlan>,
    /// Compiled seccomp program (None when degraded).
    pub seccomp: Option<seccompiler::BpfProgram>,
    /// Policy limits (the supervisor enforces wall time, output and total CPU).
    pub limits: Limits,
    /// cgroup limits to apply.
    pub cgroup_limits: stockade_cgroup::Limits,
    /// Stdin handling.
    pub stdin: StdinMode,
    /// Live output.
    pub passthrough: bool,
    /// Missing layers.
    pub degradation: Degradation,
    /// The interpreter manifest it was built from.
    pub manifest: Manifest,
    /// Whether the in-interpreter guard is loaded.
    pub guard: bool,
    /// Values that must never appear in results, logs or messages.
    pub secrets: Vec<String>,
    /// Audit trail destination.
    pub audit_log: Option<AuditSink>,
    /// Hash of the effective policy (for the audit trail).
    pub policy_hash: String,
    /// The kind of jail.
    pub mode: JailMode,
    /// Capabilities (in the jail's user namespace only) the interpreter keeps: a pool's zygote
    /// keeps `CAP_SYS_ADMIN` and `CAP_SETPCAP` to give each run its own namespaces; the runs
    /// drop them before any of their code runs. Empty everywhere else.
    pub keep_caps: Vec<u32>,
    /// Landlock is applied before `execve` (not in a pool: each run applies it to itself
    /// after mounting its own scratch, which a landlocked process may not do).
    pub landlock_at_exec: bool,
    /// The init's own allow-list filter.
    pub init_seccomp: Option<seccompiler::BpfProgram>,
    /// The policy's `[network]` section when the jail gets the egress proxy
    /// (`network.mode = "proxy"`): the jail binds the proxy's socket during its setup and hands
    /// it to the supervisor, which serves it.
    pub egress: Option<stockade_egress::EgressConfig>,
    /// The policy's read-only binds as they are made (for the isolation report).
    pub policy_binds: Vec<ResolvedBind>,
}

impl Plan {
    /// Whether this jail, built ahead ([`JailMode::Standby`]), is the jail `real` (the same
    /// request compiled as [`JailMode::Script`] with `late` as its program) would build: every
    /// field equal except the program's arguments and files, and what only the supervisor
    /// uses (stdin, live output, the audit sink). Anything else that differs — the policy, the
    /// interpreter or its files, the caller's environment, the host — and the jail is not used.
    #[must_use]
    pub fn serves(&self, real: &Plan, late: &LateProgram) -> bool {
        // Every field is named, so a new one must be placed on one side or the other.
        let Plan {
            exec_path,
            argv,
            envp,
            root,
            hostname,
            rlimits,
            ids,
            landlock,
            seccomp,
            limits,
            cgroup_limits,
            stdin: _,
            passthrough: _,
            degradation,
            manifest,
            guard,
            secrets,
            audit_log: _,
            policy_hash,
            mode,
            keep_caps,
            landlock_at_exec,
            init_seccomp,
            egress,
            policy_binds,
        } = real;
        let program_files: Vec<&Path> = late.files.iter().map(|f| f.path.as_path()).collect();
        let files: Vec<&GeneratedFile> = root
            .files
            .iter()
            .filter(|f| !program_files.contains(&f.path.as_path()))
            .collect();
        let expected_argv = self.argv.iter().chain(&late.args);
        self.mode == JailMode::Standby
            && *mode == JailMode::Script
            && argv.len() == self.argv.len() + late.args.len()
            && argv.iter().eq(expected_argv)
            && files.len() == self.root.files.len()
            && files.iter().zip(&self.root.files).all(|(a, b)| *a == b)
            && self.exec_path == *exec_path
            && self.envp == *envp
            && self.root.entries == root.entries
            && self.root.extra_binds == root.extra_binds
            && (self.root.scratch_bytes, self.root.scratch_inodes) == (root.scratch_bytes, root.scratch_inodes)
            && self.hostname == *hostname
            && self.rlimits == *rlimits
            && self.ids == *ids
            && self.landlock == *landlock
            && self.limits == *limits
            && self.cgroup_limits == *cgroup_limits
            && self.seccomp == *seccomp
            && self.init_seccomp == *init_seccomp
            && self.degradation == *degradation
            && self.manifest == *manifest
            && self.policy_binds == *policy_binds
            // Only a proxy policy has one; a jail's own CA or placeholders never match another's.
            && format!("{:?}", self.egress) == format!("{egress:?}")
            && self.guard == *guard
            && self.secrets == *secrets
            && self.policy_hash == *policy_hash
            && self.keep_caps == *keep_caps
            && self.landlock_at_exec == *landlock_at_exec
    }
}

fn cstring(s: impl Into<Vec<u8>>, what: &str) -> Result<CString, SetupError> {
    CString::new(s).map_err(|_| SetupError::Request(format!("{what} contains a NUL byte")))
}

/// Host uid (and gid) for a run when the supervisor is root: unprivileged, unused by real
/// accounts, and unique among live runs (derived from the supervisor's pid), so RLIMIT_NPROC
/// counts one run. It must be an id the supervisor's own user namespace maps: on a host that is
/// all of them, one from 2^30 up; as root of a namespace that maps fewer (a Kubernetes pod with
/// `hostUsers: false` maps 65536), one from the upper half of the largest mapped range, short
/// of its last two ids (`nobody` and the overflow id).
fn run_host_id(pid: u32) -> u32 {
    let uid_map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let gid_map = std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
    pick_run_id(&uid_map, &gid_map, pid)
}

fn pick_run_id(uid_map: &str, gid_map: &str, pid: u32) -> u32 {
    let ranges = |text: &str| -> Vec<(u64, u64)> {
        text.lines()
            .filter_map(|l| {
                let f: Vec<u64> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
                (f.len() == 3 && f[2] > 0).then(|| (f[0], f[2]))
            })
            .collect()
    };
    let (uids, gids) = (ranges(uid_map), ranges(gid_map));
    let mapped = |rs: &[(u64, u64)], id: u64| rs.iter().any(|&(start, n)| id >= start && id < start + n);
    let wide = 0x4000_0000u64 + u64::from(pid & 0x3fff_ffff);
    if (uids.is_empty() && gids.is_empty()) || (mapped(&uids, wide) && mapped(&gids, wide)) {
        return u32::try_from(wide).unwrap_or(u32::MAX);
    }
    // The largest range both maps hold.
    let Some(&(start, count)) = uids
        .iter()
        .filter(|&&(start, n)| mapped(&gids, start) && mapped(&gids, start + n - 1))
        .max_by_key(|&&(_, n)| n)
    else {
        return u32::try_from(wide).unwrap_or(u32::MAX);
    };
    let half = count / 2;
    let room = half.saturating_sub(2).max(1);
    u32::try_from(start + half + u64::from(pid) % room).unwrap_or(u32::MAX)
}

/// A `filesystem.read-only` bind as it will be made: the host path the policy named, and the
/// real path behind it (symlinks resolved here, deliberately and once; the child then opens the
/// real path refusing any symlink, so a link swapped in later fails instead of being followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBind {
    /// The host path as the policy names it.
    pub requested: PathBuf,
    /// Its real path (what is bound).
    pub real: PathBuf,
    /// Where it appears in the jail.
    pub jail: PathBuf,
}

/// Everything [`compile`] needs from the world.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The host's kernel features and cgroups.
    pub host: HostSupport,
    /// The interpreter's manifest (with the preload library's dependencies).
    pub manifest: Manifest,
    /// The guard/preload library on the host, if found.
    pub guard_lib: Option<PathBuf>,
    /// The values of the environment variables the policy names (`env.pass`, `env.secret`, and
    /// the host variables of `[secrets]`).
    pub env: BTreeMap<String, String>,
    /// The policy's read-only binds, resolved.
    pub binds: Vec<ResolvedBind>,
    /// The supervisor's pid (the per-run host uid is derived from it when root).
    pub supervisor_pid: u32,
}

/// The environment variables a policy reads from its caller: `env.pass`, `env.secret`, and the
/// host variables of `[secrets]` (read here too; only the egress proxy gets those, never the jail).
#[must_use]
pub fn env_names(policy: &Policy) -> Vec<String> {
    let secret_sources = policy.secrets.values().filter_map(|s| s.env_var().map(str::to_owned));
    let mut names: Vec<String> = policy
        .env
        .pass
        .iter()
        .chain(&policy.env.secret)
        .cloned()
        .chain(secret_sources)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Read what [`compile`] needs: host features, interpreter manifest, guard library, the
/// policy's environment variables and bind sources.
pub fn gather(policy: &Policy) -> Result<Inputs, SetupError> {
    gather_with_env(policy, &|name| std::env::var(name).ok())
}

/// [`gather`], with the policy's environment variables read through `env` (`stockade helper`
/// serves callers whose environment is not its own).
pub fn gather_with_env(policy: &Policy, env: &dyn Fn(&str) -> Option<String>) -> Result<Inputs, SetupError> {
    let host = HostSupport::probe();
    let executable = interpreter::resolve(policy.python.interpreter.as_deref(), policy.python.venv.as_deref())?;
    let guard_lib = guard_plan::find_library();
    let preload: Vec<PathBuf> = guard_lib.iter().cloned().collect();
    let manifest = interpreter::manifest(&executable, policy.python.venv.as_deref(), &preload)?;
    let env = env_names(policy)
        .into_iter()
        .filter_map(|name| env(&name).map(|v| (name, v)))
        .collect();
    let mut binds = Vec::new();
    for b in &policy.filesystem.read_only {
        let real = std::fs::canonicalize(&b.host).map_err(|e| SetupError::Step {
            step: Step::BuildRoot,
            detail: format!("filesystem.read-only host path {}", b.host.display()),
            source: e,
        })?;
        binds.push(ResolvedBind {
            requested: b.host.clone(),
            real,
            jail: b.jail.clone(),
        });
    }
    Ok(Inputs {
        host,
        manifest,
        guard_lib,
        env,
        binds,
        supervisor_pid: std::process::id(),
    })
}

/// Compile a request into a plan. Pure: reads nothing but its arguments.
pub fn compile(req: &Request, inputs: &Inputs) -> Result<Plan, SetupError> {
    let policy = &req.policy;
    let host = &inputs.host;
    let (manifest, relocated) = relocate(inputs.manifest.clone());

    let mut degradation = Degradation::default();
    let mut require = |layer: &str, ok: Result<(), String>| -> Result<bool, SetupError> {
        match ok {
            Ok(()) => Ok(true),
            Err(reason) if policy.isolation.allow_degraded => {
                degradation.missing.push((layer.to_string(), reason));
                Ok(false)
            }
            Err(reason) => Err(SetupError::LayerMissing {
                layer: layer.to_string(),
                reason,
            }),
        }
    };
    if let Err(reason) = &host.user_namespaces {
        // Every other layer stands on the user namespace: there is no degraded mode without it.
        return Err(SetupError::LayerMissing {
            layer: "user namespace".into(),
            reason: reason.clone(),
        });
    }
    let use_landlock = require(
        "landlock",
        host.landlock_abi.map(drop).ok_or_else(|| "Landlock is unavailable (needs Linux 5.13+ booted with landlock in lsm=, or it was disabled with STOCKADE_DISABLE_LAYERS)".into()),
    )?;
    let use_seccomp = require(
        "seccomp",
        if host.seccomp {
            Ok(())
        } else {
            Err(
                "seccomp filters are unavailable (kernel support missing, or disabled with STOCKADE_DISABLE_LAYERS)"
                    .into(),
            )
        },
    )?;

    // A warm jail needs the library even without the guard: it carries the native half of the
    // runner (the zygote's fork loop, a session's cell channels), and its constructor makes a
    // pool's zygote non-dumpable (see `stockade_guard::NONDUMPABLE_ENV`).
    let serving = req.mode.is_warm();
    let pool = req.mode == JailMode::Pool;
    let guard_lib = if policy.guard.enabled || serving {
        inputs.guard_lib.clone()
    } else {
        None
    };
    if serving && guard_lib.is_none() {
        return Err(SetupError::Request(
            "a warm jail needs libstockade_guard.so (it carries the runner's native half and keeps the zygote out of its runs' reach), and it was not found next to stockade (build the whole workspace, or set STOCKADE_GUARD_LIB)".into(),
        ));
    }
    let use_guard = policy.guard.enabled
        && require(
            "guard",
            guard_lib.as_ref().map(drop).ok_or_else(|| {
                "the guard library libstockade_guard.so was not found next to stockade (build the whole workspace, or set STOCKADE_GUARD_LIB)"
                    .into()
            }),
        )?;
    let mut secrets: Vec<String> = secret_values(policy, &inputs.env);

    // argv: the interpreter, no site (site-packages are added through PYTHONPATH instead, so
    // no .pth file runs code at start-up), no user site, then the program.
    let exe = manifest.executable.to_string_lossy().into_owned();
    let mut argv = vec![
        cstring(exe.clone(), "interpreter path")?,
        cstring("-s", "")?,
        cstring("-S", "")?,
    ];
    let mut files = base_files(&policy.isolation.hostname);
    for f in &req.extra_files {
        let ok = (f.path.starts_with(SANDBOX_DIR) || f.path.starts_with(SCRATCH_DIR))
            && f.path.is_absolute()
            && f.path
                .components()
                .all(|c| matches!(c, std::path::Component::RootDir | std::path::Component::Normal(_)))
            && f.path.components().count() > 2;
        if !ok {
            return Err(SetupError::Request(format!(
                "file {:?} must be a plain path under /sandbox or /tmp",
                f.path
            )));
        }
        files.push(f.clone());
    }
    // A jail built ahead gets its program later (`LateProgram`); everything else is the same.
    if req.mode != JailMode::Standby {
        let late = LateProgram::of(&req.program, &req.args)?;
        argv.extend(late.args);
        files.extend(late.files);
    }

    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for name in &policy.env.pass {
        if let Some(v) = inputs.env.get(name) {
            env.insert(name.clone(), v.clone());
        }
    }
    for (k, v) in &policy.env.set {
        env.insert(k.clone(), v.clone());
    }
    let mut site: Vec<String> = manifest
        .site_paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if policy.network.egress() {
        // Packages installed at run time (pip through the proxy) go to the scratch, last on
        // the path; the guard treats what is there as the run's own modules.
        site.push(stockade_policy::PACKAGES_DIR.to_owned());
        if !policy.env.set.contains_key("PIP_TARGET") {
            env.insert("PIP_TARGET".into(), stockade_policy::PACKAGES_DIR.to_owned());
        }
    }
    if !site.is_empty() {
        env.insert("PYTHONPATH".into(), site.join(":"));
    }
    env.insert("PYTHONNOUSERSITE".into(), "1".into());
    let egress = if policy.network.egress() {
        let config = stockade_egress::EgressConfig::new(policy, &inputs.env).map_err(SetupError::Request)?;
        // Every client library reads one of the proxy variables; the jail has no resolver and
        // no route, so a client that ignores them reaches nothing. Secrets are placeholders.
        env.extend(config.jail_env());
        env.remove("NO_PROXY");
        env.remove("no_proxy");
        files.push(GeneratedFile {
            path: PathBuf::from(stockade_egress::JAIL_BUNDLE_PATH),
            contents: config.jail_bundle().into_bytes(),
            mode: 0o444,
        });
        secrets.extend(config.secret_values());
        Some(config)
    } else {
        None
    };
    if serving {
        env.insert("LD_PRELOAD".into(), guard_plan::LIB_IN_JAIL.into());
        env.insert(stockade_guard::RUNNER_MODULE_ENV.into(), "1".into());
    }
    if pool {
        env.insert(stockade_guard::NONDUMPABLE_ENV.into(), "1".into());
    }
    if use_guard {
        env.insert("LD_PRELOAD".into(), guard_plan::LIB_IN_JAIL.into());
        env.insert(stockade_guard::CONFIG_ENV.into(), guard_plan::CONFIG_IN_JAIL.into());
        env.insert(stockade_guard::FD_ENV.into(), guard_plan::EVENTS_FD.to_string());
        let mut config = guard_plan::compile(policy, &manifest, secrets.clone());
        config.internal.clone_from(&req.internal_files);
        config.trusted.extend(req.internal_files.iter().cloned());
        // The kernel refuses new processes too once user code starts — except in a pool's
        // zygote, which forks the runs: there each run installs the same rules itself.
        if use_seccomp && !pool && policy.guard.rules.process == stockade_policy::Decision::Deny {
            let prog =
                seccomp::compile_no_processes().map_err(|e| SetupError::Request(format!("seccomp filter: {e}")))?;
            files.push(GeneratedFile {
                path: PathBuf::from(guard_plan::NO_PROCESSES_IN_JAIL),
                contents: seccomp::to_bytes(&prog),
                mode: 0o444,
            });
            config.seccomp_on_arm = Some(guard_plan::NO_PROCESSES_IN_JAIL.into());
        }
        files.push(GeneratedFile {
            path: PathBuf::from(guard_plan::CONFIG_IN_JAIL),
            contents: serde_json::to_vec_pretty(&config).unwrap_or_default(),
            mode: 0o444,
        });
    }
    let envp = env
        .iter()
        .map(|(k, v)| cstring(format!("{k}={v}"), "an environment variable"))
        .collect::<Result<Vec<_>, _>>()?;

    let limits = policy.limits;
    let cpu_secs = limits.cpu_time.as_secs().max(1);
    let memory_by_cgroup = host.cgroups.memory.is_some();
    let nproc = u64::from(limits.processes) + if host.cgroups.pids.is_some() { 4 } else { 1 };
    let mut rlimits = vec![
        Rlimit {
            resource: libc::RLIMIT_CPU,
            soft: cpu_secs,
            hard: cpu_secs + 1,
            name: "cpu",
        },
        Rlimit {
            resource: libc::RLIMIT_FSIZE,
            soft: limits.file_size,
            hard: limits.file_size,
            name: "fsize",
        },
        Rlimit {
            resource: libc::RLIMIT_NOFILE,
            soft: limits.open_files,
            hard: limits.open_files,
            name: "nofile",
        },
        // +1: the jail's init counts too. With a pids cgroup the cgroup is the exact limit (and
        // records hits); the rlimit stays as a slightly looser backstop.
        Rlimit {
            resource: libc::RLIMIT_NPROC,
            soft: nproc,
            hard: nproc,
            name: "nproc",
        },
        // 1, not 0: for a core_pattern that pipes to a helper (run as root on the host), the
        // kernel ignores the limit except that 1 means "no dump"; a file dump needs at least a
        // page. The seccomp filter keeps the jail from lowering it to 0.
        Rlimit {
            resource: libc::RLIMIT_CORE,
            soft: 1,
            hard: 1,
            name: "core",
        },
        Rlimit {
            resource: libc::RLIMIT_MEMLOCK,
            soft: 64 << 10,
            hard: 64 << 10,
            name: "memlock",
        },
        Rlimit {
            resource: libc::RLIMIT_MSGQUEUE,
            soft: 0,
            hard: 0,
            name: "msgqueue",
        },
    ];
    if pool {
        // The zygote lives for many runs: its own CPU time must never reach a run's limit.
        // Each run's process sets RLIMIT_CPU to the policy's value for itself.
        rlimits[0].soft = libc::RLIM_INFINITY;
        rlimits[0].hard = libc::RLIM_INFINITY;
    }
    if !memory_by_cgroup {
        rlimits.push(Rlimit {
            resource: libc::RLIMIT_AS,
            soft: limits.memory,
            hard: limits.memory,
            name: "as",
        });
    }

    let privileged = host.euid == 0;
    let ids = if privileged {
        let id = run_host_id(inputs.supervisor_pid);
        IdMapping {
            host_uid: id,
            host_gid: id,
            privileged,
        }
    } else {
        IdMapping {
            host_uid: host.euid,
            host_gid: host.egid,
            privileged,
        }
    };

    let mut extra_binds: Vec<(PathBuf, PathBuf)> =
        inputs.binds.iter().map(|b| (b.real.clone(), b.jail.clone())).collect();
    if let (true, Some(lib)) = (use_guard || serving, &guard_lib) {
        extra_binds.push((lib.clone(), PathBuf::from(guard_plan::LIB_IN_JAIL)));
    }
    extra_binds.extend(relocated);
    let egress_ports: Vec<u16> = if policy.network.egress() {
        vec![stockade_policy::PROXY_PORT]
    } else {
        Vec::new()
    };
    let landlock = use_landlock.then(|| {
        let mut read_only: Vec<PathBuf> = manifest
            .entries
            .iter()
            .filter_map(|e| {
                if let RootEntry::Bind { path, .. } = e {
                    Some(path.clone())
                } else {
                    None
                }
            })
            .collect();
        read_only.extend(extra_binds.iter().map(|(_, j)| j.clone()));
        read_only.push(PathBuf::from(SANDBOX_DIR));
        read_only.push(PathBuf::from("/etc"));
        LandlockPlan {
            read_only: outermost(read_only),
            read_write: vec![PathBuf::from(SCRATCH_DIR)],
            devices: DEVICES.iter().map(|d| Path::new("/dev").join(d)).collect(),
            pseudo: vec![PathBuf::from("/proc")],
            connect_ports: egress_ports.clone(),
        }
    });
    let seccomp_err = |e: seccomp::SeccompError| SetupError::Request(format!("seccomp filter: {e}"));
    let seccomp = if use_seccomp {
        Some(
            seccomp::compile(&seccomp::SeccompOptions {
                allow_tcp4: policy.network.egress(),
                zygote: pool,
            })
            .map_err(seccomp_err)?,
        )
    } else {
        None
    };
    let init_seccomp = if use_seccomp {
        Some(seccomp::compile_init().map_err(seccomp_err)?)
    } else {
        None
    };
    if pool {
        let lockdown = if use_seccomp {
            let no_processes = policy.guard.enabled && policy.guard.rules.process == stockade_policy::Decision::Deny;
            let prog = seccomp::compile_run_lockdown(no_processes).map_err(seccomp_err)?;
            files.push(GeneratedFile {
                path: PathBuf::from(guard_plan::RUN_LOCKDOWN_IN_JAIL),
                contents: seccomp::to_bytes(&prog),
                mode: 0o444,
            });
            Some(guard_plan::RUN_LOCKDOWN_IN_JAIL.to_string())
        } else {
            None
        };
        // Without Landlock's scoping (ABI 6) runs of a worker get a network namespace each; the
        // proxy's socket lives in the worker's, so a proxy policy needs the scoping.
        let net_per_run = host.landlock_abi.is_none_or(|abi| abi < 6);
        if net_per_run && policy.network.egress() {
            return Err(SetupError::LayerMissing {
                layer: "landlock".into(),
                reason: "network.mode = \"proxy\" in a pool or session needs Landlock ABI 6 (Linux 6.12+), which scopes abstract unix sockets and signals to each run; cold runs work without it".into(),
            });
        }
        let strings = |v: &[PathBuf]| v.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let config = stockade_protocol::zygote::ZygoteConfig {
            scratch_bytes: limits.scratch,
            scratch_inodes: scratch_inodes(limits.scratch),
            uid: JAIL_UID,
            gid: JAIL_GID,
            cpu_seconds: cpu_secs,
            landlock: landlock.as_ref().map(|l| stockade_protocol::zygote::LandlockPaths {
                read_only: strings(&l.read_only),
                read_write: strings(&l.read_write),
                devices: strings(&l.devices),
                pseudo: strings(&l.pseudo),
                connect_ports: l.connect_ports.clone(),
            }),
            lockdown_filter: lockdown,
            net_per_run,
            preload: req.preload.clone(),
        };
        files.push(GeneratedFile {
            path: PathBuf::from(stockade_protocol::zygote::CONFIG_PATH),
            contents: serde_json::to_vec_pretty(&config).unwrap_or_default(),
            mode: 0o444,
        });
    }

    Ok(Plan {
        exec_path: cstring(exe, "interpreter path")?,
        argv,
        envp,
        root: RootPlan {
            entries: manifest.entries.clone(),
            extra_binds,
            files,
            scratch_bytes: limits.scratch,
            scratch_inodes: scratch_inodes(limits.scratch),
        },
        hostname: policy.isolation.hostname.clone(),
        rlimits,
        ids,
        landlock,
        seccomp,
        limits,
        cgroup_limits: stockade_cgroup::Limits {
            memory: limits.memory,
            // +1 for init; a pool also holds its zygote and the next run's process with its
            // pid namespace's init.
            pids: u64::from(limits.processes) + if pool { 5 } else { 1 },
        },
        stdin: req.stdin.clone(),
        passthrough: req.passthrough,
        degradation,
        manifest,
        guard: use_guard,
        secrets,
        audit_log: req.audit_log.clone(),
        policy_hash: policy_hash(policy),
        mode: req.mode.clone(),
        keep_caps: if pool {
            vec![CAP_SYS_ADMIN, CAP_SETPCAP]
        } else {
            Vec::new()
        },
        landlock_at_exec: !pool,
        init_seccomp,
        egress,
        policy_binds: inputs.binds.clone(),
    })
}

/// `CAP_SETPCAP` (capability.h).
const CAP_SETPCAP: u32 = 8;
/// `CAP_SYS_ADMIN` (capability.h).
const CAP_SYS_ADMIN: u32 = 21;

/// Inodes of a scratch of `bytes`.
fn scratch_inodes(bytes: u64) -> u64 {
    (bytes / 16384).clamp(1024, 1 << 20)
}

/// Jail paths stockade owns: a host path under one of them (a venv in the host's /tmp, say)
/// would be hidden by the scratch or the generated files, so it is bound under `/run/host`.
const RESERVED_JAIL_PREFIXES: &[&str] = &["/tmp", "/sandbox", "/proc", "/dev", "/run/host"];
const RELOCATED_ROOT: &str = "/run/host";

fn relocated_path(path: &Path) -> PathBuf {
    if RESERVED_JAIL_PREFIXES.iter().any(|r| path.starts_with(r)) {
        Path::new(RELOCATED_ROOT).join(path.strip_prefix("/").unwrap_or(path))
    } else {
        path.to_path_buf()
    }
}

/// Move every manifest path under a reserved jail prefix to `/run/host/...`: returns the
/// manifest as the jail sees it, and the binds (host, jail) that replace its moved entries.
fn relocate(mut m: Manifest) -> (Manifest, Vec<(PathBuf, PathBuf)>) {
    let mut moved = Vec::new();
    m.entries.retain(|e| match e {
        RootEntry::Bind { path, .. } if relocated_path(path) != *path => {
            moved.push((path.clone(), relocated_path(path)));
            false
        }
        // A link there would be hidden too; what it points to is bound in its own right.
        RootEntry::Symlink { path, .. } => relocated_path(path) == *path,
        RootEntry::Bind { .. } => true,
    });
    for list in [&mut m.site_paths, &mut m.stdlib_paths, &mut m.venv_site_paths] {
        for p in list.iter_mut() {
            *p = relocated_path(p);
        }
    }
    m.venv = m.venv.as_deref().map(relocated_path);
    m.executable = relocated_path(&m.executable);
    (m, moved)
}

/// SHA-256 of the effective policy as printed by `policy show`.
#[must_use]
pub fn policy_hash(policy: &Policy) -> String {
    use sha2::Digest;
    // Rendering the policy is most of a plan's compile (≈ 0.1 ms); a jail built ahead's
    // supervisor compiles the same policy again on the run's path, so the last one is kept.
    static LAST: std::sync::Mutex<Option<(Policy, String)>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((p, hash)) = last.as_ref() {
        if p == policy {
            return hash.clone();
        }
    }
    let digest = sha2::Sha256::digest(policy.to_toml().as_bytes());
    let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    *last = Some((policy.clone(), hash.clone()));
    hash
}

/// Device nodes bound into the jail's /dev.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

fn sanitise_name(name: &str) -> String {
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() || clean.starts_with('.') {
        format!("main{clean}")
    } else {
        clean
    }
}

fn base_files(hostname: &str) -> Vec<GeneratedFile> {
    let f = |path: &str, contents: String| GeneratedFile {
        path: PathBuf::from(path),
        contents: contents.into_bytes(),
        mode: 0o444,
    };
    vec![
        f(
            "/etc/passwd",
            format!("root:x:0:0:root:/root:/sbin/nologin\nsandbox:x:{JAIL_UID}:{JAIL_GID}:sandbox:/tmp:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"),
        ),
        f("/etc/group", format!("root:x:0:\nsandbox:x:{JAIL_GID}:\nnogroup:x:65534:\n")),
        f("/etc/hostname", format!("{hostname}\n")),
        f("/etc/hosts", format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost\n")),
        f("/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n".to_string()),
    ]
}

/// Values of the environment variables the policy marks secret (as the jail will see them).
fn secret_values(policy: &Policy, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut values: Vec<String> = policy
        .env
        .secret
        .iter()
        .filter_map(|name| policy.env.set.get(name).or_else(|| env.get(name)).cloned())
        .filter(|v| !v.is_empty())
        .collect();
    // Longest first, so a secret that contains another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values
}

impl Plan {
    /// A readable, deterministic account of the plan (the plan snapshot tests keep these).
    #[must_use]
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let lossy = |c: &CString| c.to_string_lossy().into_owned();
        let _ = writeln!(out, "exec: {}", lossy(&self.exec_path));
        let _ = writeln!(out, "argv: {:?}", self.argv.iter().map(lossy).collect::<Vec<_>>());
        let _ = writeln!(out, "env:");
        for e in &self.envp {
            let _ = writeln!(out, "  {}", lossy(e));
        }
        let _ = writeln!(out, "root:");
        for e in &self.root.entries {
            let _ = writeln!(out, "  {e:?}");
        }
        for (host, jail) in &self.root.extra_binds {
            let _ = writeln!(out, "  bind {} -> {}", host.display(), jail.display());
        }
        for f in &self.root.files {
            let _ = writeln!(
                out,
                "  file {} mode {:o}, {} bytes",
                f.path.display(),
                f.mode,
                f.contents.len()
            );
        }
        let _ = writeln!(
            out,
            "scratch: {} bytes, {} inodes",
            self.root.scratch_bytes, self.root.scratch_inodes
        );
        let _ = writeln!(out, "hostname: {}", self.hostname);
        let _ = writeln!(out, "ids: {:?}", self.ids);
        for r in &self.rlimits {
            let _ = writeln!(out, "rlimit {}: {} / {}", r.name, r.soft, r.hard);
        }
        match &self.landlock {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "landlock: ro {:?}, rw {:?}, dev {:?}, pseudo {:?}",
                    l.read_only, l.read_write, l.devices, l.pseudo
                );
            }
            None => {
                let _ = writeln!(out, "landlock: none");
            }
        }
        let _ = writeln!(
            out,
            "seccomp: {}",
            self.seccomp
                .as_ref()
                .map_or("none".to_string(), |b| format!("{} instructions", b.len()))
        );
        let _ = writeln!(out, "cgroup: {:?}", self.cgroup_limits);
        let _ = writeln!(
            out,
            "guard: {}, secrets: {}, degraded: {:?}",
            self.guard,
            self.secrets.len(),
            self.degradation.missing
        );
        let _ = writeln!(
            out,
            "mode: {}, keep caps {:?}, landlock at exec: {}, init filter: {}",
            match &self.mode {
                JailMode::Script => "script".to_string(),
                JailMode::Api { request } => format!("api ({} byte request)", request.len()),
                JailMode::Pool => "pool".to_string(),
                JailMode::Session => "session".to_string(),
                JailMode::Standby => "standby (program later)".to_string(),
            },
            self.keep_caps,
            self.landlock_at_exec,
            self.init_seccomp.as_ref().map_or(0, Vec::len)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn landlock_keeps_only_the_outermost_paths() {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            outermost(p(&[
                "/usr/lib/x/a.so",
                "/etc",
                "/usr/lib",
                "/usr/lib-extra",
                "/usr/lib/python3",
                "/etc"
            ])),
            p(&["/etc", "/usr/lib", "/usr/lib-extra"])
        );
    }

    use super::{outermost, pick_run_id};
    use std::path::PathBuf;

    #[test]
    fn run_ids_are_mapped_ids() {
        let full = "         0          0 4294967295\n";
        assert_eq!(pick_run_id(full, full, 7), 0x4000_0007);
        // A pod's 65536 ids: the upper half, never nobody (65534) or 65535.
        let pod = "         0     200000      65536\n";
        for pid in [1, 2, 32_765, 32_766, 40_000, 4_000_000] {
            let id = pick_run_id(pod, pod, pid);
            assert!((32_768..65_534).contains(&id), "{pid} -> {id}");
        }
        assert_ne!(pick_run_id(pod, pod, 10), pick_run_id(pod, pod, 11));
    }
}
