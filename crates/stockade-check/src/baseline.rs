//! Baselines: accept today's findings, fail on new ones.
//!
//! A fingerprint is the rule, the file and the finding's source line with whitespace collapsed —
//! not the line number, so edits elsewhere in the file keep it stable. The baseline stores how
//! many findings share each fingerprint: if the baseline holds one `eval(x)` and the file now has
//! two identical lines, one is new and is reported.

use crate::finding::Finding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    /// fingerprint → number of findings with it.
    pub fingerprints: BTreeMap<String, u32>,
}

/// A stable fingerprint (64-bit FNV-1a, hex): rule id, path, normalised line text.
pub fn fingerprint(finding: &Finding) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    feed(finding.rule.meta().id.as_bytes());
    // The path with `\` as `/`, and the line's words joined by single spaces, fed piecewise: the
    // same bytes as building those strings, without allocating them (a report fingerprints
    // every finding).
    feed_parts(
        &mut hash,
        finding.path.split('\\').enumerate().map(|(i, part)| (i > 0, part)),
        b'/',
    );
    feed_parts(
        &mut hash,
        finding
            .line_text
            .split_whitespace()
            .enumerate()
            .map(|(i, word)| (i > 0, word)),
        b' ',
    );
    format!("{hash:016x}")
}

/// FNV-1a over the concatenation of `parts`, each preceded by `separator` when its flag is set,
/// then the end-of-field marker `fingerprint`'s `feed` adds.
fn feed_parts<'s>(hash: &mut u64, parts: impl Iterator<Item = (bool, &'s str)>, separator: u8) {
    let mut byte = |b: u8| {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    for (separated, part) in parts {
        if separated {
            byte(separator);
        }
        part.bytes().for_each(&mut byte);
    }
    byte(0xff);
}

impl Baseline {
    pub fn from_findings<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Baseline {
        let mut fingerprints = BTreeMap::new();
        for finding in findings {
            *fingerprints.entry(fingerprint(finding)).or_insert(0) += 1;
        }
        Baseline {
            version: 1,
            fingerprints,
        }
    }

    pub fn load(path: &std::path::Path) -> Result<Baseline, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let baseline: Baseline = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if baseline.version != 1 {
            return Err(format!(
                "{}: baseline version {} is not supported (expected 1)",
                path.display(),
                baseline.version
            ));
        }
        Ok(baseline)
    }

    /// Marks findings the baseline accounts for, at most as many per fingerprint as it recorded.
    pub fn apply<'a>(&self, findings: impl IntoIterator<Item = &'a mut Finding>) {
        let mut remaining = self.fingerprints.clone();
        for finding in findings {
            if finding.suppression.is_some() {
                continue;
            }
            if let Some(count) = remaining.get_mut(&fingerprint(finding)) {
                if *count > 0 {
                    *count -= 1;
                    finding.baselined = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleId;

    /// The definition: FNV-1a over the id, the path with `/`, the words joined by spaces.
    fn reference(finding: &Finding) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        };
        feed(finding.rule.meta().id.as_bytes());
        feed(finding.path.replace('\\', "/").as_bytes());
        let normalised: Vec<&str> = finding.line_text.split_whitespace().collect();
        feed(normalised.join(" ").as_bytes());
        format!("{hash:016x}")
    }

    #[test]
    fn fingerprint_is_the_documented_hash() {
        for (path, line) in [
            ("a.py", "eval(x)"),
            ("src\\app\\views.py", "   eval( x )\t# why  "),
            ("\\lead\\", ""),
            ("dir/é.py", "\u{a0}x\u{2003}=\u{3000}1 "),
            ("", "   "),
        ] {
            let mut finding = Finding::engine(RuleId::EvalUsage, path, line, "m");
            finding.line_text = line.to_string();
            assert_eq!(fingerprint(&finding), reference(&finding), "{path:?} {line:?}");
        }
    }
}
