//! OSV records (https://ossf.github.io/osv-schema/) for the PyPI ecosystem: the fields an audit
//! reads, which versions a record affects, and its severity.
//!
//! Unknown fields are ignored (the schema grows) and every field but `id` is optional, so a record
//! from a newer export still loads; what we cannot interpret is reported, never guessed.

use std::cmp::Ordering;

use serde::Deserialize;

use crate::cvss;
use crate::version::{self, Version};

/// One OSV record, as much of it as the audit uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
    /// A withdrawn record is no longer believed to be a vulnerability.
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeverityEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event of a range; OSV gives each event exactly one of these keys.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub introduced: Option<String>,
    #[serde(default)]
    pub fixed: Option<String>,
    #[serde(default)]
    pub last_affected: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
}

impl Affected {
    /// Whether this entry is about the PyPI project with this normalised name.
    pub fn is_pypi(&self, normalized: &str) -> bool {
        self.package
            .as_ref()
            .is_some_and(|p| p.ecosystem == "PyPI" && version::normalize_name(&p.name) == normalized)
    }
}

/// What a record says about one installed version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    pub affected: bool,
    /// The `fixed` versions of the ranges that hold the version (the releases to move to).
    pub fixed_in: Vec<String>,
    /// Range events or listed versions that are not PEP 440 and so could not be compared.
    pub unreadable: Vec<String>,
}

/// Whether `record` affects version `installed` of the PyPI project `normalized`: any of its
/// `affected` entries for that project has an ECOSYSTEM (or SEMVER) range holding the version, or
/// names it in `versions`. GIT ranges are commits, not releases, and are left to the other two.
pub fn evaluate(record: &Record, normalized: &str, installed: &Version) -> Verdict {
    let mut verdict = Verdict::default();
    for affected in record.affected.iter().filter(|a| a.is_pypi(normalized)) {
        for range in &affected.ranges {
            if range.kind != "ECOSYSTEM" && range.kind != "SEMVER" {
                continue;
            }
            match range_holds(&range.events, installed) {
                Ok(RangeVerdict { holds: true, fixed }) => {
                    verdict.affected = true;
                    verdict.fixed_in.extend(fixed);
                }
                Ok(_) => {}
                Err(bad) => verdict.unreadable.push(bad),
            }
        }
        if !verdict.affected && listed_in(&affected.versions, installed) {
            verdict.affected = true;
        }
    }
    verdict.fixed_in.sort_by(|a, b| cmp_versions(a, b));
    verdict.fixed_in.dedup();
    verdict
}

/// Whether a `versions` list names the installed release. Lists run to hundreds of entries and
/// most records do not affect the version at hand, so entries that cannot be equal are skipped
/// before parsing: an entry in PEP 440's plain form (digits first, no epoch) whose first release
/// number differs from the installed one's is another release. Everything else is parsed and
/// compared as PEP 440 says (`2.0` is `2.0.0`, `1.0-RC1` is `1.0rc1`).
fn listed_in(listed: &[String], installed: &Version) -> bool {
    let spelled = installed.to_string();
    let major = (installed.epoch() == 0)
        .then(|| installed.release().first().copied())
        .flatten();
    listed.iter().any(|entry| {
        let entry = entry.trim();
        if entry == spelled {
            return true;
        }
        if let Some(major) = major {
            let digits = entry.bytes().take_while(u8::is_ascii_digit).count();
            let plain = digits > 0 && !entry.contains('!');
            if plain && entry[..digits].parse::<u64>().is_ok_and(|m| m != major) {
                return false;
            }
        }
        // A legacy string that is not PEP 440 matches only when spelled the same (above).
        version::parse(entry).is_ok_and(|v| version::same_release(installed, &v))
    })
}

