//! `[secrets]`: credentials the code uses but never holds. The jail's variable holds a random
//! placeholder; the proxy swaps it for the value in the headers of requests to the secret's
//! hosts (over TLS it terminates with the jail's own CA), refuses a request that carries a
//! placeholder anywhere else, and swaps the value back for the placeholder in what those hosts
//! answer.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use stockade_policy::{Policy, SecretSpec};

/// One secret as the proxy uses it.
#[derive(Clone)]
pub struct Secret {
    /// The jail's variable.
    pub name: String,
    /// What the variable holds in the jail (random per jail).
    pub placeholder: String,
    /// The value, which never enters the jail.
    pub value: String,
    /// The value and its common encodings (none of which may leave in a request).
    forms: Vec<String>,
    spec: SecretSpec,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("hosts", &self.spec.hosts)
            .finish_non_exhaustive()
    }
}

impl Secret {
    /// Whether requests to `host` get the value.
    #[must_use]
    pub fn sent_to(&self, host: &str) -> bool {
        self.spec.sent_to(host)
    }
}

/// A jail's secrets.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    list: Vec<Secret>,
}

fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Secrets {
    /// The policy's secrets with their values from `env` (the caller's environment) and a
    /// fresh placeholder each. An unset variable is an error that names it (not its value).
    pub fn resolve(policy: &Policy, env: &BTreeMap<String, String>) -> Result<Secrets, String> {
        let mut list = Vec::new();
        for (name, spec) in &policy.secrets {
            let var = spec
                .env_var()
                .ok_or_else(|| format!("secrets.{name}: {:?} is not \"env:NAME\"", spec.from))?;
            let value = env
                .get(var)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("secrets.{name}: the host variable {var} is not set"))?;
            let placeholder = format!(
                "stockade-placeholder-{}",
                random_hex(16).map_err(|e| format!("secrets.{name}: /dev/urandom: {e}"))?
            );
            list.push(Secret {
                name: name.clone(),
                placeholder,
                value: value.clone(),
                forms: stockade_protocol::redact::forms(value),
                spec: spec.clone(),
            });
        }
        Ok(Secrets { list })
    }

    /// The same secrets with new placeholders (a new run of a warm worker).
    pub fn with_fresh_placeholders(&self) -> Result<Secrets, String> {
        let mut list = self.list.clone();
        for s in &mut list {
            s.placeholder = format!(
                "stockade-placeholder-{}",
                random_hex(16).map_err(|e| format!("secrets.{}: /dev/urandom: {e}", s.name))?
            );
        }
        Ok(Secrets { list })
    }

    /// Each secret's variable and its placeholder (what the jail's environment holds).
    #[must_use]
    pub fn placeholders(&self) -> std::collections::BTreeMap<String, String> {
        self.list
            .iter()
            .map(|s| (s.name.clone(), s.placeholder.clone()))
            .collect()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All of them.
    #[must_use]
    pub fn all(&self) -> &[Secret] {
        &self.list
    }

    /// Whether requests to `host` get any value (so its TLS is terminated).
    #[must_use]
    pub fn any_for(&self, host: &str) -> bool {
        self.list.iter().any(|s| s.sent_to(host))
    }

    /// Why `bytes`, on their way out, may not go: they carry a value (in any of its
    /// encodings: the code should only ever hold placeholders), or a placeholder anywhere but
    /// in a request to one of its secret's hosts over TLS the proxy terminated (`to`).
    #[must_use]
    pub fn leak(&self, bytes: &[u8], to: Option<&str>) -> Option<Leak> {
        for s in &self.list {
            if s.forms.iter().any(|f| contains(bytes, f.as_bytes())) {
                return Some(Leak {
                    rule: "secrets.value",
                    reason: format!(
                        "the request carries the value of {} (code only ever holds its placeholder)",
                        s.name
                    ),
                });
            }
            if contains(bytes, s.placeholder.as_bytes()) && !to.is_some_and(|h| s.sent_to(h)) {
                return Some(Leak {
                    rule: "secrets.placeholder",
                    reason: format!(
                        "the request carries the placeholder of {}, which is only sent to the hosts secrets.{} names, over TLS",
                        s.name, s.name
                    ),
                });
            }
        }
        None
    }

    /// The longest string [`Secrets::leak`] looks for (what a stream scan keeps back between
    /// chunks, less one).
    #[must_use]
    pub fn longest_needle(&self) -> usize {
        self.list
            .iter()
            .flat_map(|s| s.forms.iter().map(String::len).chain([s.placeholder.len()]))
            .max()
            .unwrap_or(0)
    }
}

/// Why outgoing bytes were stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// `secrets.value` or `secrets.placeholder`.
    pub rule: &'static str,
    /// In words (names the secret, never its value).
    pub reason: String,
}

/// Whether `needle` occurs in `haystack`.
#[must_use]
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `haystack` with every `from` replaced by `to`.
#[must_use]
pub fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() || haystack.len() < from.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}
