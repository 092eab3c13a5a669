//! Supervisor ↔ run: the request the runner reads from its request memfd (fd 5), the answer it
//! writes on its answer pipe (fd 4), and the guard's report lines (fd 3). Everything read from
//! fds 3 and 4 is hostile input: capped before decoding, checked after.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Fixed fd numbers in a run's process.
pub mod fds {
    /// The guard's reports (JSON lines), shared with the code: evidence, not proof.
    pub const EVENTS: i32 = 3;
    /// The runner's answer: one [`super::super::frame::Kind::Answer`] frame.
    pub const ANSWER: i32 = 4;
    /// The request: one [`super::super::frame::Kind::Request`] frame in a sealed memfd.
    pub const REQUEST: i32 = 5;
    /// Host function calls: a stream socket, `Call` frames out and `Reply` frames in.
    pub const CALLS: i32 = 9;
}

/// What the runner runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The code.
    pub code: String,
    /// Input name → value in the typed value encoding.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Files to place in the scratch: name → base64.
    pub files: BTreeMap<String, String>,
    /// The file name the code is compiled under (its tracebacks show it).
    pub filename: String,
    /// The most bytes the answer frame may take; the runner leaves out files (and says so)
    /// rather than go over.
    pub answer_limit: u64,
    /// The code's shape, worked out by the supervisor's parser; None when it does not parse
    /// there (the runner then works it out itself, or the interpreter reports the error).
    #[serde(default)]
    pub shape: Option<Shape>,
    /// Host functions the code sees as callables (their names).
    #[serde(default)]
    pub functions: Vec<String>,
    /// Variables set in the run's environment before its code runs (a pool run's own secret
    /// placeholders).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// What the runner needs to follow the run contract without parsing the code itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Byte range (UTF-8, end exclusive) of the final statement when it is an expression
    /// statement: its value is the run's value unless the code set `result`.
    pub final_expression: Option<[u32; 2]>,
    /// The code's top level, outside a `def main`, refers to `main` (it calls it itself).
    pub refers_to_main: bool,
}

/// The runner's answer is the result's [`crate::result::Answer`].
pub type Answer = crate::result::Answer;

/// Longest guard report line the supervisor reads; longer lines are dropped and counted.
pub const MAX_EVENT_LINE: usize = 4096;

/// One line the guard writes on fd 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuardLine {
    /// The guard's own state: `installed`, `armed`, `failed` (with `error`).
    Guard {
        /// The state.
        state: String,
        /// Why it failed.
        #[serde(default)]
        error: Option<String>,
    },
    /// One decision.
    Event {
        /// The audit event.
        event: String,
        /// Its class.
        #[serde(default)]
        class: String,
        /// `allowed`, `audited`, `denied`.
        decision: String,
        /// The rule that decided.
        #[serde(default)]
        rule: Option<String>,
        /// Why, in words.
        #[serde(default)]
        reason: Option<String>,
        /// Short forms of its arguments.
        #[serde(default)]
        args: Vec<String>,
    },
}

