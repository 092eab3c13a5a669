//! Which files to check: directories are walked for `*.py` (honouring .gitignore, skipping hidden
//! directories and virtualenvs); files named directly are checked whatever their extension. The
//! configured excludes apply to both. Symbolic links are followed, as Bandit and ruff do; a link
//! back to a directory being walked is skipped (the walker compares device and inode), so a loop
//! ends. A FIFO, socket or device is handed on like a file, and reading it reports why it was
//! not checked (it is never opened).

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

/// Paths given that do not exist (a dangling link included).
pub fn missing(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| std::fs::metadata(p).is_err())
        .map(|p| p.display().to_string())
        .collect()
}

/// What a file type is when it is not a regular file or a directory.
pub fn irregular(kind: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else {
        None
    }
}

/// Every file to check under `paths`, as (path to read, path to show), in the order found
/// (duplicates included): [`discover`] sorts them, [`crate::check_paths`] checks them as they come.
pub fn walk(paths: &[PathBuf], settings: &Settings, mut found: impl FnMut((PathBuf, String))) {
    for path in paths {
        let Ok(meta) = std::fs::metadata(path) else { continue };
        if !meta.is_dir() {
            // A file named on the command line, or a FIFO or device (reported when read).
            if !settings.is_excluded(path) {
                found((path.clone(), display(path)));
            }
            continue;
        }
        let walker = ignore::WalkBuilder::new(path)
            .follow_links(true)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(true)
            // Only a directory can be a virtualenv (and only one is walked into): asking of
            // files too would cost a stat per file.
            .filter_entry(|entry| !(entry.file_type().is_some_and(|t| t.is_dir()) && is_virtualenv(entry.path())))
            .build();
        // Errors (a link loop, a dangling link, a directory that cannot be read) are skipped as
        // before: the walk reports files, and none of these is one.
        for entry in walker.flatten() {
            let p = entry.path();
            let is_python = p.extension().is_some_and(|e| e == "py");
            let is_file = entry.file_type().is_some_and(|t| !t.is_dir());
            if is_python && is_file && !settings.is_excluded(p) {
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
