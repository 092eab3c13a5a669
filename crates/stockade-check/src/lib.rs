//! stockade check: static security analysis of Python source.
//!
//! Two uses share one engine. The **audit** (default) looks for the risks Python applications
//! ship: injection, secrets, path traversal, unsafe deserialisation, weak crypto and so on, with
//! Bandit-parity rules and taint tracking within functions and across them (modules included). The **pre-screen** reads untrusted code
//! before stockade runs it and refuses what it cannot vouch for (forbidden imports, dunder walks,
//! dynamic code). The pre-screen is an early, explained refusal; the jail is the boundary.
//!
//! Pipeline per file: read → parse (ruff's parser, error-recovering) → one AST walk that runs every
//! enabled rule → taint per function → suppressions → baseline. Files are checked in parallel and a
//! file that cannot be read or parsed is itself a finding. Then the calls that pass tainted data
//! to functions of the checked tree are resolved across files (taint::interproc).

mod checker;
pub mod config;
mod discover;
mod finding;
mod names;
pub mod registry;
pub mod report;
mod rules;
mod shape;
mod source;
pub mod suppress;
mod taint;

pub mod baseline;

pub use config::{Config, ConfigError, Settings};
pub use discover::{discover, Discovered};
pub use finding::{Finding, Suppression};
pub use registry::{Level, Profile, Rule, RuleId};
pub use shape::{code_shape, CodeShape};
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

impl FileReport {
    /// The report of a file that could not be read (`why`).
    pub fn unreadable(path: &str, why: &str) -> FileReport {
        FileReport {
            path: path.to_string(),
            findings: vec![Finding::engine(RuleId::UnreadableFile, path, "", why)],
        }
    }
}

/// Runs `f`, which parses code, where the parser has room. The parser grows its stack on the heap
/// as it recurses, but only where it knows the thread's bounds; on a process's main thread (a
/// supervisor's, `stockade check -`) it did not, and 20 KB of hostile code (found by
/// check_replay) overflowed it while the parser dropped a deep tree it had abandoned. Off the
/// checker's own 64 MiB workers, `f` runs on a fresh 64 MiB stack (mapped as it is used; the
/// mapping costs microseconds), whose bounds the parser knows.
pub(crate) fn with_parser_room<T>(f: impl FnOnce() -> T) -> T {
    if ON_CHECKER_POOL.with(std::cell::Cell::get) {
        f()
    } else {
        stacker::grow(64 << 20, f)
    }
}

thread_local! {
    /// Set on the workers of [`pool`].
    static ON_CHECKER_POOL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One file's own pass, before calls into other functions of the tree are resolved.
fn check_alone(path: &str, source: &str, settings: &Settings) -> checker::Checked {
    let check = || with_parser_room(|| checker::check(path, source, settings));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    match outcome {
        Ok(checked) => checked,
        Err(_) => vec![Finding::engine(
            RuleId::UnreadableFile,
            path,
            source,
            "the checker failed on this file (internal error); it was not checked",
        )]
        .into(),
    }
}

/// Checks one source text, with taint followed into the functions it defines. `path` is only
/// used in findings (and names the module). Never panics on any input: a panic inside the parser
/// or a rule becomes an STK002 finding.
pub fn check_source(path: &str, source: &str, settings: &Settings) -> FileReport {
    let checked = check_alone(path, source, settings);
    let mut findings = checked.findings;
    let crossing = checked.crossing;
    if !crossing.call_outs.is_empty() {
        let units = [taint::interproc::Unit {
            display: path.to_string(),
            module: taint::interproc::module_name(path),
            origin: taint::interproc::Origin::Text(source.to_string()),
            defined: crossing.defined,
        }];
        let made = crossing.summaries.map(|s| vec![(0, s)]).unwrap_or_default();
        let late = resolve_calls(&units, vec![(0, crossing.call_outs)], made, settings);
        findings.extend(late.into_iter().map(|(_, f)| f));
        findings.sort_by_key(|f| (f.line, f.column, f.rule));
    }
    FileReport {
        path: path.to_string(),
        findings,
    }
}

/// [`taint::interproc::resolve`], with a panic turned into no finding rather than a crash (the
/// files' own findings stand).
fn resolve_calls(
    units: &[taint::interproc::Unit],
    calls: Vec<(usize, Vec<taint::interproc::CallOut>)>,
    made: Vec<(usize, taint::interproc::Partial)>,
    settings: &Settings,
) -> Vec<(usize, Finding)> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        taint::interproc::resolve(units, calls, made, settings)
    }))
    .unwrap_or_default()
}

/// Checks a file on disk.
pub fn check_file(path: &Path, display: &str, settings: &Settings) -> FileReport {
    match read_source(path) {
        Ok(source) => check_source(display, &source, settings),
        Err(why) => FileReport::unreadable(display, &why),
    }
}

