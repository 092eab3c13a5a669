//! What is installed, or will be: readers for `requirements.txt`, `pylock.toml` (PEP 751),
//! `uv.lock`, `poetry.lock` and an installed venv, into one inventory of (name, version, where).
//!
//! A dependency the audit cannot judge (an unpinned requirement, a path or VCS source, an
//! editable install, a version that is not PEP 440) is listed as not audited, with the reason,
//! never dropped.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;

mod lockfiles;
mod requirements;
mod venv;

/// Where a dependency was read: the file, and the line when the format has lines that mean it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// A project at an exact version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// As the source spells it.
    pub name: String,
    pub version: String,
    pub location: Location,
}

/// A dependency the audit cannot check, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotAudited {
    pub name: String,
    pub reason: String,
    pub location: Location,
}

/// Which reader a file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Requirements,
    Pylock,
    UvLock,
    PoetryLock,
    Venv,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Requirements => "requirements",
            Kind::Pylock => "pylock",
            Kind::UvLock => "uv-lock",
            Kind::PoetryLock => "poetry-lock",
            Kind::Venv => "venv",
        }
    }

    /// The reader for a file, by its name (PEP 751 names lock files `pylock.toml` or
    /// `pylock.NAME.toml`); anything not recognised is read as a requirements file.
    pub fn of_file(path: &Path) -> Kind {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        match name.as_ref() {
            "uv.lock" => Kind::UvLock,
            "poetry.lock" => Kind::PoetryLock,
            n if n == "pylock.toml" || (n.starts_with("pylock.") && n.ends_with(".toml")) => Kind::Pylock,
            _ => Kind::Requirements,
        }
    }
}

/// Everything read from the sources.
#[derive(Debug, Default, Serialize)]
pub struct Inventory {
    pub sources: Vec<Source>,
    pub dependencies: Vec<Dependency>,
    pub not_audited: Vec<NotAudited>,
    /// Things worth knowing that are not errors (an unknown pip option, an unreadable METADATA).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub path: PathBuf,
    pub kind: Kind,
}

impl Inventory {
    /// Read one source: a requirements or lock file, a venv (or its site-packages), or a project
    /// directory, in which the sources are found as [`detect`] says.
    pub fn read(&mut self, path: &Path) -> Result<(), Error> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            if venv::is_env(path) {
                return self.read_as(path, Kind::Venv);
            }
            for (p, kind) in detect(path)? {
                self.read_as(&p, kind)?;
            }
            return Ok(());
        }
        self.read_as(path, Kind::of_file(path))
    }

    /// Read `path` with the reader for `kind`.
    pub fn read_as(&mut self, path: &Path, kind: Kind) -> Result<(), Error> {
        self.sources.push(Source {
            path: path.to_path_buf(),
            kind,
        });
        match kind {
            Kind::Requirements => requirements::read(path, self),
            Kind::Pylock => lockfiles::read_pylock(path, self),
            Kind::UvLock => lockfiles::read_uv(path, self),
            Kind::PoetryLock => lockfiles::read_poetry(path, self),
            Kind::Venv => venv::read(path, self),
        }
    }

    pub(crate) fn pinned(&mut self, name: &str, version: &str, location: Location) {
        self.dependencies.push(Dependency {
            name: name.to_string(),
            version: version.to_string(),
            location,
        });
    }

    pub(crate) fn skip(&mut self, name: &str, reason: impl Into<String>, location: Location) {
        self.not_audited.push(NotAudited {
            name: name.to_string(),
            reason: reason.into(),
            location,
        });
    }
}

/// The sources in a project directory: every `pylock.toml` / `pylock.*.toml`, `uv.lock`,
/// `poetry.lock` and `requirements.txt` in it; when there is none of those, a venv at `.venv` or
/// `venv`. Nothing found is an error that says what was looked for.
pub fn detect(dir: &Path) -> Result<Vec<(PathBuf, Kind)>, Error> {
    // `.` (the default) reports `uv.lock`, not `./uv.lock`.
    let here = dir == Path::new(".");
    let join = |name: &str| if here { PathBuf::from(name) } else { dir.join(name) };
    let mut found = Vec::new();
    let mut pylocks: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| join(&e.file_name().to_string_lossy())))
        .filter(|p| p.is_file() && Kind::of_file(p) == Kind::Pylock)
        .collect();
    pylocks.sort();
    found.extend(pylocks.into_iter().map(|p| (p, Kind::Pylock)));
    for (name, kind) in [
        ("uv.lock", Kind::UvLock),
        ("poetry.lock", Kind::PoetryLock),
        ("requirements.txt", Kind::Requirements),
    ] {
        let p = join(name);
        if p.is_file() {
            found.push((p, kind));
        }
    }
    if found.is_empty() {
        for name in [".venv", "venv"] {
            let p = join(name);
            if venv::is_env(&p) {
                found.push((p, Kind::Venv));
                break;
            }
        }
    }
    if found.is_empty() {
        return Err(Error::Usage(format!(
            "nothing to audit in {}: no pylock.toml, uv.lock, poetry.lock, requirements.txt, .venv or venv \
             (name a file or a venv)",
            dir.display()
        )));
    }
    Ok(found)
}
