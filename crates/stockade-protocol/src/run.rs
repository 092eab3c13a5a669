//! Supervisor ↔ run: the request the runner reads from its request memfd (fd 5), the answer it
//! writes on its answer pipe (fd 4), and the guard's report lines (fd 3). Everything read from
//! fds 3 and 4 is hostile input: capped before decoding, checked after.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Fixed fd numbers in a run's process.
pub mod fds {
    /// The guard's reports (JSON lines), shared with the code: evidence, not proof.
    pub const EVENTS: i32 = 3;
    /// The runner's answer: one [`super::super::frame::Kind::Answer`] frame.
    pub const ANSWER: i32 = 4;
    /// The request: one [`super::super::frame::Kind::Request`] frame in a sealed memfd.
    pub const REQUEST: i32 = 5;
}

/// What the runner runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The code.
    pub code: String,
    /// Input name → value in the typed value encoding.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Files to place in the scratch: name → base64.
    pub files: BTreeMap<String, String>,
    /// The file name the code is compiled under (its tracebacks show it).
    pub filename: String,
    /// The most bytes the answer frame may take; the runner leaves out files (and says so)
    /// rather than go over.
    pub answer_limit: u64,
}

/// The runner's answer is the result's [`crate::result::Answer`].
pub type Answer = crate::result::Answer;

/// Longest guard report line the supervisor reads; longer lines are dropped and counted.
pub const MAX_EVENT_LINE: usize = 4096;

/// One line the guard writes on fd 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuardLine {
    /// The guard's own state: `installed`, `armed`, `failed` (with `error`).
    Guard {
        /// The state.
        state: String,
        /// Why it failed.
        #[serde(default)]
        error: Option<String>,
    },
    /// One decision.
    Event {
        /// The audit event.
        event: String,
        /// Its class.
        #[serde(default)]
        class: String,
        /// `allowed`, `audited`, `denied`.
        decision: String,
        /// The rule that decided.
        #[serde(default)]
        rule: Option<String>,
        /// Why, in words.
        #[serde(default)]
        reason: Option<String>,
        /// Short forms of its arguments.
        #[serde(default)]
        args: Vec<String>,
    },
}