fn cmp_versions(a: &str, b: &str) -> Ordering {
    match (version::parse(a), version::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

struct RangeVerdict {
    holds: bool,
    /// The fixed version closing the interval that holds the version, if any.
    fixed: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    // At one version, OSV's order: the introduction first, so `introduced: X, fixed: X` is empty.
    Introduced,
    Fixed,
    LastAffected,
}

/// OSV's range evaluation: sort the events by version, then walk them, entering the affected state
/// at `introduced <= v` and leaving it at `fixed <= v` or `last_affected < v`; `limit` events, if
/// any, bound the range from above. `introduced: "0"` is below every version.
fn range_holds(events: &[Event], installed: &Version) -> Result<RangeVerdict, String> {
    let mut sorted: Vec<(Option<Version>, Kind, &str)> = Vec::new();
    let mut limits = Vec::new();
    for e in events {
        let (kind, text) = match (&e.introduced, &e.fixed, &e.last_affected, &e.limit) {
            (Some(t), None, None, None) => (Kind::Introduced, t),
            (None, Some(t), None, None) => (Kind::Fixed, t),
            (None, None, Some(t), None) => (Kind::LastAffected, t),
            (None, None, None, Some(t)) => {
                limits.push(parse_event(t)?);
                continue;
            }
            _ => return Err("an event with none or several of introduced/fixed/last_affected/limit".into()),
        };
        // `introduced: "0"` is OSV's "from the beginning"; None sorts below every version.
        let at = if kind == Kind::Introduced && text.trim() == "0" {
            None
        } else {
            Some(parse_event(text)?)
        };
        sorted.push((at, kind, text));
    }
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    // A local version is a build of its public release (PEP 440 orders `1.0+x` above `1.0`, but
    // `last_affected: 1.0` means that release, builds included).
    let public = installed.clone().without_local();
    let mut holds = false;
    let mut fixed = None;
    for (at, kind, text) in &sorted {
        let at_or_below = at.as_ref().is_none_or(|a| a <= installed);
        match kind {
            Kind::Introduced if at_or_below => holds = true,
            Kind::Fixed if at_or_below => holds = false,
            Kind::LastAffected if at.as_ref().is_some_and(|a| *a < public) => holds = false,
            Kind::Fixed if holds && fixed.is_none() => fixed = Some(text.to_string()),
            _ => {}
        }
    }
    if !limits.is_empty() && !limits.iter().any(|l| installed < l) {
        holds = false;
    }
    Ok(RangeVerdict {
        holds,
        fixed: if holds { fixed } else { None },
    })
}

fn parse_event(text: &str) -> Result<Version, String> {
    version::parse(text).map_err(|e| format!("range event {text:?} is not a PEP 440 version ({e})"))
}

/// Qualitative severity, ordered. `Unknown` is a record with no severity we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unknown => "unknown",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// A `--fail-on` threshold: low, medium, high or critical.
    pub fn threshold(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Some(Level::Low),
            "medium" | "moderate" => Some(Level::Medium),
            "high" => Some(Level::High),
            "critical" => Some(Level::Critical),
            _ => None,
        }
    }

    /// CVSS v3's qualitative scale (also used for v2 scores, whose scale has no "critical" but
    /// whose top band starts at the same 7.0).
    pub fn from_score(score: f64, version: cvss::CvssVersion) -> Level {
        match (score, version) {
            // CVSS calls 0.0 "none"; a record that exists is at least low.
            (s, _) if s < 4.0 => Level::Low,
            (s, _) if s < 7.0 => Level::Medium,
            (_, cvss::CvssVersion::V2) => Level::High,
            (s, _) if s < 9.0 => Level::High,
            _ => Level::Critical,
        }
    }
}

/// A record's severity and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Severity {
    pub level: Level,
    pub score: Option<f64>,
    /// The CVSS vector the score came from, when it did.
    pub vector: Option<String>,
    /// `cvss_v3`, `cvss_v2`, `database` (the record's `database_specific.severity`) or `none`.
    pub source: &'static str,
}

impl Severity {
    pub const UNKNOWN: Severity = Severity {
        level: Level::Unknown,
        score: None,
        vector: None,
        source: "none",
    };
}

/// The record's severity: the highest CVSS v3 score it carries, else v2, else the database's own
/// word (GitHub's LOW / MODERATE / HIGH / CRITICAL), else unknown.
pub fn severity(record: &Record) -> Severity {
    let mut best: Option<Severity> = None;
    for entry in &record.severity {
        if !matches!(entry.kind.as_str(), "CVSS_V3" | "CVSS_V2") {
            continue;
        }
        let Ok(s) = cvss::score(&entry.score) else { continue };
        let candidate = Severity {
            level: Level::from_score(s.base, s.version),
            score: Some(s.base),
            vector: Some(entry.score.clone()),
            source: match s.version {
                cvss::CvssVersion::V3 => "cvss_v3",
                cvss::CvssVersion::V2 => "cvss_v2",
            },
        };
        let better = match &best {
            None => true,
            // v3 over v2 (v2 overstates and understates in known ways), then the higher score.
            Some(b) => (candidate.source, candidate.score) > (b.source, b.score),
        };
        if better {
            best = Some(candidate);
        }
    }
    if let Some(b) = best {
        return b;
    }
    let word = record
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(|s| s.as_str());
    match word.and_then(Level::threshold) {
        Some(level) => Severity {
            level,
            score: None,
            vector: None,
            source: "database",
        },
        None => Severity::UNKNOWN,
    }
}

