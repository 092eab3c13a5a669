//! libFuzzer target: `RUSTC_BOOTSTRAP=1 cargo fuzz run protocol_answer --features libfuzzer corpus/protocol_answer seeds/protocol_answer`.
//! run::read_answer on what a hostile run wrote (with secrets and limits); the properties are `stockade_fuzz::protocol::check_answer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stockade_fuzz::protocol::check_answer(data);
});
