//! libFuzzer target: `RUSTC_BOOTSTRAP=1 cargo fuzz run protocol_frames --features libfuzzer corpus/protocol_frames seeds/protocol_frames`.
//! frame::read_frame and frame::Decoder on arbitrary streams, caps and chunkings; the properties are `stockade_fuzz::protocol::check_frames`.
#![no_main]

/// Counts allocations, for the decoders' memory bounds.
#[global_allocator]
static ALLOC: stockade_fuzz::alloc::Counting = stockade_fuzz::alloc::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stockade_fuzz::protocol::check_frames(data);
});
