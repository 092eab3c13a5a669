//! Frames: a fixed 16-byte header, then the payload.
//!
//! ```text
//! 0      2        3      4            8                    16
//! | "SK" | version | kind | length u32 | nonce u64          | payload (length bytes)
//! ```
//!
//! All integers are little-endian. The header is read first and checked (magic, version,
//! kind, nonce, and the length against the reader's cap) before a single payload byte is
//! buffered: a frame over the cap is an error, not an allocation, and a frame of a kind or nonce
//! the reader did not ask for is skipped without being decoded. Payloads are JSON except for
//! output chunks, which are the raw bytes.

use std::io::{self, Read};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::PROTOCOL_VERSION;

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 16;
const MAGIC: [u8; 2] = *b"SK";

/// What a frame carries. The numbering is part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// caller → supervisor: how to set the jail up ([`crate::caller::Start`]).
    Start = 1,
    /// supervisor → caller: the jail is ready ([`crate::caller::Hello`]).
    Hello = 2,
    /// caller → supervisor: run this ([`crate::caller::RunSpec`]); the nonce names the run.
    Run = 3,
    /// caller → supervisor: no more runs; stop the jail.
    Close = 4,
    /// supervisor → caller: a chunk of the run's stdout (raw bytes).
    Stdout = 5,
    /// supervisor → caller: a chunk of the run's stderr (raw bytes).
    Stderr = 6,
    /// supervisor → caller: a guard decision as it happened ([`crate::result::Violation`]).
    Violation = 7,
    /// supervisor → caller: the run's result document ([`crate::RunResult`]).
    Result = 8,
    /// supervisor → caller: the jail is gone or could not start ([`crate::caller::Fatal`]).
    Fatal = 9,
    /// supervisor → run (request memfd): what to run ([`crate::run::Request`]).
    Request = 10,
    /// run → supervisor (answer pipe): what the code returned ([`crate::run::Answer`]).
    Answer = 11,
    /// zygote/session → supervisor: ready to serve ([`crate::zygote::Ready`]).
    Ready = 12,
    /// supervisor → zygote/session: start the run whose fds ride along ([`crate::zygote::Go`]).
    Go = 13,
    /// zygote → supervisor: the run's process exists ([`crate::zygote::Started`]).
    Started = 14,
    /// zygote/session → supervisor: the run is over ([`crate::zygote::Exited`]).
    Exited = 15,
    /// supervisor → zygote: stop the run now.
    Kill = 16,
    /// zygote → supervisor: it stopped serving, and why ([`crate::zygote::Retired`]).
    Retired = 17,
    /// run → supervisor → caller: a host function call ([`crate::calls::Call`]).
    Call = 18,
    /// caller → supervisor → run: its reply ([`crate::calls::Reply`]).
    Reply = 19,
    /// `stockade run` → `stockade helper`: run this in a jail built ahead
    /// ([`crate::helper::HelperRun`]).
    HelperRun = 20,
}

impl Kind {
    const ALL: [Kind; 20] = [
        Kind::Start,
        Kind::Hello,
        Kind::Run,
        Kind::Close,
        Kind::Stdout,
        Kind::Stderr,
        Kind::Violation,
        Kind::Result,
        Kind::Fatal,
        Kind::Request,
        Kind::Answer,
        Kind::Ready,
        Kind::Go,
        Kind::Started,
        Kind::Exited,
        Kind::Kill,
        Kind::Retired,
        Kind::Call,
        Kind::Reply,
        Kind::HelperRun,
    ];

    /// Every kind, in wire-number order.
    #[must_use]
    pub fn all() -> &'static [Kind] {
        &Kind::ALL
    }

    /// The kind with this wire number.
    #[must_use]
    pub fn from_u8(n: u8) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| *k as u8 == n)
    }
}

/// A frame that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The stream ended inside a frame (or before one, for `read_frame`).
    #[error("the stream ended{}", if *.0 == 0 { String::new() } else { format!(" {} bytes into a frame", .0) })]
    Eof(usize),
    /// The header is not a stockade frame of this protocol version.
    #[error("not a stockade frame (magic/version {0:02x?})")]
    BadHeader([u8; 3]),
    /// Unknown kind number.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The frame announces more bytes than the reader accepts.
    #[error("a {kind:?} frame of {len} bytes is over the cap of {cap} bytes")]
    TooLarge {
        /// Its kind.
        kind: Kind,
        /// Announced length.
        len: u32,
        /// The reader's cap.
        cap: u32,
    },
    /// The payload is not the JSON the kind calls for.
    #[error("malformed {kind:?} payload: {message}")]
    Payload {
        /// Its kind.
        kind: Kind,
        /// What serde said.
        message: String,
    },
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it carries.
    pub kind: Kind,
    /// The run (or request) it belongs to; 0 when none.
    pub nonce: u64,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Decode the JSON payload as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, FrameError> {
        serde_json::from_slice(&self.payload).map_err(|e| FrameError::Payload {
            kind: self.kind,
            message: e.to_string(),
        })
    }
}

