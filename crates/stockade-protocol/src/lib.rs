//! Every message that crosses a stockade process boundary, as versioned serde types, and the
//! framing that carries them.
//!
//! The processes, and who may lie:
//!
//! ```text
//!  caller (CLI, Python binding, HTTP server)      trusted
//!    │  frames on the launcher's stdin/stdout ([`caller`])
//!  supervisor (host side, one per jail)           trusted: it observes and decides
//!    │  datagrams with fds on a unix socket ([`zygote`])
//!  zygote (inside a warm jail, unreachable from the runs it forks)   trusted
//!    │  per-run fds: request memfd in, stdout/stderr/answer/guard-events pipes out
//!  run (user code in the jail)                    HOSTILE: everything it writes is untrusted input
//! ```
//!
//! Status, usage, deadlines and limit hits come from what the supervisor observed
//! ([`classify`]); what the run writes (its answer, the guard's reports from inside its
//! process) is read with a size cap checked before decoding and is labelled as the run's own.

pub mod caller;
pub mod calls;
pub mod classify;
mod decision;
pub mod frame;
pub mod helper;
pub mod names;
pub mod redact;
pub mod result;
pub mod run;
pub mod schema;
pub mod zygote;

pub use decision::Decision;
pub use frame::{Frame, FrameError, Kind};
pub use result::{RunResult, Status};

/// Version of every frame and message in this crate. A peer with another version is refused
/// at its first frame, never half understood.
pub const PROTOCOL_VERSION: u8 = 1;
