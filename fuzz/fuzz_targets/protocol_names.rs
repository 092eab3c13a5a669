//! libFuzzer target: `RUSTC_BOOTSTRAP=1 cargo fuzz run protocol_names --features libfuzzer corpus/protocol_names seeds/protocol_names`.
//! names::check_file_name and names::check_input_name; the properties are `stockade_fuzz::protocol::check_names`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stockade_fuzz::protocol::check_names(data);
});
