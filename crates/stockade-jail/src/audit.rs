//! The audit trail: the guard's events as they cross from the jail, aggregated into the
//! result's `violations`, and written as JSON Lines (`--audit-log`) the moment they arrive, so
//! a run that is killed still leaves every event it raised before the kill.

use std::io::Write;

use serde::Serialize;
use serde_json::{json, Value};

use crate::plan::{AuditSink, Plan};

/// Longest event line accepted from the jail; longer ones are dropped (and counted).
const MAX_LINE: usize = 8192;
/// Longest `result` line (the program's returned value and files), whatever the output limit.
const MAX_RESULT_LINE: usize = 64 << 20;
/// Distinct violations kept in the result.
const MAX_VIOLATIONS: usize = 200;

/// One kind of denied (or, in audit mode, would-be-denied) event, with how often it happened.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    /// The audit event, e.g. `os.system`.
    pub event: String,
    /// The policy rule that denied it, e.g. `guard.rules.process`.
    pub rule: String,
    /// What was refused, in words.
    pub reason: String,
    /// `denied` (enforce mode) or `audited` (audit mode: allowed, recorded).
    pub decision: String,
    /// The event's arguments, short forms, secrets redacted.
    pub args: Vec<String>,
    /// How many times it happened.
    pub count: u64,
}

/// What the guard reported about itself.
#[derive(Debug, Clone, Default)]
pub struct GuardState {
    /// The hook was installed (before the interpreter initialised).
    pub installed: bool,
    /// User code started under the hook.
    pub armed: bool,
    /// The guard refused to run, and why.
    pub failed: Option<String>,
}

/// Collects the guard's events during a run.
pub(crate) struct Audit {
    sink: Option<Box<dyn Write>>,
    partial: Vec<u8>,
    pub violations: Vec<Violation>,
    pub guard: GuardState,
    pub dropped: u64,
    /// The last `{"type": "result", ...}` record, if the program sent one.
    pub result: Option<Value>,
    max_line: usize,
    secrets: Vec<String>,
    run_id: String,
}

/// Replace every secret value in `text`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "[secret]");
        }
    }
    out
}

impl Audit {
    pub(crate) fn new(plan: &Plan, run_id: String) -> std::io::Result<Audit> {
        let sink: Option<Box<dyn Write>> = match &plan.audit_log {
            None => None,
            Some(AuditSink::Stderr) => Some(Box::new(std::io::stderr())),
            Some(AuditSink::File(path)) => Some(Box::new(
                std::fs::OpenOptions::new().create(true).append(true).open(path)?,
            )),
        };
        Ok(Audit {
            sink,
            partial: Vec::new(),
            violations: Vec::new(),
            guard: GuardState::default(),
            dropped: 0,
            result: None,
            max_line: usize::try_from(plan.limits.output)
                .unwrap_or(usize::MAX)
                .clamp(MAX_LINE, MAX_RESULT_LINE),
            secrets: plan.secrets.clone(),
            run_id,
        })
    }

    /// Write one record now (flushed: nothing waits in a buffer if stockade is killed next).
    pub(crate) fn write(&mut self, mut record: Value) {
        let Some(sink) = self.sink.as_mut() else { return };
        if let Value::Object(map) = &mut record {
            map.insert("run_id".into(), Value::String(self.run_id.clone()));
            map.insert("time_ms".into(), json!(now_ms()));
        }
        let line = redact(&record.to_string(), &self.secrets);
        let _ = sink.write_all(format!("{line}\n").as_bytes());
        let _ = sink.flush();
    }

    /// Feed bytes read from the guard's channel.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            self.line(&line[..line.len() - 1]);
        }
        if self.partial.len() > self.max_line {
            self.partial.clear();
            self.dropped += 1;
        }
    }

    fn line(&mut self, line: &[u8]) {
        if line.len() > self.max_line {
            self.dropped += 1;
            return;
        }
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            self.dropped += 1;
            return;
        };
        match value.get("type").and_then(Value::as_str) {
            Some("guard") => {
                match value.get("state").and_then(Value::as_str) {
                    Some("installed") => self.guard.installed = true,
                    Some("armed") => self.guard.armed = true,
                    // Code in the jail shares the report fd with the guard: a "failed" report is
                    // only believed before the hook said it was installed (the constructor
                    // reports failure instead of installing, and exits before Python starts).
                    Some("failed") if !self.guard.installed => {
                        self.guard.failed = Some(
                            value
                                .get("error")
                                .and_then(Value::as_str)
                                .unwrap_or("unknown")
                                .to_string(),
                        );
                    }
                    _ => {}
                }
                self.write(json!({"type": "guard", "state": value.get("state")}));
            }
            Some("result") => {
                let text = redact(&value.to_string(), &self.secrets);
                self.result = serde_json::from_str(&text).ok();
            }
            Some("event") => {
                let field = |k: &str| redact(value.get(k).and_then(Value::as_str).unwrap_or(""), &self.secrets);
                let decision = field("decision");
                if decision == "denied" || decision == "audited" {
                    let args: Vec<String> = value
                        .get("args")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .take(6)
                                .map(|v| {
                                    redact(
                                        &v.as_str().unwrap_or("").chars().take(300).collect::<String>(),
                                        &self.secrets,
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let (event, rule, reason) = (field("event"), field("rule"), field("reason"));
                    if let Some(v) = self
                        .violations
                        .iter_mut()
                        .find(|v| v.event == event && v.rule == rule && v.args == args)
                    {
                        v.count += 1;
                    } else if self.violations.len() < MAX_VIOLATIONS {
                        self.violations.push(Violation {
                            event,
                            rule,
                            reason,
                            decision,
                            args,
                            count: 1,
                        });
                    } else {
                        self.dropped += 1;
                    }
                }
                self.write(value);
            }
            _ => self.dropped += 1,
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}