/// Read a run's answer: the bytes its runner wrote on fd 4 (at most the cap; `over` when it
/// wrote more). Hostile input: never panics, never keeps more than it was given, and every
/// problem becomes a stockade error in the answer rather than an error of the caller. File
/// names are checked as strictly as a caller's; a refused one is left out and listed in
/// `files_skipped`. Secret values are replaced in every string and file.
#[must_use]
pub fn read_answer(bytes: &[u8], over: bool, limit: u64, secrets: &[String]) -> Answer {
    use crate::frame::{self, Accept, Kind};
    use base64::Engine as _;
    if over {
        return Answer::error(
            "AnswerTooLarge",
            format!("the run's answer was over the limit of {limit} bytes and was dropped"),
        );
    }
    if bytes.is_empty() {
        return Answer::error(
            "NoResult",
            "the run ended without an answer: its process exited (os._exit, a signal, a limit) before the code finished, or closed the answer channel",
        );
    }
    let cap = u32::try_from(limit).unwrap_or(u32::MAX);
    let mut reader = bytes;
    let malformed =
        |why: String| Answer::error("MalformedAnswer", format!("the run's answer could not be read: {why}"));
    let frame = match frame::read_frame(
        &mut reader,
        Accept {
            kinds: &[(Kind::Answer, cap)],
            nonce: None,
        },
    ) {
        Ok(f) => f,
        Err(e) => return malformed(e.to_string()),
    };
    let mut answer: Answer = match frame.decode() {
        Ok(a) => a,
        Err(e) => return malformed(e.to_string()),
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut kept = std::collections::BTreeMap::new();
    for (name, data) in std::mem::take(&mut answer.files) {
        // The name as the caller will see it (secrets replaced) is the one checked.
        let name = redact_str(&name, secrets);
        if let Err(e) = crate::names::check_file_name(&name) {
            answer.files_skipped.push(crate::result::SkippedFile {
                name: name.chars().take(200).collect(),
                reason: format!("refused: {e}"),
            });
            continue;
        }
        let Ok(mut contents) = b64.decode(data.as_bytes()) else {
            answer.files_skipped.push(crate::result::SkippedFile {
                name,
                reason: "its contents were not base64".into(),
            });
            continue;
        };
        contents = crate::redact::all_bytes(&contents, secrets);
        kept.insert(name, b64.encode(contents));
    }
    answer.files = kept;
    redact_json(&mut answer.value, secrets);
    if let Some(e) = &mut answer.error {
        e.kind = redact_str(&e.kind, secrets);
        e.message = redact_str(&e.message, secrets);
        e.traceback = redact_str(&e.traceback, secrets);
    }
    for f in &mut answer.files_skipped {
        f.name = redact_str(&f.name, secrets);
    }
    answer
}

fn redact_str(text: &str, secrets: &[String]) -> String {
    crate::redact::text(text, secrets)
}

/// Replace secrets in every string of a JSON value, keys included (decoded, so an escaped
/// spelling of a secret is caught too). Iterative: depth is bounded by the decoder anyway.
pub fn redact_json(value: &mut serde_json::Value, secrets: &[String]) {
    use serde_json::Value;
    if secrets.iter().all(String::is_empty) {
        return;
    }
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => *s = redact_str(s, secrets),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, val) in old {
                    map.insert(redact_str(&k, secrets), val);
                }
                stack.extend(map.values_mut());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode, Kind};

    fn frame(value: serde_json::Value) -> Vec<u8> {
        encode(Kind::Answer, 0, &value)
    }

    #[test]
    fn answers_are_checked() {
        let ok = frame(serde_json::json!({"value": {"k": "sk-secret"}, "error": null,
            "files": {"out.txt": "aGk=", "../../etc/cron.d/x": "aGk=", "/abs": "aGk="}}));
        let a = read_answer(&ok, false, 1 << 20, &["sk-secret".into()]);
        assert!(a.error.is_none(), "{a:?}");
        assert_eq!(a.value["k"], "[secret]");
        assert_eq!(a.files.keys().collect::<Vec<_>>(), ["out.txt"]);
        assert_eq!(a.files_skipped.len(), 2);
        let kind = |a: &Answer| a.error.as_ref().map(|e| e.kind.clone()).unwrap_or_default();
        assert_eq!(kind(&read_answer(b"", false, 100, &[])), "NoResult");
        assert_eq!(kind(&read_answer(b"x", true, 100, &[])), "AnswerTooLarge");
        assert_eq!(
            kind(&read_answer(b"garbage!garbage!garbage", false, 100, &[])),
            "MalformedAnswer"
        );
        assert_eq!(
            kind(&read_answer(&frame(serde_json::json!([1])), false, 100, &[])),
            "MalformedAnswer"
        );
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let raw = crate::frame::encode_raw(
            Kind::Answer,
            0,
            format!("{{\"value\":{deep},\"error\":null,\"files\":{{}}}}").as_bytes(),
        );
        assert_eq!(kind(&read_answer(&raw, false, 1 << 20, &[])), "MalformedAnswer");
        // Over the cap announced in the header.
        assert_eq!(kind(&read_answer(&ok, false, 10, &[])), "MalformedAnswer");
    }

    #[test]
    fn secrets_in_files_and_escaped_strings() {
        let a = read_answer(
            &frame(
                serde_json::json!({"value": "\u{0073}k-secret", "error": {"type": "E", "message": "sk-secret", "traceback": ""},
                "files": {"f": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"xx sk-secret yy")}}),
            ),
            false,
            1 << 20,
            &["sk-secret".into()],
        );
        assert_eq!(a.value, "[secret]");
        assert_eq!(a.error.unwrap().message, "[secret]");
        assert_eq!(
            a.files["f"],
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"xx [secret] yy")
        );
    }
}
