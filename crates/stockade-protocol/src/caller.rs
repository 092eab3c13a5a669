//! Caller ↔ supervisor: frames on the supervisor process's stdin (caller → supervisor) and
//! stdout (supervisor → caller). The caller is trusted; these types are the typed API of a jail.
//!
//! A session of frames: `Start` → `Hello` (or `Fatal`), then any number of
//! `Run` → [`Stdout`/`Stderr`/`Violation` chunks when streaming] → `Result`, then `Close`.

use std::collections::BTreeMap;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names;
use crate::result::Isolation;

/// What kind of jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One fresh jail for one run.
    Cold,
    /// A warm jail whose zygote forks a fresh process (own pid, mount and IPC namespaces, own
    /// scratch) for every run.
    Pool,
    /// One interpreter whose cells share state.
    Session,
}

/// caller → supervisor, first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// The jail's kind.
    pub mode: Mode,
    /// The effective policy, as TOML (the supervisor parses and validates it again).
    pub policy: String,
    /// Modules a pool's zygote imports before serving.
    #[serde(default)]
    pub preload: Vec<String>,
    /// The jail's whole lifetime (pool, session); None: until `Close`.
    #[serde(default)]
    pub lifetime_ms: Option<u64>,
}

/// supervisor → caller: the jail is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hello {
    /// [`crate::PROTOCOL_VERSION`].
    pub protocol: u8,
    /// The jail's kind.
    pub mode: Mode,
    /// The policy's wall-time limit: a run without its own timeout gets this.
    pub wall_time_ms: u64,
    /// SHA-256 of the effective policy.
    pub policy_hash: String,
    /// The jail's isolation layers as enforced (None for cold runs: each run has its own).
    pub isolation: Option<Isolation>,
    /// The interpreter's `sys.version` (warm jails).
    #[serde(default)]
    pub python: Option<String>,
    /// Warnings from starting the jail (a preload module that failed to import).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// supervisor → caller: the jail could not start, or it is gone (nonce 0); or one run could not
/// be started (the run's nonce; the jail serves on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Fatal {
    /// The failed step (`docs/pipeline.md`), or `worker` when a live jail died.
    pub step: String,
    /// What happened.
    pub message: String,
    /// The kind of failure: `policy`, `layer-missing`, `interpreter-not-found`, `setup`,
    /// `lost` (a live jail is gone), `request` (one run's request is invalid).
    pub kind: String,
}

/// caller → supervisor: one run (a pool run, a session cell, or the cold jail's only run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The code.
    pub code: String,
    /// Variables bound in the code's namespace: name → value in the typed value encoding.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Files placed in the scratch (the code's working directory): name → base64.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The code's stdin (base64); None: empty (end of file at once).
    #[serde(default)]
    pub stdin: Option<String>,
    /// A wall-time limit for this run, at most the policy's; None: the policy's.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Send stdout, stderr and violations as they happen, before the result.
    #[serde(default)]
    pub stream: bool,
    /// Host functions the code may call (the caller answers each `Call` with a `Reply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<crate::calls::Functions>,
}

impl RunSpec {
    /// Check every name and encoding; the error names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.inputs.keys() {
            names::check_input_name(name).map_err(|e| e.to_string())?;
        }
        for (name, data) in &self.files {
            names::check_file_name(name).map_err(|e| e.to_string())?;
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| format!("file {name:?}: contents are not base64: {e}"))?;
        }
        if let Some(stdin) = &self.stdin {
            base64::engine::general_purpose::STANDARD
                .decode(stdin)
                .map_err(|e| format!("stdin is not base64: {e}"))?;
        }
        if let Some(f) = &self.functions {
            f.validate()?;
        }
        if self.timeout_ms == Some(0) {
            return Err("timeout must be more than 0".into());
        }
        Ok(())
    }
}
