//! The stable harness for `protocol_names`: names::check_file_name and names::check_input_name.
//! See `src/protocol_replay.rs` for the command line and `stockade_fuzz::protocol::check_names` for
//! the properties.

const TOKENS: &[&str] = &[
    "/", "//", ".", "..", "../", "/..", "\u{0}", "\\\\", "\n", "\u{202e}", "é", "_", "__", "class", "None", "x",
];

fn main() {
    stockade_fuzz::protocol_replay::main(&stockade_fuzz::protocol_replay::Harness {
        name: "names_replay",
        target: "protocol_names",
        check: stockade_fuzz::protocol::check_names,
        tokens: TOKENS,
        max_len: 4096,
    });
}
