//! The effective policy of a run: a source (file, TOML text, profile) plus typed overrides,
//! validated once. The CLI's flags and the Python API's keyword arguments both land here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stockade_policy::Policy;

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PolicySource {
    /// The strict profile.
    #[default]
    Default,
    /// A policy file.
    File(PathBuf),
    /// A policy document given as text.
    Toml(String),
    /// A built-in profile by name.
    Profile(String),
}

impl PolicySource {
    /// What the Python API's `policy=` argument means: an existing file, a TOML document (has a
    /// newline or starts with `version`), or a profile name.
    #[must_use]
    pub fn guess(text: &str) -> PolicySource {
        if Path::new(text).is_file() {
            PolicySource::File(PathBuf::from(text))
        } else if text.contains('\n') || text.trim_start().starts_with("version") {
            PolicySource::Toml(text.to_string())
        } else {
            PolicySource::Profile(text.to_string())
        }
    }
}

/// Per-run or per-pool overrides of the policy's limits and interpreter (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
    /// CPU-time limit.
    pub cpu: Option<Duration>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// Processes + threads.
    pub pids: Option<u32>,
    /// Largest file.
    pub file_size: Option<u64>,
    /// Scratch size.
    pub scratch: Option<u64>,
    /// Open files.
    pub open_files: Option<u64>,
    /// Output bytes per stream.
    pub output: Option<u64>,
    /// Interpreter (a bare name is looked up on PATH; a path is made absolute).
    pub python: Option<PathBuf>,
    /// Virtualenv.
    pub venv: Option<PathBuf>,
    /// Run even when a layer is missing.
    pub allow_degraded: bool,
    /// Without the guard.
    pub no_guard: bool,
}

/// Why no policy could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyFailure {
    /// The arguments do not make sense together (exit 2 in the CLI).
    #[error("{0}")]
    Usage(String),
    /// The policy or an override is invalid (exit 123).
    #[error("{0}")]
    Invalid(String),
}

/// `p` made absolute against `cwd` (a bare name that is not a file here is kept: a command
/// name to look up on PATH).
#[must_use]
pub fn absolute(p: &Path, cwd: &Path) -> PathBuf {
    let bare = p.components().count() == 1 && !p.to_string_lossy().contains('/');
    if p.is_absolute() || bare && !cwd.join(p).exists() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// The effective policy: source, then overrides, then validation. Relative paths are the
/// caller's (`cwd`).
pub fn effective_policy(source: &PolicySource, o: &Overrides, cwd: &Path) -> Result<Policy, PolicyFailure> {
    let invalid = |e: stockade_policy::PolicyError| PolicyFailure::Invalid(format!("invalid policy: {e}"));
    let mut policy = match source {
        PolicySource::Default => Policy::strict(),
        PolicySource::File(file) => Policy::load(&absolute(file, cwd)).map_err(invalid)?,
        PolicySource::Toml(text) => Policy::from_toml(text, "<policy>").map_err(invalid)?,
        PolicySource::Profile(name) => Policy::profile(name).ok_or_else(|| {
            PolicyFailure::Usage(format!(
                "unknown profile {name:?} (known: {})",
                Policy::PROFILES.join(", ")
            ))
        })?,
    };
    let l = &mut policy.limits;
    let set = |slot: &mut Duration, v: Option<Duration>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut l.wall_time, o.timeout);
    set(&mut l.cpu_time, o.cpu);
    for (slot, v) in [
        (&mut l.memory, o.memory),
        (&mut l.file_size, o.file_size),
        (&mut l.scratch, o.scratch),
        (&mut l.open_files, o.open_files),
        (&mut l.output, o.output),
    ] {
        if let Some(v) = v {
            *slot = v;
        }
    }
    if let Some(v) = o.pids {
        l.processes = v;
    }
    if let Some(p) = &o.python {
        policy.python.interpreter = Some(absolute(p, cwd));
    }
    if let Some(v) = &o.venv {
        policy.python.venv = Some(cwd.join(v));
    }
    if o.allow_degraded {
        policy.isolation.allow_degraded = true;
    }
    if o.no_guard {
        policy.guard.enabled = false;
    }
    policy
        .validate()
        .map_err(|e| PolicyFailure::Invalid(format!("invalid option: {e}")))?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_overrides() {
        let cwd = Path::new("/srv/app");
        let p = effective_policy(
            &PolicySource::Profile("data".into()),
            &Overrides {
                timeout: Some(Duration::from_secs(3)),
                venv: Some(PathBuf::from("venv")),
                no_guard: true,
                ..Overrides::default()
            },
            cwd,
        )
        .unwrap();
        assert_eq!(p.limits.wall_time, Duration::from_secs(3));
        assert_eq!(p.python.venv.as_deref(), Some(Path::new("/srv/app/venv")));
        assert!(!p.guard.enabled);
        assert!(matches!(
            effective_policy(&PolicySource::Profile("nope".into()), &Overrides::default(), cwd),
            Err(PolicyFailure::Usage(_))
        ));
        let bad = effective_policy(
            &PolicySource::Toml("version = 1\n[limits]\nmemory = 5\n".into()),
            &Overrides::default(),
            cwd,
        );
        assert!(matches!(bad, Err(PolicyFailure::Invalid(m)) if m.contains("memory")));
        assert_eq!(PolicySource::guess("strict"), PolicySource::Profile("strict".into()));
        assert!(matches!(PolicySource::guess("version = 1\n"), PolicySource::Toml(_)));
        assert_eq!(absolute(Path::new("python3"), cwd), PathBuf::from("python3"));
    }
}
