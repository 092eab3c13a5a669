//! The supervisor's half of host functions: the run's calls socket (fd 9 in the run) carries
//! `Call` frames out and `Reply` frames in. Everything on it is written by the run, so it is
//! hostile input: each frame is capped before it is decoded, names are checked against the
//! functions registered for the run, calls are counted, each gets a deadline, and a reply is
//! only ever written for a call that is waiting. Writes to the run never block (a run that does
//! not read its replies only fills its own buffer). The caller's side is a [`Broker`]: cold
//! runs and warm workers each pass theirs.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use stockade_protocol::calls::{Call, CallRecord, Functions, Reply};
use stockade_protocol::frame::{self, Decoder, Kind};

/// Where calls go: the caller, who runs the function and answers.
pub trait Broker {
    /// Hand `call` to the caller.
    fn send(&mut self, call: &Call) -> io::Result<()>;
    /// An fd to poll for the caller's replies (None when the owner of the loop reads them and
    /// calls [`HostCalls::reply`] itself).
    fn replies_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    /// The replies that arrived (after `replies_fd` polled readable).
    fn read_replies(&mut self) -> Vec<Reply> {
        Vec::new()
    }
}

struct Pending {
    /// The run's own nonce for the call (its reply must carry it).
    run_nonce: u64,
    name: String,
    started: Instant,
    call_bytes: u64,
}

/// One run's host-function channel.
pub struct HostCalls {
    functions: Functions,
    sock: OwnedFd,
    decoder: Decoder,
    out: Vec<u8>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    made: u32,
    records: Vec<CallRecord>,
    run_started: Instant,
    /// The run closed its end, or broke the framing: nothing more is read.
    closed: bool,
}

/// The most call records a result keeps.
const MAX_RECORDS: usize = 1000;

impl HostCalls {
    /// Serve `sock` (the supervisor's end of the run's calls socket) for `functions`.
    pub fn new(sock: OwnedFd, functions: Functions) -> io::Result<HostCalls> {
        set_nonblocking(&sock)?;
        let cap = functions.max_bytes;
        Ok(HostCalls {
            functions,
            sock,
            decoder: Decoder::new(&[(Kind::Call, cap)]),
            out: Vec::new(),
            pending: HashMap::new(),
            next_id: 1,
            made: 0,
            records: Vec::new(),
            run_started: Instant::now(),
            closed: false,
        })
    }

    /// The socket, to poll.
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Whether the socket should be polled for reading.
    #[must_use]
    pub fn wants_read(&self) -> bool {
        !self.closed
    }

