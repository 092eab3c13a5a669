//! GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding.

use super::Summary;
use crate::Level;

/// Workflow command data escapes: `%`, CR and LF always; `,` and `:` in properties too.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    for f in summary.findings.iter().filter(|f| f.is_active()) {
        let meta = f.rule.meta();
        let command = match f.severity {
            Level::High => "error",
            Level::Medium => "warning",
            Level::Low => "notice",
        };
        out.push_str(&format!(
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            escape_property(&f.path),
            f.line,
            f.column,
            f.end_line,
            f.end_column,
            escape_property(&format!("{} {}", meta.id, meta.name)),
            escape_data(&format!(
                "{} (CWE-{}, confidence {})",
                f.message,
                meta.cwe,
                f.confidence.as_str()
            ))
        ));
    }
    out
}