/// A one-line summary: the record's `summary`, else the first sentence of `details`.
pub fn summary(record: &Record) -> String {
    if let Some(s) = record.summary.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        return s.to_string();
    }
    let details = record.details.as_deref().unwrap_or("").trim();
    let first_line = details.lines().next().unwrap_or("");
    let mut sentences = first_line.split_inclusive(". ").map(str::trim);
    let mut sentence = sentences.next().unwrap_or("");
    // CVE descriptions often open by describing the project ("urllib3 is a user-friendly HTTP
    // client library for Python."); the next sentence says what is wrong.
    if (sentence.contains(" is a ") || sentence.contains(" is an ")) && !sentence.contains("vulnerab") {
        if let Some(next) = sentences.next().filter(|s| !s.is_empty()) {
            sentence = next;
        }
    }
    const MAX: usize = 160;
    if sentence.chars().count() > MAX {
        let cut: String = sentence.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        sentence.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        version::parse(s).unwrap()
    }

    fn record(json: serde_json::Value) -> Record {
        serde_json::from_value(json).unwrap()
    }

    fn pkg(events: serde_json::Value, versions: &[&str]) -> Record {
        record(serde_json::json!({
            "id": "TEST-1",
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "Some_Package"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "versions": versions,
            }]
        }))
    }

    fn hit(r: &Record, version: &str) -> bool {
        evaluate(r, "some-package", &v(version)).affected
    }

    #[test]
    fn introduced_and_fixed_bound_a_half_open_interval() {
        let r = pkg(serde_json::json!([{"introduced": "1.2"}, {"fixed": "1.4.1"}]), &[]);
        assert!(!hit(&r, "1.1.9"));
        assert!(
            !hit(&r, "1.2rc1"),
            "a pre-release of the introducing version comes before it"
        );
        assert!(hit(&r, "1.2"));
        assert!(hit(&r, "1.2.0"));
        assert!(hit(&r, "1.4.1rc2"), "pre-releases of the fix are still affected");
        assert!(hit(&r, "1.4.1.dev0"));
        assert!(!hit(&r, "1.4.1"));
        assert!(!hit(&r, "1.4.1.post1"));
        assert_eq!(evaluate(&r, "some-package", &v("1.3")).fixed_in, vec!["1.4.1"]);
    }

    #[test]
    fn last_affected_is_inclusive() {
        let r = pkg(
            serde_json::json!([{"introduced": "0"}, {"last_affected": "1.11.0"}]),
            &[],
        );
        assert!(hit(&r, "0.0.1.dev0"));
        assert!(hit(&r, "1.11.0"));
        assert!(
            hit(&r, "1.11.0+local"),
            "a local build of the last affected release is that release"
        );
        assert!(!hit(&r, "1.11.0.post1"));
        assert!(!hit(&r, "1.11.1"));
        assert!(evaluate(&r, "some-package", &v("1.0")).fixed_in.is_empty());
    }

    #[test]
    fn several_intervals_in_one_range_are_sorted_first() {
        // The order PYSEC-2023-192 (urllib3) writes them in.
        let r = pkg(
            serde_json::json!([{"introduced": "2.0.0"}, {"fixed": "2.0.6"}, {"introduced": "0"}, {"fixed": "1.26.17"}]),
            &[],
        );
        assert!(hit(&r, "1.26.16"));
        assert!(!hit(&r, "1.26.17"));
        assert!(!hit(&r, "2.0.0a1"), "between the intervals");
        assert!(hit(&r, "2.0.0"));
        assert!(hit(&r, "2.0.5"));
        assert!(!hit(&r, "2.0.6"));
        assert_eq!(evaluate(&r, "some-package", &v("2.0.2")).fixed_in, vec!["2.0.6"]);
        assert_eq!(evaluate(&r, "some-package", &v("1.25")).fixed_in, vec!["1.26.17"]);
    }

    #[test]
    fn epochs_order_above_every_plain_version() {
        let r = pkg(serde_json::json!([{"introduced": "0"}, {"fixed": "2.0"}]), &[]);
        assert!(hit(&r, "1.9"));
        assert!(!hit(&r, "1!0.1"), "epoch 1 is above 2.0 of epoch 0");
        let r = pkg(serde_json::json!([{"introduced": "1!1.0"}, {"fixed": "1!1.5"}]), &[]);
        assert!(!hit(&r, "1.2"));
        assert!(hit(&r, "1!1.2"));
    }

    #[test]
    fn local_versions_compare_above_their_release() {
        let r = pkg(serde_json::json!([{"introduced": "0"}, {"fixed": "2.1.0"}]), &[]);
        assert!(hit(&r, "2.0.9+cu118"));
        assert!(!hit(&r, "2.1.0+cu118"), "a local build of the fixed release is fixed");
    }

    #[test]
    fn a_versions_list_alone_decides_and_matches_normalised_spellings() {
        let r = pkg(
            serde_json::json!([]),
            &["1.0", "2.0rc1", "0.8.0-alpha2", "1.4.7.dev3", "not a version"],
        );
        assert!(hit(&r, "1.0.0"));
        assert!(hit(&r, "1.0+local"));
        assert!(hit(&r, "2.0.0rc1"));
        assert!(hit(&r, "0.8.0a2"));
        assert!(hit(&r, "1.4.7.dev3"));
        assert!(!hit(&r, "2.0"));
        assert!(!hit(&r, "1.4.7"));
    }

    #[test]
    fn other_packages_ecosystems_and_git_ranges_do_not_match() {
        let r = record(serde_json::json!({
            "id": "TEST-2",
            "affected": [
                {"package": {"ecosystem": "npm", "name": "some-package"}, "versions": ["1.0"]},
                {"package": {"ecosystem": "PyPI", "name": "other"}, "versions": ["1.0"]},
                {"package": {"ecosystem": "PyPI", "name": "some.package"},
                 "ranges": [{"type": "GIT", "repo": "https://x", "events": [{"introduced": "0"}, {"fixed": "abc123"}]}]},
            ]
        }));
        assert!(!hit(&r, "1.0"));
    }

    #[test]
    fn unreadable_events_are_reported_not_guessed() {
        let r = pkg(
            serde_json::json!([{"introduced": "0"}, {"fixed": "not-a-version!"}]),
            &[],
        );
        let verdict = evaluate(&r, "some-package", &v("1.0"));
        assert!(!verdict.affected);
        assert_eq!(verdict.unreadable.len(), 1);
    }

    #[test]
    fn limit_bounds_the_range() {
        let r = pkg(serde_json::json!([{"introduced": "0"}, {"limit": "3.0"}]), &[]);
        assert!(hit(&r, "2.9"));
        assert!(!hit(&r, "3.0"));
    }

    #[test]
    fn severity_prefers_cvss_then_the_database_word() {
        let r = record(serde_json::json!({"id": "X", "severity": [
            {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"},
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"}],
            "database_specific": {"severity": "CRITICAL"}}));
        let s = severity(&r);
        assert_eq!((s.level, s.score, s.source), (Level::Medium, Some(5.4), "cvss_v3"));
        let r = record(serde_json::json!({"id": "X", "severity": [
            {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}],
            "database_specific": {"severity": "MODERATE"}}));
        assert_eq!(severity(&r).level, Level::Medium);
        assert_eq!(severity(&r).source, "database");
        let r = record(serde_json::json!({"id": "X"}));
        assert_eq!(severity(&r), Severity::UNKNOWN);
        let r = record(
            serde_json::json!({"id": "X", "severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"}]}),
        );
        assert_eq!(severity(&r).level, Level::High, "v2 has no critical band");
    }

    #[test]
    fn summary_falls_back_to_the_first_sentence() {
        let r = record(
            serde_json::json!({"id": "X", "details": "In Pallets Jinja before 2.10.1, str.format_map allows a sandbox escape. More."}),
        );
        assert_eq!(
            summary(&r),
            "In Pallets Jinja before 2.10.1, str.format_map allows a sandbox escape."
        );
        let r = record(serde_json::json!({"id": "X", "details":
            "urllib3 is a user-friendly HTTP client library for Python. urllib3 doesn't treat the `Cookie` header special. More."}));
        assert_eq!(summary(&r), "urllib3 doesn't treat the `Cookie` header special.");
    }
}
