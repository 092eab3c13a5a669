//! Policy `[guard]` → the guard's compiled configuration, and where its pieces go in the jail.

use std::path::{Path, PathBuf};

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

/// Top-level importable names installed in the given site-packages directories.
fn installed_packages(dirs: &[PathBuf]) -> Vec<String> {
    let mut names = Vec::new();
    for dir in dirs {
        // Jail paths relocated under /run/host (see plan::relocate) are read at their host path.
        let host = dir
            .strip_prefix("/run/host")
            .map_or_else(|_| dir.clone(), |rest| Path::new("/").join(rest));
        let Ok(entries) = std::fs::read_dir(&host) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let module = if path.is_dir() {
                if name.contains('.') || name == "__pycache__" || name.starts_with('_') && name.ends_with("libs") {
                    continue;
                }
                name
            } else if let Some(stem) = name.strip_suffix(".py") {
                stem.to_string()
            } else if name.ends_with(".so") {
                name.split('.').next().unwrap_or("").to_string()
            } else {
                continue;
            };
            if !module.is_empty() && module.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.push(module);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Compile the guard configuration for this policy and interpreter.
#[must_use]
pub fn compile(policy: &Policy, manifest: &Manifest, secrets: Vec<String>) -> GuardConfig {
    let g = &policy.guard;
    let mut trusted = to_strings(&manifest.stdlib_paths);
    let mut import_allow = g.imports.allow.clone();
    if g.imports.venv {
        trusted.extend(to_strings(&manifest.site_paths));
        import_allow.extend(installed_packages(&manifest.venv_site_paths));
    }
    let record = g.record.iter().map(|c| c.as_str().to_string()).collect();
    GuardConfig {
        enforce: g.mode == GuardMode::Enforce,
        kill_on_violation: g.on_violation == OnViolation::Kill,
        record,
        trusted,
        import_default_allow: g.imports.default == ImportDefault::Allow,
        import_allow,
        import_deny: g.imports.deny.clone(),
        read: expand(&g.files.read, manifest),
        write: expand(&g.files.write, manifest),
        connect: g.network.connect.clone(),
        bind: g.network.bind.clone(),
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
    }
}
