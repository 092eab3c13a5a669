//! Finding the Python interpreter and everything it needs at run time.
//!
//! The jail's root holds nothing of the host but what the interpreter needs: the real
//! executable, its standard library, the shared libraries it and its extension modules link,
//! its own site-packages, and the venv if one is given. This module works that list out by
//! asking the interpreter (`python -I -S`, no user code) and the dynamic loader (`ldd`), and
//! caches the answer per interpreter and venv, keyed by their modification times, because
//! working it out costs far more than a whole jailed run.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Errors from locating or inspecting the interpreter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InterpreterError {
    /// No `python3` on PATH (or the named one does not exist).
    #[error("python interpreter not found: {0}")]
    NotFound(String),
    /// The file exists but is not something stockade can run.
    #[error("{path} is not a usable python interpreter: {reason}")]
    Unusable {
        /// The interpreter path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The venv is missing or broken.
    #[error("venv {path}: {reason}")]
    Venv {
        /// The venv path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One thing the jail's root must contain, at the same path as on the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RootEntry {
    /// A symlink to recreate (the host's own link text), e.g. `/lib -> usr/lib`.
    Symlink {
        /// Where the link lives.
        path: PathBuf,
        /// Its target, verbatim.
        target: PathBuf,
    },
    /// A file or directory to bind-mount read-only.
    Bind {
        /// Host path, equal to the jail path; never contains a symlink.
        path: PathBuf,
        /// Whether it is a directory.
        dir: bool,
    },
}

/// What the jail needs to run one interpreter (and venv).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Real path of the interpreter executable.
    pub executable: PathBuf,
    /// `major.minor`.
    pub version: String,
    /// Directories to put on `sys.path` after the standard library (site-packages, venv's first).
    pub site_paths: Vec<PathBuf>,
    /// The standard library's directories (trusted by the guard).
    #[serde(default)]
    pub stdlib_paths: Vec<PathBuf>,
    /// The venv's site-packages directories, if a venv is used.
    #[serde(default)]
    pub venv_site_paths: Vec<PathBuf>,
    /// The venv itself (canonical), if any.
    #[serde(default)]
    pub venv: Option<PathBuf>,
    /// Everything to make visible, read-only.
    pub entries: Vec<RootEntry>,
    /// Where the data came from (`ldd`, or the library-directory fallback).
    pub library_source: String,
}

const CACHE_FORMAT: u32 = 6;

/// Resolve which interpreter to use: `explicit` (from `--python` or the policy), else the venv's
/// base interpreter, else `python3` from PATH. pyenv shims are resolved without being run.
pub fn resolve(explicit: Option<&Path>, venv: Option<&Path>) -> Result<PathBuf, InterpreterError> {
    if let Some(path) = explicit {
        let found = if path.components().count() == 1 {
            which(path.as_os_str())?
        } else {
            path.to_path_buf()
        };
        return real_interpreter(&found);
    }
    if let Some(venv) = venv {
        let cfg = read_pyvenv_cfg(venv)?;
        let home = cfg.home.ok_or_else(|| InterpreterError::Venv {
            path: venv.to_owned(),
            reason: "pyvenv.cfg has no `home` key".into(),
        })?;
        for name in [
            format!("python{}", cfg.short_version.clone().unwrap_or_default()),
            "python3".into(),
            "python".into(),
        ] {
            let candidate = home.join(&name);
            if name != "python" && candidate.exists() {
                return real_interpreter(&candidate);
            }
        }
        return Err(InterpreterError::Venv {
            path: venv.to_owned(),
            reason: format!("no python in its base {}", home.display()),
        });
    }
    real_interpreter(&which(OsStr::new("python3"))?)
}

fn which(name: &OsStr) -> Result<PathBuf, InterpreterError> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut skipped_shims: Option<PathBuf> = None;
    for dir in std::env::split_paths(&path) {
        if skipped_shims.as_deref() == Some(dir.as_path()) {
            continue;
        }
        let candidate = dir.join(name);
        if !candidate.is_file() {
            continue;
        }
        match pyenv_target(&candidate) {
            Some(PyenvTarget::Version(p)) => return Ok(p),
            Some(PyenvTarget::System) => {
                skipped_shims = Some(dir.clone());
                continue;
            }
            None => return Ok(candidate),
        }
    }
    Err(InterpreterError::NotFound(format!(
        "no {} on PATH",
        name.to_string_lossy()
    )))
}

enum PyenvTarget {
    Version(PathBuf),
    System,
}

