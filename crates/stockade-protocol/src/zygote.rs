//! Supervisor ↔ zygote (a pool's jail) and supervisor ↔ session runner: datagrams on a
//! `SOCK_SEQPACKET` unix socket, each one frame; `Go` carries the run's fds with `SCM_RIGHTS`.
//! The zygote is stockade's own code and the runs it forks cannot reach it (docs/engine.md), so
//! what it reports is trusted; the session runner shares its process with the cells, so what a
//! session reports is only believed for the cell whose nonce it carries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::result::Layer;

/// The fds a `Go` carries, in this order.
pub const GO_FDS: [&str; 7] = ["request", "stdin", "stdout", "stderr", "answer", "events", "calls"];

/// zygote → supervisor: serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ready {
    /// The zygote's pid in the jail.
    pub pid: i32,
    /// `sys.version` of the interpreter.
    pub python: String,
    /// Warnings (a preload module that failed to import).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// supervisor → zygote: start the run (its fds ride along).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Go {
    /// The run's CPU-time limit in seconds (each process's `RLIMIT_CPU`).
    pub cpu_seconds: u64,
}

/// zygote → supervisor: the run's process is set up and about to read its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Started {
    /// The run's pid in the jail.
    pub pid: i32,
    /// The per-run layers as the run's process enforced them before any of its code ran.
    pub layers: Vec<Layer>,
}

/// zygote/session → supervisor: the run is over and every process of it is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Exited {
    /// The wait status of the run's main process (None for a session cell).
    pub wait_status: Option<i32>,
    /// User CPU of the run's processes (wait4 of the run and of its pid namespace's init).
    pub user_us: u64,
    /// System CPU, same scope.
    pub sys_us: u64,
    /// Largest peak RSS among them.
    pub max_rss_kib: u64,
    /// The run's setup failed before its code ran (the step and why).
    #[serde(default)]
    pub setup_error: Option<String>,
}

/// zygote → supervisor: it stopped serving; the worker must be replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Retired {
    /// Why.
    pub reason: String,
}

/// Where the zygote's configuration is written in a pool's jail.
pub const CONFIG_PATH: &str = "/etc/stockade/zygote.json";

/// The Landlock ruleset a run applies to itself (paths in the jail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LandlockPaths {
    /// Read and execute.
    pub read_only: Vec<String>,
    /// Full access (the scratch), no execute.
    pub read_write: Vec<String>,
    /// Device files: read and write.
    pub devices: Vec<String>,
    /// Pseudo filesystems: read only (`/proc`).
    pub pseudo: Vec<String>,
    /// TCP ports runs may connect to (the egress proxy's); no other TCP connect or bind.
    #[serde(default)]
    pub connect_ports: Vec<u16>,
}

/// What the zygote gives every run (written by the host into the read-only jail root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZygoteConfig {
    /// The run's scratch: tmpfs size in bytes.
    pub scratch_bytes: u64,
    /// The run's scratch: inode limit.
    pub scratch_inodes: u64,
    /// The jail's uid and gid (owner of the scratch).
    pub uid: u32,
    /// The jail's gid.
    pub gid: u32,
    /// Each run process's `RLIMIT_CPU` in seconds (soft; hard is one more).
    pub cpu_seconds: u64,
    /// The Landlock ruleset (None when the policy allowed running without Landlock).
    pub landlock: Option<LandlockPaths>,
    /// The lockdown seccomp program a run installs before its code (raw `sock_filter`s);
    /// None when seccomp is not available and the policy allowed that.
    pub lockdown_filter: Option<String>,
    /// Give each run its own network namespace too (when Landlock cannot scope abstract unix
    /// sockets, ABI < 6).
    pub net_per_run: bool,
    /// Modules the zygote imports before serving.
    #[serde(default)]
    pub preload: Vec<String>,
}
