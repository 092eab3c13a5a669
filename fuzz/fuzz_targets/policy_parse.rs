//! libFuzzer target: `RUSTC_BOOTSTRAP=1 cargo fuzz run policy_parse --features libfuzzer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stockade_fuzz::check(data);
});
