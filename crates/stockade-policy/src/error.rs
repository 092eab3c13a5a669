//! The one error type of this crate: where in which file, which key, and why.

use std::fmt;

/// A policy that could not be read, parsed or validated.
///
/// Displays as `{file}:{line}:{column}: {key}: {reason}`; parts that are unknown are left
/// out, so an error from [`Policy::validate`](crate::Policy::validate) prints as
/// `limits.memory: must be at least 16M`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The file name given to the parser; empty when there is no file.
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending key or value.
    pub column: Option<usize>,
    /// Dotted path of the key as written in the file, e.g. `limits.memory` or
    /// `filesystem.read-only[0].jail`.
    pub key: Option<String>,
    /// What is wrong, in lowercase with no full stop.
    pub reason: String,
}

impl PolicyError {
    /// An error about a whole file, with no position or key.
    pub fn new(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            key: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut location = self.file.clone();
        for part in [self.line, self.line.and(self.column)].into_iter().flatten() {
            if !location.is_empty() {
                location.push(':');
            }
            location.push_str(&part.to_string());
        }
        for part in [Some(location.as_str()), self.key.as_deref()]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
        {
            write!(f, "{part}: ")?;
        }
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_missing_parts() {
        let mut e = PolicyError::new("policy.toml", "bad");
        assert_eq!(e.to_string(), "policy.toml: bad");
        e.key = Some("limits.memory".into());
        assert_eq!(e.to_string(), "policy.toml: limits.memory: bad");
        e.line = Some(7);
        assert_eq!(e.to_string(), "policy.toml:7: limits.memory: bad");
        e.column = Some(10);
        assert_eq!(e.to_string(), "policy.toml:7:10: limits.memory: bad");
        e.file.clear();
        assert_eq!(e.to_string(), "7:10: limits.memory: bad");
        e.line = None;
        e.column = None;
        assert_eq!(e.to_string(), "limits.memory: bad");
        e.key = None;
        assert_eq!(e.to_string(), "bad");
    }
}