/// A pyenv shim is a shell script that would run `pyenv exec`; read what it would pick instead:
/// `PYENV_VERSION`, else the nearest `.python-version`, else `$PYENV_ROOT/version`.
fn pyenv_target(shim: &Path) -> Option<PyenvTarget> {
    let head = fs::read(shim).ok()?;
    if !head.starts_with(b"#!") || !String::from_utf8_lossy(&head).contains("pyenv") {
        return None;
    }
    let shims_dir = shim.parent()?;
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| shims_dir.parent().map(Path::to_path_buf))?;
    let version = std::env::var("PYENV_VERSION")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            let mut dir = std::env::current_dir().ok();
            while let Some(d) = dir {
                if let Ok(v) = fs::read_to_string(d.join(".python-version")) {
                    return Some(v);
                }
                dir = d.parent().map(Path::to_path_buf);
            }
            None
        })
        .or_else(|| fs::read_to_string(root.join("version")).ok())
        .unwrap_or_else(|| "system".into());
    let version = version
        .split([':', '\n'])
        .map(str::trim)
        .find(|v| !v.is_empty() && !v.starts_with('#'))?
        .to_string();
    if version == "system" {
        return Some(PyenvTarget::System);
    }
    let name = shim.file_name()?;
    Some(PyenvTarget::Version(
        root.join("versions").join(version).join("bin").join(name),
    ))
}

fn real_interpreter(path: &Path) -> Result<PathBuf, InterpreterError> {
    let real = fs::canonicalize(path).map_err(|e| InterpreterError::NotFound(format!("{}: {e}", path.display())))?;
    // Only the magic matters; reading the whole (multi-megabyte) binary costs milliseconds.
    let mut head = [0u8; 4];
    fs::File::open(&real)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map_err(|e| InterpreterError::Unusable {
            path: real.clone(),
            reason: e.to_string(),
        })?;
    if head.starts_with(b"#!") {
        return Err(InterpreterError::Unusable {
            path: real,
            reason: "it is a script, not an interpreter binary (pass the real one with --python)".into(),
        });
    }
    if !head.starts_with(b"\x7fELF") {
        return Err(InterpreterError::Unusable {
            path: real,
            reason: "not an ELF executable".into(),
        });
    }
    Ok(real)
}

struct PyvenvCfg {
    home: Option<PathBuf>,
    short_version: Option<String>,
}

fn read_pyvenv_cfg(venv: &Path) -> Result<PyvenvCfg, InterpreterError> {
    let text = fs::read_to_string(venv.join("pyvenv.cfg")).map_err(|e| InterpreterError::Venv {
        path: venv.to_owned(),
        reason: format!("cannot read pyvenv.cfg ({e}); is it a virtualenv?"),
    })?;
    let mut cfg = PyvenvCfg {
        home: None,
        short_version: None,
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k.trim() {
            "home" => cfg.home = Some(PathBuf::from(v.trim())),
            "version" | "version_info" => {
                let parts: Vec<&str> = v.trim().split('.').collect();
                if parts.len() >= 2 {
                    cfg.short_version = Some(format!("{}.{}", parts[0], parts[1]));
                }
            }
            _ => {}
        }
    }
    Ok(cfg)
}

#[derive(Deserialize)]
struct Introspection {
    executable: PathBuf,
    version: String,
    stdlib: Vec<PathBuf>,
    site: Vec<PathBuf>,
}

const INTROSPECT: &str = r#"
import sys, sysconfig, json, os, site
p = sysconfig.get_paths()
std = [p.get("stdlib"), p.get("platstdlib"), sysconfig.get_config_var("DESTSHARED")]
std += [x for x in sys.path if x and os.path.isdir(x)]
sp = []
for x in site.getsitepackages() + [p.get("purelib"), p.get("platlib")]:
    if x and os.path.isdir(x) and x not in sp:
        sp.append(x)
print(json.dumps({"executable": sys.executable, "version": "%d.%d" % sys.version_info[:2],
    "stdlib": [x for x in std if x and os.path.isdir(x)], "site": sp}))
"#;

/// Where cached manifests live (`$XDG_CACHE_HOME/stockade` or `~/.cache/stockade`).
fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("stockade").join("roots"))
}

