//! `stockade run` ↔ `stockade helper`: one run in a jail the helper built ahead of the request.
//!
//! On the helper's unix socket (mode 0600; each side checks the other's uid is its own): the
//! client sends one byte carrying its stdin, stdout and stderr (`SCM_RIGHTS`), then a
//! [`Kind::HelperRun`](crate::Kind::HelperRun) frame; later, any byte it sends is a signal
//! number it received (the run is stopped as `stockade run` stops it), and its hang-up stops the
//! run too. The helper answers with one [`Kind::Result`](crate::Kind::Result) frame (the result
//! document) or one [`Kind::Fatal`](crate::Kind::Fatal) frame (nothing ran), then closes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The largest `HelperRun` frame a helper reads: a script may fill the jail's 16 MiB
/// `/sandbox`, base64 makes it a third larger, and the rest is small.
pub const MAX_RUN_FRAME: u32 = 24 << 20;

/// client → helper: what `stockade run` would have run in a jail of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelperRun {
    /// The effective policy as TOML (file, profile and command-line overrides applied; the
    /// interpreter resolved to its path).
    pub policy: String,
    /// The program.
    pub program: HelperProgram,
    /// `sys.argv[1:]`.
    pub args: Vec<String>,
    /// Echo the output live (`stockade run` without `--json`).
    pub passthrough: bool,
    /// Forward the client's stdin (else the run reads end of file at once).
    pub forward_stdin: bool,
    /// The audit trail: an absolute file path, or `-` for the client's stderr.
    #[serde(default)]
    pub audit_log: Option<String>,
    /// The values of the environment variables the policy reads (`env.pass`, `env.secret`,
    /// `[secrets]` sources), from the client's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The program of a [`HelperRun`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HelperProgram {
    /// `-c CODE`.
    Code(String),
    /// A script: its file name and its source, base64.
    Script {
        /// The file name it is shown under (`/sandbox/<name>`).
        name: String,
        /// The source bytes, base64 (standard alphabet, padded).
        source: String,
    },
}