/// One file on disk, its own pass only.
fn check_file_alone(path: &Path, display: &str, settings: &Settings) -> (FileReport, taint::interproc::Crossing) {
    match read_source(path) {
        Ok(source) => {
            let checked = check_alone(display, &source, settings);
            (
                FileReport {
                    path: display.to_string(),
                    findings: checked.findings,
                },
                checked.crossing,
            )
        }
        Err(why) => (
            FileReport::unreadable(display, &why),
            taint::interproc::Crossing::default(),
        ),
    }
}

pub(crate) fn read_source(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if let Some(kind) = discover::irregular(&meta.file_type()) {
        // Reading a FIFO would block, a device could be endless.
        return Err(format!("not a regular file ({kind}); not checked"));
    }
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(format!(
            "file is {} bytes, over the {} byte limit; not checked",
            meta.len(),
            MAX_FILE_BYTES
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    decode_source(bytes)
}

/// Source bytes → text, as CPython reads them (PEP 263): UTF-8 (a BOM is dropped), or Latin-1
/// when the first two lines declare it. Other declared encodings are left to [`encoding_refusal`],
/// which refuses to check a text CPython would decode differently.
pub fn decode_source(bytes: Vec<u8>) -> Result<String, String> {
    let bytes = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    let declared = declared_encoding(&bytes);
    if declared.as_deref().is_some_and(is_latin1) && !bytes.is_ascii() {
        return Ok(bytes.iter().map(|&b| char::from(b)).collect());
    }
    String::from_utf8(bytes).map_err(|e| match declared {
        Some(name) => format!("declared encoding `{name}` is not supported; convert the file to UTF-8"),
        None => format!(
            "not UTF-8 (invalid byte at offset {}) and no encoding declared; Python source must be UTF-8",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Why a decoded source cannot be checked as written: it declares (PEP 263) an encoding under
/// which CPython would read different code than this text — `# coding: utf-7` turns `+AAo-` into a
/// newline, `unicode_escape` turns `\u000a` into one. UTF-8, and Latin-1 (which
/// [`decode_source`] applies), are read faithfully; other ASCII-compatible codecs are accepted
/// when the text is pure ASCII.
pub fn encoding_refusal(source: &str) -> Option<String> {
    let name = declared_encoding(source.as_bytes())?;
    let faithful = is_utf8(&name) || is_latin1(&name) || (source.is_ascii() && is_ascii_compatible(&name));
    (!faithful).then(|| {
        format!(
            "the file declares the source encoding `{name}`: CPython decodes it with that codec before running it, \
             so what runs is not the text that was read; not checked"
        )
    })
}

fn is_utf8(name: &str) -> bool {
    matches!(name, "utf-8" | "utf8" | "utf-8-sig" | "u8" | "utf" | "cp65001")
}

fn is_latin1(name: &str) -> bool {
    matches!(
        name,
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "8859" | "cp819" | "l1" | "latin"
    )
}

/// Codecs that map every ASCII byte to the same character (so a pure-ASCII text reads the same).
fn is_ascii_compatible(name: &str) -> bool {
    matches!(name, "ascii" | "us-ascii" | "646")
        || [
            "iso-8859-",
            "iso8859-",
            "latin-",
            "cp125",
            "windows-125",
            "koi8-",
            "mac-",
            "cp437",
            "cp850",
            "cp852",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// The `coding[:=]name` declaration (PEP 263) in a comment on line 1 or 2, normalised
/// (lower case, `_` → `-`).
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    for line in bytes.split(|b| *b == b'\n').take(2) {
        let line = String::from_utf8_lossy(line);
        let Some(comment) = line.trim_start_matches([' ', '\t', '\x0c']).strip_prefix('#') else {
            continue;
        };
        let mut from = 0;
        while let Some(at) = comment[from..].find("coding") {
            let rest = &comment[from + at + 6..];
            if let Some(value) = rest.strip_prefix([':', '=']) {
                let name: String = value
                    .trim_start_matches([' ', '\t'])
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                return Some(name.to_ascii_lowercase().replace('_', "-"));
            }
            from += at + 6;
        }
    }
    None
}

/// The worker pool files are checked on. Deep expressions recurse; give the workers room (the
/// parser and walker also grow on demand).
fn pool() -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .stack_size(64 << 20)
        .start_handler(|_| ON_CHECKER_POOL.with(|on| on.set(true)))
        .build()
        .ok()
}

/// Checks many files in parallel, with taint followed across them; reports come back in the
/// order of `files`.
pub fn check_files(files: &[(PathBuf, String)], settings: &Settings) -> Vec<FileReport> {
    let run = || {
        let checked: Vec<(FileReport, taint::interproc::Crossing)> = files
            .par_iter()
            .map(|(path, display)| check_file_alone(path, display, settings))
            .collect();
        let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
        across_files(checked, &paths, settings)
    };
    match pool() {
        Some(pool) => pool.install(run),
        None => run(),
    }
}

/// Resolves the calls each file's pass recorded against the functions of all of them (`paths`
/// in the order of `checked`), and adds the findings to the callers' reports.
fn across_files(
    checked: Vec<(FileReport, taint::interproc::Crossing)>,
    paths: &[PathBuf],
    settings: &Settings,
) -> Vec<FileReport> {
    if checked.iter().all(|(_, c)| c.call_outs.is_empty()) {
        return checked.into_iter().map(|(r, _)| r).collect();
    }
    let mut reports = Vec::with_capacity(checked.len());
    let mut units = Vec::with_capacity(checked.len());
    let (mut calls, mut made) = (Vec::new(), Vec::new());
    for (i, ((report, crossing), path)) in checked.into_iter().zip(paths).enumerate() {
        if !crossing.call_outs.is_empty() {
            calls.push((i, crossing.call_outs));
        }
        if let Some(summaries) = crossing.summaries {
            made.push((i, summaries));
        }
        units.push(taint::interproc::Unit {
            module: taint::interproc::module_name(&report.path),
            display: report.path.clone(),
            origin: taint::interproc::Origin::Disk(path.clone()),
            defined: crossing.defined,
        });
        reports.push(report);
    }
    for (i, finding) in resolve_calls(&units, calls, made, settings) {
        reports[i].findings.push(finding);
    }
    for report in &mut reports {
        report.findings.sort_by_key(|f| (f.line, f.column, f.rule));
    }
    reports
}

/// What [`check_paths`] found and checked.
pub struct Checked {
    /// Paths given that do not exist (nothing was checked when there are any).
    pub missing: Vec<String>,
    /// How many files were checked.
    pub files: usize,
    /// One report per file, in the order of [`discover`] (sorted by the path shown).
    pub reports: Vec<FileReport>,
}

/// [`discover`] then [`check_files`], with the same result, but the directory walk runs on its
/// own thread and hands each file to the workers as soon as it is found, so checking does not
/// wait for the walk to end.
pub fn check_paths(paths: &[PathBuf], settings: &Settings) -> Checked {
    let missing = discover::missing(paths);
    if !missing.is_empty() {
        return Checked {
            missing,
            files: 0,
            reports: Vec::new(),
        };
    }
    let (send, receive) = std::sync::mpsc::channel::<(PathBuf, String)>();
    let mut reports: Vec<FileReport> = std::thread::scope(|scope| {
        scope.spawn(move || {
            // A file reached twice (a directory and a file in it, both given) is checked once.
            let mut seen = std::collections::HashSet::new();
            discover::walk(paths, settings, |(path, display)| {
                if seen.insert(display.clone()) {
                    let _ = send.send((path, display));
                }
            });
        });
        let run = || {
            receive
                .into_iter()
                .par_bridge()
                .map(|(path, display)| {
                    let (report, calls) = check_file_alone(&path, &display, settings);
                    (path, report, calls)
                })
                .collect::<Vec<_>>()
        };
        let mut checked = match pool() {
            Some(pool) => pool.install(run),
            None => run(),
        };
        checked.sort_by(|a, b| a.1.path.cmp(&b.1.path));
        let paths: Vec<PathBuf> = checked.iter().map(|(p, _, _)| p.clone()).collect();
        let checked: Vec<_> = checked.into_iter().map(|(_, r, c)| (r, c)).collect();
        match pool() {
            Some(pool) => pool.install(|| across_files(checked, &paths, settings)),
            None => across_files(checked, &paths, settings),
        }
    });
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    Checked {
        missing,
        files: reports.len(),
        reports,
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    #[test]
    fn declared_encodings() {
        assert_eq!(encoding_refusal("# -*- coding: utf-8 -*-\nx = 1\n"), None);
        assert_eq!(encoding_refusal("#!/usr/bin/env python\n# coding=UTF_8\n"), None);
        assert_eq!(encoding_refusal("# coding: latin-1\nx = 'é'\n"), None);
        assert_eq!(encoding_refusal("# coding: cp1252\nx = 1\n"), None);
        assert!(encoding_refusal("# coding: cp1252\nx = 'é'\n").is_some());
        assert!(encoding_refusal("# coding: utf-7\n#+AAo-import os\n").is_some());
        assert!(encoding_refusal("#!/bin/python\n# vim: set fileencoding=unicode_escape :\n").is_some());
        assert_eq!(encoding_refusal("x = 1\ny = 2\n# coding: utf-7\n"), None);
        assert_eq!(encoding_refusal("x = 1  # coding: utf-7\n"), None);
        assert_eq!(
            decode_source(b"# coding: latin-1\nx = '\xc3\xa9'\n".to_vec()).unwrap(),
            "# coding: latin-1\nx = '\u{c3}\u{a9}'\n"
        );
        assert!(decode_source(b"# coding: koi8-r\nx = '\xc3'\n".to_vec())
            .unwrap_err()
            .contains("koi8-r"));
    }
}
