//! The result document of a run (`stockade run --json`, `stockade.run`, `Pool.run`,
//! `Session.run`, and the HTTP API all return this one schema; docs/result.md describes it and a
//! test holds the two together).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version tag of the result document.
pub const SCHEMA: &str = "stockade.run/2";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exited with status 0.
    Ok,
    /// Exited with a non-zero status (or the code raised).
    Error,
    /// Stopped at the wall-clock limit.
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
    /// Killed by a signal for another reason, or its jail died under it.
    Killed,
    /// The jail could not be built; nothing ran.
    SetupFailed,
    /// The policy's pre-screen refused the code; nothing ran.
    Refused,
}

impl Status {
    /// Every status, in documentation order.
    pub const ALL: [Status; 11] = [
        Status::Ok,
        Status::Error,
        Status::Timeout,
        Status::CpuLimit,
        Status::MemoryLimit,
        Status::PidsLimit,
        Status::OutputLimit,
        Status::FileLimit,
        Status::Killed,
        Status::SetupFailed,
        Status::Refused,
    ];

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
            Status::Refused => "refused",
        }
    }
}

/// Resources used, as the supervisor measured them (never as the run reported them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    /// Wall time of the run, from the request reaching its process to its end.
    pub wall_ms: u64,
    /// User CPU time of every process of the run.
    pub user_cpu_ms: u64,
    /// System CPU time, same scope.
    pub sys_cpu_ms: u64,
    /// Peak memory: the cgroup's high-water mark when a memory cgroup is used, else the largest
    /// process's peak RSS.
    pub peak_memory_kib: u64,
}

/// The limits that applied, with the mechanism that enforced each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// Bytes kept per output stream (and the largest answer).
    pub output_bytes: u64,
    /// How memory was limited (`cgroup-v1 memory`, `cgroup-v2 memory.max`, `rlimit-as`).
    pub memory_mechanism: String,
    /// How processes were limited.
    pub processes_mechanism: String,
    /// How CPU time was limited.
    pub cpu_mechanism: String,
}

/// One isolation layer and whether it was in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Layer {
    /// Layer name (`user-namespace`, `landlock`, `seccomp`, ...).
    pub name: String,
    /// Whether it was applied.
    pub active: bool,
    /// By what (as enforced, e.g. the Landlock ABI reached), or why not.
    pub mechanism: String,
}

/// The isolation report: what was enforced, not what was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Isolation {
    /// True when some layer is missing (only possible with allow-degraded).
    pub degraded: bool,
    /// Every layer.
    pub layers: Vec<Layer>,
}

/// A setup failure, for the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetupFailure {
    /// The step that failed (`docs/pipeline.md` names them).
    pub step: String,
    /// What went wrong.
    pub message: String,
}

/// Who reported a violation. Guard decisions are made inside the run's own process, which the
/// run controls: they explain what the code tried, and the run can add to or suppress them.
pub const REPORTED_BY_RUN: &str = "run";
/// Violations the supervisor observed itself, outside the run (the egress proxy's refusals):
/// these are facts, not the run's account.
pub const REPORTED_BY_SUPERVISOR: &str = "supervisor";

/// One kind of denied (or, in audit mode, would-be-denied) event, with how often it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Violation {
    /// The audit event, e.g. `os.system`.
    pub event: String,
    /// The policy rule that denied it, e.g. `guard.rules.process`.
    pub rule: String,
    /// What was refused, in words.
    pub reason: String,
    /// `denied` (enforce mode) or `audited` (audit mode: allowed, recorded).
    pub decision: String,
    /// The event's arguments, short forms, secrets redacted.
    pub args: Vec<String>,
    /// How many times it happened.
    pub count: u64,
    /// `"run"`: the guard reported it from inside the run's process (evidence, not proof);
    /// `"supervisor"`: the supervisor observed it outside the run (the egress proxy).
    #[serde(default = "reported_by_run")]
    pub reported_by: String,
}

fn reported_by_run() -> String {
    REPORTED_BY_RUN.to_string()
}

/// One connection through the egress proxy, as the proxy on the host saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Flow {
    /// The host the code asked for (a name, or an address as written in the request).
    pub host: String,
    /// The port it asked for.
    pub port: u16,
    /// The address the proxy connected to (or refused after resolving); null when it never
    /// got that far.
    pub address: Option<String>,
    /// `CONNECT`, or the method of a plain-HTTP request (`GET`, `POST`, ...).
    pub method: String,
    /// `allowed` or `denied`.
    pub decision: String,
    /// The `network.allow` entry that matched, or the rule that refused: `network.allow`,
    /// `network.address`, `network.sni`, `network.max-connections`, `network.max-bytes`,
    /// `network.request`, `network.upstream`, `secrets.value`, `secrets.placeholder`.
    pub rule: String,
    /// Why it was refused or ended early, in words; empty for a flow that ended normally.
    pub reason: String,
    /// Bytes from the code to the destination (request bodies and tunnelled bytes).
    pub bytes_up: u64,
    /// Bytes from the destination to the code.
    pub bytes_down: u64,
    /// When the flow started, in ms since the run started.
    pub start_ms: u64,
    /// How long it lasted, in ms.
    pub duration_ms: u64,
}

