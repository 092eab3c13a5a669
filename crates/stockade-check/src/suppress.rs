//! Suppression comments.
//!
//! - `# stockade: ignore[STK602] reason` — ids (or names, or Bandit/ruff aliases) in brackets,
//!   comma-separated; an unknown id is itself reported.
//! - `# nosec B602, B607` (Bandit) and `# noqa: S602` (ruff) are honoured with their ids parsed
//!   strictly: only well-formed ids count, and only ids that map to a stockade rule suppress.
//!   noqa codes of other tools (E501, ...) are left alone.
//! - A bare `# nosec` or `# noqa` suppresses nothing unless `allow-bare-suppressions` is set.
//!
//! A suppression applies to findings that start or end on the comment's line. One that
//! suppresses nothing is reported (STK003), so stale suppressions do not pile up.

use crate::finding::{Finding, Suppression};
use crate::registry::{Level, RuleId};
use crate::source::LineIndex;
use crate::Settings;
use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_text_size::{Ranged, TextRange};

/// One parsed marker in a comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub kind: &'static str,
    /// The rules named; empty for a bare marker.
    pub rules: Vec<RuleId>,
    /// Ids that were written but are not stockade rules (reported for `stockade:` only).
    pub unknown: Vec<String>,
    /// `# nosec B6O2`: what was meant as a Bandit id but is not one (reported; suppresses nothing).
    pub misspelt: Vec<String>,
    pub bare: bool,
    pub reason: String,
}

/// Whether a comment may hold a marker: every marker starts with `stockade:`, or `nosec` or
/// `noqa` in any case. Most comments hold none, and a vectorised search for the letters that can
/// start (`n`, `N`) or sit inside (`k`) a marker is cheaper than splitting them.
fn may_hold_marker(comment: &str) -> bool {
    let b = comment.as_bytes();
    memchr::memchr3_iter(b'n', b'N', b'k', b).any(|i| {
        if b[i] == b'k' {
            // The `k` of `stockade:`.
            return i >= 4 && b[i - 4..].starts_with(b"stockade:");
        }
        let rest = &b[i + 1..];
        rest.len() >= 3
            && rest[0].eq_ignore_ascii_case(&b'o')
            && (rest[1..3].eq_ignore_ascii_case(b"qa")
                || rest.get(1..4).is_some_and(|s| s.eq_ignore_ascii_case(b"sec")))
    })
}

/// Parses the markers in one comment (`# ...`).
pub fn parse_comment(comment: &str) -> Vec<Marker> {
    let mut markers = Vec::new();
    if !may_hold_marker(comment) {
        return markers;
    }
    // Each `#` starts a possible marker: `# type: ignore  # nosec B602` has two segments.
    for segment in comment.split('#').map(str::trim) {
        if let Some(rest) = segment.strip_prefix("stockade:") {
            if let Some(marker) = parse_stockade(rest.trim_start()) {
                markers.push(marker);
            }
        } else if let Some(rest) = strip_word(segment, "nosec") {
            let rest = rest.strip_prefix(':').map_or(rest, str::trim_start);
            markers.push(parse_codes(rest, "nosec", is_bandit_id, looks_like_bandit_id));
        } else if let Some(rest) = strip_word(segment, "noqa") {
            if rest.is_empty() {
                markers.push(parse_codes("", "noqa", is_ruff_code, |_| false));
            } else if let Some(codes) = rest.strip_prefix(':') {
                markers.push(parse_codes(codes, "noqa", is_ruff_code, |_| false));
            }
        }
    }
    markers
}

/// `word` at the start of `s`, followed by the end, whitespace or `:`.
fn strip_word<'s>(s: &'s str, word: &str) -> Option<&'s str> {
    let lower = s.get(..word.len())?;
    if !lower.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &s[word.len()..];
    match rest.chars().next() {
        None => Some(""),
        Some(c) if c.is_whitespace() || c == ':' => Some(rest.trim_start_matches(char::is_whitespace)),
        _ => None,
    }
}

fn parse_stockade(rest: &str) -> Option<Marker> {
    let inner = rest.strip_prefix("ignore")?;
    let Some(inner) = inner.strip_prefix('[') else {
        // `# stockade: ignore` with no ids: a bare marker.
        return Some(Marker {
            kind: "stockade",
            rules: vec![],
            unknown: vec![],
            misspelt: vec![],
            bare: true,
            reason: inner.trim().to_string(),
        });
    };
    let close = inner.find(']')?;
    let mut marker = Marker {
        kind: "stockade",
        rules: vec![],
        unknown: vec![],
        misspelt: vec![],
        bare: false,
        reason: inner[close + 1..].trim().to_string(),
    };
    for id in inner[..close].split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match RuleId::lookup(id) {
            Some(rule) => marker.rules.push(rule),
            None => marker.unknown.push(id.to_string()),
        }
    }
    marker.bare = marker.rules.is_empty() && marker.unknown.is_empty();
    Some(marker)
}

