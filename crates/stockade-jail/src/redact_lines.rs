//! Secrets in a warm jail's answer stream. A pool or session jail answers in JSON lines that are
//! written inside the jail, where a run can forge its own answer and spell a secret with JSON
//! escapes (`"\u0073k-..."`), so replacing bytes is not enough: every line is decoded, every
//! string in it (keys too) has each secret replaced by `[secret]`, and the line is encoded again.
//! A line that is not strict JSON is dropped: the caller could not tell what it decodes to.

use serde_json::Value;

/// Longest line kept while waiting for its newline; the rest of a longer line is dropped.
const MAX_LINE: usize = 256 << 20;

pub(crate) struct LineRedactor {
    secrets: Vec<String>,
    partial: Vec<u8>,
    /// The current line outgrew `MAX_LINE`: skip to its end.
    skipping: bool,
}

impl LineRedactor {
    pub(crate) fn new(secrets: &[String]) -> LineRedactor {
        LineRedactor {
            secrets: secrets.iter().filter(|s| !s.is_empty()).cloned().collect(),
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// Feed bytes; append every completed line, redacted, to `out`.
    pub(crate) fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while let Some(end) = find_newline(bytes) {
            let (line, rest) = bytes.split_at(end + 1);
            bytes = rest;
            if self.skipping {
                self.skipping = false;
                self.partial.clear();
                continue;
            }
            if self.partial.is_empty() {
                self.emit(&line[..end], out);
            } else {
                self.partial.extend_from_slice(&line[..end]);
                let whole = std::mem::take(&mut self.partial);
                self.emit(&whole, out);
            }
        }
        if !self.skipping {
            self.partial.extend_from_slice(bytes);
            if self.partial.len() > MAX_LINE {
                self.skipping = true;
                self.partial = Vec::new();
            }
        }
    }

    /// The stream ended: a last line without a newline is judged like the others.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        let rest = std::mem::take(&mut self.partial);
        if !self.skipping && !rest.is_empty() {
            self.emit(&rest, out);
        }
        self.skipping = false;
    }

    fn emit(&self, line: &[u8], out: &mut Vec<u8>) {
        let Ok(mut value) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        redact_value(&mut value, &self.secrets);
        if serde_json::to_writer(&mut *out, &value).is_ok() {
            out.push(b'\n');
        }
    }
}

fn find_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

fn redact_value(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(s) => redact_in_place(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, secrets)),
        Value::Object(map) => {
            if map.keys().any(|k| secrets.iter().any(|s| k.contains(s.as_str()))) {
                let old = std::mem::take(map);
                for (mut k, v) in old {
                    redact_in_place(&mut k, secrets);
                    map.insert(k, v);
                }
            }
            map.values_mut().for_each(|v| redact_value(v, secrets));
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn redact_in_place(text: &mut String, secrets: &[String]) {
    if secrets.iter().any(|s| text.contains(s.as_str())) {
        *text = crate::audit::redact(text, secrets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(secrets: &[&str], chunks: &[&[u8]]) -> String {
        let secrets: Vec<String> = secrets.iter().map(|s| (*s).to_string()).collect();
        let mut r = LineRedactor::new(&secrets);
        let mut out = Vec::new();
        for c in chunks {
            r.push(c, &mut out);
        }
        r.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escaped_spellings_and_keys_are_redacted() {
        let out = run(
            &["sk-123"],
            &[
                br#"{"a":"x sk-123 y","b":["\u0073k-123"],"sk-123":1,"n":{"m":"sk\u002d123"}}"#,
                b"\n",
            ],
        );
        assert!(!out.contains("sk-123"), "{out}");
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["a"], "x [secret] y");
        assert_eq!(v["b"][0], "[secret]");
        assert_eq!(v["[secret]"], 1);
        assert_eq!(v["n"]["m"], "[secret]");
    }

    #[test]
    fn a_secret_split_across_reads_is_still_found() {
        let out = run(&["sk-123"], &[br#"{"a":"sk-1"#, br#"23"}"#, b"\n{\"b\":1}\n"]);
        assert_eq!(out, "{\"a\":\"[secret]\"}\n{\"b\":1}\n");
    }

    #[test]
    fn lines_that_are_not_strict_json_are_dropped() {
        let out = run(
            &["sk-123"],
            &[b"sk-123\n{\"v\":NaN,\"s\":\"\\u0073k-123\"}\n{\"ok\":true}"],
        );
        assert_eq!(out, "{\"ok\":true}\n");
    }
}
