//! The stable harness for `guard_events`: stockade_jail::audit::Audit::feed on the guard's event lines.
//! See `src/protocol_replay.rs` for the command line and `stockade_fuzz::protocol::check_events` for
//! the properties.

const TOKENS: &[&str] = &[
    "\n",
    "{\"type\":\"event\",\"event\":\"os.system\",\"decision\":\"denied\",\"rule\":\"r\",\"args\":[\"a\"]}\n",
    "{\"type\":\"guard\",\"state\":\"installed\"}\n",
    "{\"type\":\"guard\",\"state\":\"failed\",\"error\":\"x\"}\n",
    "{\"type\":\"guard\",\"state\":\"armed\"}\n",
    "\"decision\":\"audited\",",
    "\"args\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"],",
    "s3cret-value",
    "x/y",
    "{",
    "}",
    "\"",
];

fn main() {
    stockade_fuzz::protocol_replay::main(&stockade_fuzz::protocol_replay::Harness {
        name: "events_replay",
        target: "guard_events",
        check: stockade_fuzz::protocol::check_events,
        tokens: TOKENS,
        max_len: 16384,
    });
}