    /// Whether replies wait to be written.
    #[must_use]
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// Read what the run sent and act on each whole call.
    pub fn on_readable(&mut self, broker: &mut dyn Broker) {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&self.sock), &mut buf) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => match self.decoder.push(&buf[..n]) {
                    Ok(frames) => {
                        for f in frames {
                            self.on_call(f, broker);
                        }
                    }
                    Err(e) => {
                        // The framing is broken (a call over the cap, a bad header): the channel
                        // cannot be read any further. It is shut, so the run's waiting call and
                        // every later one fail at once instead of hanging.
                        self.record_refusal("", 0, &format!("MalformedCall: {e}"));
                        self.shut();
                        return;
                    }
                },
                Err(nix::Error::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    fn shut(&mut self) {
        self.closed = true;
        self.out.clear();
        let waiting: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in waiting {
            self.record(&p, 0, "unanswered");
        }
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&self.sock),
            nix::sys::socket::Shutdown::Both,
        );
    }

    fn on_call(&mut self, f: frame::Frame, broker: &mut dyn Broker) {
        let bytes = f.payload.len() as u64;
        let call: Call = match f.decode() {
            Ok(c) => c,
            Err(e) => return self.refuse(f.nonce, "", bytes, "MalformedCall", &e.to_string()),
        };
        if !self.functions.names.contains(&call.name) {
            let why = format!("{:?} is not a function registered for this run", call.name);
            return self.refuse(f.nonce, &call.name, bytes, "UnknownFunction", &why);
        }
        if self.made >= self.functions.max_calls {
            let why = format!("the run made its {} calls", self.functions.max_calls);
            return self.refuse(f.nonce, &call.name, bytes, "TooManyCalls", &why);
        }
        self.made += 1;
        let id = self.next_id;
        self.next_id += 1;
        let forwarded = Call { id, ..call };
        if let Err(e) = broker.send(&forwarded) {
            return self.refuse(
                f.nonce,
                &forwarded.name,
                bytes,
                "HostError",
                &format!("the caller is gone: {e}"),
            );
        }
        self.pending.insert(
            id,
            Pending {
                run_nonce: f.nonce,
                name: forwarded.name,
                started: Instant::now(),
                call_bytes: bytes,
            },
        );
    }

    /// The caller's reply to call `reply.id`. A reply to a call that is not waiting (timed
    /// out, never made) is dropped.
    pub fn reply(&mut self, reply: Reply) {
        let Some(p) = self.pending.remove(&reply.id) else {
            return;
        };
        let mut frame = frame::encode(Kind::Reply, p.run_nonce, &reply);
        let mut outcome = match &reply.error {
            None => "returned".to_string(),
            Some(_) => "raised".to_string(),
        };
        if frame.len() - frame::HEADER_LEN > self.functions.max_bytes as usize {
            let why = format!(
                "the reply of {} bytes is over the limit of {} bytes",
                frame.len() - frame::HEADER_LEN,
                self.functions.max_bytes
            );
            frame = frame::encode(Kind::Reply, p.run_nonce, &Reply::error(reply.id, "CallTooLarge", why));
            outcome = "CallTooLarge".into();
        }
        self.record(&p, (frame.len() - frame::HEADER_LEN) as u64, &outcome);
        self.out.extend_from_slice(&frame);
        self.flush();
    }

    fn refuse(&mut self, run_nonce: u64, name: &str, bytes: u64, kind: &str, why: &str) {
        let frame = frame::encode(Kind::Reply, run_nonce, &Reply::error(0, kind, why));
        self.record_refusal(name, bytes, kind);
        self.out.extend_from_slice(&frame);
        self.flush();
    }

    fn record(&mut self, p: &Pending, reply_bytes: u64, outcome: &str) {
        if self.records.len() < MAX_RECORDS {
            self.records.push(CallRecord {
                name: p.name.clone(),
                call_bytes: p.call_bytes,
                reply_bytes,
                start_ms: ms(p.started.duration_since(self.run_started)),
                duration_ms: ms(p.started.elapsed()),
                outcome: outcome.to_string(),
            });
        }
    }

    fn record_refusal(&mut self, name: &str, bytes: u64, outcome: &str) {
        let p = Pending {
            run_nonce: 0,
            name: name.to_string(),
            started: Instant::now(),
            call_bytes: bytes,
        };
        self.record(&p, 0, outcome);
    }

    /// Write what waits for the run, as far as it goes without blocking.
    pub fn flush(&mut self) {
        while !self.out.is_empty() {
            // MSG_NOSIGNAL: a run that closed its end must not SIGPIPE its supervisor.
            let sent = nix::sys::socket::send(
                std::os::fd::AsRawFd::as_raw_fd(&self.sock),
                &self.out,
                nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            );
            match sent {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(nix::Error::EINTR) => {}
                // EAGAIN: later (POLLOUT); anything else: the run is gone.
                Err(nix::Error::EAGAIN) => return,
                Err(_) => {
                    self.out.clear();
                    return;
                }
            }
        }
    }

    /// Fail the calls that waited past their timeout.
    pub fn expire(&mut self, now: Instant) {
        let timeout = Duration::from_millis(self.functions.timeout_ms);
        let late: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let why = format!("the host function took over {} ms", self.functions.timeout_ms);
            if let Some(p) = self.pending.remove(&id) {
                let frame = frame::encode(Kind::Reply, p.run_nonce, &Reply::error(id, "CallTimeout", why));
                self.record(&p, 0, "CallTimeout");
                self.out.extend_from_slice(&frame);
            }
        }
        self.flush();
    }

    /// When the next call times out.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeout = Duration::from_millis(self.functions.timeout_ms);
        self.pending.values().map(|p| p.started + timeout).min()
    }

    /// The run is over: calls still waiting are recorded as unanswered.
    #[must_use]
    pub fn finish(mut self) -> Vec<CallRecord> {
        let waiting: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in waiting {
            self.record(&p, 0, "unanswered");
        }
        self.records.sort_by_key(|r| r.start_ms);
        self.records
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let raw = std::os::fd::AsRawFd::as_raw_fd(fd);
    let flags = fcntl(raw, FcntlArg::F_GETFL)?;
    fcntl(
        raw,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    Ok(())
}
