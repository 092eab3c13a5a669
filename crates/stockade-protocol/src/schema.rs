//! The protocol as JSON Schema, for peers that are not written in Rust (the in-jail runner in
//! Python, the Python package, HTTP clients). `docs/schema/` holds the generated files; a test
//! keeps them equal to these types, and the Python tests check the runner's frames against them.

use schemars::schema::RootSchema;
use serde_json::{json, Value};

use crate::frame::{Kind, HEADER_LEN};
use crate::{caller, calls, helper, result, run, zygote, PROTOCOL_VERSION};

/// Every message type by the file name its schema is published under (`docs/schema/<name>.json`).
#[must_use]
pub fn messages() -> Vec<(&'static str, RootSchema)> {
    use schemars::schema_for;
    vec![
        ("start", schema_for!(caller::Start)),
        ("hello", schema_for!(caller::Hello)),
        ("run", schema_for!(caller::RunSpec)),
        ("fatal", schema_for!(caller::Fatal)),
        ("result", schema_for!(result::RunResult)),
        ("violation", schema_for!(result::Violation)),
        ("request", schema_for!(run::Request)),
        ("answer", schema_for!(run::Answer)),
        ("guard-line", schema_for!(run::GuardLine)),
        ("ready", schema_for!(zygote::Ready)),
        ("go", schema_for!(zygote::Go)),
        ("started", schema_for!(zygote::Started)),
        ("exited", schema_for!(zygote::Exited)),
        ("retired", schema_for!(zygote::Retired)),
        ("call", schema_for!(calls::Call)),
        ("reply", schema_for!(calls::Reply)),
        ("helper-run", schema_for!(helper::HelperRun)),
    ]
}

/// The framing: header layout (as a Python `struct` format too), version, and kind numbers.
#[must_use]
pub fn frames() -> Value {
    let kinds: serde_json::Map<String, Value> = Kind::all()
        .iter()
        .map(|k| (format!("{k:?}"), json!(*k as u8)))
        .collect();
    json!({
        "magic": "SK",
        "version": PROTOCOL_VERSION,
        "header_len": HEADER_LEN,
        "struct": "<2sBBIQ",
        "fields": ["magic", "version", "kind", "length", "nonce"],
        "kinds": kinds,
    })
}

/// A generated file's text: pretty JSON with a final newline.
#[must_use]
pub fn render(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("schemas serialize");
    text.push('\n');
    text
}
