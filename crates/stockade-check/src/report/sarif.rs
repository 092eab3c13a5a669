//! SARIF 2.1.0: one run, the rules that fired (with CWE relationships to a CWE taxonomy), every
//! finding including suppressed ones (with `suppressions`, as SARIF intends) and baselined ones
//! (`baselineState: unchanged`).

use super::Summary;
use crate::registry::{Level, RuleId};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn render(summary: &Summary) -> String {
    let mut rule_index: BTreeMap<RuleId, usize> = BTreeMap::new();
    for f in summary.findings {
        let next = rule_index.len();
        rule_index.entry(f.rule).or_insert(next);
    }
    let mut rules: Vec<(RuleId, usize)> = rule_index.iter().map(|(r, i)| (*r, *i)).collect();
    rules.sort_by_key(|(_, i)| *i);
    let mut cwes: Vec<u32> = rules.iter().map(|(r, _)| r.meta().cwe).collect();
    cwes.sort_unstable();
    cwes.dedup();
    let rule_values: Vec<Value> = rules.iter().map(|(r, _)| rule_value(*r)).collect();
    let results: Vec<Value> = summary.findings.iter().map(|f| {
        let meta = f.rule.meta();
        let mut result = json!({
            "ruleId": meta.id,
            "ruleIndex": rule_index[&f.rule],
            "level": level(f.severity),
            "message": { "text": f.message },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": { "uri": uri(&f.path) },
                    "region": {
                        "startLine": f.line,
                        "startColumn": f.column,
                        "endLine": f.end_line,
                        "endColumn": f.end_column,
                        "snippet": { "text": f.line_text },
                    }
                }
            }],
            "partialFingerprints": { "stockade/v1": crate::baseline::fingerprint(f) },
            "properties": { "severity": f.severity.as_str(), "confidence": f.confidence.as_str() },
        });
        if let Some(s) = &f.suppression {
            result["suppressions"] = json!([{ "kind": "inSource", "justification": s.justification, "properties": { "marker": s.kind } }]);
        }
        if f.baselined {
            result["baselineState"] = json!("unchanged");
        }
        result
    }).collect();
    let taxa: Vec<Value> = cwes
        .iter()
        .map(|c| json!({ "id": c.to_string(), "name": format!("CWE-{c}") }))
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "stockade",
                    "informationUri": "https://github.com/stockade/stockade",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rule_values,
                    "supportedTaxonomies": [{ "name": "CWE", "index": 0 }],
                }
            },
            "taxonomies": [{
                "name": "CWE",
                "version": "4.14",
                "organization": "MITRE",
                "shortDescription": { "text": "The MITRE Common Weakness Enumeration" },
                "taxa": taxa,
            }],
            "results": results,
        }]
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

fn rule_value(rule: RuleId) -> Value {
    let meta = rule.meta();
    let security_severity = match meta.severity {
        Level::High => "8.0",
        Level::Medium => "5.0",
        Level::Low => "2.0",
    };
    json!({
        "id": meta.id,
        "name": meta.name,
        "shortDescription": { "text": meta.summary },
        "defaultConfiguration": { "level": level(meta.severity) },
        "properties": {
            "tags": ["security", format!("external/cwe/cwe-{}", meta.cwe)],
            "security-severity": security_severity,
            "precision": match meta.confidence { Level::High => "high", Level::Medium => "medium", Level::Low => "low" },
            "bandit": meta.bandit,
            "ruff": meta.ruff,
        },
        "relationships": [{
            "target": { "id": meta.cwe.to_string(), "toolComponent": { "name": "CWE", "index": 0 } },
            "kinds": ["superset"],
        }],
    })
}

fn level(severity: Level) -> &'static str {
    match severity {
        Level::High => "error",
        Level::Medium => "warning",
        Level::Low => "note",
    }
}

/// A relative URI with forward slashes and percent-encoded specials.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.replace('\\', "/").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
