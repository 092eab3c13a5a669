//! `stockade supervise`: one jail under its own supervisor process, driven by a caller in
//! frames (stockade-protocol's `caller` messages on stdin and stdout). Multi-threaded front ends
//! (the Python binding, the HTTP server) start one per jail, through [`crate::client`].

use stockade_jail::interpreter::InterpreterError;
use stockade_jail::SetupError;
use stockade_policy::Policy;
use stockade_protocol::caller::{Fatal, Hello, Mode, RunSpec, Start};
use stockade_protocol::frame::Kind;

use crate::caller::Caller;
use crate::cold::{self, RunError};

/// The `Fatal` a setup error becomes.
#[must_use]
pub fn fatal_of(e: &SetupError) -> Fatal {
    let kind = match e {
        SetupError::LayerMissing { .. } => "layer-missing",
        SetupError::Interpreter(InterpreterError::NotFound(_)) => "interpreter-not-found",
        _ => "setup",
    };
    Fatal {
        step: e.step().name().to_string(),
        message: error_chain(e),
        kind: kind.into(),
    }
}

/// An error with its causes, each once.
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// Serve one caller on stdin/stdout until it closes. Returns the process exit code. Must run in
/// a single-threaded process (jails are entered with `clone`).
#[must_use]
pub fn main() -> u8 {
    let mut caller = Caller::new();
    let first = match caller.read_one() {
        Ok(f) if f.kind == Kind::Start => f,
        _ => return 2,
    };
    let start: Start = match first.decode() {
        Ok(s) => s,
        Err(e) => {
            caller.send(
                Kind::Fatal,
                0,
                &Fatal {
                    step: "request".into(),
                    message: e.to_string(),
                    kind: "request".into(),
                },
            );
            return 2;
        }
    };
    let policy = match Policy::from_toml(&start.policy, "<policy>").and_then(|p| p.validate().map(|()| p)) {
        Ok(p) => p,
        Err(e) => {
            caller.send(
                Kind::Fatal,
                0,
                &Fatal {
                    step: "policy".into(),
                    message: format!("invalid policy: {e}"),
                    kind: "policy".into(),
                },
            );
            return 123;
        }
    };
    match start.mode {
        Mode::Cold => serve_cold(&policy, &mut caller),
        Mode::Pool | Mode::Session => crate::warm::serve(&start, policy, &mut caller),
    }
}

/// Cold: every `Run` in a fresh jail of its own.
fn serve_cold(policy: &Policy, caller: &mut Caller) -> u8 {
    caller.send(
        Kind::Hello,
        0,
        &Hello {
            protocol: stockade_protocol::PROTOCOL_VERSION,
            mode: Mode::Cold,
            wall_time_ms: u64::try_from(policy.limits.wall_time.as_millis()).unwrap_or(u64::MAX),
            policy_hash: stockade_jail::plan::policy_hash(policy),
            isolation: None,
            python: None,
            warnings: Vec::new(),
        },
    );
    loop {
        let frames = match caller.read_frames() {
            Ok(f) => f,
            Err(_) => return 0,
        };
        for f in frames {
            match f.kind {
                Kind::Run => {
                    let mut broker = crate::caller::CallerBroker::new(caller, f.nonce);
                    let outcome = f
                        .decode::<RunSpec>()
                        .map_err(|e| RunError::Invalid(e.to_string()))
                        .and_then(|spec| cold::run_cold(policy, &spec, Some(&mut broker)));
                    let close = broker.saw_close;
                    match outcome {
                        Ok(result) => caller.send(Kind::Result, f.nonce, &result),
                        Err(RunError::Invalid(why)) => caller.send(
                            Kind::Fatal,
                            f.nonce,
                            &Fatal {
                                step: "request".into(),
                                message: why,
                                kind: "request".into(),
                            },
                        ),
                        Err(RunError::Setup(e)) => caller.send(Kind::Fatal, f.nonce, &fatal_of(&e)),
                    }
                    if close {
                        return 0;
                    }
                }
                Kind::Close => return 0,
                _ => {}
            }
        }
    }
}
