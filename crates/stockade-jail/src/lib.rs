//! The jail: compile a policy into a [`Plan`], build the sandbox from it, run CPython inside,
//! supervise it, and report a [`RunResult`].
//!
//! Entry point: [`run`]. The caller must be single-threaded (the jail is entered with `clone`).
//! Multi-threaded front ends start the `stockade` binary instead.

pub mod audit;
mod child;
pub mod error;
pub mod guard_plan;
pub mod host;
pub mod interpreter;
mod landlock_rules;
mod mounts;
pub mod outcome;
pub mod plan;
mod redact_lines;
pub mod seccomp;
mod supervise;

pub use error::{SetupError, Step};
pub use host::HostSupport;
pub use outcome::{RunResult, Status};
pub use plan::{GeneratedFile, Plan, Program, Request, Serve, StdinMode};
pub use supervise::isolation_report;

/// Compile and run a request on this host.
pub fn run(request: &Request) -> Result<RunResult, SetupError> {
    let inputs = plan::gather(&request.policy)?;
    let plan = plan::compile(request, &inputs)?;
    supervise::run(&plan, &inputs.host)
}
