//! The audit trail: the guard's events as they cross from the jail, aggregated into the
//! result's `violations`, and written as JSON Lines (`--audit-log`) the moment they arrive, so
//! a run that is killed still leaves every event it raised before the kill.

use std::io::Write;

use serde_json::{json, Value};
pub use stockade_protocol::result::Violation;
use stockade_protocol::result::{NetworkUse, REPORTED_BY_RUN, REPORTED_BY_SUPERVISOR};

use crate::plan::{AuditSink, Plan};

/// Distinct violations kept in the result.
const MAX_VIOLATIONS: usize = 200;

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

/// Collects the guard's events during a run. Everything on this channel is written inside the
/// run's process (the guard shares it with the code), so lines are capped before decoding and
/// what they say is reported as the run's own account.
pub struct Audit {
    sink: Option<Box<dyn Write>>,
    partial: Vec<u8>,
    /// Violations so far, aggregated.
    pub violations: Vec<Violation>,
    /// What the guard said about itself.
    pub guard: GuardState,
    /// Lines that could not be read.
    pub dropped: u64,
    secrets: Vec<String>,
    run_id: String,
}

/// Replace every secret value in `text` (`stockade_protocol::redact`).
#[must_use]
pub fn redact(text: &str, secrets: &[String]) -> String {
    stockade_protocol::redact::text(text, secrets)
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
        let mut audit = Audit::collector(&plan.secrets);
        audit.sink = sink;
        audit.run_id = run_id;
        Ok(audit)
    }

    /// A collector without an audit log (a warm run's events).
    #[must_use]
    pub fn collector(secrets: &[String]) -> Audit {
        Audit {
            sink: None,
            partial: Vec::new(),
            violations: Vec::new(),
            guard: GuardState::default(),
            dropped: 0,
            secrets: secrets.to_vec(),
            run_id: String::new(),
        }
    }

    /// Write one record now (flushed: nothing waits in a buffer if stockade is killed next).
    pub fn write(&mut self, mut record: Value) {
        let Some(sink) = self.sink.as_mut() else { return };
        if let Value::Object(map) = &mut record {
            map.insert("run_id".into(), Value::String(self.run_id.clone()));
            map.insert("time_ms".into(), json!(now_ms()));
        }
        let line = redact(&record.to_string(), &self.secrets);
        let _ = sink.write_all(format!("{line}\n").as_bytes());
        let _ = sink.flush();
    }

    /// The egress proxy's account of the run: every flow a line of the trail (`"type": "flow"`),
    /// and each refused one a violation that the supervisor observed (not the run's account).
    pub fn flows(&mut self, net: &NetworkUse) {
        for f in &net.flows {
            let mut line = serde_json::to_value(f).unwrap_or_default();
            if let Value::Object(map) = &mut line {
                map.insert("type".into(), json!("flow"));
            }
            self.write(line);
            if f.decision != "denied" {
                continue;
            }
            let args = vec![format!("{} {}:{}", f.method, f.host, f.port)];
            let event = "network.connect".to_string();
            if let Some(v) = self
                .violations
                .iter_mut()
                .find(|v| v.event == event && v.rule == f.rule && v.args == args)
            {
                v.count += 1;
            } else if self.violations.len() < MAX_VIOLATIONS {
                self.violations.push(Violation {
                    event,
                    rule: f.rule.clone(),
                    reason: redact(&f.reason, &self.secrets),
                    decision: "denied".into(),
                    args: args.iter().map(|a| redact(a, &self.secrets)).collect(),
                    count: 1,
                    reported_by: REPORTED_BY_SUPERVISOR.to_string(),
                });
            }
        }
    }

    /// Feed bytes read from the guard's channel.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        // Linear in what was fed: lines are read in place and the remainder moved once.
        let buf = std::mem::take(&mut self.partial);
        let mut start = 0;
        while let Some(len) = buf[start..].iter().position(|&b| b == b'\n') {
            self.line(&buf[start..start + len]);
            start += len + 1;
        }
        self.partial = buf;
        self.partial.drain(..start);
        if self.partial.len() > stockade_protocol::run::MAX_EVENT_LINE {
            self.partial.clear();
            self.dropped += 1;
        }
    }

    fn line(&mut self, line: &[u8]) {
        if line.len() > stockade_protocol::run::MAX_EVENT_LINE {
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
                    // The guard counts repeats of a record it already wrote and reports them as
                    // one line standing for `repeat` occurrences (capped: a count is the run's
                    // claim, not the supervisor's observation).
                    let count = value.get("repeat").and_then(Value::as_u64).unwrap_or(1);
                    if let Some(v) = self
                        .violations
                        .iter_mut()
                        .find(|v| v.event == event && v.rule == rule && v.args == args)
                    {
                        v.count = v.count.saturating_add(count);
                    } else if self.violations.len() < MAX_VIOLATIONS {
                        self.violations.push(Violation {
                            event,
                            rule,
                            reason,
                            decision,
                            args,
                            count,
                            reported_by: REPORTED_BY_RUN.to_string(),
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
