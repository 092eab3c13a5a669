//! An installed environment: the `Name` and `Version` of every distribution in its
//! site-packages (`*.dist-info/METADATA`, and the older `*.egg-info/PKG-INFO`).

use std::path::{Path, PathBuf};

use super::{Inventory, Location};
use crate::Error;

/// A venv (it has `pyvenv.cfg`) or a site-packages directory itself.
pub(super) fn is_env(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file() || is_site_packages(dir)
}

fn is_site_packages(dir: &Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n == "site-packages" || n == "dist-packages")
}

/// The site-packages directories of a venv: `lib*/python*/site-packages` (Unix) and
/// `Lib/site-packages` (Windows).
fn site_packages(env: &Path) -> Result<Vec<PathBuf>, Error> {
    if is_site_packages(env) {
        return Ok(vec![env.to_path_buf()]);
    }
    let mut out = Vec::new();
    let windows = env.join("Lib").join("site-packages");
    if windows.is_dir() {
        out.push(windows);
    }
    for lib in ["lib", "lib64"] {
        let dir = env.join(lib);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries {
            let e = e.map_err(|e| Error::io(&dir, e))?;
            let sp = e.path().join("site-packages");
            if e.file_name().to_string_lossy().starts_with("python") && sp.is_dir() {
                // lib64 is often a symlink to lib: read each directory once.
                let canonical = sp.canonicalize().map_err(|e| Error::io(&sp, e))?;
                if !out
                    .iter()
                    .any(|o: &PathBuf| o.canonicalize().ok().as_ref() == Some(&canonical))
                {
                    out.push(sp);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "{}: a venv without site-packages (looked in lib/python*/ and Lib/)",
            env.display()
        )));
    }
    Ok(out)
}

pub(super) fn read(env: &Path, inv: &mut Inventory) -> Result<(), Error> {
    for sp in site_packages(env)? {
        let mut metas = Vec::new();
        for e in std::fs::read_dir(&sp).map_err(|e| Error::io(&sp, e))? {
            let e = e.map_err(|e| Error::io(&sp, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if name.ends_with(".dist-info") {
                metas.push(p.join("METADATA"));
            } else if name.ends_with(".egg-info") {
                // An egg-info is a directory with PKG-INFO, or the metadata file itself.
                metas.push(if p.is_dir() { p.join("PKG-INFO") } else { p });
            }
        }
        metas.sort();
        for meta in metas {
            read_metadata(&meta, inv)?;
        }
    }
    Ok(())
}

fn read_metadata(meta: &Path, inv: &mut Inventory) -> Result<(), Error> {
    let location = Location {
        file: meta.to_path_buf(),
        line: None,
    };
    let dist = meta.parent().unwrap_or(meta);
    let text = match std::fs::read(meta) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            // A half-removed distribution is common in old venvs; say so and go on.
            inv.warnings
                .push(format!("{}: unreadable ({e}); not audited", meta.display()));
            return Ok(());
        }
    };
    let (mut name, mut version) = (None, None);
    // Core metadata is RFC 822 style: headers until the first blank line.
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some((v.trim().to_string(), i + 1));
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some((v.trim().to_string(), i + 1));
        }
    }
    let Some((name, _)) = name.filter(|(n, _)| !n.is_empty()) else {
        inv.warnings
            .push(format!("{}: no Name header; not audited", meta.display()));
        return Ok(());
    };
    let Some((version, line)) = version.filter(|(v, _)| !v.is_empty()) else {
        inv.skip(&name, "no Version header in its metadata", location);
        return Ok(());
    };
    let location = Location {
        line: Some(line),
        ..location
    };
    if is_editable(dist) {
        inv.skip(&name, "an editable install (local source, not a release)", location);
    } else {
        inv.pinned(&name, &version, location);
    }
    Ok(())
}

/// PEP 660 / PEP 610: an editable install records `"dir_info": {"editable": true}`.
fn is_editable(dist: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dist.join("direct_url.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("dir_info")?.get("editable")?.as_bool())
        .unwrap_or(false)
}
