//! A report as text (for people), JSON (`stockade.audit/1`, for programs) or SARIF 2.1.0 (for
//! code-scanning dashboards).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::{Finding, Level, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            _ => None,
        }
    }
}

/// The report in `format`, ending with a newline.
pub fn render(report: &Report, format: Format, threshold: Level) -> String {
    match format {
        Format::Text => text(report, threshold),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&json_value(report, threshold)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Sarif => {
            let mut s = serde_json::to_string_pretty(&sarif(report)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

fn severity_text(f: &Finding) -> String {
    match f.severity.score {
        Some(score) => format!("{} {score:.1}", f.severity.level.as_str()),
        None => f.severity.level.as_str().to_string(),
    }
}

fn text(report: &Report, threshold: Level) -> String {
    let mut out = String::new();
    for f in report.active() {
        let _ = write!(out, "{} {}  {}", f.package, f.version, f.id);
        if !f.aliases.is_empty() {
            let _ = write!(out, " ({})", f.aliases.join(", "));
        }
        let _ = writeln!(out, "  [{}]", severity_text(f));
        let _ = writeln!(out, "  {}", f.summary);
        match f.fixed_in.as_slice() {
            [] => {
                let _ = writeln!(out, "  no fixed release known");
            }
            fixed => {
                let _ = writeln!(out, "  fixed in {}", fixed.join(", "));
            }
        }
        let _ = writeln!(out, "  at {}", f.location);
        if let Some(ig) = &f.expired_ignore {
            let _ = writeln!(
                out,
                "  the ignore at {} expired on {} and no longer applies ({})",
                ig.origin, ig.expires, ig.reason
            );
        }
        out.push('\n');
    }
    let ignored: Vec<&Finding> = report.findings.iter().filter(|f| f.ignored.is_some()).collect();
    if !ignored.is_empty() {
        let _ = writeln!(out, "ignored:");
        for f in &ignored {
            let ig = f.ignored.as_ref().expect("filtered on ignored");
            let _ = writeln!(
                out,
                "  {} {}  {}  until {}: {}",
                f.package, f.version, f.id, ig.expires, ig.reason
            );
        }
        out.push('\n');
    }
    if !report.not_audited.is_empty() {
        let _ = writeln!(out, "not audited:");
        for n in &report.not_audited {
            let _ = writeln!(out, "  {}  {}  at {}", n.name, n.reason, n.location);
        }
        out.push('\n');
    }
    for ig in &report.unused_ignores {
        let _ = writeln!(out, "warning: the ignore of {} at {} matched nothing", ig.id, ig.origin);
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let active = report.active().count();
    let packages: std::collections::BTreeSet<(&str, &str)> = report
        .active()
        .map(|f| (f.package.as_str(), f.version.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "{} known {} in {} of {} audited {}; {} ignored; {} not audited; {} at or above {} \
         (database: {} records, {})",
        active,
        if active == 1 {
            "vulnerability"
        } else {
            "vulnerabilities"
        },
        packages.len(),
        report.audited,
        if report.audited == 1 {
            "dependency"
        } else {
            "dependencies"
        },
        ignored.len(),
        report.not_audited.len(),
        report.failing(threshold),
        threshold.as_str(),
        report.database.records,
        report.database.path.display(),
    );
    out
}

fn location_json(l: &crate::Location) -> Value {
    json!({"file": l.file.display().to_string(), "line": l.line})
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "package": f.package,
        "version": f.version,
        "id": f.id,
        "aliases": f.aliases,
        "summary": f.summary,
        "severity": {
            "level": f.severity.level.as_str(),
            "score": f.severity.score,
            "vector": f.severity.vector,
            "source": f.severity.source,
        },
        "fixed_in": f.fixed_in,
        "location": location_json(&f.location),
        "url": format!("https://osv.dev/vulnerability/{}", f.id),
        "ignored": f.ignored.as_ref().map(|i| json!({
            "reason": i.reason, "expires": i.expires.to_string(), "origin": i.origin,
        })),
        "expired_ignore": f.expired_ignore.as_ref().map(|i| json!({
            "reason": i.reason, "expires": i.expires.to_string(), "origin": i.origin,
        })),
    })
}

/// The JSON document: `schema` names its version; every list is always present.
pub fn json_value(report: &Report, threshold: Level) -> Value {
    json!({
        "schema": "stockade.audit/1",
        "database": {
            "path": report.database.path.display().to_string(),
            "records": report.database.records,
            "withdrawn": report.database.withdrawn,
            "age_days": report.database.age_days,
        },
        "sources": report.sources.iter().map(|s| json!({
            "path": s.path.display().to_string(), "kind": s.kind.as_str(),
        })).collect::<Vec<_>>(),
        "audited": report.audited,
        "fail_on": threshold.as_str(),
        "failing": report.failing(threshold),
        "findings": report.active().map(finding_json).collect::<Vec<_>>(),
        "ignored": report.findings.iter().filter(|f| f.ignored.is_some()).map(finding_json).collect::<Vec<_>>(),
        "not_audited": report.not_audited.iter().map(|n| json!({
            "package": n.name, "reason": n.reason, "location": location_json(&n.location),
        })).collect::<Vec<_>>(),
        "unused_ignores": report.unused_ignores.iter().map(|i| json!({
            "id": i.id, "origin": i.origin,
        })).collect::<Vec<_>>(),
        "warnings": report.warnings,
    })
}

/// SARIF level: error for high and critical (and unknown: nothing says it is less), warning for
/// medium, note for low.
fn sarif_level(level: Level) -> &'static str {
    match level {
        Level::Critical | Level::High | Level::Unknown => "error",
        Level::Medium => "warning",
        Level::Low => "note",
    }
}

/// A file path as a SARIF artifact URI: relative paths stay relative (to the working directory,
/// `%SRCROOT%`), absolute ones become `file://` URIs; characters outside RFC 3986's unreserved
/// set and `/` are percent-encoded.
fn artifact_uri(path: &std::path::Path) -> (String, bool) {
    let text = path.to_string_lossy();
    let mut enc = String::new();
    for b in text.trim_start_matches("./").bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            enc.push(b as char);
        } else {
            let _ = write!(enc, "%{b:02X}");
        }
    }
    if path.is_absolute() {
        (format!("file://{enc}"), true)
    } else {
        (enc, false)
    }
}

/// SARIF 2.1.0: one rule per advisory, one result per (advisory, dependency); ignored findings
/// are results with an external suppression carrying the reason.
pub fn sarif(report: &Report) -> Value {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            let f = report.findings.iter().find(|f| f.id == *id).expect("id from findings");
            let mut props = json!({
                "tags": ["security", "vulnerability", "dependency"],
                "aliases": f.aliases,
            });
            // GitHub code scanning reads a 0.0-10.0 string here to rank alerts.
            let score = f.severity.score.or(match f.severity.level {
                Level::Critical => Some(9.5),
                Level::High => Some(8.0),
                Level::Medium => Some(5.5),
                Level::Low => Some(2.0),
                Level::Unknown => None,
            });
            if let Some(s) = score {
                props["security-severity"] = json!(format!("{s:.1}"));
            }
            json!({
                "id": id,
                "name": "VulnerableDependency",
                "shortDescription": {"text": if f.summary.is_empty() { id.to_string() } else { f.summary.clone() }},
                "helpUri": format!("https://osv.dev/vulnerability/{id}"),
                "help": {"text": format!("See https://osv.dev/vulnerability/{id}; upgrade to a fixed release.")},
                "defaultConfiguration": {"level": sarif_level(f.severity.level)},
                "properties": props,
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let fix = if f.fixed_in.is_empty() {
                "no fixed release is known".to_string()
            } else {
                format!("fixed in {}", f.fixed_in.join(", "))
            };
            let (uri, absolute) = artifact_uri(&f.location.file);
            let mut artifact = json!({"uri": uri});
            if !absolute {
                artifact["uriBaseId"] = json!("%SRCROOT%");
            }
            let mut physical = json!({"artifactLocation": artifact});
            if let Some(line) = f.location.line {
                physical["region"] = json!({"startLine": line});
            }
            let mut result = json!({
                "ruleId": f.id,
                "ruleIndex": rule_ids.iter().position(|r| *r == f.id),
                "level": sarif_level(f.severity.level),
                "message": {"text": format!("{} {} is affected by {}: {} ({})", f.package, f.version, f.id, f.summary, fix)},
                "locations": [{"physicalLocation": physical}],
                "partialFingerprints": {"stockadeAudit/v1": format!("{}/{}/{}", crate::version::normalize_name(&f.package), f.version, f.id)},
                "properties": {"package": f.package, "version": f.version, "fixedIn": f.fixed_in, "severity": f.severity.level.as_str()},
            });
            if let Some(ig) = &f.ignored {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "justification": format!("{} (until {}, {})", ig.reason, ig.expires, ig.origin),
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "stockade audit",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://osv.dev",
                "rules": rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}
