//! PEP 440 versions and PEP 503 names.
//!
//! Versions come from `pep440_rs` (uv's implementation; see Cargo.toml for why it was chosen):
//! epochs, pre-, post- and dev-releases, local versions, and the normalisations PEP 440 allows
//! (`1.0-RC1` is `1.0rc1`, `v2` is `2`), ordered exactly as PEP 440 says. This module adds what an
//! audit needs on top: names compared as PEP 503 says, and the one place where we decide what a
//! local version (`2.1.0+cu118`) means against an advisory.

use std::str::FromStr;

pub use pep440_rs::Version;

/// Parse a version; the error says what is wrong with it.
pub fn parse(text: &str) -> Result<Version, String> {
    Version::from_str(text.trim()).map_err(|e| e.to_string())
}

/// The PEP 503 normal form of a project name: lower case, every run of `-`, `_` and `.` one `-`.
/// `Jinja2`, `jinja_2` and `JINJA.2` are one project; databases and lock files spell names freely.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

/// Whether `name` is a valid project name (PEP 508: ASCII letters and digits, with `.`, `-` and
/// `_` inside).
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

/// Whether the installed version is the release an advisory's `versions` list names.
///
/// Equal versions match (`2.0` is `2.0.0`). So does an installed local version whose public part
/// is listed (`2.0.0+cu118` against `2.0.0`): a local version is a build of that release, and
/// PEP 440's `==2.0.0` matches it for the same reason. A listed local version matches only itself.
pub fn same_release(installed: &Version, listed: &Version) -> bool {
    if installed == listed {
        return true;
    }
    listed.local().is_empty() && !installed.local().is_empty() && installed.clone().without_local() == *listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        parse(s).unwrap()
    }

    /// PEP 440's own ordering example (the "Summary of permitted suffixes and relative ordering"
    /// section), plus epochs and local versions around it. Every adjacent pair must be strictly
    /// increasing.
    #[test]
    fn ordering_is_pep_440s() {
        let ordered = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "2!0.1",
            "2!0.1+local",
            "3!0.0.dev0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn normalisation_makes_spellings_equal() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0-RC1", "1.0rc1"),
            ("1.0.c1", "1.0rc1"),
            ("1.0alpha1", "1.0a1"),
            ("1.0-1", "1.0.post1"),
            ("1.0.dev", "1.0.dev0"),
            ("v2", "2"),
            ("0!1.0", "1.0"),
            ("1.0+ubuntu-1", "1.0+ubuntu.1"),
            ("0.8.0-alpha2", "0.8.0a2"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
        assert_ne!(v("1!1.0"), v("1.0"));
    }

    #[test]
    fn invalid_versions_are_errors() {
        for bad in ["", "1.0-", "1..0", "abc", "1.0+", "1.0+a..b", "=1.0"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn names_normalise_as_pep_503_says() {
        assert_eq!(normalize_name("Jinja2"), "jinja2");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("Foo__Bar-._baz"), "foo-bar-baz");
        assert!(is_valid_name("zope.interface"));
        assert!(!is_valid_name("-leading"));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn local_versions_match_their_public_release_only_one_way() {
        assert!(same_release(&v("2.0.0+cu118"), &v("2.0")));
        assert!(!same_release(&v("2.0.0"), &v("2.0.0+cu118")));
        assert!(same_release(&v("2.0.0+cu118"), &v("2.0.0+cu118")));
        assert!(!same_release(&v("2.0.0+cu118"), &v("2.0.0+cu121")));
        assert!(!same_release(&v("2.0.0.post1"), &v("2.0.0")));
    }
}
