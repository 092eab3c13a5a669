//! A cold run: a fresh jail for one run of code, in this (single-threaded) process.

use std::collections::BTreeMap;

use base64::Engine as _;
use stockade_jail::{JailMode, Program, Request, SetupError, StdinMode};
use stockade_policy::Policy;
use stockade_protocol::caller::RunSpec;
use stockade_protocol::frame::{self, Kind};
use stockade_protocol::{run, RunResult};

use crate::runner_files;

/// Why a run could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request is malformed (a bad name, bad base64, ...); nothing ran.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The jail could not be built; nothing ran.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// The file name a run's code is compiled under (its tracebacks show it).
pub const MAIN_FILENAME: &str = "/sandbox/main.py";

/// The request frame the runner reads.
#[must_use]
pub fn request_frame(spec: &RunSpec, filename: &str, answer_limit: u64, env: BTreeMap<String, String>) -> Vec<u8> {
    let request = run::Request {
        code: spec.code.clone(),
        inputs: spec.inputs.clone(),
        files: spec.files.clone(),
        filename: filename.to_string(),
        answer_limit,
        shape: stockade_check::code_shape(&spec.code).map(|s| run::Shape {
            final_expression: s.final_expression.map(|(a, b)| [a, b]),
            refers_to_main: s.refers_to_main,
        }),
        functions: spec.functions.as_ref().map(|f| f.names.clone()).unwrap_or_default(),
        env,
    };
    frame::encode(Kind::Request, 0, &request)
}

/// The run's stdin bytes (validated base64).
#[must_use]
pub fn stdin_bytes(spec: &RunSpec) -> Option<Vec<u8>> {
    spec.stdin
        .as_ref()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
}

/// The policy for one run: the run's own timeout, when it has one, can only shorten the wall
/// time.
#[must_use]
pub fn policy_for(policy: &Policy, spec: &RunSpec) -> Policy {
    let mut p = policy.clone();
    if let Some(ms) = spec.timeout_ms {
        p.limits.wall_time = p.limits.wall_time.min(std::time::Duration::from_millis(ms));
    }
    p
}

/// Run `spec` in a fresh jail under `policy`. The pre-screen runs first when the policy asks.
/// The run's host-function calls, if `spec` registers functions, go to `broker`.
pub fn run_cold(
    policy: &Policy,
    spec: &RunSpec,
    broker: Option<&mut dyn stockade_jail::calls::Broker>,
) -> Result<RunResult, RunError> {
    spec.validate().map_err(RunError::Invalid)?;
    if let Some(refused) = crate::prescreen::refusal(policy, "<string>", spec.code.as_bytes()) {
        return Ok(refused);
    }
    let policy = policy_for(policy, spec);
    let request = Request {
        program: Program::Script {
            name: "__stockade_runner__.py".into(),
            source: runner_files::runner_source().as_bytes().to_vec(),
        },
        args: vec!["api".into()],
        passthrough: false,
        stdin: stdin_bytes(spec).map_or(StdinMode::Null, StdinMode::Data),
        audit_log: None,
        extra_files: runner_files::support_files(),
        internal_files: runner_files::internal_files(),
        mode: JailMode::Api {
            request: request_frame(spec, MAIN_FILENAME, policy.limits.output, BTreeMap::new()),
        },
        preload: Vec::new(),
        policy,
    };
    let calls = match (&spec.functions, broker) {
        (Some(f), Some(b)) if !f.names.is_empty() => Some((f.clone(), b)),
        _ => None,
    };
    Ok(stockade_jail::run_with_calls(&request, calls)?)
}

/// An empty spec, for tests and warm-ups.
#[must_use]
pub fn spec(code: &str) -> RunSpec {
    RunSpec {
        code: code.to_string(),
        inputs: BTreeMap::new(),
        ..RunSpec::default()
    }
}
