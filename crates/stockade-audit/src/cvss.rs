//! CVSS base scores from vectors, for the severities OSV records carry.
//!
//! v3.0 and v3.1 (FIRST's specification, section 7 formulas and Appendix A rounding) and v2
//! (section 3.2.1) are scored here. v4.0 is not: its score comes from a lookup table of 270
//! macro-vectors, and OSV's PyPI records that carry a v4 vector also carry the database's own
//! severity, which the caller falls back to.

/// A computed base score and the version of CVSS it was computed under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub base: f64,
    pub version: CvssVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvssVersion {
    V2,
    V3,
}

/// Score a vector: `CVSS:3.x/AV:…` or a v2 vector (`AV:N/AC:L/Au:N/…`, with or without a
/// `CVSS:2.0/` prefix). `Err` says which metric is missing or malformed.
pub fn score(vector: &str) -> Result<Score, String> {
    let vector = vector.trim();
    if let Some(rest) = vector.strip_prefix("CVSS:3.1/") {
        return v3(rest, true).map(|base| Score {
            base,
            version: CvssVersion::V3,
        });
    }
    if let Some(rest) = vector.strip_prefix("CVSS:3.0/") {
        return v3(rest, false).map(|base| Score {
            base,
            version: CvssVersion::V3,
        });
    }
    if vector.starts_with("CVSS:4") {
        return Err("CVSS 4.0 vectors are not scored".into());
    }
    let rest = vector.strip_prefix("CVSS:2.0/").unwrap_or(vector);
    v2(rest).map(|base| Score {
        base,
        version: CvssVersion::V2,
    })
}

fn metrics(vector: &str) -> Result<Vec<(&str, &str)>, String> {
    vector
        .split('/')
        .map(|m| m.split_once(':').ok_or_else(|| format!("malformed metric {m:?}")))
        .collect()
}

fn get<'a>(ms: &[(&'a str, &'a str)], key: &str) -> Result<&'a str, String> {
    let mut found = ms.iter().filter(|(k, _)| *k == key);
    let first = found.next().ok_or_else(|| format!("metric {key} missing"))?;
    if found.next().is_some() {
        return Err(format!("metric {key} given twice"));
    }
    Ok(first.1)
}

fn bad(key: &str, value: &str) -> String {
    format!("metric {key} has no value {value:?}")
}

/// CVSS v3.x base score.
fn v3(vector: &str, v31: bool) -> Result<f64, String> {
    let ms = metrics(vector)?;
    let changed = match get(&ms, "S")? {
        "U" => false,
        "C" => true,
        v => return Err(bad("S", v)),
    };
    let av = match get(&ms, "AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        v => return Err(bad("AV", v)),
    };
    let ac = match get(&ms, "AC")? {
        "L" => 0.77,
        "H" => 0.44,
        v => return Err(bad("AC", v)),
    };
    let pr = match (get(&ms, "PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        (v, _) => return Err(bad("PR", v)),
    };
    let ui = match get(&ms, "UI")? {
        "N" => 0.85,
        "R" => 0.62,
        v => return Err(bad("UI", v)),
    };
    let cia = |key: &str| -> Result<f64, String> {
        match get(&ms, key)? {
            "H" => Ok(0.56),
            "L" => Ok(0.22),
            "N" => Ok(0.0),
            v => Err(bad(key, v)),
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Ok(if v31 {
        roundup_31(raw)
    } else {
        (raw * 10.0).ceil() / 10.0
    })
}

/// CVSS 3.1 Appendix A: round up to one decimal, in integers so that 4.000000001 stays 4.0's
/// neighbour 4.1 and 4.0 (a float artefact of 3.9999999) does not become 4.1.
fn roundup_31(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

/// CVSS v2 base score.
fn v2(vector: &str) -> Result<f64, String> {
    let ms = metrics(vector)?;
    let av = match get(&ms, "AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        v => return Err(bad("AV", v)),
    };
    let ac = match get(&ms, "AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        v => return Err(bad("AC", v)),
    };
    let au = match get(&ms, "Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        v => return Err(bad("Au", v)),
    };
    let cia = |key: &str| -> Result<f64, String> {
        match get(&ms, key)? {
            "N" => Ok(0.0),
            "P" => Ok(0.275),
            "C" => Ok(0.660),
            v => Err(bad(key, v)),
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let raw = (0.6 * impact + 0.4 * exploitability - 1.5) * f;
    Ok((raw * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores as NVD's calculator gives them for these vectors.
    #[test]
    fn v3_scores_match_the_specification() {
        for (vector, expected) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", 5.4),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:A/AC:H/PR:H/UI:N/S:U/C:H/I:N/A:N", 4.2),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ] {
            let s = score(vector).unwrap();
            assert_eq!(s.base, expected, "{vector}");
            assert_eq!(s.version, CvssVersion::V3);
        }
    }

    #[test]
    fn v2_scores_match_the_specification() {
        for (vector, expected) in [
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
            ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3),
            ("CVSS:2.0/AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
            ("AV:N/AC:L/Au:N/C:N/I:N/A:P", 5.0),
            ("AV:L/AC:L/Au:N/C:N/I:N/A:N", 0.0),
        ] {
            assert_eq!(score(vector).unwrap().base, expected, "{vector}");
        }
    }

    #[test]
    fn malformed_vectors_say_what_is_wrong() {
        assert!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H")
            .unwrap_err()
            .contains("A missing"));
        assert!(score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
            .unwrap_err()
            .contains("AV"));
        assert!(score("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
            .unwrap_err()
            .contains("twice"));
        assert!(score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
            .unwrap_err()
            .contains("4.0"));
        assert!(score("garbage").is_err());
    }
}
