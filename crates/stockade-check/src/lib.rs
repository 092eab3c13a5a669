//! stockade check: static security analysis of Python source.
//!
//! Two uses share one engine. The **audit** (default) looks for the risks Python applications
//! ship: injection, secrets, path traversal, unsafe deserialisation, weak crypto and so on, with
//! Bandit-parity rules and intra-function taint tracking. The **pre-screen** reads untrusted code
//! before stockade runs it and refuses what it cannot vouch for (forbidden imports, dunder walks,
//! dynamic code). The pre-screen is an early, explained refusal; the jail is the boundary.
//!
//! Pipeline per file: read → parse (ruff's parser, error-recovering) → one AST walk that runs every
//! enabled rule → taint per function → suppressions → baseline. Files are checked in parallel and a
//! file that cannot be read or parsed is itself a finding.

mod checker;
pub mod config;
mod discover;
mod finding;
mod names;
pub mod registry;
pub mod report;
mod rules;
mod source;
pub mod suppress;
mod taint;

pub mod baseline;

pub use config::{Config, ConfigError, Settings};
pub use discover::{discover, Discovered};
pub use finding::{Finding, Suppression};
pub use registry::{Level, Profile, Rule, RuleId};
pub use source::LineIndex;

use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Files larger than this are not parsed (reported as STK002): a check must stay bounded.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// The outcome of checking one file.
#[derive(Debug)]
pub struct FileReport {
    pub path: String,
    pub findings: Vec<Finding>,
}

/// Checks one source text. `path` is only used in findings. Never panics on any input: a panic
/// inside the parser or a rule becomes an STK002 finding.
pub fn check_source(path: &str, source: &str, settings: &Settings) -> FileReport {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checker::check(path, source, settings)));
    let findings = match outcome {
        Ok(findings) => findings,
        Err(_) => vec![Finding::engine(
            RuleId::UnreadableFile,
            path,
            source,
            "the checker failed on this file (internal error); it was not checked",
        )],
    };
    FileReport {
        path: path.to_string(),
        findings,
    }
}

/// Checks a file on disk.
pub fn check_file(path: &Path, display: &str, settings: &Settings) -> FileReport {
    match read_source(path) {
        Ok(source) => check_source(display, &source, settings),
        Err(why) => FileReport {
            path: display.to_string(),
            findings: vec![Finding::engine(RuleId::UnreadableFile, display, "", &why)],
        },
    }
}

fn read_source(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(format!(
            "file is {} bytes, over the {} byte limit; not checked",
            meta.len(),
            MAX_FILE_BYTES
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 (invalid byte at offset {}); Python source must be UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Checks many files in parallel; reports come back in the order of `files`.
pub fn check_files(files: &[(PathBuf, String)], settings: &Settings) -> Vec<FileReport> {
    // Deep expressions recurse; give the workers room (the parser and walker also grow on demand).
    let pool = rayon::ThreadPoolBuilder::new().stack_size(64 << 20).build();
    let run = || {
        files
            .par_iter()
            .map(|(path, display)| check_file(path, display, settings))
            .collect()
    };
    match pool {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}
