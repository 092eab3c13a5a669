//! The native half of stockade's runner inside a warm jail (docs/engine.md).
//!
//! The preloaded library (`stockade-guard`'s cdylib) registers these functions as the built-in
//! module `_stockade_jail`; the runner (`runner.py`) calls them:
//!
//! - [`serve`] — a pool's zygote. A loop with no Python in it: for every run it makes a new pid
//!   namespace whose init is a tiny process of ours ([`pidns_init`]), forks the run's process into
//!   it as pid 2, and that process gives itself new mount and IPC namespaces, a fresh scratch and
//!   `/proc`, the policy's Landlock ruleset, no capabilities and a lockdown seccomp filter before
//!   it returns to Python. The run cannot name the zygote (another pid namespace), cannot reach
//!   its memory (non-dumpable, ptrace denied), shares no fd with it and writes only to channels
//!   the supervisor owns. When the run ends, killing its init ends every process it left.
//! - [`await_run`] — in a run's process: receive the run's fds and put them at 0-5.
//! - [`session_ready`], [`next_cell`], [`cell_done`] — a session's per-cell channels.

mod channel;
mod pidns_init;
mod serve;
mod session;

pub use serve::{await_run, serve, ForkHooks};
pub use session::{cell_done, next_cell, session_ready};

/// The control socket's fd in a warm jail's interpreter (`stockade-jail`'s fd layout).
pub const CONTROL_FD: i32 = 6;
