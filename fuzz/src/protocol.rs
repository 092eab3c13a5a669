//! The properties of stockade's protocol decoders (`stockade-protocol`) and of the guard's
//! event-line reader (`stockade_jail::audit::Audit::feed`): everything that decodes bytes another
//! process wrote. Each `check_*` function is one fuzz target; it panics (a crash for the
//! harnesses) when a property does not hold, and returns a coarse outcome class that the stable
//! harness uses to grow its corpus. [`seeds`] builds each target's seed inputs.
//!
//! Inputs are raw bytes with a small binary prefix that sets up the decoder (caps, chunking,
//! secrets), so one input is one whole scenario and cargo-fuzz and the stable harness share the
//! same files (`fuzz/seeds/<target>/`). Past the end of the input every prefix field reads as 0.
//!
//! The regression seeds (`fuzz/seeds/*/regression-*`) are the inputs that found bugs since fixed:
//! floats one ulp off (serde_json without `float_roundtrip`), file names checked before secrets
//! were replaced in them, and files grown by short secrets.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::io::{self, Read};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use stockade_jail::audit::Audit;
use stockade_protocol::frame::{self, Accept, Decoder, Frame, FrameError, Kind, HEADER_LEN};
use stockade_protocol::{caller, names, result, run, zygote};

use crate::alloc::Watch;

/// The fuzz targets of this module, as `(libFuzzer target, stable harness)`.
pub const TARGETS: [(&str, &str); 5] = [
    ("protocol_frames", "frames_replay"),
    ("protocol_answer", "answer_replay"),
    ("protocol_messages", "messages_replay"),
    ("protocol_names", "names_replay"),
    ("guard_events", "events_replay"),
];

/// The largest cap the harnesses give a kind (and the largest answer limit). `read_frame`
/// allocates an accepted frame's announced length before reading its payload (bounded by the
/// cap, by design), so caps near 4 GiB would make every short input a 4 GiB allocation; larger
/// caps take the same code paths.
pub const MAX_CAP: u32 = 1 << 20;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------------
// Input layout helpers

/// Reads the binary prefix of an input; past the end every field is 0.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    fn u24(&mut self) -> u32 {
        let b = self.take(3);
        b.iter().rev().fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
    }
    fn u64(&mut self) -> u64 {
        let b = self.take(8);
        b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    }
}

fn kind_of(n: u8) -> Kind {
    Kind::from_u8(n)
        .or_else(|| Kind::from_u8(n % 17 + 1))
        .unwrap_or(Kind::Answer)
}

fn u24_bytes(n: u32) -> [u8; 3] {
    let b = n.to_le_bytes();
    [b[0], b[1], b[2]]
}

/// A reader that hands out the stream in the input's chunk sizes (cycled; none: as much as
/// asked), and answers `Interrupted` once for a chunk size of 0.
struct Chunked<'a> {
    data: &'a [u8],
    chunks: &'a [u8],
    next: usize,
    interrupted: bool,
}

