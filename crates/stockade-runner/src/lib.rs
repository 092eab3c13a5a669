//! The run engine. One typed call per way to run code, all returning the one result document
//! (`stockade_protocol::RunResult`):
//!
//! - [`cold`]: a fresh jail for one run (`stockade run`, `stockade.run`); [`helper`] builds
//!   such jails ahead of `stockade run`'s requests.
//! - [`warm`]: a pool worker — a warm jail whose zygote forks every run into its own pid,
//!   mount and IPC namespaces with a fresh scratch (docs/engine.md says why nothing is shared) —
//!   or a session, one interpreter whose cells share state.
//!
//! Jails are entered with `clone` from a single-threaded process, so multi-threaded front ends
//! (the Python binding, the HTTP server) run each jail under a supervisor process
//! ([`supervisor`], the `stockade supervise` command) and talk to it through [`client`] in
//! typed frames. The runner that executes code inside the jail is `runner.py`, with the value
//! codec the caller's Python package also uses.

pub mod caller;
mod channel;
pub mod client;
pub mod cold;
pub mod helper;
pub mod prepare;
pub mod prescreen;
mod procs;
pub mod runner_files;
pub mod supervisor;
pub mod warm;

/// The host-function channel of a run that registered `functions`; None (the run's calls then
/// fail at once: nobody serves the socket) if the socket cannot be set up.
pub(crate) fn calls_for(
    sock: std::os::fd::OwnedFd,
    functions: &stockade_protocol::calls::Functions,
) -> Option<stockade_jail::calls::HostCalls> {
    stockade_jail::calls::HostCalls::new(sock, functions.clone()).ok()
}
