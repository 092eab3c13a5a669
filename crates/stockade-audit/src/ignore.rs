//! The ignore file: advisories a team has looked at and decided to accept for now.
//!
//! ```toml
//! [[ignore]]
//! id = "GHSA-h5c8-rqwp-cp95"         # or any alias: CVE-2024-22195, PYSEC-…
//! package = "jinja2"                  # optional: only for this project
//! reason = "we never pass user keys to xmlattr"
//! expires = 2027-03-31                # a TOML date (or "2027-03-31")
//! ```
//!
//! Every entry needs a reason and an expiry date, so that each acceptance is looked at again. An
//! ignore applies through its `expires` day (UTC); from the next day on it no longer applies, the
//! finding counts again, and the report says that the ignore expired.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{line_of, toml_error};
use crate::version::normalize_name;
use crate::Error;

/// A calendar date (proleptic Gregorian), ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days).contains(&day).then_some(Date { year, month, day })
    }

    /// `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let mut parts = text.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Today in UTC.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date::from_days((secs / 86_400) as i64)
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's civil_from_days).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One accepted advisory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    pub id: String,
    /// PEP 503 name, when the ignore is for one project only.
    pub package: Option<String>,
    pub reason: String,
    pub expires: Date,
    /// Where it is written (`file:line`), for the report.
    pub origin: String,
}

impl Ignore {
    /// Whether this entry is about an advisory with these ids (its id and aliases) in `package`.
    pub fn covers(&self, ids: &[&str], package: &str) -> bool {
        self.package.as_deref().is_none_or(|p| p == package) && ids.iter().any(|i| i.eq_ignore_ascii_case(&self.id))
    }

    pub fn expired(&self, today: Date) -> bool {
        today > self.expires
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ignore: Vec<Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: Option<String>,
    package: Option<String>,
    reason: Option<String>,
    expires: Option<Spanned<toml::Value>>,
}

/// Read an ignore file. A missing id, reason or date, or a date that is not one, is an error
/// naming the line: an ignore that cannot be read must not silently ignore, or fail to.
pub fn load(path: &Path) -> Result<Vec<Ignore>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Ignore>, Error> {
    let file: File = toml::from_str(text).map_err(|e| {
        let (line, message) = toml_error(text, &e);
        Error::malformed(path, line, message)
    })?;
    let mut out = Vec::new();
    for entry in file.ignore {
        let line = line_of(text, entry.span().start);
        let e = entry.into_inner();
        let bad = |m: &str| Error::malformed(path, Some(line), m.to_string());
        let id =
            e.id.filter(|s| !s.trim().is_empty())
                .ok_or_else(|| bad("[[ignore]] without an id"))?;
        let reason = e
            .reason
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad(&format!("ignore {id} has no reason (say why it is accepted)")))?;
        let expires = e.expires.ok_or_else(|| {
            bad(&format!(
                "ignore {id} has no expires date (every ignore needs a date to be looked at again)"
            ))
        })?;
        let date_line = line_of(text, expires.span().start);
        let date = match expires.get_ref() {
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                dt.date.and_then(|d| Date::new(i32::from(d.year), d.month, d.day))
            }
            toml::Value::String(s) => Date::parse(s),
            _ => None,
        }
        .ok_or_else(|| {
            Error::malformed(
                path,
                Some(date_line),
                format!("ignore {id}: expires must be a date, YYYY-MM-DD"),
            )
        })?;
        out.push(Ignore {
            id: id.trim().to_string(),
            package: e.package.map(|p| normalize_name(&p)),
            reason: reason.trim().to_string(),
            expires: date,
            origin: format!("{}:{line}", path.display()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_days() {
        assert_eq!(Date::from_days(0), Date::new(1970, 1, 1).unwrap());
        assert_eq!(Date::from_days(19_723), Date::new(2024, 1, 1).unwrap());
        assert_eq!(Date::from_days(11_016), Date::new(2000, 2, 29).unwrap());
        assert_eq!(Date::from_days(-1), Date::new(1969, 12, 31).unwrap());
        assert!(Date::parse("2025-02-29").is_none());
        assert!(Date::parse("2024-02-29").is_some());
        assert!(Date::parse("2024-2-29").is_none());
        assert!(Date::today() > Date::new(2024, 1, 1).unwrap());
    }

    #[test]
    fn entries_need_id_reason_and_a_date() {
        let p = Path::new("ignore.toml");
        let ok = parse(
            p,
            "[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nexpires = 2030-01-31\n\n[[ignore]]\nid = \"X\"\npackage = \"Jinja_2\"\nreason = \"r\"\nexpires = \"2030-02-01\"\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].expires, Date::new(2030, 1, 31).unwrap());
        assert_eq!(ok[1].package.as_deref(), Some("jinja-2"));
        assert_eq!(ok[1].origin, "ignore.toml:6");
        for (text, what) in [
            (
                "[[ignore]]\nreason = \"r\"\nexpires = 2030-01-01\n",
                "ignore.toml:1: [[ignore]] without an id",
            ),
            (
                "[[ignore]]\nid = \"A\"\nexpires = 2030-01-01\n",
                "ignore.toml:1: ignore A has no reason",
            ),
            (
                "[[ignore]]\nid = \"A\"\nreason = \"r\"\n",
                "ignore.toml:1: ignore A has no expires",
            ),
            (
                "[[ignore]]\nid = \"A\"\nreason = \"r\"\nexpires = \"soon\"\n",
                "ignore.toml:4: ignore A: expires must be a date",
            ),
            (
                "[[ignore]]\nid = \"A\"\nreason = \"r\"\nexpires = 2030-02-30\n",
                "ignore.toml:4:",
            ),
            (
                "[[ignore]]\nid = \"A\"\nreson = \"r\"\n",
                "ignore.toml:3: unknown field `reson`",
            ),
        ] {
            let err = parse(p, text).unwrap_err().to_string();
            assert!(err.starts_with(what), "{err}");
        }
    }

    #[test]
    fn an_ignore_applies_through_its_expiry_day() {
        let i = &parse(
            Path::new("i"),
            "[[ignore]]\nid = \"ghsa-x\"\nreason = \"r\"\nexpires = 2030-06-15\n",
        )
        .unwrap()[0];
        assert!(!i.expired(Date::new(2030, 6, 15).unwrap()));
        assert!(i.expired(Date::new(2030, 6, 16).unwrap()));
        assert!(i.covers(&["CVE-9", "GHSA-X"], "anything"));
        assert!(!i.covers(&["GHSA-Y"], "anything"));
    }
}
