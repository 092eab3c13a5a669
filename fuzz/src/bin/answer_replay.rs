//! The stable harness for `protocol_answer`: run::read_answer on what a hostile run wrote (with secrets and limits).
//! See `src/protocol_replay.rs` for the command line and `stockade_fuzz::protocol::check_answer` for
//! the properties.

const TOKENS: &[&str] = &[
    "\"files\":{\"a\":\"aGk=\"},",
    "\"../",
    "/",
    "//",
    "\\\\u0000",
    "\"value\":",
    "\"error\":null,",
    "\"files_skipped\":[],",
    "[secret]",
    "sk-live-123456",
    "ab/cd",
    "aGk=",
    "====",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\\\\",
];

fn main() {
    stockade_fuzz::protocol_replay::main(&stockade_fuzz::protocol_replay::Harness {
        name: "answer_replay",
        target: "protocol_answer",
        check: stockade_fuzz::protocol::check_answer,
        tokens: TOKENS,
        max_len: 65536,
    });
}
