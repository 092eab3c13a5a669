//! The jail: compile a policy into a [`Plan`], build the sandbox from it, run CPython inside,
//! supervise it, and report a [`RunResult`].
//!
//! Entry points: [`run`] (one-shot: `stockade run`, one API run) and
//! [`supervise::spawn`] (a live [`supervise::Jail`] that `stockade-runner` watches: pools,
//! sessions). The caller must be single-threaded (the jail is entered with `clone`).
//! Multi-threaded front ends start a supervisor process instead.

pub mod audit;
pub mod calls;
mod child;
pub mod error;
pub mod guard_plan;
pub mod host;
pub mod interpreter;
mod landlock_rules;
mod mounts;
pub mod plan;
pub mod seccomp;
pub mod supervise;

pub use error::{SetupError, Step};
pub use host::HostSupport;
pub use plan::{GeneratedFile, JailMode, Plan, Program, Request, StdinMode};
pub use stockade_protocol::{RunResult, Status};
pub use supervise::isolation_report;

/// The result document's schema tag.
pub use stockade_protocol::result::SCHEMA;

/// Compile and run a one-shot request on this host.
pub fn run(request: &Request) -> Result<RunResult, SetupError> {
    run_with_calls(request, None)
}

/// [`run`], with host functions: the run's calls go to `broker` (the caller answers them).
pub fn run_with_calls(
    request: &Request,
    calls: Option<(stockade_protocol::calls::Functions, &mut dyn calls::Broker)>,
) -> Result<RunResult, SetupError> {
    let inputs = plan::gather(&request.policy)?;
    let plan = plan::compile(request, &inputs)?;
    supervise::run_with_calls(&plan, &inputs.host, calls)
}
