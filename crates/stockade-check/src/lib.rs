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
        return Err(format!("file is {} bytes, over the {} byte limit; not checked", meta.len(), MAX_FILE_BYTES));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    decode_source(bytes)
}

/// Source bytes → text, as CPython reads them (PEP 263): UTF-8 (a BOM is dropped), or Latin-1
/// when the first two lines declare it. Other declared encodings are reported, not guessed.
pub fn decode_source(bytes: Vec<u8>) -> Result<String, String> {
    let bytes = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let valid_up_to = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            match declared_encoding(&bytes).as_deref() {
                Some("latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1") => {
                    Ok(bytes.iter().map(|&b| char::from(b)).collect())
                }
                Some(other) => Err(format!("declared encoding `{other}` is not supported; convert the file to UTF-8")),
                None => Err(format!(
                    "not UTF-8 (invalid byte at offset {valid_up_to}) and no encoding declared; Python source must be UTF-8"
                )),
            }
        }
    }
}

/// The `coding[:=]name` declaration in a comment on one of the first two lines (PEP 263).
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    for line in bytes.split(|b| *b == b'\n').take(2) {
        let line = String::from_utf8_lossy(line);
        let comment = line.trim_start().strip_prefix('#')?;
        if let Some(at) = comment.find("coding") {
            let rest = comment[at + 6..].strip_prefix([':', '='])?;
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
                .collect();
            return Some(name.to_ascii_lowercase().replace('_', "-"));
        }
    }
    None
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