fn is_bandit_id(token: &str) -> bool {
    token.len() == 4 && token.starts_with('B') && token[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A token written as a Bandit id but malformed: `B6O2`, `b602`, `B60`, `B6022`.
fn looks_like_bandit_id(token: &str) -> bool {
    (3..=6).contains(&token.len())
        && token.starts_with(['B', 'b'])
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
        && token.bytes().any(|b| b.is_ascii_digit())
}

fn is_ruff_code(token: &str) -> bool {
    let letters = token.bytes().take_while(u8::is_ascii_uppercase).count();
    letters >= 1 && letters < token.len() && token[letters..].bytes().all(|b| b.is_ascii_digit())
}

/// Codes separated by commas and/or spaces; the list ends at the first token that is neither a
/// code nor `misspelt` (the rest is the reason).
fn parse_codes(rest: &str, kind: &'static str, well_formed: fn(&str) -> bool, misspelt: fn(&str) -> bool) -> Marker {
    let mut rules = Vec::new();
    let mut wrong = Vec::new();
    let mut any_code = false;
    let mut reason_at = rest.len();
    let mut offset = 0;
    for token in rest.split_inclusive([',', ' ']) {
        let code = token.trim_matches([',', ' ']);
        if code.is_empty() {
            offset += token.len();
            continue;
        }
        if !well_formed(code) {
            if misspelt(code) {
                wrong.push(code.to_string());
                offset += token.len();
                continue;
            }
            reason_at = offset;
            break;
        }
        any_code = true;
        if let Some(rule) = RuleId::lookup(code) {
            rules.push(rule);
        }
        offset += token.len();
    }
    Marker {
        kind,
        rules,
        unknown: vec![],
        bare: !any_code && wrong.is_empty(),
        misspelt: wrong,
        reason: rest[reason_at..].trim().to_string(),
    }
}

struct Placed {
    line: usize,
    range: TextRange,
    marker: Marker,
    used: Vec<bool>,
    used_bare: bool,
}

/// The markers in comments on lines `first` to `last` (a call's, for findings made after the
/// file's own pass: see crate::taint::interproc).
pub fn markers_on(
    source: &str,
    index: &std::cell::OnceCell<LineIndex>,
    tokens: &Tokens,
    first: usize,
    last: usize,
) -> Vec<Marker> {
    let index = index.get_or_init(|| LineIndex::new(source));
    tokens
        .iter()
        .filter(|t| t.kind() == TokenKind::Comment)
        .filter(|t| (first..=last).contains(&index.line(t.start())))
        .flat_map(|t| parse_comment(&source[t.range().to_std_range()]))
        .collect()
}

/// Marks a finding made after its file's own pass as suppressed when one of `markers` names its
/// rule (or is bare, where bare markers are allowed).
pub fn apply_markers(finding: &mut Finding, markers: &[Marker], settings: &Settings) {
    let marker = markers
        .iter()
        .find(|m| m.rules.contains(&finding.rule) || (m.bare && settings.allow_bare_suppressions));
    if let Some(m) = marker {
        finding.suppression = Some(Suppression {
            kind: m.kind,
            justification: m.reason.clone(),
        });
    }
}

/// Marks suppressed findings and reports unknown ids and unused suppressions. On `call_lines`
/// (calls whose taint findings come later, from crate::taint::interproc) a suppression of a
/// taint rule is not reported as unused.
pub fn apply(
    findings: &mut Vec<Finding>,
    path: &str,
    source: &str,
    index: &std::cell::OnceCell<LineIndex>,
    tokens: &Tokens,
    settings: &Settings,
    call_lines: &[usize],
) {
    if !settings.honour_suppressions {
        return;
    }
    let index = || index.get_or_init(|| LineIndex::new(source));
    let mut placed = Vec::new();
    for token in tokens.iter().filter(|t| t.kind() == TokenKind::Comment) {
        let text = &source[token.range().to_std_range()];
        for marker in parse_comment(text) {
            let line = index().line(token.start());
            let used = vec![false; marker.rules.len()];
            placed.push(Placed {
                line,
                range: token.range(),
                marker,
                used,
                used_bare: false,
            });
        }
    }
    if placed.is_empty() {
        return;
    }
    for finding in findings.iter_mut() {
        if finding.rule == RuleId::SyntaxError || finding.rule == RuleId::UnreadableFile {
            continue; // a file that cannot be checked cannot be waved through by a comment
        }
        for p in placed
            .iter_mut()
            .filter(|p| p.line == finding.line || p.line == finding.end_line)
        {
            let hit = p.marker.rules.iter().position(|r| *r == finding.rule);
            let bare_ok = p.marker.bare && settings.allow_bare_suppressions;
            if hit.is_none() && !bare_ok {
                continue;
            }
            match hit {
                Some(i) => p.used[i] = true,
                None => p.used_bare = true,
            }
            if finding.suppression.is_none() {
                finding.suppression = Some(Suppression {
                    kind: p.marker.kind,
                    justification: p.marker.reason.clone(),
                });
            }
        }
    }
    let mut extra = Vec::new();
    for p in &placed {
        let (line, column) = index().line_col(source, p.range.start());
        let mut report = |message: String| {
            let meta = RuleId::UnusedSuppression.meta();
            extra.push(Finding {
                path: path.to_string(),
                line,
                column,
                end_line: line,
                end_column: column + p.range.len().to_usize(),
                rule: RuleId::UnusedSuppression,
                severity: meta.severity,
                confidence: Level::High,
                message,
                line_text: index().line_text(source, line).to_string(),
                suppression: None,
                baselined: false,
            });
        };
        for id in &p.marker.unknown {
            report(format!("`# stockade: ignore[{id}]` names no stockade rule"));
        }
        for id in &p.marker.misspelt {
            report(format!(
                "`# {} {id}`: `{id}` is not a Bandit id (B and three digits, e.g. B602), so it suppresses nothing",
                p.marker.kind
            ));
        }
        for (rule, used) in p.marker.rules.iter().zip(&p.used) {
            let later = call_lines.contains(&p.line) && crate::taint::RULES.contains(rule);
            if !used && !later && settings.is_enabled(*rule) {
                report(format!(
                    "`# {}` for {} suppresses nothing on this line",
                    p.marker.kind,
                    rule.meta().id
                ));
            }
        }
        if p.marker.bare && !settings.allow_bare_suppressions && p.marker.kind != "noqa" {
            let on_line = findings.iter().any(|f| f.line == p.line || f.end_line == p.line);
            if on_line {
                report(format!(
                    "a bare `# {}` suppresses nothing; name the rule, e.g. `# stockade: ignore[{}] reason`",
                    p.marker.kind,
                    findings
                        .iter()
                        .find(|f| f.line == p.line || f.end_line == p.line)
                        .map_or("STK000", |f| f.rule.meta().id)
                ));
            }
        }
        if p.marker.bare && settings.allow_bare_suppressions && !p.used_bare && p.marker.kind == "stockade" {
            report("a bare `# stockade: ignore` suppresses nothing on this line".to_string());
        }
    }
    if settings.is_enabled(RuleId::UnusedSuppression) {
        findings.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(comment: &str) -> Vec<(&'static str, Vec<&'static str>, bool)> {
        parse_comment(comment)
            .into_iter()
            .map(|m| (m.kind, m.rules.iter().map(|r| r.meta().id).collect(), m.bare))
            .collect()
    }

    #[test]
    fn markers_parse_strictly() {
        assert_eq!(
            ids("# stockade: ignore[STK602] trusted input"),
            vec![("stockade", vec!["STK602"], false)]
        );
        assert_eq!(
            ids("# stockade: ignore[subprocess-shell-true, B607]"),
            vec![("stockade", vec!["STK602", "STK607"], false)]
        );
        assert_eq!(
            ids("# nosec B602, B607"),
            vec![("nosec", vec!["STK602", "STK607"], false)]
        );
        assert_eq!(ids("# nosec: B602"), vec![("nosec", vec!["STK602"], false)]);
        assert_eq!(ids("# nosec"), vec![("nosec", vec![], true)]);
        assert_eq!(ids("# nosec B6o2"), vec![("nosec", vec![], false)]);
        assert_eq!(parse_comment("# nosec B6o2, B602 why")[0].misspelt, vec!["B6o2"]);
        assert_eq!(parse_comment("# nosec B6o2, B602 why")[0].reason, "why");
        assert!(parse_comment("# nosec trusted input")[0].misspelt.is_empty());
        assert!(parse_comment("# nosec trusted input")[0].bare);
        assert_eq!(ids("# nosecB602"), vec![]);
        assert_eq!(ids("# noqa: S602,E501"), vec![("noqa", vec!["STK602"], false)]);
        assert_eq!(ids("# noqa"), vec![("noqa", vec![], true)]);
        assert_eq!(ids("# noqa:E501"), vec![("noqa", vec![], false)]);
        assert_eq!(
            ids("# type: ignore  # nosec B602"),
            vec![("nosec", vec!["STK602"], false)]
        );
        assert_eq!(ids("# this is not nosec B602"), vec![]);
        assert_eq!(ids("# NOSEC B602"), vec![("nosec", vec!["STK602"], false)]);
        assert_eq!(ids("# NoQA: S602"), vec![("noqa", vec!["STK602"], false)]);
        assert_eq!(ids("#noqa"), vec![("noqa", vec![], true)]);
        assert_eq!(ids("# no"), vec![]);
        assert!(!may_hold_marker("# an ordinary comment, nothing to see"));
        assert!(may_hold_marker("#nosec"));
        assert!(may_hold_marker("# x # stockade: ignore[B602]"));
    }

    #[test]
    fn unknown_stockade_ids_are_kept() {
        let m = &parse_comment("# stockade: ignore[STK999] why")[0];
        assert_eq!(m.unknown, vec!["STK999"]);
        assert_eq!(m.reason, "why");
    }
}
