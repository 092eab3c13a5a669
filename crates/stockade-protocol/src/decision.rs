//! The one decision type: what the guard does with an event of a class.

use serde::{Deserialize, Serialize};

/// What to do with an event of a class; the policy's `[guard.rules]` values and the guard's
/// compiled configuration use this same type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Let it happen (record it only if its class is in `guard.record`).
    Allow,
    /// Refuse it: a violation.
    Deny,
    /// Let it happen and record it.
    Audit,
}

impl Decision {
    /// Every value, in documentation order.
    pub const VALUES: &'static [Decision] = &[Decision::Allow, Decision::Deny, Decision::Audit];

    /// The name used in policy files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Audit => "audit",
        }
    }
}

impl std::str::FromStr for Decision {
    type Err = String;

    /// Reads the name used in policy files; the error lists the valid names.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "allow" => Ok(Decision::Allow),
            "deny" => Ok(Decision::Deny),
            "audit" => Ok(Decision::Audit),
            _ => Err(format!(r#"unknown decision {s:?} (use "allow", "deny" or "audit")"#)),
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
