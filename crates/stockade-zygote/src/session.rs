//! A session's per-cell channels. The session's interpreter runs every cell itself, so these
//! only move fds: each cell's request, stdin, stdout, stderr, answer and guard-report fds
//! arrive with its `Go` and are put at 0-5; when the cell is done they are replaced by
//! `/dev/null` (the supervisor sees end of file) and `Exited` carries the cell's nonce. A cell
//! shares this process with the runner, so it could send on the control socket itself: the
//! supervisor believes an `Exited` only for the nonce of the cell it is running.

use std::os::fd::AsFd;

use stockade_protocol::frame::Kind;
use stockade_protocol::zygote::{Exited, Ready, GO_FDS};

use crate::channel;
use crate::CONTROL_FD;

fn control() -> std::os::fd::BorrowedFd<'static> {
    stockade_sys::borrow_raw(CONTROL_FD)
}

/// Tell the supervisor the session is ready.
pub fn session_ready(python: &str) -> Result<(), String> {
    channel::send(
        control(),
        Kind::Ready,
        0,
        &Ready {
            pid: std::process::id().cast_signed(),
            python: python.to_string(),
            warnings: Vec::new(),
        },
    )
    .map_err(|e| format!("cannot reach the supervisor: {e}"))
}

/// Wait for the next cell; put its fds in place and return its nonce. None when the supervisor
/// hangs up (the session is over).
pub fn next_cell() -> Result<Option<u64>, String> {
    loop {
        match channel::recv(control()) {
            Ok(None) => return Ok(None),
            Ok(Some((f, fds))) if f.kind == Kind::Go && fds.len() == GO_FDS.len() => {
                // The previous cell's processes were killed when it ended (the supervisor sends
                // the next cell only once they are dead): reap them, so this cell finds no
                // trace of them, not even zombies holding pids.
                while let Ok(status) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    if status == nix::sys::wait::WaitStatus::StillAlive {
                        break;
                    }
                }
                crate::serve::install_run_fds(fds)?;
                return Ok(Some(f.nonce));
            }
            // A Go with another count of fds comes from a supervisor of another build.
            Ok(Some((f, fds))) if f.kind == Kind::Go && !fds.is_empty() => {
                return Err(format!(
                    "a cell came with {} fds where this session takes {} (the supervisor and the jail's guard library are from different builds of stockade)",
                    fds.len(),
                    GO_FDS.len()
                ));
            }
            Ok(Some(_)) => {}
            Err(e) => return Err(format!("control channel: {e}")),
        }
    }
}

/// The cell is over: close its channels here (the supervisor sees end of file on them) and
/// report it.
pub fn cell_done(nonce: u64, exit_code: i32) -> Result<(), String> {
    let null_in = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    let null_out = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| e.to_string())?;
    for target in [0, 1, 2, 3, 4, 5, stockade_protocol::run::fds::CALLS] {
        let src = if target == 0 || target == 5 {
            null_in.as_fd()
        } else {
            null_out.as_fd()
        };
        stockade_sys::dup_onto(src, target).map_err(|e| format!("close the cell's fd {target}: {e}"))?;
    }
    channel::send(
        control(),
        Kind::Exited,
        nonce,
        &Exited {
            wait_status: Some((exit_code & 0xff) << 8),
            ..Exited::default()
        },
    )
    .map_err(|e| format!("cannot reach the supervisor: {e}"))
}
