//! Frames on the control socket (one datagram each), with fds riding along.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use serde_json::Value;
use stockade_protocol::frame::{self, Frame, Kind};

/// Largest control datagram.
const MAX_DATAGRAM: usize = 64 * 1024;

/// Send one frame with a JSON payload.
pub(crate) fn send<T: serde::Serialize>(sock: BorrowedFd<'_>, kind: Kind, nonce: u64, value: &T) -> io::Result<()> {
    stockade_sys::send_with_fds(sock, &frame::encode(kind, nonce, value), &[])
}

thread_local! {
    /// One receive buffer for the process, allocated once in the zygote. A run's process
    /// inherits it, so receiving its fds writes one page instead of zeroing a fresh 64 KiB
    /// (which, after a fork, is a copy-on-write fault per page).
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; MAX_DATAGRAM]);
}

/// Receive one frame and its fds; None at end of stream.
pub(crate) fn recv(sock: BorrowedFd<'_>) -> io::Result<Option<(Frame, Vec<OwnedFd>)>> {
    BUF.with(|buf| recv_into(sock, &mut buf.borrow_mut()))
}

fn recv_into(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<(Frame, Vec<OwnedFd>)>> {
    let (n, fds) = stockade_sys::recv_with_fds(sock, buf)?;
    if n == 0 {
        return Ok(None);
    }
    let mut reader = &buf[..n];
    let f = frame::read_frame(
        &mut reader,
        frame::Accept {
            kinds: &[
                (Kind::Go, 4096),
                (Kind::Kill, 4096),
                (Kind::Started, 32 * 1024),
                (Kind::Retired, 4096),
            ],
            nonce: None,
        },
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(Some((f, fds)))
}

/// An empty JSON object, for frames whose kind says it all.
pub(crate) fn empty() -> Value {
    Value::Object(serde_json::Map::new())
}
