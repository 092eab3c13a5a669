//! Which files to check: directories are walked for `*.py` (honouring .gitignore, skipping hidden
//! directories and virtualenvs); files named directly are checked whatever their extension. The
//! configured excludes apply to both.

use crate::Settings;
use std::path::{Path, PathBuf};

pub struct Discovered {
    /// (path to read, path to show), sorted.
    pub files: Vec<(PathBuf, String)>,
    /// Paths given on the command line that do not exist.
    pub missing: Vec<String>,
}

pub fn discover(paths: &[PathBuf], settings: &Settings) -> Discovered {
    let missing = missing(paths);
    let mut files = Vec::new();
    walk(paths, settings, |file| files.push(file));
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files.dedup_by(|a, b| a.1 == b.1);
    Discovered { files, missing }
}

/// Paths given that are neither a file nor a directory.
pub fn missing(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| !p.is_file() && !p.is_dir())
        .map(|p| p.display().to_string())
        .collect()
}

/// Every file to check under `paths`, as (path to read, path to show), in the order found
/// (duplicates included): [`discover`] sorts them, [`crate::check_paths`] checks them as they come.
pub fn walk(paths: &[PathBuf], settings: &Settings, mut found: impl FnMut((PathBuf, String))) {
    for path in paths {
        if path.is_file() {
            if !settings.is_excluded(path) {
                found((path.clone(), display(path)));
            }
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        let walker = ignore::WalkBuilder::new(path)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(true)
            // Only a directory can be a virtualenv (and only one is walked into): asking of
            // files too would cost a stat per file.
            .filter_entry(|entry| !(entry.file_type().is_some_and(|t| t.is_dir()) && is_virtualenv(entry.path())))
            .build();
        for entry in walker.flatten() {
            let p = entry.path();
            let is_python = p.extension().is_some_and(|e| e == "py");
            if is_python && entry.file_type().is_some_and(|t| t.is_file()) && !settings.is_excluded(p) {
                found((p.to_path_buf(), display(p)));
            }
        }
    }
}

fn display(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

fn is_virtualenv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file()
        || dir
            .file_name()
            .is_some_and(|n| n == "__pycache__" || n == "node_modules")
}
