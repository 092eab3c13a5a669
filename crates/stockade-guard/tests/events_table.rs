//! Drift checks for the guard's event table (`stockade_guard::events::EVENTS`).
//!
//! 1. docs/guard.md holds the table, generated from `EVENTS`, between
//!    `<!-- events:begin -->` and `<!-- events:end -->`. If the two differ the test fails and
//!    prints the expected table; `STOCKADE_BLESS=1 cargo test -p stockade-guard --test
//!    events_table` rewrites the doc.
//! 2. The table is checked against a real CPython 3.11 (`/usr/bin/python3.11`, or
//!    `$STOCKADE_TEST_PYTHON`): every `sys.audit("…")` literal in its standard library must be
//!    in the table, and every table entry must occur in the interpreter — as such a literal, or
//!    as a NUL-terminated string in the interpreter binary, its libpython (if any) or one of
//!    its `lib-dynload` extension modules (where the C `PySys_Audit` calls keep their names).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use stockade_guard::events::{Handling, EVENTS};

const BEGIN: &str = "<!-- events:begin -->";
const END: &str = "<!-- events:end -->";

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/guard.md")
}

/// How the guard judges an event of this handling, in words (the table's "Decision" column).
fn decision(h: Handling) -> &'static str {
    match h {
        Handling::Allow => "allowed, not checked",
        Handling::Import => "module lists, for importers outside the standard library",
        Handling::Read => "path (arg 0) must be readable",
        Handling::Write => "path must be writable",
        Handling::Open => "path must be readable, or writable if the mode or flags write",
        Handling::CopyFile => "source readable, destination writable",
        Handling::Connect => "address must be listed",
        Handling::Bind => "address must be listed",
        Handling::Resolve => "host must be listed",
        Handling::Process => "rule, any caller",
        Handling::Code => "rule, user code only",
        Handling::CodeObjects => "rule, user code only",
        Handling::Deserialize => "rule, dangerous globals only",
        Handling::Introspection => "rule, user code only",
        Handling::Ctypes => "rule, callers outside the ctypes package",
        Handling::Env => "rule, any caller",
        Handling::Signal => "rule, unless the target is the process itself",
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The markdown table, as docs/guard.md must hold it between the markers.
fn render_table() -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} events, generated from `stockade_guard::events::EVENTS` by \
         `crates/stockade-guard/tests/events_table.rs`.\n\n",
        EVENTS.len()
    ));
    out.push_str("| Event | Class | Decision | Governed by | Note |\n");
    out.push_str("|---|---|---|---|---|\n");
    for (name, handling, note) in EVENTS {
        let rule = handling.rule();
        let rule = if rule == "-" {
            "-".to_string()
        } else {
            rule.split(" / ")
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            name,
            handling.class(),
            decision(*handling),
            rule,
            cell(note)
        ));
    }
    out
}

#[test]
fn docs_table_matches_events() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{} has no {BEGIN} … {END} markers", path.display());
    };
    assert!(b < e, "{}: {BEGIN} must come before {END}", path.display());
    let current = doc[b + BEGIN.len()..e].trim_matches('\n');
    let expected = render_table();
    if current == expected.trim_matches('\n') {
        return;
    }
    if std::env::var("STOCKADE_BLESS").as_deref() == Ok("1") {
        let new = format!("{}{BEGIN}\n{}{END}{}", &doc[..b], expected, &doc[e + END.len()..]);
        std::fs::write(&path, new).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("rewrote the event table in {}", path.display());
        return;
    }
    panic!(
        "the event table in {} is out of date with stockade_guard::events::EVENTS.\n\
         Rerun with STOCKADE_BLESS=1 to rewrite it. Expected:\n\n{expected}",
        path.display()
    );
}

#[test]
fn table_sorted_unique_and_well_formed() {
    for pair in EVENTS.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "EVENTS not sorted/unique at {} / {}",
            pair[0].0,
            pair[1].0
        );
    }
    for (name, _, note) in EVENTS {
        assert!(
            !name.is_empty() && name.bytes().all(|c| c.is_ascii_graphic()),
            "bad event name {name:?}"
        );
        assert!(!note.contains('\n'), "note of {name} spans lines");
    }
}

// ---------------------------------------------------------------------------------------------
// Against the interpreter.

fn python() -> String {
    std::env::var("STOCKADE_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3.11".into())
}

/// The interpreter's own layout: stdlib dir, lib-dynload dir, libpython path (may not exist).
fn layout(python: &str) -> (PathBuf, PathBuf, PathBuf) {
    if !Path::new(python).exists() {
        panic!(
            "the drift check needs CPython 3.11 at {python} (set STOCKADE_TEST_PYTHON to use another); \
             install python3.11 — CI has it"
        );
    }
    let out = Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys, sysconfig\n\
             assert sys.version_info[:2] == (3, 11), sys.version\n\
             print(sysconfig.get_paths()['stdlib'])\n\
             print(sysconfig.get_config_var('DESTSHARED') or '')\n\
             print((sysconfig.get_config_var('LIBDIR') or '') + '/' + (sysconfig.get_config_var('INSTSONAME') or ''))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "{python} failed to report its layout (is it CPython 3.11?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let stdlib = PathBuf::from(lines.next().unwrap_or_default());
    let dynload = match lines.next().filter(|l| !l.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => stdlib.join("lib-dynload"),
    };
    let libpython = PathBuf::from(lines.next().unwrap_or_default());
    (stdlib, dynload, libpython)
}

