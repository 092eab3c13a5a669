//! The stable harness for `protocol_frames`: frame::read_frame and frame::Decoder on arbitrary streams, caps and chunkings.
//! See `src/protocol_replay.rs` for the command line and `stockade_fuzz::protocol::check_frames` for
//! the properties.

/// Counts allocations, for the decoders' memory bounds.
#[global_allocator]
static ALLOC: stockade_fuzz::alloc::Counting = stockade_fuzz::alloc::Counting;

const TOKENS: &[&str] = &[
    "SK\u{1}",
    "SK\u{1}\u{b}",
    "SK\u{1}\u{5}\u{0}\u{0}\u{0}\u{0}",
    "\u{0}\u{0}\u{0}\u{0}",
    "\u{ff}\u{ff}\u{ff}\u{ff}",
    "{}",
    "\"",
    "\u{0}",
    "\n",
];

fn main() {
    stockade_fuzz::protocol_replay::main(&stockade_fuzz::protocol_replay::Harness {
        name: "frames_replay",
        target: "protocol_frames",
        check: stockade_fuzz::protocol::check_frames,
        tokens: TOKENS,
        max_len: 65536,
    });
}
