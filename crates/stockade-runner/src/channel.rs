//! Frames on a warm jail's control socket (one datagram each, fds riding along).

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use stockade_protocol::frame::{self, Frame, Kind};

/// Receive one frame from the runner or zygote, and any fds (which the supervisor never asks
/// for: they are closed when dropped). None at end of stream.
pub(crate) fn recv(sock: BorrowedFd<'_>) -> io::Result<Option<(Frame, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 64 * 1024];
    let (n, fds) = stockade_sys::recv_with_fds(sock, &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    let mut reader = &buf[..n];
    let f = frame::read_frame(
        &mut reader,
        frame::Accept {
            kinds: &[
                (Kind::Ready, 16 * 1024),
                (Kind::Started, 16 * 1024),
                (Kind::Exited, 4096),
                (Kind::Retired, 4096),
            ],
            nonce: None,
        },
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(Some((f, fds)))
}