/// Directories of the standard library that are not the runtime: tests and third-party.
fn skipped_dir(name: &str) -> bool {
    matches!(
        name,
        "test" | "tests" | "idle_test" | "site-packages" | "dist-packages" | "__pycache__"
    )
}

fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if ft.is_dir() {
            if !skipped_dir(&name) {
                python_files(&path, out);
            }
        } else if name.ends_with(".py") {
            out.push(path);
        }
    }
}

/// Event names in `audit("NAME"` calls (`sys.audit`, `_sys.audit` or a bare `audit`).
fn audit_literals(source: &str) -> Vec<String> {
    let bytes = source.as_bytes();
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(pos) = source[from..].find("audit(") {
        let at = from + pos;
        from = at + "audit(".len();
        // `audit` must be a whole identifier (optionally after `sys.` / `_sys.`).
        if at > 0 {
            let before = bytes[at - 1];
            if before.is_ascii_alphanumeric() || before == b'_' {
                continue;
            }
            if before == b'.' && !(source[..at].ends_with("sys.")) {
                continue;
            }
        }
        let rest = source[from..].trim_start();
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(end) = rest[1..].find(quote) else { continue };
        names.push(rest[1..=end].to_string());
    }
    names
}

/// Printable runs that end in a NUL byte, in a binary.
fn nul_terminated_strings(data: &[u8], out: &mut BTreeSet<String>) {
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == 0 {
            if i > start {
                if let Ok(s) = std::str::from_utf8(&data[start..i]) {
                    out.insert(s.to_string());
                }
            }
            start = i + 1;
        } else if !(0x20..0x7f).contains(&b) {
            start = i + 1;
        }
    }
}

#[test]
fn table_matches_the_interpreter() {
    let python = python();
    let (stdlib, dynload, libpython) = layout(&python);

    // Python-level events: literals in the standard library.
    let mut files = Vec::new();
    python_files(&stdlib, &mut files);
    assert!(
        files.len() > 100,
        "only {} .py files under {} — is that the standard library?",
        files.len(),
        stdlib.display()
    );
    let mut literals: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for name in audit_literals(&text) {
            let rel = f.strip_prefix(&stdlib).unwrap_or(f).display().to_string();
            literals.entry(name).or_default().insert(rel);
        }
    }
    assert!(
        literals.contains_key("subprocess.Popen") && literals.contains_key("shutil.copyfile"),
        "the stdlib scan found no known audit calls in {} — the scanner is broken",
        stdlib.display()
    );

    // C-level events: NUL-terminated strings in the binaries.
    let mut binaries = vec![PathBuf::from(&python)];
    if libpython.is_file() {
        binaries.push(libpython.clone());
    }
    let mut dynload_count = 0;
    if let Ok(entries) = std::fs::read_dir(&dynload) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".so") {
                binaries.push(e.path());
                dynload_count += 1;
            }
        }
    }
    assert!(dynload_count > 10, "no extension modules in {}", dynload.display());
    let mut strings = BTreeSet::new();
    for b in &binaries {
        let data = std::fs::read(b).unwrap_or_else(|e| panic!("cannot read {}: {e}", b.display()));
        nul_terminated_strings(&data, &mut strings);
    }
    // The linker merges string literals that are suffixes of others ("import" may live at the
    // end of a longer string), so a name counts as present if a string ends with it.
    let in_binaries = |name: &str| strings.contains(name) || strings.iter().any(|s| s.ends_with(name));

    let table: BTreeSet<&str> = EVENTS.iter().map(|(n, _, _)| *n).collect();
    let not_in_table: Vec<String> = literals
        .iter()
        .filter(|(name, _)| !table.contains(name.as_str()))
        .map(|(name, files)| format!("{name} (in {})", files.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect();
    let not_found: Vec<&str> = table
        .iter()
        .copied()
        .filter(|name| !literals.contains_key(*name) && !in_binaries(name))
        .collect();
    eprintln!(
        "scanned {} stdlib files ({} distinct audit literals) and {} binaries of {python}",
        files.len(),
        literals.len(),
        binaries.len()
    );
    assert!(
        not_in_table.is_empty() && not_found.is_empty(),
        "the event table drifted from {python}:\n  \
         raised by the standard library but missing from EVENTS: {not_in_table:?}\n  \
         in EVENTS but not raised anywhere in this interpreter: {not_found:?}\n\
         Fix crates/stockade-guard/src/events.rs (keep it sorted), then rerun with STOCKADE_BLESS=1 \
         to regenerate docs/guard.md"
    );
}

#[test]
fn literal_scanner() {
    let src = "sys.audit(\"a.b\", x)\n_sys.audit('c', 1)\naudit( \"d/e\")\nself.audit(\"no\")\nmyaudit(\"no2\")\nsys.audit(name)";
    assert_eq!(audit_literals(src), vec!["a.b", "c", "d/e"]);
    let mut set = BTreeSet::new();
    nul_terminated_strings(b"\x01abc\0\xffdef\0gh", &mut set);
    assert_eq!(set.into_iter().collect::<Vec<_>>(), vec!["abc", "def"]);
}
