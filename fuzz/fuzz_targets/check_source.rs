//! libFuzzer target: `RUSTC_BOOTSTRAP=1 cargo fuzz run check_source --features libfuzzer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stockade_fuzz::check_python(data);
});
