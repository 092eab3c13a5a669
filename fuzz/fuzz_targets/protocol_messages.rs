//! libFuzzer target: `RUSTC_BOOTSTRAP=1 cargo fuzz run protocol_messages --features libfuzzer corpus/protocol_messages seeds/protocol_messages`.
//! JSON decoding of every protocol message type; the properties are `stockade_fuzz::protocol::check_messages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stockade_fuzz::protocol::check_messages(data);
});
