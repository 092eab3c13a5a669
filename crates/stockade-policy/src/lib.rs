//! The stockade policy file: what a jail may use, as a validated [`Policy`].
//!
//! A policy starts from a built-in profile ([`Policy::strict`] or [`Policy::data`]) and a
//! TOML file (format version 1, see `docs/policy.md`) changes it. Parsing goes through a
//! raw serde model that rejects unknown keys, then every rule runs in one place
//! ([`Policy::validate`]), so a policy changed by CLI flags is checked the same way.
//! Errors ([`PolicyError`]) name the file, line, column and key.
//!
//! ```
//! use stockade_policy::{parse_size, Policy};
//!
//! let policy = Policy::from_toml("version = 1\n[limits]\nmemory = \"1G\"\n", "policy.toml")?;
//! assert_eq!(policy.limits.memory, parse_size("1G")?);
//! assert_eq!(Policy::from_toml(&policy.to_toml(), "again.toml")?, policy);
//!
//! let err = Policy::from_toml("version = 1\n[limits]\nmemory = \"12X\"\n", "policy.toml").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"policy.toml:3:10: limits.memory: invalid size "12X": unknown suffix "X" (use K, M, G or T)"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate is pure data: no OS calls, no unsafe code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod guard;
mod model;
mod net;
mod parse;
mod render;
mod units;

pub use error::PolicyError;
pub use guard::{
    ClassRules, Decision, EventClass, FileRules, Guard, GuardMode, ImportDefault, ImportRules, NetRules, OnViolation,
    GUARD_PATH_PLACEHOLDERS,
};
pub use model::{
    Bind, Check, Env, Filesystem, Isolation, Limits, Network, NetworkMode, Policy, Python, SecretSpec, RESERVED_ENV,
    RESERVED_JAIL_PATHS, VERSION,
};
pub use net::{
    canonical_ip, check_name as check_host_name, IpNet, NetAllow, NetHost, JAIL_BUNDLE, NETWORK_MODULES, PACKAGES_DIR,
    PROXY_PORT,
};
pub use units::{format_duration, format_size, parse_duration, parse_size};
