//! Host functions: code in the jail calls a function the caller registered; the call crosses as
//! data (run → supervisor → caller), the caller runs the function, and the reply comes back the
//! same way. One pair of messages for both hops: [`Call`] (kind `Call`) and [`Reply`] (kind
//! `Reply`). Between the run and its supervisor they travel on the run's calls socket (fd
//! [`crate::run::fds::CALLS`]) with the frame nonce as the call's id; between the supervisor and
//! its caller the frame nonce is the run's and the id is in the message.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The functions a run may call, and the limits on calling them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    /// Names the code sees as callables (Python identifiers).
    pub names: Vec<String>,
    /// Calls per run; past it every call fails in the run.
    #[serde(default = "default_max_calls")]
    pub max_calls: u32,
    /// The largest call or reply, encoded, in bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u32,
    /// How long one call may take on the caller's side, in ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_max_calls() -> u32 {
    1000
}
fn default_max_bytes() -> u32 {
    1 << 20
}
fn default_timeout_ms() -> u64 {
    30_000
}

impl Functions {
    /// `names` with the default limits.
    #[must_use]
    pub fn named(names: Vec<String>) -> Functions {
        Functions {
            names,
            max_calls: default_max_calls(),
            max_bytes: default_max_bytes(),
            timeout_ms: default_timeout_ms(),
        }
    }

    /// Check the names and limits; the error says which.
    pub fn validate(&self) -> Result<(), String> {
        for n in &self.names {
            crate::names::check_input_name(n).map_err(|e| format!("function name: {e}"))?;
        }
        if self.max_calls == 0 || self.max_bytes < 64 || self.timeout_ms == 0 {
            return Err("functions: max_calls and timeout_ms must be more than 0, max_bytes at least 64".into());
        }
        Ok(())
    }
}

/// A call of a host function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// The call's id within its run (the supervisor assigns it on the caller's hop).
    #[serde(default)]
    pub id: u64,
    /// The function.
    pub name: String,
    /// Positional arguments, each in the typed value encoding (docs/values.md).
    #[schemars(with = "Vec<serde_json::Value>")]
    pub args: Vec<serde_json::Value>,
    /// Keyword arguments, each in the typed value encoding.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub kwargs: BTreeMap<String, serde_json::Value>,
}

/// What a call returned or raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// The call it answers.
    #[serde(default)]
    pub id: u64,
    /// The returned value in the typed value encoding (null when it raised).
    #[schemars(with = "serde_json::Value")]
    pub value: serde_json::Value,
    /// The exception, when it raised (or stockade refused the call).
    pub error: Option<CallError>,
}

/// An exception crossing back: the exception's class name and message. Refusals by stockade
/// itself have kinds `UnknownFunction`, `TooManyCalls`, `CallTooLarge`, `CallTimeout`,
/// `MalformedCall`, `HostError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallError {
    /// The exception's class name.
    pub kind: String,
    /// Its message.
    pub message: String,
}

impl Reply {
    /// A reply that raises `kind: message` in the run.
    #[must_use]
    pub fn error(id: u64, kind: &str, message: impl Into<String>) -> Reply {
        Reply {
            id,
            value: serde_json::Value::Null,
            error: Some(CallError {
                kind: kind.to_string(),
                message: message.into(),
            }),
        }
    }
}

/// One call as the supervisor saw it (the result's `calls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CallRecord {
    /// The function.
    pub name: String,
    /// Bytes of the call as the run sent it.
    pub call_bytes: u64,
    /// Bytes of the reply.
    pub reply_bytes: u64,
    /// When it started, in ms since the run started.
    pub start_ms: u64,
    /// How long until the reply, in ms.
    pub duration_ms: u64,
    /// `returned`, `raised` (the function raised), or stockade's refusal kind.
    pub outcome: String,
}