/// The header bytes of a frame.
#[must_use]
pub fn header(kind: Kind, nonce: u64, len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..2].copy_from_slice(&MAGIC);
    h[2] = PROTOCOL_VERSION;
    h[3] = kind as u8;
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..].copy_from_slice(&nonce.to_le_bytes());
    h
}

/// Encode a frame with a raw payload.
///
/// # Panics
/// If the payload is over 4 GiB (no cap in this protocol comes near).
#[must_use]
pub fn encode_raw(kind: Kind, nonce: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame payload over 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(kind, nonce, len));
    out.extend_from_slice(payload);
    out
}

/// Encode a frame with a JSON payload.
#[must_use]
pub fn encode<T: Serialize>(kind: Kind, nonce: u64, value: &T) -> Vec<u8> {
    // Serialising our own types cannot fail: no maps with non-string keys, no foreign Serialize.
    let payload = serde_json::to_vec(value).unwrap_or_default();
    encode_raw(kind, nonce, &payload)
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Kind.
    pub kind: Kind,
    /// Payload length.
    pub len: u32,
    /// Nonce.
    pub nonce: u64,
}

/// Parse a header.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
    if h[..2] != MAGIC || h[2] != PROTOCOL_VERSION {
        return Err(FrameError::BadHeader([h[0], h[1], h[2]]));
    }
    let kind = Kind::from_u8(h[3]).ok_or(FrameError::UnknownKind(h[3]))?;
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let nonce = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    Ok(Header { kind, len, nonce })
}

/// What a reader accepts: kinds, each with its own cap.
#[derive(Debug, Clone, Copy)]
pub struct Accept<'a> {
    /// `(kind, largest payload)` pairs; other kinds are skipped unread.
    pub kinds: &'a [(Kind, u32)],
    /// Only frames with this nonce (others are skipped unread); None: any.
    pub nonce: Option<u64>,
}

impl Accept<'_> {
    fn cap(&self, h: &Header) -> Option<u32> {
        if self.nonce.is_some_and(|n| n != h.nonce) {
            return None;
        }
        self.kinds.iter().find(|(k, _)| *k == h.kind).map(|(_, cap)| *cap)
    }
}

/// Read frames from a blocking stream until one is accepted; skipped frames' payloads are read
/// and discarded in small chunks, never buffered whole.
pub fn read_frame<R: Read>(r: &mut R, accept: Accept<'_>) -> Result<Frame, FrameError> {
    loop {
        let mut h = [0u8; HEADER_LEN];
        read_exact_or_eof(r, &mut h)?;
        let header = parse_header(&h)?;
        match accept.cap(&header) {
            Some(cap) if header.len > cap => {
                return Err(FrameError::TooLarge {
                    kind: header.kind,
                    len: header.len,
                    cap,
                })
            }
            Some(_) => {
                let mut payload = vec![0u8; header.len as usize];
                read_exact_or_eof(r, &mut payload).map_err(|e| match e {
                    FrameError::Eof(n) => FrameError::Eof(HEADER_LEN + n),
                    e => e,
                })?;
                return Ok(Frame {
                    kind: header.kind,
                    nonce: header.nonce,
                    payload,
                });
            }
            None => skip(r, u64::from(header.len))?,
        }
    }
}

