//! libFuzzer target: `RUSTC_BOOTSTRAP=1 cargo fuzz run guard_events --features libfuzzer corpus/guard_events seeds/guard_events`.
//! stockade_jail::audit::Audit::feed on the guard's event lines; the properties are `stockade_fuzz::protocol::check_events`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stockade_fuzz::protocol::check_events(data);
});
