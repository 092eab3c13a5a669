//! The supervisor's side of the caller channel: frames in on stdin, frames out on stdout.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};

use stockade_protocol::frame::{self, Decoder, Frame, Kind};

/// Largest frames the caller may send: a `Start` (a policy), a `Run` (code, inputs, files).
/// A `Reply` to a host-function call is checked against the run's own limit when it is passed on.
const CAPS: &[(Kind, u32)] = &[
    (Kind::Start, 1 << 20),
    (Kind::Run, 256 << 20),
    (Kind::Close, 0),
    (Kind::Reply, 64 << 20),
];

/// The caller, as the supervisor sees it.
pub struct Caller {
    out: io::Stdout,
    decoder: Decoder,
    /// The caller's side was closed (or broke the protocol).
    pub closed: bool,
}

impl Default for Caller {
    fn default() -> Self {
        Caller::new()
    }
}

impl Caller {
    /// On this process's stdin and stdout.
    #[must_use]
    pub fn new() -> Caller {
        Caller {
            out: io::stdout(),
            decoder: Decoder::new(CAPS),
            closed: false,
        }
    }

    /// Its input, for polling.
    #[must_use]
    pub fn input(&self) -> BorrowedFd<'static> {
        stockade_sys::borrow_raw(0)
    }

    /// Read what is there (one read) and return the frames it completed. An error (end of file,
    /// a malformed or oversized frame) closes the channel.
    pub fn read_frames(&mut self) -> io::Result<Vec<Frame>> {
        let mut buf = vec![0u8; 256 * 1024];
        match stockade_jail::supervise::read_some(self.input().as_fd(), &mut buf) {
            Ok(Some(n)) => self.decoder.push(&buf[..n]).map_err(|e| {
                self.closed = true;
                io::Error::other(e.to_string())
            }),
            Ok(None) => {
                self.closed = true;
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the caller closed"))
            }
            Err(e) => {
                self.closed = true;
                Err(e)
            }
        }
    }

    /// Block until one whole frame arrives (the first `Start`).
    pub fn read_one(&mut self) -> io::Result<Frame> {
        loop {
            if let Some(f) = self.read_frames()?.into_iter().next() {
                return Ok(f);
            }
        }
    }

    /// Send a frame with a JSON payload. A caller that went away is noticed on its input.
    pub fn send<T: serde::Serialize>(&mut self, kind: Kind, nonce: u64, value: &T) {
        let bytes = frame::encode(kind, nonce, value);
        let _ = self.out.write_all(&bytes).and_then(|()| self.out.flush());
    }

    /// Send encoded frames in one write.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes).and_then(|()| self.out.flush());
    }

    /// Send a frame with raw bytes (output chunks).
    pub fn send_raw(&mut self, kind: Kind, nonce: u64, payload: &[u8]) {
        let bytes = frame::encode_raw(kind, nonce, payload);
        let _ = self.out.write_all(&bytes).and_then(|()| self.out.flush());
    }
}

/// A run's host-function calls go to the caller as `Call` frames (with the run's nonce). A cold
/// run's supervisor polls for the `Reply` frames through it; a warm one's serve loop reads them
/// with the caller's other frames.
pub struct CallerBroker<'a> {
    caller: &'a mut Caller,
    nonce: u64,
    /// The caller asked to close while the run was on: close after it.
    pub saw_close: bool,
}

impl<'a> CallerBroker<'a> {
    /// For the run with this nonce.
    pub fn new(caller: &'a mut Caller, nonce: u64) -> CallerBroker<'a> {
        CallerBroker {
            caller,
            nonce,
            saw_close: false,
        }
    }
}

impl stockade_jail::calls::Broker for CallerBroker<'_> {
    fn send(&mut self, call: &stockade_protocol::calls::Call) -> io::Result<()> {
        if self.caller.closed {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the caller closed"));
        }
        self.caller.send(Kind::Call, self.nonce, call);
        Ok(())
    }

    fn replies_fd(&self) -> Option<BorrowedFd<'_>> {
        (!self.caller.closed).then(|| self.caller.input())
    }

    fn read_replies(&mut self) -> Vec<stockade_protocol::calls::Reply> {
        let Ok(frames) = self.caller.read_frames() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in frames {
            match f.kind {
                Kind::Reply if f.nonce == self.nonce => {
                    if let Ok(r) = f.decode() {
                        out.push(r);
                    }
                }
                Kind::Close => self.saw_close = true,
                _ => {}
            }
        }
        out
    }
}