fn stamp(path: &Path) -> String {
    fs::metadata(path)
        .map(|m| format!("{}:{}:{}:{}", m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
        .unwrap_or_default()
}

fn cache_key(executable: &Path, venv: Option<&Path>, preload: &[PathBuf]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    CACHE_FORMAT.hash(&mut h);
    executable.hash(&mut h);
    stamp(executable).hash(&mut h);
    for lib in preload {
        lib.hash(&mut h);
        stamp(lib).hash(&mut h);
    }
    if let Some(v) = venv {
        v.hash(&mut h);
        stamp(&v.join("pyvenv.cfg")).hash(&mut h);
        for sp in venv_site_packages(v) {
            stamp(&sp).hash(&mut h);
        }
    }
    format!("{:016x}", h.finish())
}

/// Top-level importable names installed in the given site-packages directories: the one venv
/// package scanner (the guard's import allow-list and the pre-screen both use it).
#[must_use]
pub fn top_level_modules(dirs: &[PathBuf]) -> Vec<String> {
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

/// Top-level importable names of a venv's site-packages (by the venv's host path).
#[must_use]
pub fn venv_modules(venv: &Path) -> Vec<String> {
    top_level_modules(&venv_site_packages(venv))
}

fn venv_site_packages(venv: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(entries) = fs::read_dir(venv.join(lib)) else {
            continue;
        };
        for e in entries.flatten() {
            let sp = e.path().join("site-packages");
            if e.file_name().to_string_lossy().starts_with("python") && sp.is_dir() {
                let real = fs::canonicalize(&sp).unwrap_or(sp);
                if !out.contains(&real) {
                    out.push(real);
                }
            }
        }
    }
    out
}

/// Work out (or load from cache) the manifest for `executable` plus an optional venv, and the
/// libraries stockade preloads into it (`preload`: their own dependencies are needed too).
pub fn manifest(executable: &Path, venv: Option<&Path>, preload: &[PathBuf]) -> Result<Manifest, InterpreterError> {
    let venv = match venv {
        Some(v) => Some(fs::canonicalize(v).map_err(|e| InterpreterError::Venv {
            path: v.to_owned(),
            reason: e.to_string(),
        })?),
        None => None,
    };
    let key = cache_key(executable, venv.as_deref(), preload);
    let cache_file = cache_dir().map(|d| d.join(format!("{key}.json")));
    if let Some(file) = &cache_file {
        if let Ok(text) = fs::read_to_string(file) {
            if let Ok(m) = serde_json::from_str::<Manifest>(&text) {
                return Ok(m);
            }
        }
    }
    let m = discover(executable, venv.as_deref(), preload)?;
    if let Some(file) = cache_file {
        // Best effort: an unwritable cache only costs speed.
        if let Some(dir) = file.parent() {
            if fs::create_dir_all(dir).is_ok() {
                let tmp = file.with_extension(format!("tmp{}", std::process::id()));
                if fs::write(&tmp, serde_json::to_vec(&m).unwrap_or_default()).is_ok() {
                    let _ = fs::rename(&tmp, &file);
                }
            }
        }
    }
    Ok(m)
}

fn discover(executable: &Path, venv: Option<&Path>, preload: &[PathBuf]) -> Result<Manifest, InterpreterError> {
    let out = Command::new(executable)
        .args(["-I", "-S", "-c", INTROSPECT])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| InterpreterError::Unusable {
            path: executable.to_owned(),
            reason: format!("cannot run it: {e}"),
        })?;
    if !out.status.success() {
        return Err(InterpreterError::Unusable {
            path: executable.to_owned(),
            reason: format!("introspection failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    let info: Introspection = serde_json::from_slice(&out.stdout).map_err(|e| InterpreterError::Unusable {
        path: executable.to_owned(),
        reason: format!("unexpected introspection output: {e}"),
    })?;
    if !info.version.starts_with("3.") {
        return Err(InterpreterError::Unusable {
            path: executable.to_owned(),
            reason: format!("python {} is not python 3", info.version),
        });
    }
    let mut site_paths = Vec::new();
    let mut venv_site_paths = Vec::new();
    if let Some(v) = venv {
        let sps = venv_site_packages(v);
        let want = format!("python{}", info.version);
        if !sps
            .iter()
            .any(|p| p.parent().and_then(Path::file_name).is_some_and(|n| n == want.as_str()))
        {
            return Err(InterpreterError::Venv {
                path: v.to_owned(),
                reason: format!(
                    "it has no lib/{want}/site-packages; was it made with another python than {}?",
                    executable.display()
                ),
            });
        }
        venv_site_paths.clone_from(&sps);
        site_paths.extend(sps);
    }
    site_paths.extend(info.site.iter().cloned());

    let mut wanted: BTreeSet<PathBuf> = BTreeSet::new();
    wanted.insert(executable.to_owned());
    wanted.insert(info.executable.clone());
    wanted.extend(info.stdlib.iter().cloned());
    wanted.extend(site_paths.iter().cloned());
    // Of a venv, only its site-packages (in `site_paths`): the jail runs the base interpreter
    // with those on sys.path, and the rest of the directory is the host's (pip.conf with an
    // index token, a project's .env beside a `.venv`, scripts with host paths).
    // Public, read-only system data that ordinary code expects: time zones and the loader cache.
    for extra in ["/usr/share/zoneinfo", "/etc/ld.so.cache"] {
        if Path::new(extra).exists() {
            wanted.insert(PathBuf::from(extra));
        }
    }

    // Shared libraries of the executable, of every extension module it could load, and of what
    // stockade preloads into it (the guard links libgcc_s, which not every interpreter does).
    let mut elves = vec![executable.to_owned()];
    elves.extend(preload.iter().cloned());
    let mut scan_dirs: Vec<PathBuf> = info.stdlib.clone();
    scan_dirs.extend(site_paths.iter().cloned());
    for dir in &scan_dirs {
        collect_shared_objects(dir, &mut elves, 20_000);
    }
    let (libs, library_source) = match ldd(&elves) {
        Some(libs) => (libs, "ldd".to_string()),
        None => (
            library_dirs_fallback(),
            "library directories (ldd unavailable)".to_string(),
        ),
    };
    wanted.extend(libs);

    let mut entries = BTreeSet::new();
    for path in &wanted {
        add_path(path, &mut entries, 0);
    }
    Ok(Manifest {
        executable: executable.to_owned(),
        version: info.version,
        site_paths,
        stdlib_paths: info.stdlib.clone(),
        venv_site_paths,
        venv: venv.map(Path::to_path_buf),
        entries: minimise(entries),
        library_source,
    })
}

fn collect_shared_objects(dir: &Path, out: &mut Vec<PathBuf>, cap: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if out.len() >= cap {
            return;
        }
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            collect_shared_objects(&path, out, cap);
        } else if ft.is_file() && path.to_string_lossy().contains(".so") {
            out.push(path);
        }
    }
}

/// Libraries the given ELF files need, as the real loader resolves them.
fn ldd(files: &[PathBuf]) -> Option<BTreeSet<PathBuf>> {
    let mut libs = BTreeSet::new();
    for chunk in files.chunks(200) {
        let out = Command::new("ldd")
            .args(chunk)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line = line.trim();
            let path = if let Some((_, rest)) = line.split_once("=> ") {
                rest.split(" (").next().unwrap_or("")
            } else {
                line.split(" (").next().unwrap_or("")
            };
            if path.starts_with('/') {
                libs.insert(PathBuf::from(path));
            }
        }
    }
    Some(libs)
}

