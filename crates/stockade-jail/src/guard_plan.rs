//! Policy `[guard]` → the guard's compiled configuration, and where its pieces go in the jail.

use std::path::PathBuf;

use stockade_guard::config::GuardConfig;
use stockade_policy::Policy;
use stockade_policy::{GuardMode, ImportDefault, OnViolation};

use crate::interpreter::Manifest;
use crate::plan::{SANDBOX_DIR, SCRATCH_DIR};

/// Where the guard library is mounted in the jail.
pub const LIB_IN_JAIL: &str = "/usr/lib/stockade/libstockade_guard.so";
/// Where its configuration is written in the jail.
pub const CONFIG_IN_JAIL: &str = "/etc/stockade/guard.json";
/// The fd the guard reports on, in the interpreter process.
pub const EVENTS_FD: i32 = 3;
/// The seccomp program the guard installs when user code starts, if the policy denies
/// processes (see `GuardConfig::seccomp_on_arm`).
pub const NO_PROCESSES_IN_JAIL: &str = "/etc/stockade/no-processes.bpf";
/// The seccomp program each pool run installs on itself before its code runs.
pub const RUN_LOCKDOWN_IN_JAIL: &str = "/etc/stockade/run-lockdown.bpf";

/// The guard library on the host: `$STOCKADE_GUARD_LIB`, else next to the `stockade` binary,
/// else `../lib/stockade/` relative to it.
#[must_use]
pub fn find_library() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STOCKADE_GUARD_LIB") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [
        dir.join("libstockade_guard.so"),
        dir.join("../lib/stockade/libstockade_guard.so"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .and_then(|p| p.canonicalize().ok())
}

fn to_strings(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

/// Expand `{scratch}`, `{python}`, `{venv}`, `{sandbox}` (optionally followed by `/sub`).
fn expand(entries: &[String], manifest: &Manifest) -> Vec<String> {
    let python: Vec<String> = to_strings(&manifest.stdlib_paths)
        .into_iter()
        .chain(to_strings(&manifest.site_paths))
        .chain(std::iter::once(manifest.executable.to_string_lossy().into_owned()))
        .collect();
    let mut out = Vec::new();
    for entry in entries {
        let (head, tail) = match entry.find('}') {
            Some(i) if entry.starts_with('{') => (&entry[..=i], &entry[i + 1..]),
            _ => {
                out.push(entry.clone());
                continue;
            }
        };
        let bases: Vec<String> = match head {
            "{scratch}" => vec![SCRATCH_DIR.into()],
            "{sandbox}" => vec![SANDBOX_DIR.into()],
            "{venv}" => manifest.venv.iter().map(|v| v.to_string_lossy().into_owned()).collect(),
            "{python}" => python.clone(),
            _ => vec![],
        };
        out.extend(bases.into_iter().map(|b| format!("{b}{tail}")));
    }
    out.sort();
    out.dedup();
    out
}

/// Compile the guard configuration for this policy and interpreter.
#[must_use]
pub fn compile(policy: &Policy, manifest: &Manifest, secrets: Vec<String>) -> GuardConfig {
    let g = &policy.guard;
    let mut trusted = to_strings(&manifest.stdlib_paths);
    let mut import_allow = g.imports.allow.clone();
    if g.imports.venv {
        trusted.extend(to_strings(&manifest.site_paths));
        import_allow.extend(crate::interpreter::top_level_modules(&manifest.venv_site_paths));
    }
    let record = g.record.iter().map(|c| c.as_str().to_string()).collect();
    GuardConfig {
        enforce: g.mode == GuardMode::Enforce,
        kill_on_violation: g.on_violation == OnViolation::Kill,
        record,
        trusted,
        import_default_allow: g.imports.default == ImportDefault::Allow,
        import_allow,
        // The runner's native module is the runner's alone (its own import is trusted).
        import_deny: g
            .imports
            .deny
            .iter()
            .cloned()
            .chain(std::iter::once("_stockade_jail".to_string()))
            .collect(),
        read: expand(&g.files.read, manifest),
        write: expand(&g.files.write, manifest),
        connect: g.network.connect.clone(),
        bind: g.network.bind.clone(),
        urls_via_proxy: policy.network.egress(),
        process: g.rules.process,
        code: g.rules.code,
        code_objects: g.rules.code_objects,
        deserialize: g.rules.deserialize,
        introspection: g.rules.introspection,
        ctypes: g.rules.ctypes,
        env: g.rules.env,
        signal: g.rules.signal,
        secrets,
        internal: Vec::new(),
        stdlib: to_strings(&manifest.stdlib_paths),
        seccomp_on_arm: None,
        import_sets: stockade_guard::config::ImportSets::default(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_guard_and_the_policy_agree_on_the_packages_directory() {
        assert_eq!(stockade_guard::PACKAGES_DIR, stockade_policy::PACKAGES_DIR);
    }
}
