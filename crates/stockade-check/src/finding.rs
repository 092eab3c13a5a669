//! A finding: one rule matched at one place.

use crate::registry::{Level, RuleId};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    #[serde(serialize_with = "rule_id")]
    pub rule: RuleId,
    pub severity: Level,
    pub confidence: Level,
    pub message: String,
    /// The source line the finding starts on (for code frames and fingerprints).
    #[serde(skip)]
    pub line_text: String,
    /// Set when a comment (or the configuration) suppresses the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
    /// Set when the baseline accounts for the finding.
    #[serde(skip)]
    pub baselined: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Suppression {
    /// `stockade`, `nosec`, `noqa` or `config`.
    pub kind: &'static str,
    pub justification: String,
}

fn rule_id<S: serde::Serializer>(rule: &RuleId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.meta().id)
}

impl Finding {
    /// A finding about the whole file (it could not be read or parsed), at line 1.
    pub fn engine(rule: RuleId, path: &str, source: &str, message: &str) -> Finding {
        let meta = rule.meta();
        Finding {
            path: path.to_string(),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
            rule,
            severity: meta.severity,
            confidence: meta.confidence,
            message: message.to_string(),
            line_text: source.lines().next().unwrap_or("").to_string(),
            suppression: None,
            baselined: false,
        }
    }

    /// Whether the finding counts: not suppressed, not in the baseline.
    pub fn is_active(&self) -> bool {
        self.suppression.is_none() && !self.baselined
    }
}
