//! The TOML lock files: `pylock.toml` (PEP 751), `uv.lock` and `poetry.lock`.
//!
//! Each lists every package with its exact version and where it comes from. Packages from an
//! index or an archive URL are audited; packages built from a local directory or a VCS checkout
//! are not releases of the project on PyPI (their code may differ from any release), so they are
//! listed as not audited, as is a package whose lock entry has no version.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Inventory, Location};
use crate::error::{line_of, toml_error, LineIndex};
use crate::Error;

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(String, T), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let parsed = toml::from_str(&text).map_err(|e| {
        let (line, message) = toml_error(&text, &e);
        Error::malformed(path, line, message)
    })?;
    Ok((text, parsed))
}

fn at(path: &Path, lines: &LineIndex, span: std::ops::Range<usize>) -> Location {
    Location {
        file: path.to_path_buf(),
        line: Some(lines.line(span.start)),
    }
}

/// A package entry with a name that is not a valid project name is a broken lock file.
fn check_name(path: &Path, text: &str, name: &Spanned<String>) -> Result<(), Error> {
    if crate::version::is_valid_name(name.get_ref()) {
        Ok(())
    } else {
        Err(Error::malformed(
            path,
            Some(line_of(text, name.span().start)),
            format!("package name {:?} is not a valid project name", name.get_ref()),
        ))
    }
}

// ---- pylock.toml (PEP 751) ----

#[derive(Deserialize)]
struct Pylock {
    #[serde(rename = "lock-version")]
    lock_version: Spanned<String>,
    #[serde(default)]
    packages: Vec<Spanned<PylockPackage>>,
}

#[derive(Deserialize)]
struct PylockPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    vcs: Option<toml::Value>,
    #[serde(default)]
    directory: Option<toml::Value>,
}

pub(super) fn read_pylock(path: &Path, inv: &mut Inventory) -> Result<(), Error> {
    let (text, lock): (_, Pylock) = load(path)?;
    // PEP 751: a reader must refuse a major version it does not know.
    let major = lock.lock_version.get_ref().split('.').next().unwrap_or("");
    if major != "1" {
        return Err(Error::malformed(
            path,
            Some(line_of(&text, lock.lock_version.span().start)),
            format!(
                "lock-version {:?} is not one this reader knows (1.x)",
                lock.lock_version.get_ref()
            ),
        ));
    }
    let lines = LineIndex::new(&text);
    for entry in lock.packages {
        let span = entry.span();
        let p = entry.into_inner();
        check_name(path, &text, &p.name)?;
        let location = at(path, &lines, span);
        let name = p.name.get_ref();
        if p.directory.is_some() {
            inv.skip(name, "a local directory, not a release", location);
        } else if p.vcs.is_some() {
            inv.skip(name, "a VCS checkout, not a release", location);
        } else if let Some(v) = p.version {
            inv.pinned(name, &v, location);
        } else {
            inv.skip(name, "no version in the lock file", location);
        }
    }
    Ok(())
}

// ---- uv.lock ----

#[derive(Deserialize)]
struct UvLock {
    version: Spanned<u32>,
    #[serde(default)]
    package: Vec<Spanned<UvPackage>>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source: Option<toml::Table>,
}

pub(super) fn read_uv(path: &Path, inv: &mut Inventory) -> Result<(), Error> {
    let (text, lock): (_, UvLock) = load(path)?;
    if *lock.version.get_ref() != 1 {
        return Err(Error::malformed(
            path,
            Some(line_of(&text, lock.version.span().start)),
            format!(
                "uv.lock version {} is not one this reader knows (1)",
                lock.version.get_ref()
            ),
        ));
    }
    let lines = LineIndex::new(&text);
    for entry in lock.package {
        let span = entry.span();
        let p = entry.into_inner();
        check_name(path, &text, &p.name)?;
        let location = at(path, &lines, span);
        let name = p.name.get_ref();
        let source = p.source.as_ref();
        let kind = source.and_then(|s| s.keys().next().map(String::as_str)).unwrap_or("");
        match (kind, p.version) {
            ("editable" | "virtual", _) => inv.skip(name, "the project itself (a workspace member)", location),
            ("directory" | "path", _) => inv.skip(name, "a local path, not a release", location),
            ("git", _) => inv.skip(name, "a git checkout, not a release", location),
            (_, Some(v)) => inv.pinned(name, &v, location),
            (_, None) => inv.skip(name, "no version in the lock file", location),
        }
    }
    Ok(())
}

// ---- poetry.lock ----

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<Spanned<PoetryPackage>>,
    metadata: Option<PoetryMetadata>,
}

#[derive(Deserialize)]
struct PoetryMetadata {
    #[serde(rename = "lock-version")]
    lock_version: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: Spanned<String>,
    version: String,
    #[serde(default)]
    source: Option<PoetrySource>,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(rename = "type")]
    kind: String,
}

pub(super) fn read_poetry(path: &Path, inv: &mut Inventory) -> Result<(), Error> {
    let (text, lock): (_, PoetryLock) = load(path)?;
    if let Some(v) = lock.metadata.and_then(|m| m.lock_version) {
        let major = v.get_ref().split('.').next().unwrap_or("");
        if major != "1" && major != "2" {
            return Err(Error::malformed(
                path,
                Some(line_of(&text, v.span().start)),
                format!("lock-version {:?} is not one this reader knows (1.x, 2.x)", v.get_ref()),
            ));
        }
    }
    let lines = LineIndex::new(&text);
    for entry in lock.package {
        let span = entry.span();
        let p = entry.into_inner();
        check_name(path, &text, &p.name)?;
        let location = at(path, &lines, span);
        let name = p.name.get_ref();
        match p.source.as_ref().map(|s| s.kind.as_str()) {
            Some("directory" | "file") => inv.skip(name, "a local path, not a release", location),
            Some("git") => inv.skip(name, "a git checkout, not a release", location),
            _ => inv.pinned(name, &p.version, location),
        }
    }
    Ok(())
}