impl<'a> Chunked<'a> {
    fn new(data: &'a [u8], chunks: &'a [u8]) -> Self {
        Chunked {
            data,
            chunks,
            next: 0,
            interrupted: false,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = buf.len().min(self.data.len());
        if !self.chunks.is_empty() {
            let c = self.chunks[self.next % self.chunks.len()];
            self.next += 1;
            if c == 0 && !self.interrupted {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            n = n.min(usize::from(c).max(1));
        }
        self.interrupted = false;
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The stream cut into the input's chunk sizes (cycled; none: one byte at a time). A chunk size
/// of 0 is an empty push (and the chunk after it takes at least a byte).
fn chunks<'a>(stream: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    let mut empty = false;
    while !rest.is_empty() {
        let mut size = if sizes.is_empty() {
            1
        } else {
            usize::from(sizes[i % sizes.len()])
        };
        i += 1;
        if size == 0 && empty {
            size = 1;
        }
        empty = size == 0;
        let (a, b) = rest.split_at(size.min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}

fn variant(e: &FrameError) -> String {
    match e {
        FrameError::Eof(0) => "eof0".into(),
        FrameError::Eof(_) => "eof-in-frame".into(),
        FrameError::BadHeader(_) => "bad-header".into(),
        FrameError::UnknownKind(_) => "unknown-kind".into(),
        FrameError::TooLarge { kind, .. } => format!("too-large-{kind:?}"),
        FrameError::Payload { .. } => "payload".into(),
        FrameError::Io(e) => format!("io-{:?}", e.kind()),
        _ => "other".into(),
    }
}

/// An error message without its digits and quoted parts: its shape, for outcome classes.
fn shape(text: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => quote = Some(c),
            None if c.is_ascii_digit() => {}
            None => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// protocol_frames: frame::read_frame and frame::Decoder

/// `protocol_frames` input: `[cfg] ([kind] [cap u24]){cfg & 7} ([nonce u64] if cfg & 8)
/// [n] [chunk size]{n} stream`. Caps are clamped to [`MAX_CAP`]; an unknown kind number maps
/// onto a known one.
#[must_use]
pub fn frames_input(kinds: &[(Kind, u32)], nonce: Option<u64>, chunk_sizes: &[u8], stream: &[u8]) -> Vec<u8> {
    assert!(kinds.len() <= 7 && chunk_sizes.len() <= 255);
    let mut out = vec![kinds.len() as u8 | if nonce.is_some() { 8 } else { 0 }];
    for &(k, cap) in kinds {
        out.push(k as u8);
        out.extend_from_slice(&u24_bytes(cap));
    }
    if let Some(n) = nonce {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.push(chunk_sizes.len() as u8);
    out.extend_from_slice(chunk_sizes);
    out.extend_from_slice(stream);
    out
}

/// The frame decoders, on a stream in arbitrary chunkings with arbitrary caps:
///
/// - `read_frame` (through a reader that returns short reads and `Interrupted`) and
///   `Decoder::push` (the whole stream at once, and in chunks) never panic;
/// - `read_frame` never has more than the largest cap + a header allocated at once (measured by
///   the counting allocator); `Decoder::buffered()` never exceeds the largest cap (or a header),
///   and a push never has more than twice that, plus the frames it returns, allocated at once;
/// - every frame returned is of an accepted kind, with a payload no larger than that kind's cap
///   (and, with a nonce filter, of that nonce);
/// - the decoders agree: the frames `Decoder` returns (at once or chunked) are the ones
///   `read_frame` returns, in order, and where one fails the other fails with the same error
///   (a chunked decoder may have returned only a prefix: frames completed by the push that
///   failed are dropped with it); a stream the decoder ends between frames is `Eof(0)` for
///   `read_frame`; the nonce-filtered `read_frame` returns the matching frames.
pub fn check_frames(data: &[u8]) -> String {
    let mut b = Bytes(data);
    let cfg = b.u8();
    let kinds: Vec<(Kind, u32)> = (0..cfg & 7).map(|_| (kind_of(b.u8()), b.u24().min(MAX_CAP))).collect();
    let nonce = (cfg & 8 != 0).then(|| b.u64());
    let n_chunks = usize::from(b.u8());
    let sizes = b.take(n_chunks);
    let stream = b.0;

    let max_cap = kinds.iter().map(|&(_, c)| c as usize).max().unwrap_or(0);
    let cap_of = |k: Kind| kinds.iter().find(|(x, _)| *x == k).map(|&(_, c)| c);
    let check = |f: &Frame, who: &str| {
        let cap = cap_of(f.kind)
            .unwrap_or_else(|| panic!("{who} returned a {:?} frame, a kind it was not asked for", f.kind));
        assert!(
            f.payload.len() <= cap as usize,
            "{who} returned a {:?} frame of {} bytes, over its cap of {cap}",
            f.kind,
            f.payload.len()
        );
    };

    let read_all = |nonce: Option<u64>| -> (Vec<Frame>, FrameError) {
        let mut reader = Chunked::new(stream, sizes);
        let mut frames = Vec::new();
        loop {
            let watch = Watch::start();
            let r = frame::read_frame(&mut reader, Accept { kinds: &kinds, nonce });
            if let Some(peak) = watch.peak() {
                assert!(
                    peak <= max_cap + HEADER_LEN,
                    "read_frame had {peak} bytes allocated at once; the largest cap is {max_cap} ({r:?})"
                );
            }
            match r {
                Ok(f) => {
                    check(&f, "read_frame");
                    if let Some(n) = nonce {
                        assert_eq!(f.nonce, n, "read_frame returned a frame of another nonce");
                    }
                    frames.push(f);
                }
                Err(e) => return (frames, e),
            }
        }
    };
    let (read, end) = read_all(None);
    let end_text = end.to_string();
    let ended_clean = matches!(end, FrameError::Eof(_));

    if let Some(n) = nonce {
        let (filtered, _) = read_all(Some(n));
        let expected: Vec<&Frame> = read.iter().filter(|f| f.nonce == n).collect();
        assert!(
            filtered.len() >= expected.len() && filtered.iter().zip(&expected).all(|(a, b)| a == *b),
            "read_frame with nonce {n} returned other frames than those of that nonce without a filter"
        );
        if ended_clean {
            assert_eq!(
                filtered.len(),
                expected.len(),
                "the nonce filter found frames the plain read did not"
            );
        }
    }

    // Bounds of one push: the buffer (twice: a Vec may double) plus the frames it returns.
    let push_bound = |frames: &[Frame]| {
        2 * (max_cap.max(HEADER_LEN) + HEADER_LEN)
            + frames.iter().map(|f| f.payload.capacity()).sum::<usize>()
            + frames.len().next_power_of_two().max(4) * std::mem::size_of::<Frame>()
    };
    let buffer_bound = max_cap.max(HEADER_LEN);

    // The whole stream in one push.
    let mut whole = Decoder::new(&kinds);
    let watch = Watch::start();
    let pushed = whole.push(stream);
    let peak = watch.peak();
    match &pushed {
        Ok(frames) => {
            if let Some(peak) = peak {
                assert!(
                    peak <= push_bound(frames),
                    "Decoder::push had {peak} bytes allocated at once (largest cap {max_cap}, {} frames)",
                    frames.len()
                );
            }
            assert!(
                whole.buffered() <= buffer_bound,
                "the decoder buffers {} bytes",
                whole.buffered()
            );
            for f in frames {
                check(f, "Decoder");
            }
            assert!(
                ended_clean,
                "the decoder took the whole stream, read_frame failed: {end_text}"
            );
            assert!(
                *frames == read,
                "the decoder returned {} frames, read_frame {}",
                frames.len(),
                read.len()
            );
            if whole.at_boundary() {
                assert!(
                    matches!(end, FrameError::Eof(0)),
                    "the decoder ended between frames, read_frame with {end_text}"
                );
            }
        }
        Err(e) => assert_eq!(e.to_string(), end_text, "the decoder and read_frame failed differently"),
    }

    // The stream in chunks.
    let mut dec = Decoder::new(&kinds);
    let mut got: Vec<Frame> = Vec::new();
    let mut failed = None;
    for chunk in chunks(stream, sizes) {
        let watch = Watch::start();
        let r = dec.push(chunk);
        let peak = watch.peak();
        match r {
            Ok(frames) => {
                if let Some(peak) = peak {
                    assert!(
                        peak <= push_bound(&frames),
                        "Decoder::push of {} bytes had {peak} bytes allocated at once (largest cap {max_cap})",
                        chunk.len()
                    );
                }
                assert!(
                    dec.buffered() <= buffer_bound,
                    "the decoder buffers {} bytes (largest cap {max_cap})",
                    dec.buffered()
                );
                for f in &frames {
                    check(f, "Decoder (chunked)");
                }
                got.extend(frames);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    assert!(
        got.len() <= read.len() && got.iter().zip(&read).all(|(a, b)| a == b),
        "the chunked decoder returned frames read_frame did not"
    );
    match &failed {
        Some(e) => assert_eq!(
            e.to_string(),
            end_text,
            "the chunked decoder and read_frame failed differently"
        ),
        None => {
            assert!(
                ended_clean,
                "the chunked decoder took the stream, read_frame failed: {end_text}"
            );
            assert_eq!(got.len(), read.len(), "the chunked decoder missed frames");
            assert_eq!(
                dec.at_boundary(),
                whole.at_boundary(),
                "the chunked and the whole decoder end in different states"
            );
        }
    }

    let kinds_read: BTreeSet<u8> = read.iter().map(|f| f.kind as u8).collect();
    format!(
        "{}/{}/{kinds_read:?}/{}",
        read.len().min(4),
        variant(&end),
        pushed.is_ok()
    )
}

// ---------------------------------------------------------------------------------------------
// protocol_answer: run::read_answer

/// `protocol_answer` input: `[flags: over = bit 0, secrets = bits 1-2] [limit u24]
/// ([offset u16] [len u8]){secrets} answer bytes`. The limit is clamped to [`MAX_CAP`]. Each
/// secret is a window of the answer bytes (a secret that does not occur in them changes nothing,
/// and windows let a mutation pick any part of a name or a file as the secret without shifting
/// the answer), decoded as lossy UTF-8; empty ones are dropped and the rest sorted longest
/// first, as the plan does.
#[must_use]
pub fn answer_input(over: bool, limit: u32, secrets: &[&str], answer: &[u8]) -> Vec<u8> {
    assert!(secrets.len() <= 3);
    let mut out = vec![u8::from(over) | ((secrets.len() as u8) << 1)];
    out.extend_from_slice(&u24_bytes(limit));
    for s in secrets {
        let at = answer
            .windows(s.len().max(1))
            .position(|w| w == s.as_bytes())
            .unwrap_or_else(|| panic!("secret {s:?} is not in the answer"));
        out.extend_from_slice(&u16::try_from(at).expect("a secret in the first 64 KiB").to_le_bytes());
        out.push(u8::try_from(s.len()).expect("a secret of at most 255 bytes"));
    }
    out.extend_from_slice(answer);
    out
}

/// `run::read_answer` on what a hostile run wrote:
///
/// - it never panics;
/// - `over` gives `AnswerTooLarge` and no bytes give `NoResult`, with nothing else;
/// - every file name it keeps passes `names::check_file_name`;
/// - every kept file is base64, and it never returns more file bytes than the run gave in
///   files with acceptable names (decoded, summed);
/// - when the answer does not decode (the frame or its JSON), the result is `MalformedAnswer`
///   with no value and no files.
pub fn check_answer(data: &[u8]) -> String {
    let mut b = Bytes(data);
    let flags = b.u8();
    let over = flags & 1 != 0;
    let limit = u64::from(b.u24().min(MAX_CAP));
    let windows: Vec<(usize, usize)> = (0..(flags >> 1) & 3)
        .map(|_| {
            let at = usize::from(b.u8()) | (usize::from(b.u8()) << 8);
            (at, usize::from(b.u8()))
        })
        .collect();
    let bytes = b.0;
    let mut secrets: Vec<String> = windows
        .into_iter()
        .map(|(at, n)| {
            let at = at.min(bytes.len());
            String::from_utf8_lossy(&bytes[at..(at + n).min(bytes.len())]).into_owned()
        })
        .filter(|s| !s.is_empty())
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));

    let answer = run::read_answer(bytes, over, limit, &secrets);
    let error_kind = answer.error.as_ref().map(|e| e.kind.as_str()).unwrap_or("");
    if over || bytes.is_empty() {
        let want = if over { "AnswerTooLarge" } else { "NoResult" };
        assert_eq!(error_kind, want);
        assert!(answer.files.is_empty() && answer.value.is_null());
        return want.into();
    }

    // What the run gave: the frame read and decoded independently.
    let decoded: Option<result::Answer> = frame::read_frame(
        &mut &bytes[..],
        Accept {
            kinds: &[(Kind::Answer, u32::try_from(limit).unwrap_or(u32::MAX))],
            nonce: None,
        },
    )
    .ok()
    .and_then(|f| f.decode().ok());
    let Some(given) = decoded else {
        assert_eq!(
            error_kind, "MalformedAnswer",
            "an answer that does not decode was taken: {answer:?}"
        );
        assert!(answer.files.is_empty() && answer.value.is_null());
        return "malformed".into();
    };
    // Names are checked as the caller will see them: with secrets replaced.
    let given_bytes: usize = given
        .files
        .iter()
        .filter(|(name, _)| names::check_file_name(&stockade_protocol::redact::text(name, &secrets)).is_ok())
        .filter_map(|(_, data)| B64.decode(data).ok())
        .map(|c| c.len())
        .sum();

    for name in answer.files.keys() {
        if let Err(e) = names::check_file_name(name) {
            panic!("read_answer kept a file name that check_file_name refuses: {e}");
        }
    }
    let kept_bytes: usize = answer
        .files
        .iter()
        .map(|(name, data)| {
            B64.decode(data)
                .unwrap_or_else(|e| panic!("read_answer kept file {name:?} that is not base64: {e}"))
                .len()
        })
        .sum();
    // Redaction never makes anything longer (`stockade_protocol::redact`).
    assert!(
        kept_bytes <= given_bytes,
        "read_answer returned {kept_bytes} file bytes, the run gave {given_bytes} (secrets {secrets:?})"
    );
    let redacted_names = answer.files.keys().filter(|n| n.contains("[secret]")).count();
    let longest_name = answer.files.keys().map(String::len).max().unwrap_or(0);
    format!(
        "ok/{}/{}/{}/{}/{}/{}",
        answer.error.is_some(),
        answer.files.len().min(3),
        answer.files_skipped.len().min(3),
        secrets.len(),
        redacted_names.min(2),
        longest_name / 128
    )
}

// ---------------------------------------------------------------------------------------------
// protocol_messages: every message type's JSON

/// The message types `protocol_messages` decodes, by the input's first byte (modulo the count),
/// with the frame kind that carries each.
pub const MESSAGES: [(&str, Kind); 15] = [
    ("caller::Start", Kind::Start),
    ("caller::RunSpec", Kind::Run),
    ("caller::Hello", Kind::Hello),
    ("caller::Fatal", Kind::Fatal),
    ("run::Request", Kind::Request),
    ("run::GuardLine", Kind::Violation),
    ("zygote::Ready", Kind::Ready),
    ("zygote::Go", Kind::Go),
    ("zygote::Started", Kind::Started),
    ("zygote::Exited", Kind::Exited),
    ("zygote::Retired", Kind::Retired),
    ("result::RunResult", Kind::Result),
    ("result::Answer", Kind::Answer),
    ("result::Violation", Kind::Violation),
    ("zygote::ZygoteConfig", Kind::Go),
];

/// JSON decoding of every message type (`Frame::decode`), the first input byte choosing the
/// type ([`MESSAGES`]) and the rest being the payload:
///
/// - decoding never panics;
/// - a message that decodes survives `frame::encode` → `read_frame` → `decode` unchanged (an
///   equal value);
/// - `RunSpec::validate()` never panics, and a spec it accepts has only valid input names, file
///   names that pass `check_file_name`, base64 files and stdin, and no zero timeout.
pub fn check_messages(data: &[u8]) -> String {
    let Some((&sel, json)) = data.split_first() else {
        return "empty".into();
    };
    let (name, kind) = MESSAGES[usize::from(sel) % MESSAGES.len()];
    let class = match usize::from(sel) % MESSAGES.len() {
        0 => message::<caller::Start>(kind, json, |_| {}),
        1 => message::<caller::RunSpec>(kind, json, check_run_spec),
        2 => message::<caller::Hello>(kind, json, |_| {}),
        3 => message::<caller::Fatal>(kind, json, |_| {}),
        4 => message::<run::Request>(kind, json, |_| {}),
        5 => message::<run::GuardLine>(kind, json, |_| {}),
        6 => message::<zygote::Ready>(kind, json, |_| {}),
        7 => message::<zygote::Go>(kind, json, |_| {}),
        8 => message::<zygote::Started>(kind, json, |_| {}),
        9 => message::<zygote::Exited>(kind, json, |_| {}),
        10 => message::<zygote::Retired>(kind, json, |_| {}),
        11 => message::<result::RunResult>(kind, json, |_| {}),
        12 => message::<result::Answer>(kind, json, |_| {}),
        13 => message::<result::Violation>(kind, json, |_| {}),
        _ => message::<zygote::ZygoteConfig>(kind, json, |_| {}),
    };
    format!("{name}/{class}")
}

fn message<T>(kind: Kind, json: &[u8], extra: impl FnOnce(&T)) -> String
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let f = Frame {
        kind,
        nonce: 1,
        payload: json.to_vec(),
    };
    let value: T = match f.decode() {
        Ok(v) => v,
        Err(e) => return shape(&e.to_string()),
    };
    let bytes = frame::encode(kind, 7, &value);
    let again: T = frame::read_frame(
        &mut &bytes[..],
        Accept {
            kinds: &[(kind, u32::MAX)],
            nonce: Some(7),
        },
    )
    .and_then(|f| f.decode())
    .unwrap_or_else(|e| {
        panic!(
            "a decoded {kind:?} message does not decode again after frame::encode: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    });
    if again != value {
        let (a, b) = (
            serde_json::to_value(&value).unwrap_or_default(),
            serde_json::to_value(&again).unwrap_or_default(),
        );
        let floats = float_only_difference(&a, &b)
            .map(|e| format!(" (a float: {e})"))
            .unwrap_or_default();
        panic!(
            "a {kind:?} message changed in a round trip{floats}\n--- decoded ---\n{value:?}\n--- again ---\n{again:?}"
        );
    }
    if let Some(example) = misparsed_number(json, &serde_json::to_value(&value).unwrap_or_default()) {
        panic!("a {kind:?} message holds a number that is not the nearest f64 of its text: {example}");
    }
    extra(&value);
    "ok".into()
}

/// A number of the JSON text that the decoded message holds as another f64 than the nearest
/// one (Rust's own parse is correctly rounded), described; None when there is none.
fn misparsed_number(json: &[u8], decoded: &Value) -> Option<String> {
    let mut floats = std::collections::HashSet::new();
    let mut stack = vec![decoded];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) if n.is_f64() => {
                floats.insert(n.as_f64().unwrap_or_default().to_bits());
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    if floats.is_empty() {
        return None;
    }
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < json.len() && matches!(json[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                let text = std::str::from_utf8(&json[start..i]).ok()?;
                if let (Ok(exact), Ok(serde)) = (text.parse::<f64>(), serde_json::from_str::<f64>(text)) {
                    if exact.to_bits() != serde.to_bits() && floats.contains(&serde.to_bits()) {
                        return Some(format!("{text} decodes to {serde:e}, its nearest f64 is {exact:e}"));
                    }
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// When two JSON values differ only in numbers, and each differing number is serde_json's
/// parse of the other's shortest representation being off (Rust's own, correctly rounded parse
/// gives the original back): one such difference, described. None otherwise.
fn float_only_difference(a: &Value, b: &Value) -> Option<String> {
    let mut example = None;
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x != y => {
                let (fx, fy) = (x.as_f64()?, y.as_f64()?);
                let text = x.to_string();
                let exact: f64 = text.parse().ok()?;
                let serde: f64 = serde_json::from_str(&text).ok()?;
                if exact.to_bits() != fx.to_bits() || serde.to_bits() != fy.to_bits() {
                    return None;
                }
                example.get_or_insert_with(|| format!("{text} decodes to {serde:e} (its nearest f64 is {exact:e})"));
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => stack.extend(x.iter().zip(y)),
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for ((kx, vx), (ky, vy)) in x.iter().zip(y) {
                    if kx != ky {
                        return None;
                    }
                    stack.push((vx, vy));
                }
            }
            (x, y) if x == y => {}
            _ => return None,
        }
    }
    example
}

fn check_run_spec(spec: &caller::RunSpec) {
    let Ok(()) = spec.validate() else { return };
    for name in spec.inputs.keys() {
        assert!(
            names::check_input_name(name).is_ok(),
            "validate() passed input name {name:?}"
        );
    }
    for (name, data) in &spec.files {
        assert!(
            names::check_file_name(name).is_ok(),
            "validate() passed file name {name:?}"
        );
        assert!(
            B64.decode(data).is_ok(),
            "validate() passed file {name:?} that is not base64"
        );
    }
    if let Some(stdin) = &spec.stdin {
        assert!(B64.decode(stdin).is_ok(), "validate() passed stdin that is not base64");
    }
    assert_ne!(spec.timeout_ms, Some(0), "validate() passed a timeout of 0");
}

// ---------------------------------------------------------------------------------------------
// protocol_names: names::check_file_name and names::check_input_name

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// The name checks, on the input as UTF-8 (lossy when it is not), on each of its NUL-separated
/// parts (the first 64), and on them with a `/` between them:
///
/// - they never panic, and a refusal's message names at most 200 characters of the name;
/// - an accepted file name is non-empty, at most 1024 bytes, relative (no leading `/`), has no
///   empty, `.` or `..` component and no component over 255 bytes, no control character and no
///   backslash, and joined under a directory it stays under it (only normal path components);
/// - an accepted input name is an ASCII Python identifier of at most 128 bytes, not a keyword,
///   and not a `__dunder__`.
pub fn check_names(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut class = Vec::new();
    let mut one = |name: &str| {
        class.push(check_file(name));
        class.push(check_input(name));
    };
    one(&text);
    if text.contains('\0') {
        let parts: Vec<&str> = text.split('\0').take(64).collect();
        for p in &parts {
            one(p);
        }
        one(&parts.join("/"));
    }
    class.sort();
    class.dedup();
    class.join(",")
}

fn check_file(name: &str) -> String {
    match names::check_file_name(name) {
        Ok(()) => {
            assert!(
                !name.is_empty() && name.len() <= names::MAX_FILE_NAME,
                "accepted {name:?}"
            );
            assert!(!name.starts_with('/'), "accepted an absolute file name {name:?}");
            for part in name.split('/') {
                assert!(
                    !matches!(part, "" | "." | ".."),
                    "accepted file name {name:?} with component {part:?}"
                );
                assert!(
                    part.len() <= 255,
                    "accepted file name {name:?} with a component over 255 bytes"
                );
            }
            assert!(
                !name.chars().any(|c| c.is_control() || c == '\\'),
                "accepted file name {name:?} with a control character or backslash"
            );
            let path = std::path::Path::new(name);
            assert!(
                path.components().all(|c| matches!(c, std::path::Component::Normal(_))),
                "accepted file name {name:?} whose path has a non-normal component"
            );
            assert!(std::path::Path::new("/scratch").join(path).starts_with("/scratch"));
            "file-ok".into()
        }
        Err(e) => {
            assert!(
                e.name.chars().count() <= 200,
                "the refusal quotes {} characters",
                e.name.chars().count()
            );
            format!("file:{}", shape(&e.why))
        }
    }
}

fn check_input(name: &str) -> String {
    match names::check_input_name(name) {
        Ok(()) => {
            let mut chars = name.chars();
            assert!(
                chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "accepted input name {name:?} that is not an ASCII identifier"
            );
            assert!(
                name.len() <= names::MAX_INPUT_NAME,
                "accepted a {}-byte input name",
                name.len()
            );
            assert!(!KEYWORDS.contains(&name), "accepted the keyword {name:?}");
            assert!(
                !(name.len() > 4 && name.starts_with("__") && name.ends_with("__")),
                "accepted the dunder name {name:?}"
            );
            "input-ok".into()
        }
        Err(e) => {
            assert!(
                e.name.chars().count() <= 200,
                "the refusal quotes {} characters",
                e.name.chars().count()
            );
            format!("input:{}", shape(&e.why))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// guard_events: stockade_jail::audit::Audit::feed

/// Longest guard report line (`run::MAX_EVENT_LINE`).
const MAX_LINE: usize = run::MAX_EVENT_LINE;
/// Distinct violations the audit keeps.
const MAX_VIOLATIONS: usize = 200;

/// `guard_events` input: `[n] [chunk size]{n} lines`.
#[must_use]
pub fn events_input(chunk_sizes: &[u8], lines: &[u8]) -> Vec<u8> {
    assert!(chunk_sizes.len() <= 255);
    let mut out = vec![chunk_sizes.len() as u8];
    out.extend_from_slice(chunk_sizes);
    out.extend_from_slice(lines);
    out
}

/// The guard's event lines, as the run can write them, fed to `Audit::collector(&[])` whole and
/// in chunks (and to a collector with secrets):
///
/// - `feed` never panics;
/// - violations stay at most 200, each with a count of at least 1 and at most 6 arguments of at
///   most 300 characters;
/// - when no line is over `MAX_EVENT_LINE`, feeding in chunks gives the same violations, guard
///   state and dropped count as feeding the whole at once.
pub fn check_events(data: &[u8]) -> String {
    let mut b = Bytes(data);
    let n = usize::from(b.u8());
    let sizes = b.take(n);
    let stream = b.0;

    let mut whole = Audit::collector(&[]);
    whole.feed(stream);
    check_audit(&whole, "whole");

    let mut chunked = Audit::collector(&[]);
    let mut max_violations = 0;
    for chunk in chunks(stream, if sizes.is_empty() { &[255] } else { sizes }) {
        chunked.feed(chunk);
        max_violations = max_violations.max(chunked.violations.len());
        assert!(max_violations <= MAX_VIOLATIONS);
    }
    check_audit(&chunked, "chunked");

    let short_lines = stream.split(|&b| b == b'\n').all(|l| l.len() <= MAX_LINE);
    if short_lines {
        assert_eq!(
            chunked.violations, whole.violations,
            "feeding in chunks gave other violations than feeding at once"
        );
        assert_eq!(
            chunked.dropped, whole.dropped,
            "feeding in chunks dropped another number of lines"
        );
        assert_eq!(
            format!("{:?}", chunked.guard),
            format!("{:?}", whole.guard),
            "feeding in chunks gave another guard state"
        );
    }

    let mut secret = Audit::collector(&["s3cret-value".into(), "x/y".into()]);
    secret.feed(stream);
    assert!(secret.violations.len() <= MAX_VIOLATIONS);
    for v in &secret.violations {
        for text in std::iter::once(&v.event).chain([&v.rule, &v.reason]).chain(&v.args) {
            assert!(
                !text.contains("s3cret-value"),
                "a secret survived in a violation: {v:?}"
            );
        }
    }

    format!(
        "{}/{}/{}{}{}/{}",
        whole.violations.len().min(3),
        whole.dropped.min(3),
        u8::from(whole.guard.installed),
        u8::from(whole.guard.armed),
        u8::from(whole.guard.failed.is_some()),
        short_lines
    )
}

fn check_audit(a: &Audit, how: &str) {
    assert!(
        a.violations.len() <= MAX_VIOLATIONS,
        "{} violations kept ({how})",
        a.violations.len()
    );
    for v in &a.violations {
        assert!(v.count >= 1, "a violation with count 0 ({how})");
        assert!(v.args.len() <= 6, "a violation with {} arguments ({how})", v.args.len());
        assert!(
            v.args.iter().all(|s| s.chars().count() <= 300),
            "a violation argument over 300 characters ({how})"
        );
        assert!(
            v.decision == "denied" || v.decision == "audited",
            "a violation with decision {:?} ({how})",
            v.decision
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// The built-in seeds of a target (`protocol_frames`, `protocol_answer`, `protocol_messages`,
/// `protocol_names`, `guard_events`), named: valid frames and messages of every kind, and the
/// edge cases next to them.
#[must_use]
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "protocol_frames" => frame_seeds(),
        "protocol_answer" => answer_seeds(),
        "protocol_messages" => message_seeds(),
        "protocol_names" => name_seeds(),
        "guard_events" => event_seeds(),
        _ => panic!("no fuzz target {target:?}"),
    }
}

// The sample messages are JSON rather than struct literals, so that a field added to a message
// type does not stop this crate from building (a seed that no longer decodes still fuzzes).

fn sample_isolation() -> Value {
    json!({"degraded": false, "layers": [
        {"name": "landlock", "active": true, "mechanism": "ABI 6"},
        {"name": "seccomp", "active": false, "mechanism": "not available"}
    ]})
}

fn sample_violation() -> Value {
    json!({"event": "os.system", "rule": "guard.rules.process", "reason": "running programs is denied",
        "decision": "denied", "args": ["'ls'"], "count": 3, "reported_by": "run"})
}

fn sample_answer() -> Value {
    json!({
        "value": {"n": 1, "f": 0.1, "big": 1.7976931348623157e308, "l": [1, "a", null, true], "$int": "12345678901234567890"},
        "error": null,
        "files": {"out.txt": B64.encode(b"hello"), "dir/data.bin": B64.encode([0u8, 255, 10, 13])},
        "files_skipped": [{"name": "huge.bin", "reason": "over the answer limit"}]
    })
}

fn sample_result() -> Value {
    json!({
        "schema": result::SCHEMA, "status": "ok", "reason": "fine", "exit_code": 0, "signal": null,
        "stdout": "hello\n", "stderr": "warn\n", "stdout_truncated": false, "stderr_truncated": true,
        "usage": {"wall_ms": 12, "user_cpu_ms": 3, "sys_cpu_ms": 1, "peak_memory_kib": 9000},
        "limits": {"wall_time_ms": 10000, "cpu_time_ms": 5000, "memory_bytes": 268435456, "processes": 32,
            "file_size_bytes": 1048576, "scratch_bytes": 16777216, "open_files": 64, "output_bytes": 1048576,
            "memory_mechanism": "cgroup-v2 memory.max", "processes_mechanism": "cgroup-v2 pids.max",
            "cpu_mechanism": "rlimit-cpu"},
        "isolation": sample_isolation(),
        "error": null,
        "violations": [sample_violation()],
        "events_dropped": 2,
        "answer": sample_answer(),
        "prescreen": {"findings": [{"rule": "STK601", "line": 1}]}
    })
}

fn sample_not_run() -> Value {
    json!({
        "schema": result::SCHEMA, "status": "setup_failed", "reason": null, "exit_code": null, "signal": null,
        "stdout": "", "stderr": "", "stdout_truncated": false, "stderr_truncated": false,
        "usage": {"wall_ms": 0, "user_cpu_ms": 0, "sys_cpu_ms": 0, "peak_memory_kib": 0},
        "error": {"step": "landlock", "message": "ABI 0"}, "violations": [], "events_dropped": 0
    })
}

fn sample_start() -> Value {
    json!({"mode": "pool", "policy": "version = 1\nextends = \"strict\"\n", "preload": ["json"], "lifetime_ms": 60000})
}

fn sample_spec() -> Value {
    json!({
        "code": "print(x)\nresult = x + 1\n",
        "inputs": {"x": 41, "xs": [1, 2.5, 0.1, -0.0, 1e300, 123456789012345678_u64],
            "cfg": {"$tuple": [1, {"$float": "nan"}], "$bytes": "aGk="}},
        "files": {"in.txt": B64.encode(b"data"), "data/in.csv": B64.encode(b"a,b\n1,2\n")},
        "stdin": B64.encode(b"line\n"),
        "timeout_ms": 1000,
        "stream": true
    })
}

fn sample_hello() -> Value {
    json!({"protocol": stockade_protocol::PROTOCOL_VERSION, "mode": "session", "wall_time_ms": 10000,
        "policy_hash": "ab".repeat(32), "isolation": sample_isolation(), "python": "3.11.2",
        "warnings": ["preload numpy failed"]})
}

fn sample_fatal() -> Value {
    json!({"step": "worker", "message": "the jail is gone", "kind": "lost"})
}

fn sample_request() -> Value {
    json!({"code": "x", "inputs": {"x": 0.30000000000000004, "y": {"$bytes": "aGk="}},
        "files": {"a.txt": "aGk="}, "filename": "<run>", "answer_limit": 1048576})
}

fn sample_ready() -> Value {
    json!({"pid": 1, "python": "3.12.1", "warnings": ["w"]})
}

fn sample_started() -> Value {
    json!({"pid": 42, "layers": sample_isolation()["layers"]})
}

fn sample_exited() -> Value {
    json!({"wait_status": 0, "user_us": 1000, "sys_us": 200, "max_rss_kib": 9000, "setup_error": null})
}

fn sample_zygote_config() -> Value {
    json!({"scratch_bytes": 16777216, "scratch_inodes": 1000, "uid": 65534, "gid": 65534, "cpu_seconds": 10,
        "landlock": {"read_only": ["/usr"], "read_write": ["/scratch"], "devices": ["/dev/null"], "pseudo": ["/proc"]},
        "lockdown_filter": "AAAA", "net_per_run": true, "preload": []})
}

fn frame_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add = |name: &str, kinds: &[(Kind, u32)], nonce: Option<u64>, sizes: &[u8], stream: &[u8]| {
        seeds.push((name.to_string(), frames_input(kinds, nonce, sizes, stream)));
    };
    let caller = [(Kind::Start, 1 << 16), (Kind::Run, 1 << 20), (Kind::Close, 0)];
    let client = [
        (Kind::Hello, 1 << 16),
        (Kind::Fatal, 1 << 16),
        (Kind::Stdout, 1 << 16),
        (Kind::Stderr, 1 << 16),
        (Kind::Violation, 1 << 16),
        (Kind::Result, 1 << 20),
    ];
    let zygote = [
        (Kind::Ready, 16 * 1024),
        (Kind::Started, 16 * 1024),
        (Kind::Exited, 4096),
        (Kind::Retired, 4096),
    ];
    let runner = [
        (Kind::Go, 4096),
        (Kind::Kill, 4096),
        (Kind::Started, 32 * 1024),
        (Kind::Retired, 4096),
    ];
    let mut session = frame::encode(Kind::Start, 0, &sample_start());
    session.extend(frame::encode(Kind::Run, 7, &sample_spec()));
    session.extend(frame::encode(Kind::Run, 8, &json!({"code": ""})));
    session.extend(frame::encode_raw(Kind::Close, 0, b""));
    add("caller-session", &caller, None, &[], &session);
    add("caller-session-chunks", &caller, None, &[1, 7, 16, 0, 255, 3], &session);
    add("caller-session-nonce", &caller, Some(8), &[17, 33], &session);

    let mut replies = frame::encode(Kind::Hello, 0, &sample_hello());
    replies.extend(frame::encode_raw(Kind::Stdout, 7, b"hello\n"));
    replies.extend(frame::encode_raw(Kind::Stderr, 7, b"\xff\xfe not utf-8"));
    replies.extend(frame::encode(Kind::Violation, 7, &sample_violation()));
    replies.extend(frame::encode(Kind::Result, 7, &sample_result()));
    replies.extend(frame::encode(Kind::Fatal, 0, &sample_fatal()));
    add("client-replies", &client, None, &[], &replies);
    add("client-replies-bytewise", &client, None, &[1], &replies);
    add("client-replies-nonce", &client, Some(7), &[0, 5, 200], &replies);
    add(
        "client-replies-small-caps",
        &[(Kind::Stdout, 3), (Kind::Result, 100)],
        None,
        &[9],
        &replies,
    );

    let mut zy = frame::encode(Kind::Ready, 0, &sample_ready());
    zy.extend(frame::encode(Kind::Started, 5, &sample_started()));
    zy.extend(frame::encode(Kind::Exited, 5, &sample_exited()));
    zy.extend(frame::encode(Kind::Retired, 0, &json!({"reason": "lifetime"})));
    add("zygote-reports", &zygote, None, &[], &zy);
    let mut go = frame::encode(Kind::Go, 3, &json!({"cpu_seconds": 5}));
    go.extend(frame::encode(Kind::Kill, 3, &json!({})));
    add("zygote-orders", &runner, None, &[2], &go);

    // Edge cases.
    add("empty", &caller, None, &[], b"");
    add("header-only", &caller, None, &[], &frame::header(Kind::Run, 1, 10));
    add(
        "too-large",
        &[(Kind::Answer, 1024)],
        None,
        &[],
        &frame::header(Kind::Answer, 1, u32::MAX),
    );
    add(
        "skipped-huge",
        &[(Kind::Answer, 1024)],
        None,
        &[],
        &[frame::header(Kind::Stdout, 1, u32::MAX).as_slice(), b"abc"].concat(),
    );
    let mut skipped = frame::encode_raw(Kind::Stdout, 1, &[b'x'; 300]);
    skipped.extend(frame::encode(Kind::Answer, 2, &sample_answer()));
    add("skip-then-take", &[(Kind::Answer, 4096)], None, &[100, 0], &skipped);
    add(
        "truncated",
        &[(Kind::Answer, 4096)],
        None,
        &[],
        &skipped[..skipped.len() - 5],
    );
    add("truncated-skip", &[(Kind::Answer, 4096)], None, &[], &skipped[..200]);
    let mut zero = frame::encode_raw(Kind::Close, 0, b"");
    zero.extend(frame::encode_raw(Kind::Kill, 9, b""));
    zero.extend(frame::encode_raw(Kind::Close, 0, b""));
    add("zero-length", &[(Kind::Close, 0), (Kind::Kill, 0)], None, &[0], &zero);
    add(
        "duplicate-kinds",
        &[(Kind::Stdout, 2), (Kind::Stdout, 4096)],
        None,
        &[],
        &replies,
    );
    add("no-kinds", &[], None, &[4], &replies);
    add("bad-magic", &caller, None, &[], b"garbage garbage garbage!");
    let mut version = frame::header(Kind::Run, 1, 0);
    version[2] = 2;
    add("bad-version", &caller, None, &[], &version);
    let mut unknown = frame::header(Kind::Run, 1, 0);
    unknown[3] = 200;
    add(
        "unknown-kind",
        &caller,
        None,
        &[],
        &[frame::encode_raw(Kind::Close, 0, b"").as_slice(), &unknown].concat(),
    );
    seeds
}

fn answer_seeds() -> Vec<(String, Vec<u8>)> {
    let enc = |v: &Value| frame::encode(Kind::Answer, 0, v);
    let good = sample_answer();
    let with_secrets = json!({
        "value": {"key": "sk-live-123456", "sk-live-123456": ["x sk-live-123456 y", {"a": "\u{0073}k-live-123456"}]},
        "error": {"type": "ValueError", "message": "bad sk-live-123456", "traceback": "File \"<run>\", line 1\nsk-live-123456"},
        "files": {
            "out/sk-live-123456.txt": B64.encode(b"the key is sk-live-123456, twice: sk-live-123456"),
            "plain.txt": B64.encode(b"hello"),
            "tok/en+Secret=": B64.encode(b"tok/en+Secret= tok/en+Secret="),
        },
        "files_skipped": [{"name": "sk-live-123456.log", "reason": "over the limit"}]
    });
    let bad_names = json!({
        "value": null,
        "error": null,
        "files": {
            "../../etc/cron.d/x": "aGk=",
            "/abs": "aGk=",
            "a//b": "aGk=",
            "a/./b": "aGk=",
            "a\\b": "aGk=",
            "nul\u{0}": "aGk=",
            "": "aGk=",
            "x".repeat(256): "aGk=",
            format!("{}/y", "d".repeat(255)): "aGk=",
            "ok.txt": "not base64!",
            "ok2.txt": "aGk",
            "fine.txt": "aGk="
        }
    });
    let error = json!({
        "value": null,
        "error": {"type": "ZeroDivisionError", "message": "division by zero", "traceback": "Traceback..."},
        "files": {}
    });
    let deep = format!(
        "{{\"value\":{}{},\"error\":null,\"files\":{{}}}}",
        "[".repeat(127),
        "]".repeat(127)
    );
    let long_name = format!("{}/{}", "a".repeat(250), "b".repeat(250));
    let long_names = json!({"value": null, "error": null, "files": {long_name: B64.encode(b"aaaa")}});
    vec![
        ("good".into(), answer_input(false, 1 << 20, &[], &enc(&good))),
        ("good-small-limit".into(), answer_input(false, 64, &[], &enc(&good))),
        (
            "secrets".into(),
            answer_input(
                false,
                1 << 20,
                &["sk-live-123456", "tok/en+Secret="],
                &enc(&with_secrets),
            ),
        ),
        ("bad-names".into(), answer_input(false, 1 << 20, &[], &enc(&bad_names))),
        ("error".into(), answer_input(false, 4096, &["division"], &enc(&error))),
        (
            "deep".into(),
            answer_input(
                false,
                1 << 20,
                &[],
                &frame::encode_raw(Kind::Answer, 0, deep.as_bytes()),
            ),
        ),
        (
            "long-names".into(),
            answer_input(false, 1 << 20, &["YWFhYQ=="], &enc(&long_names)),
        ),
        ("over".into(), answer_input(true, 10, &[], &enc(&good))),
        ("nothing".into(), answer_input(false, 10, &[], b"")),
        ("not-a-frame".into(), answer_input(false, 100, &[], b"{\"value\": 1}")),
        (
            "wrong-kind".into(),
            answer_input(false, 1 << 20, &[], &frame::encode(Kind::Result, 0, &good)),
        ),
        (
            "unknown-field".into(),
            answer_input(
                false,
                1 << 20,
                &[],
                &enc(&json!({"value": 1, "error": null, "files": {}, "extra": 1})),
            ),
        ),
        (
            "two-frames".into(),
            answer_input(false, 1 << 20, &[], &[enc(&error), enc(&good)].concat()),
        ),
    ]
}

fn message_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add = |name: &str, value: Value| {
        let sel = MESSAGES.iter().position(|(n, _)| *n == name).unwrap_or(0) as u8;
        let mut bytes = vec![sel];
        bytes.extend(serde_json::to_vec(&value).unwrap_or_default());
        seeds.push((format!("{:02}-{}", seeds.len(), name.replace("::", "-")), bytes));
    };
    add("caller::Start", sample_start());
    add("caller::Start", json!({"mode": "cold", "policy": ""}));
    add("caller::RunSpec", sample_spec());
    add(
        "caller::RunSpec",
        json!({"code": "", "inputs": {"__builtins__": 1, "class": 2}, "files": {"../x": "!"}, "timeout_ms": 0}),
    );
    add("caller::Hello", sample_hello());
    add("caller::Fatal", sample_fatal());
    add("run::Request", sample_request());
    add(
        "run::GuardLine",
        json!({"type": "event", "event": "open", "class": "file", "decision": "denied", "rule": "guard.files",
            "reason": "outside", "args": ["'/etc/passwd'", "'r'"]}),
    );
    add(
        "run::GuardLine",
        json!({"type": "guard", "state": "failed", "error": "no hook"}),
    );
    add("zygote::Ready", sample_ready());
    add("zygote::Go", json!({"cpu_seconds": u64::MAX}));
    add("zygote::Started", sample_started());
    add("zygote::Exited", sample_exited());
    add(
        "zygote::Exited",
        json!({"wait_status": 9, "user_us": 1, "sys_us": 2, "max_rss_kib": 3, "setup_error": "mount"}),
    );
    add("zygote::Retired", json!({"reason": "memory"}));
    add("result::RunResult", sample_result());
    add("result::RunResult", sample_not_run());
    add("result::Answer", sample_answer());
    add("result::Violation", sample_violation());
    add("zygote::ZygoteConfig", sample_zygote_config());
    seeds
}

fn name_seeds() -> Vec<(String, Vec<u8>)> {
    let names: Vec<String> = vec![
        "a".into(),
        "a/b.txt".into(),
        "dir/sub/x.py".into(),
        "ünï code.txt".into(),
        ".hidden".into(),
        "a..b".into(),
        "".into(),
        "/etc/passwd".into(),
        "../x".into(),
        "a/../../x".into(),
        "a//b".into(),
        "a/".into(),
        ".".into(),
        "a/./b".into(),
        "a\0b".into(),
        "a\nb".into(),
        "a\\b".into(),
        "\u{202e}txt.exe".into(),
        "x".repeat(1024),
        "x".repeat(1025),
        format!("{}/y", "x".repeat(255)),
        format!("{}/y", "x".repeat(256)),
        "x".into(),
        "_x".into(),
        "data_2".into(),
        "__x".into(),
        "x__".into(),
        "__x__".into(),
        "____".into(),
        "_____".into(),
        "match".into(),
        "class".into(),
        "None".into(),
        "2x".into(),
        "über".into(),
        "i".repeat(128),
        "i".repeat(129),
        "a\0../b\0/c".into(),
    ];
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (format!("name-{i:02}"), n.into_bytes()))
        .collect()
}

fn event_seeds() -> Vec<(String, Vec<u8>)> {
    let line = |v: Value| format!("{v}\n");
    let denied = |event: &str, arg: &str| {
        line(
            json!({"type": "event", "event": event, "class": "process", "decision": "denied",
            "rule": "guard.rules.process", "reason": "running programs is denied", "args": [arg]}),
        )
    };
    let mut normal = String::new();
    normal += &line(json!({"type": "guard", "state": "installed", "pid": 7}));
    normal += &line(json!({"type": "guard", "state": "armed"}));
    normal += &line(json!({"type": "event", "event": "open", "class": "file", "decision": "allowed"}));
    normal += &denied("os.system", "'ls'");
    normal += &denied("os.system", "'ls'");
    normal += &line(
        json!({"type": "event", "event": "socket.connect", "class": "network", "decision": "audited",
        "rule": "guard.network", "reason": "audit mode", "args": ["('1.2.3.4', 80)", "a", "b", "c", "d", "e", "f", "g"]}),
    );
    let mut forged = String::new();
    forged += &line(json!({"type": "guard", "state": "installed"}));
    forged += &line(json!({"type": "guard", "state": "failed", "error": "forged"}));
    forged += "{\"type\": \"event\", \"decision\": \"den";
    forged += &denied("os.system", "s3cret-value x/y");
    forged += "not json\n\n{}\n[]\n{\"type\": 3}\n";
    let mut many = String::new();
    for i in 0..210 {
        many += &line(json!({"type": "event", "event": "e", "decision": "denied", "args": [i.to_string()]}));
    }
    let long = format!(
        "{}\n",
        json!({"type": "event", "event": "x", "decision": "denied", "args": ["y".repeat(5000)]})
    );
    let tail = format!("{}{}", "z".repeat(run::MAX_EVENT_LINE + 10), denied("os.fork", ""));
    vec![
        ("normal".into(), events_input(&[], normal.as_bytes())),
        ("normal-bytewise".into(), events_input(&[1], normal.as_bytes())),
        ("forged".into(), events_input(&[5, 40, 0], forged.as_bytes())),
        (
            "failed-first".into(),
            events_input(
                &[],
                line(json!({"type": "guard", "state": "failed", "error": "no python"})).as_bytes(),
            ),
        ),
        ("many".into(), events_input(&[255], many.as_bytes())),
        ("long-line".into(), events_input(&[200], long.as_bytes())),
        (
            "long-partial-then-line".into(),
            events_input(&[255, 255], tail.as_bytes()),
        ),
        (
            "binary".into(),
            events_input(
                &[3],
                b"\xff\xfe\0\n{\"type\":\"event\",\"decision\":\"denied\",\"args\":[1,null,{}]}\n",
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in seed passes its target, and every message seed decodes (a seed that
    /// stopped decoding after a message type changed should be updated).
    #[test]
    fn seeds_pass_and_messages_decode() {
        for (target, _) in TARGETS {
            for (name, bytes) in seeds(target) {
                let class = match target {
                    "protocol_frames" => check_frames(&bytes),
                    "protocol_answer" => check_answer(&bytes),
                    "protocol_messages" => check_messages(&bytes),
                    "protocol_names" => check_names(&bytes),
                    _ => check_events(&bytes),
                };
                if target == "protocol_messages" {
                    assert!(class.ends_with("/ok"), "seed {name} does not decode: {class}");
                }
            }
        }
    }
}