fn read_exact_or_eof<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(FrameError::Eof(got)),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn skip<R: Read>(r: &mut R, mut left: u64) -> Result<(), FrameError> {
    let mut sink = [0u8; 8192];
    while left > 0 {
        let take = usize::try_from(left.min(sink.len() as u64)).unwrap_or(sink.len());
        match r.read(&mut sink[..take]) {
            Ok(0) => return Err(FrameError::Eof(0)),
            Ok(n) => left -= n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// An incremental decoder for non-blocking readers: push bytes as they arrive, take frames as
/// they complete. The cap is checked when the header is complete, before the payload is kept.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    header: Option<Header>,
    skip_left: u64,
    kinds: Vec<(Kind, u32)>,
}

impl Decoder {
    /// A decoder that accepts these kinds, each up to its cap; other kinds are skipped.
    #[must_use]
    pub fn new(kinds: &[(Kind, u32)]) -> Decoder {
        Decoder {
            buf: Vec::new(),
            header: None,
            skip_left: 0,
            kinds: kinds.to_vec(),
        }
    }

    /// Bytes buffered towards the next frame (bounded by the largest cap plus a header).
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feed bytes; returns the frames they completed. After an error the decoder is unusable
    /// (the stream cannot be resynchronised) and the caller should drop the channel.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            if self.skip_left > 0 {
                let n = usize::try_from(self.skip_left.min(bytes.len() as u64)).unwrap_or(bytes.len());
                self.skip_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            match self.header {
                None => {
                    let need = HEADER_LEN - self.buf.len();
                    let n = need.min(bytes.len());
                    self.buf.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if self.buf.len() == HEADER_LEN {
                        let mut h = [0u8; HEADER_LEN];
                        h.copy_from_slice(&self.buf);
                        self.buf.clear();
                        let header = parse_header(&h)?;
                        match self.kinds.iter().find(|(k, _)| *k == header.kind) {
                            Some((_, cap)) if header.len > *cap => {
                                return Err(FrameError::TooLarge {
                                    kind: header.kind,
                                    len: header.len,
                                    cap: *cap,
                                })
                            }
                            Some(_) => self.header = Some(header),
                            None => self.skip_left = u64::from(header.len),
                        }
                        if let Some(h) = self.header.filter(|h| h.len == 0) {
                            out.push(Frame {
                                kind: h.kind,
                                nonce: h.nonce,
                                payload: Vec::new(),
                            });
                            self.header = None;
                        }
                    }
                }
                Some(h) => {
                    let need = h.len as usize - self.buf.len();
                    let n = need.min(bytes.len());
                    self.buf.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if self.buf.len() == h.len as usize {
                        out.push(Frame {
                            kind: h.kind,
                            nonce: h.nonce,
                            payload: std::mem::take(&mut self.buf),
                        });
                        self.header = None;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether the stream may end here (between frames).
    #[must_use]
    pub fn at_boundary(&self) -> bool {
        self.header.is_none() && self.buf.is_empty() && self.skip_left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_skip() {
        let mut stream = Vec::new();
        stream.extend(encode_raw(Kind::Stdout, 7, b"hello"));
        stream.extend(encode(Kind::Result, 8, &serde_json::json!({"a": 1})));
        stream.extend(encode_raw(Kind::Stdout, 9, b""));
        let accept = Accept {
            kinds: &[(Kind::Result, 100)],
            nonce: None,
        };
        let mut r = &stream[..];
        let f = read_frame(&mut r, accept).unwrap();
        assert_eq!((f.kind, f.nonce), (Kind::Result, 8));
        assert_eq!(f.decode::<serde_json::Value>().unwrap()["a"], 1);
        assert!(matches!(read_frame(&mut r, accept), Err(FrameError::Eof(0))));

        let mut d = Decoder::new(&[(Kind::Stdout, 10), (Kind::Result, 100)]);
        let mut got = Vec::new();
        for b in &stream {
            got.extend(d.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].payload, b"hello");
        assert_eq!(got[2].payload, b"");
        assert!(d.at_boundary());
    }

    #[test]
    fn caps_are_checked_before_the_payload() {
        // A header announcing 4 GiB and no payload: refused at the header.
        let h = header(Kind::Answer, 1, u32::MAX);
        let mut d = Decoder::new(&[(Kind::Answer, 1024)]);
        assert!(matches!(d.push(&h), Err(FrameError::TooLarge { .. })));
        assert_eq!(d.buffered(), 0);
        let mut r = &h[..];
        let accept = Accept {
            kinds: &[(Kind::Answer, 1024)],
            nonce: None,
        };
        assert!(matches!(read_frame(&mut r, accept), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn bad_headers_and_nonces() {
        let mut d = Decoder::new(&[(Kind::Answer, 1024)]);
        assert!(matches!(
            d.push(b"garbage garbage garbage"),
            Err(FrameError::BadHeader(_))
        ));
        let mut bad_kind = header(Kind::Answer, 1, 0);
        bad_kind[3] = 200;
        assert!(matches!(
            Decoder::new(&[]).push(&bad_kind),
            Err(FrameError::UnknownKind(200))
        ));
        let mut stream = encode_raw(Kind::Answer, 1, b"{}");
        stream.extend(encode_raw(Kind::Answer, 2, b"{}"));
        let mut r = &stream[..];
        let f = read_frame(
            &mut r,
            Accept {
                kinds: &[(Kind::Answer, 10)],
                nonce: Some(2),
            },
        )
        .unwrap();
        assert_eq!(f.nonce, 2);
    }
}