/// The run's network use through the egress proxy (`network.mode = "proxy"` only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NetworkUse {
    /// Every flow, in the order they started (at most 1,000 kept).
    pub flows: Vec<Flow>,
    /// Flows beyond the ones kept.
    pub flows_dropped: u64,
    /// Connections the code opened to the proxy.
    pub connections: u64,
    /// Bytes moved both ways, all flows together.
    pub bytes: u64,
}

/// An exception (or a stockade error about the answer) as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CodeError {
    /// The exception's class name, or one of stockade's own (`UnencodableResult`, `NoResult`,
    /// `MalformedAnswer`, `AnswerTooLarge`, `WorkerLost`, `SessionLost`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its message (host paths removed).
    pub message: String,
    /// The traceback from the first frame of the run's own code.
    #[serde(default)]
    pub traceback: String,
}

impl CodeError {
    /// A stockade error of `kind` with no traceback.
    #[must_use]
    pub fn stockade(kind: &str, message: impl Into<String>) -> CodeError {
        CodeError {
            kind: kind.to_string(),
            message: message.into(),
            traceback: String::new(),
        }
    }
}

/// A file of `out/` the answer does not carry, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedFile {
    /// Its name relative to `out/` (`repr`-escaped when it is not valid UTF-8).
    pub name: String,
    /// Why it was left out (over the answer limit, not UTF-8, not a regular file, ...).
    pub reason: String,
}

/// What a code run returned: present for runs of code through the API (`stockade.run`,
/// pools, sessions, the service), absent for scripts run by `stockade run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The returned value in the typed value encoding (docs/values.md); null when none.
    #[schemars(with = "serde_json::Value")]
    pub value: serde_json::Value,
    /// The exception the code raised, or a stockade error about the answer; null when none.
    pub error: Option<CodeError>,
    /// Files the code wrote under `out/`: name → base64 contents.
    pub files: BTreeMap<String, String>,
    /// Files of `out/` that are not in `files`, and why.
    #[serde(default)]
    pub files_skipped: Vec<SkippedFile>,
}

impl Answer {
    /// An answer that carries only a stockade error.
    #[must_use]
    pub fn error(kind: &str, message: impl Into<String>) -> Answer {
        Answer {
            value: serde_json::Value::Null,
            error: Some(CodeError::stockade(kind, message)),
            files: BTreeMap::new(),
            files_skipped: Vec::new(),
        }
    }
}

/// Everything about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunResult {
    /// Schema tag, [`SCHEMA`].
    pub schema: String,
    /// How it ended.
    pub status: Status,
    /// Why a status other than ok/error was chosen, in words.
    pub reason: Option<String>,
    /// The interpreter's exit status, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if it was killed.
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
    /// Limits in force (absent when nothing ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<AppliedLimits>,
    /// Isolation layers (absent when nothing ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Setup failure details when status is `setup_failed`.
    pub error: Option<SetupFailure>,
    /// What the guard denied (or, in audit mode, would have denied), aggregated.
    pub violations: Vec<Violation>,
    /// Guard reports that could not be read (malformed, too long, or over the cap).
    pub events_dropped: u64,
    /// What the code returned (runs of code through the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// The pre-screen's findings, when it refused the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub prescreen: Option<serde_json::Value>,
    /// Connections through the egress proxy (absent when the policy gives no network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkUse>,
    /// Host function calls, as the supervisor saw them (absent when the run had none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<crate::calls::CallRecord>,
}

impl RunResult {
    /// A result for a run that never started: nothing ran, nothing was used.
    #[must_use]
    pub fn not_run(status: Status, reason: Option<String>, error: Option<SetupFailure>) -> RunResult {
        RunResult {
            schema: SCHEMA.to_string(),
            status,
            reason,
            exit_code: None,
            signal: None,
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            usage: Usage::default(),
            limits: None,
            isolation: None,
            error,
            violations: Vec::new(),
            events_dropped: 0,
            answer: None,
            prescreen: None,
            network: None,
            calls: Vec::new(),
        }
    }

    /// The exit code `stockade run` exits with: the script's own, 128+signal, 124 for a wall
    /// timeout, 125 when the jail could not be built, 121 when the pre-screen refused the code.
    #[must_use]
    pub fn cli_exit_code(&self) -> i32 {
        match self.status {
            Status::SetupFailed => self.exit_code.unwrap_or(125),
            Status::Timeout => 124,
            Status::Refused => 121,
            _ => match (self.exit_code, self.signal) {
                (Some(c), _) => c,
                (None, Some(s)) => 128 + s,
                (None, None) => 125,
            },
        }
    }
}