fn library_dirs_fallback() -> BTreeSet<PathBuf> {
    [
        "/lib",
        "/lib64",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
    ]
    .iter()
    .map(PathBuf::from)
    .filter(|p| p.exists())
    .collect()
}

/// Record what it takes for `path` to resolve in the jail as it does on the host: every symlink
/// met on the way is recreated, and the final real file or directory is bind-mounted.
fn add_path(path: &Path, entries: &mut BTreeSet<RootEntry>, depth: u32) {
    if depth > 40 || !path.is_absolute() {
        return;
    }
    let mut current = PathBuf::from("/");
    let components: Vec<Component> = path.components().collect();
    for (i, comp) in components.iter().enumerate() {
        match comp {
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir => {
                current.pop();
                continue;
            }
            Component::Normal(name) => current.push(name),
            Component::Prefix(_) => return,
        }
        let Ok(meta) = fs::symlink_metadata(&current) else {
            return;
        };
        if meta.file_type().is_symlink() {
            let Ok(target) = fs::read_link(&current) else {
                return;
            };
            entries.insert(RootEntry::Symlink {
                path: current.clone(),
                target: target.clone(),
            });
            let mut resolved = if target.is_absolute() {
                target
            } else {
                current.parent().unwrap_or(Path::new("/")).join(target)
            };
            for rest in &components[i + 1..] {
                resolved.push(rest.as_os_str());
            }
            add_path(&normalise(&resolved), entries, depth + 1);
            return;
        }
    }
    if let Ok(meta) = fs::metadata(&current) {
        entries.insert(RootEntry::Bind {
            path: current,
            dir: meta.is_dir(),
        });
    }
}

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Drop binds and symlinks already covered by a bound directory above them.
fn minimise(entries: BTreeSet<RootEntry>) -> Vec<RootEntry> {
    let dirs: Vec<PathBuf> = entries
        .iter()
        .filter_map(|e| {
            if let RootEntry::Bind { path, dir: true } = e {
                Some(path.clone())
            } else {
                None
            }
        })
        .collect();
    let covered = |p: &Path| dirs.iter().any(|d| p != d && p.starts_with(d));
    entries
        .into_iter()
        .filter(|e| match e {
            RootEntry::Bind { path, .. } | RootEntry::Symlink { path, .. } => !covered(path),
        })
        .collect()
}
