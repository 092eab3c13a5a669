//! JSON: a list of active findings (suppressed and baselined ones are left out).

use super::Summary;
use serde::Serialize;

#[derive(Serialize)]
struct JsonFinding<'a> {
    path: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    rule: &'static str,
    name: &'static str,
    severity: &'static str,
    confidence: &'static str,
    cwe: String,
    message: &'a str,
    bandit: &'static [&'static str],
    ruff: &'static [&'static str],
    fingerprint: String,
}

pub fn render(summary: &Summary) -> String {
    let list: Vec<JsonFinding> = summary
        .findings
        .iter()
        .filter(|f| f.is_active())
        .map(|f| {
            let meta = f.rule.meta();
            JsonFinding {
                path: &f.path,
                line: f.line,
                column: f.column,
                end_line: f.end_line,
                end_column: f.end_column,
                rule: meta.id,
                name: meta.name,
                severity: f.severity.as_str(),
                confidence: f.confidence.as_str(),
                cwe: format!("CWE-{}", meta.cwe),
                message: &f.message,
                bandit: meta.bandit,
                ruff: meta.ruff,
                fingerprint: crate::baseline::fingerprint(f),
            }
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
    out.push('\n');
    out
}
