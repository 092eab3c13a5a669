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
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for path in paths {
        if path.is_file() {
            if !settings.is_excluded(path) {
                files.push((path.clone(), display(path)));
            }
            continue;
        }
        if !path.is_dir() {
            missing.push(path.display().to_string());
            continue;
        }
        let walker = ignore::WalkBuilder::new(path)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(true)
            .filter_entry(|entry| !is_virtualenv(entry.path()))
            .build();
        for entry in walker.flatten() {
            let p = entry.path();
            let is_python = p.extension().is_some_and(|e| e == "py");
            if is_python && entry.file_type().is_some_and(|t| t.is_file()) && !settings.is_excluded(p) {
                files.push((p.to_path_buf(), display(p)));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files.dedup_by(|a, b| a.1 == b.1);
    Discovered { files, missing }
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
