//! The stable harness for `protocol_messages`: JSON decoding of every protocol message type.
//! See `src/protocol_replay.rs` for the command line and `stockade_fuzz::protocol::check_messages` for
//! the properties.

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\\\u0000",
    "\\\\ud800",
    "null",
    "true",
    "0.1",
    "-0",
    "1e-400",
    "2.2250738585072011e-308",
    "123456789.123456789",
    "\"type\":",
    "\"code\":\"x\",",
    "\"inputs\":{\"x\":1.5},",
    "\"files\":{\"a\":\"aGk=\"},",
    "\"timeout_ms\":0,",
    "\"mode\":\"pool\",",
    "\"state\":\"armed\",",
    "\"layers\":[],",
    "\"answer\":null,",
    "\"extra\":1,",
];

fn main() {
    stockade_fuzz::protocol_replay::main(&stockade_fuzz::protocol_replay::Harness {
        name: "messages_replay",
        target: "protocol_messages",
        check: stockade_fuzz::protocol::check_messages,
        tokens: TOKENS,
        max_len: 65536,
    });
}
