//! A tenant's policy: stockade policy TOML, validated by the same parser as everywhere, then
//! held to what the service allows — the tenant's caps on wall time and memory, and for
//! tenant-admins nothing of the host: no bind mounts, no interpreter or venv of their choosing,
//! no environment passed through from the server, no degraded isolation.

use stockade_policy::{Policy, PolicyError};

use crate::config::Quotas;

/// The effective policy of a tenant's runs.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The TOML handed to the run engine.
    pub toml: String,
    /// Its SHA-256 (pools are keyed by tenant and this).
    pub hash: String,
    /// Bytes kept per output stream.
    pub output: u64,
    /// Wall time, ms.
    pub wall_time_ms: u64,
    /// Secret values to mask wherever the service stores or returns text.
    pub secrets: Vec<String>,
}

/// Keys only an admin may set in a tenant's policy, with why.
const HOST_KEYS: &[(&str, &str)] = &[
    ("python.interpreter", "names a file on the server"),
    ("python.venv", "names a directory on the server"),
    ("filesystem.read-only", "mounts server paths into the jail"),
    ("env.pass", "copies the server's environment into the jail"),
    ("isolation.allow-degraded", "runs without a protection layer"),
    (
        "network.mode",
        "lets code connect out from the server's network (the egress proxy)",
    ),
    ("secrets", "reads the server's environment"),
];

/// Parse and check a policy a client submitted. `by_admin`: the service's admin may use the
/// host keys; a tenant-admin may not.
pub fn validate(text: &str, quotas: &Quotas, by_admin: bool) -> Result<Policy, PolicyError> {
    let policy = Policy::from_toml(text, "policy")?;
    if !by_admin {
        let present = [
            policy.python.interpreter.is_some(),
            policy.python.venv.is_some(),
            !policy.filesystem.read_only.is_empty(),
            !policy.env.pass.is_empty(),
            policy.isolation.allow_degraded,
            policy.network.egress(),
            !policy.secrets.is_empty(),
        ];
        for ((key, why), set) in HOST_KEYS.iter().zip(present) {
            if set {
                return Err(located(text, key, &format!("only an admin may set this: it {why}")));
            }
        }
    }
    let memory = policy.limits.memory;
    if memory > quotas.max_memory_bytes {
        return Err(located(
            text,
            "limits.memory",
            &format!(
                "{memory} bytes is more than the tenant's cap of {} bytes",
                quotas.max_memory_bytes
            ),
        ));
    }
    Ok(policy)
}

/// The error for `key`, at the line where the file sets it (when it does).
fn located(text: &str, key: &str, reason: &str) -> PolicyError {
    let (section, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    let mut at = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix('[') {
            current = rest
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            continue;
        }
        let name = t.split('=').next().unwrap_or("").trim().trim_matches('"');
        let full = if current.is_empty() {
            name.to_string()
        } else {
            format!("{current}.{name}")
        };
        if t.contains('=') && (full == key || (current == section && name == leaf)) {
            at = Some((n + 1, line.len() - t.len() + 1));
            break;
        }
    }
    PolicyError {
        file: "policy".into(),
        line: at.map(|a| a.0),
        column: at.map(|a| a.1),
        key: Some(key.into()),
        reason: reason.into(),
    }
}

/// The policy runs of a tenant get: its own (or the server's default), capped by its quotas.
pub fn effective(text: Option<&str>, default: &str, quotas: &Quotas) -> Result<Effective, PolicyError> {
    let mut policy = Policy::from_toml(text.unwrap_or(default), "policy")?;
    let cap = std::time::Duration::from_millis(quotas.max_wall_time_ms);
    if policy.limits.wall_time > cap {
        policy.limits.wall_time = cap;
    }
    if policy.limits.memory > quotas.max_memory_bytes {
        policy.limits.memory = quotas.max_memory_bytes;
    }
    policy.validate()?;
    let toml = policy.to_toml();
    let secrets = policy
        .env
        .secret
        .iter()
        .filter_map(|name| policy.env.set.get(name).cloned().or_else(|| std::env::var(name).ok()))
        .filter(|v| !v.is_empty())
        .collect();
    Ok(Effective {
        hash: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(toml.as_bytes())),
        output: policy.limits.output,
        wall_time_ms: u64::try_from(policy.limits.wall_time.as_millis()).unwrap_or(u64::MAX),
        toml,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_admins_cannot_reach_the_host() {
        let q = Quotas::default();
        let text = "version = 1\n\n[env]\npass = [\"DATABASE_URL\"]\n";
        let e = validate(text, &q, false).unwrap_err();
        assert_eq!(
            (e.line, e.column, e.key.as_deref()),
            (Some(4), Some(1), Some("env.pass"))
        );
        assert!(validate(text, &q, true).is_ok());
        let e = validate("version = 1\n[limits]\nmemory = \"8G\"\n", &q, true).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("limits.memory")));
    }

    #[test]
    fn parse_errors_keep_line_column_and_key() {
        let e = validate("version = 1\n[limits]\nmemory = \"12X\"\n", &Quotas::default(), false).unwrap_err();
        assert_eq!(
            (e.line, e.column, e.key.as_deref()),
            (Some(3), Some(10), Some("limits.memory"))
        );
    }

    #[test]
    fn caps_apply() {
        let q = Quotas {
            max_wall_time_ms: 1500,
            ..Quotas::default()
        };
        let e = effective(
            Some("version = 1\n[limits]\nwall-time = \"60s\"\n"),
            "version = 1\n",
            &q,
        )
        .unwrap();
        assert_eq!(e.wall_time_ms, 1500);
    }
}
