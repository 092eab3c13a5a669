//! The result of a run: what happened, what it used, what limits and layers applied.
//! Serialised as the `--json` document (schema `stockade.run/1`, documented in docs/result.md).

use serde::Serialize;

/// Version tag of the JSON result.
pub const SCHEMA: &str = "stockade.run/1";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exited with status 0.
    Ok,
    /// Exited with a non-zero status.
    Error,
    /// Killed at the wall-clock limit.
    Timeout,
    /// Stopped at the CPU-time limit.
    CpuLimit,
    /// Killed or failed at the memory limit.
    MemoryLimit,
    /// Hit the process/thread limit.
    PidsLimit,
    /// Wrote more than the output limit to stdout or stderr; stopped.
    OutputLimit,
    /// Hit the file-size limit.
    FileLimit,
    /// Killed by a signal for another reason.
    Killed,
    /// The jail could not be built; nothing ran.
    SetupFailed,
}

impl Status {
    /// The snake_case name used in JSON.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::CpuLimit => "cpu_limit",
            Status::MemoryLimit => "memory_limit",
            Status::PidsLimit => "pids_limit",
            Status::OutputLimit => "output_limit",
            Status::FileLimit => "file_limit",
            Status::Killed => "killed",
            Status::SetupFailed => "setup_failed",
        }
    }
}

/// Resources used.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// Wall time from clone to the end of the run.
    pub wall_ms: u64,
    /// User CPU time of every process of the run that was reaped.
    pub user_cpu_ms: u64,
    /// System CPU time, same scope.
    pub sys_cpu_ms: u64,
    /// Peak memory: the cgroup's high-water mark when a memory cgroup is used, else the largest
    /// process's peak RSS.
    pub peak_memory_kib: u64,
}

/// The limits that applied, with the mechanism that enforced each.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedLimits {
    /// Wall-clock limit.
    pub wall_time_ms: u64,
    /// CPU-time limit.
    pub cpu_time_ms: u64,
    /// Memory limit.
    pub memory_bytes: u64,
    /// Processes + threads.
    pub processes: u32,
    /// Largest file the code may write.
    pub file_size_bytes: u64,
    /// Scratch tmpfs size.
    pub scratch_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Bytes kept per output stream.
    pub output_bytes: u64,
    /// How memory is limited (`cgroup-v1`, `cgroup-v2`, `rlimit-as`).
    pub memory_mechanism: String,
    /// How processes are limited (`cgroup-v1+rlimit-nproc`, ...).
    pub processes_mechanism: String,
    /// How CPU time is limited.
    pub cpu_mechanism: String,
}

/// One isolation layer and whether it is in force.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// Layer name (`user-namespace`, `landlock`, `seccomp`, ...).
    pub name: String,
    /// Whether it is applied.
    pub active: bool,
    /// By what, or why not.
    pub mechanism: String,
}

/// Isolation report.
#[derive(Debug, Clone, Serialize)]
pub struct Isolation {
    /// True when some layer is missing (only possible with allow-degraded).
    pub degraded: bool,
    /// Every layer.
    pub layers: Vec<Layer>,
}

/// A setup failure, for the result.
#[derive(Debug, Clone, Serialize)]
pub struct SetupFailure {
    /// The step that failed.
    pub step: String,
    /// What went wrong.
    pub message: String,
}

/// Everything about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Schema tag.
    pub schema: &'static str,
    /// How it ended.
    pub status: Status,
    /// Exit code if it exited.
    pub exit_code: Option<i32>,
    /// Signal number if killed by a signal.
    pub signal: Option<i32>,
    /// Captured stdout (lossy UTF-8), at most the output limit.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Stdout was cut at the limit.
    pub stdout_truncated: bool,
    /// Stderr was cut at the limit.
    pub stderr_truncated: bool,
    /// Resource use.
    pub usage: Usage,
    /// Limits in force.
    pub limits: AppliedLimits,
    /// Isolation layers.
    pub isolation: Isolation,
    /// Setup failure details when status is `setup_failed`.
    pub error: Option<SetupFailure>,
    /// Why a limit status was chosen, in words.
    pub reason: Option<String>,
    /// What the guard denied (or, in audit mode, would have denied), aggregated.
    pub violations: Vec<crate::audit::Violation>,
    /// Guard events that could not be read (malformed, too long, or over the cap).
    pub events_dropped: u64,
    /// What a bootstrapped program returned (`stockade exec`): `{"type": "result", ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

impl RunResult {
    /// The exit code `stockade run` should exit with: the script's own, 128+signal, 124 for a
    /// wall timeout, 125 when the jail could not be built (126/127 when the interpreter could
    /// not be executed or found).
    #[must_use]
    pub fn cli_exit_code(&self) -> i32 {
        match self.status {
            Status::SetupFailed => self.exit_code.unwrap_or(125),
            Status::Timeout => 124,
            _ => match (self.exit_code, self.signal) {
                (Some(c), _) => c,
                (None, Some(s)) => 128 + s,
                (None, None) => 125,
            },
        }
    }
}
