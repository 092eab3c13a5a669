//! Drift checks for the guard's event table (`stockade_guard::events::EVENTS`).
//!
//! 1. docs/guard.md holds the table, generated from `EVENTS`, between
//!    `<!-- events:begin -->` and `<!-- events:end -->`. If the two differ the test fails and
//!    prints the expected table; `STOCKADE_BLESS=1 cargo test -p stockade-guard --test
//!    events_table` rewrites the doc.
//! 2. The table is checked against every installed CPython of the supported versions
//!    (`/usr/bin/python3.X` and pyenv's `$PYENV_ROOT/versions/3.X.*/bin/python3.X`, plus
//!    `$STOCKADE_TEST_PYTHON` if set); a version is skipped only when no interpreter of it is
//!    installed, and the test prints which versions it checked. For each interpreter of version
//!    V: every `sys.audit("…")` literal in its standard library must be in the table for V;
//!    every entry the table claims for V must occur in the interpreter — as such a literal, or
//!    as a NUL-terminated string in the interpreter binary, its libpython (if any) or one of its
//!    `lib-dynload` extension modules (where the C `PySys_Audit` calls keep their names) — unless
//!    the entry needs a build option this build lacks; and no entry the table does not claim for
//!    V may occur there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use stockade_guard::events::{handling_for, Event, Handling, Version, EVENTS, NEWEST_CHECKED, SUPPORTED};

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

fn version(v: Version) -> String {
    format!("{}.{}", v.0, v.1)
}

/// The table's "Versions" column: `3.9+`, `3.12+`, `3.9–3.12`, and the build option if any.
fn versions(e: &Event) -> String {
    let range = match e.until {
        None => format!("{}+", version(e.since)),
        Some(u) => format!("{}–{}", version(e.since), version(u)),
    };
    match e.build {
        None => range,
        Some(option) => format!("{range}, builds with `{option}`"),
    }
}

/// The markdown table, as docs/guard.md must hold it between the markers.
fn render_table() -> String {
    let mut out = String::new();
    let counts = SUPPORTED
        .iter()
        .filter(|v| **v <= NEWEST_CHECKED)
        .map(|&v| {
            let n = EVENTS.iter().filter(|e| e.raised_in(v)).count();
            format!("{} in {}", n, version(v))
        })
        .collect::<Vec<_>>()
        .join(", ");
    out.push_str(&format!(
        "{} events ({counts}; counts include the events that need a build option), generated from \
         `stockade_guard::events::EVENTS` by `crates/stockade-guard/tests/events_table.rs`.\n\n",
        EVENTS.len()
    ));
    out.push_str("| Event | Versions | Class | Decision | Governed by | Note |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for e in EVENTS {
        let rule = e.handling.rule();
        let rule = if rule == "-" {
            "-".to_string()
        } else {
            rule.split(" / ")
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            e.name,
            versions(e),
            e.handling.class(),
            decision(e.handling),
            rule,
            cell(e.note)
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
            pair[0].name < pair[1].name,
            "EVENTS not sorted/unique at {} / {}",
            pair[0].name,
            pair[1].name
        );
    }
    for e in EVENTS {
        assert!(
            e.name.len() >= TAIL && e.name.bytes().all(|c| c.is_ascii_graphic()),
            "bad event name {:?}",
            e.name
        );
        assert!(!e.note.contains('\n'), "note of {} spans lines", e.name);
        assert!(
            SUPPORTED.contains(&e.since) && e.until.is_none_or(|u| e.since <= u && u < NEWEST_CHECKED),
            "{}: bad version range {:?}..{:?}",
            e.name,
            e.since,
            e.until
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Against the interpreters.

/// Names are looked up in the binaries by their last `TAIL` bytes (every name is at least this long).
const TAIL: usize = 4;

/// The installed interpreters to check: `$STOCKADE_TEST_PYTHON`, then for each supported
/// version `/usr/bin/python3.X` and every pyenv build `$PYENV_ROOT/versions/3.X.*/bin/python3.X`
/// (`$PYENV_ROOT` defaults to `~/.pyenv`). Duplicates (the same file by another path) are dropped.
fn interpreters() -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Some(p) = std::env::var_os("STOCKADE_TEST_PYTHON") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "STOCKADE_TEST_PYTHON={} does not exist", p.display());
        found.push(p);
    }
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
    for &(major, minor) in SUPPORTED {
        let exe = format!("python{major}.{minor}");
        found.push(Path::new("/usr/bin").join(&exe));
        let Some(versions) = pyenv.as_ref().map(|p| p.join("versions")) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&versions) else {
            continue;
        };
        let prefix = format!("{major}.{minor}.");
        let mut builds: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path().join("bin").join(&exe))
            .collect();
        builds.sort();
        found.extend(builds);
    }
    let mut seen = BTreeSet::new();
    found
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())))
        .collect()
}

/// What an interpreter reports about itself.
struct Layout {
    version: Version,
    full_version: String,
    stdlib: PathBuf,
    dynload: PathBuf,
    libpython: PathBuf,
}

/// The interpreter's version and layout: stdlib dir, lib-dynload dir, libpython path (may not exist).
fn layout(python: &Path) -> Layout {
    let out = Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys, sysconfig\n\
             print('%d.%d' % sys.version_info[:2], sys.version.split()[0], sys.implementation.name)\n\
             print(sysconfig.get_paths()['stdlib'])\n\
             print(sysconfig.get_config_var('DESTSHARED') or '')\n\
             print((sysconfig.get_config_var('LIBDIR') or '') + '/' + (sysconfig.get_config_var('INSTSONAME') or ''))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} failed to report its layout: {}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let short = first.next().unwrap_or_default();
    let full_version = first.next().unwrap_or_default().to_string();
    assert_eq!(first.next(), Some("cpython"), "{} is not CPython", python.display());
    let version = short
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or_else(|| panic!("{} reported version {short:?}", python.display()));
    let name = python.file_name().unwrap_or_default().to_string_lossy();
    assert!(
        !name.starts_with("python3.") || name == format!("python{short}"),
        "{} reports version {short}",
        python.display()
    );
    let stdlib = PathBuf::from(lines.next().unwrap_or_default());
    let dynload = match lines.next().filter(|l| !l.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => stdlib.join("lib-dynload"),
    };
    let libpython = PathBuf::from(lines.next().unwrap_or_default());
    Layout {
        version,
        full_version,
        stdlib,
        dynload,
        libpython,
    }
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

/// The table's names, keyed by their last [`TAIL`] bytes.
fn names_by_tail() -> HashMap<&'static [u8], Vec<&'static str>> {
    let mut map: HashMap<&'static [u8], Vec<&'static str>> = HashMap::new();
    for e in EVENTS {
        let b = e.name.as_bytes();
        map.entry(&b[b.len() - TAIL..]).or_default().push(e.name);
    }
    map
}

/// Which table names occur in a binary as a printable run that ends in a NUL byte. The linker
/// merges string literals that are suffixes of others ("import" may live at the end of a longer
/// string), so a name counts as present if such a run ends with it.
fn names_in_binary(data: &[u8], tails: &HashMap<&'static [u8], Vec<&'static str>>, out: &mut BTreeSet<&'static str>) {
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == 0 {
            if i >= start + TAIL {
                let run = &data[start..i];
                if let Some(names) = tails.get(&run[run.len() - TAIL..]) {
                    out.extend(names.iter().filter(|n| run.ends_with(n.as_bytes())));
                }
            }
            start = i + 1;
        } else if !(0x20..0x7f).contains(&b) {
            start = i + 1;
        }
    }
}

/// What one interpreter raises, as far as the scans can tell.
struct Scan {
    python: PathBuf,
    layout: Layout,
    /// `audit("…")` literals of the standard library, with the files they are in.
    literals: BTreeMap<String, BTreeSet<String>>,
    /// Table names found in the binaries.
    in_binaries: BTreeSet<&'static str>,
    files: usize,
    binaries: usize,
}

fn scan(python: &Path) -> Scan {
    let layout = layout(python);
    let stdlib = &layout.stdlib;

    // Python-level events: literals in the standard library.
    let mut files = Vec::new();
    python_files(stdlib, &mut files);
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
            let rel = f.strip_prefix(stdlib).unwrap_or(f).display().to_string();
            literals.entry(name).or_default().insert(rel);
        }
    }
    assert!(
        literals.contains_key("subprocess.Popen") && literals.contains_key("shutil.copyfile"),
        "the stdlib scan found no known audit calls in {} — the scanner is broken",
        stdlib.display()
    );

    // C-level events: NUL-terminated strings in the binaries.
    let mut binaries = vec![python.to_path_buf()];
    if layout.libpython.is_file() {
        binaries.push(layout.libpython.clone());
    }
    let mut dynload_count = 0;
    if let Ok(entries) = std::fs::read_dir(&layout.dynload) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".so") {
                binaries.push(e.path());
                dynload_count += 1;
            }
        }
    }
    assert!(
        dynload_count > 10,
        "no extension modules in {}",
        layout.dynload.display()
    );
    let tails = names_by_tail();
    let mut in_binaries = BTreeSet::new();
    for b in &binaries {
        let data = std::fs::read(b).unwrap_or_else(|e| panic!("cannot read {}: {e}", b.display()));
        names_in_binary(&data, &tails, &mut in_binaries);
    }
    Scan {
        python: python.to_path_buf(),
        layout,
        literals,
        in_binaries,
        files: files.len(),
        binaries: binaries.len(),
    }
}

/// The drift between the table and one interpreter, as lines of a failure message.
fn drift(s: &Scan) -> Vec<String> {
    let v = s.layout.version;
    let vs = version(v);
    let mut problems = Vec::new();
    if !SUPPORTED.contains(&v) {
        problems.push(format!(
            "{} is CPython {vs}, which is not in SUPPORTED",
            s.python.display()
        ));
        return problems;
    }
    for (name, files) in &s.literals {
        if handling_for(v, name).is_none() {
            let files = files.iter().cloned().collect::<Vec<_>>().join(", ");
            let why = if stockade_guard::events::handling(name).is_some() {
                format!("in EVENTS, but its version range leaves {vs} out")
            } else {
                "missing from EVENTS".to_string()
            };
            problems.push(format!(
                "{name}: raised by the {vs} standard library (in {files}), {why}"
            ));
        }
    }
    for e in EVENTS {
        let present = s.literals.contains_key(e.name) || s.in_binaries.contains(e.name);
        let claimed = e.raised_in(v);
        if claimed && !present && e.build.is_none() {
            problems.push(format!(
                "{}: claimed for {vs} ({}) but not raised anywhere in this interpreter",
                e.name,
                versions(e)
            ));
        }
        if !claimed && present && !s.literals.contains_key(e.name) {
            problems.push(format!(
                "{}: occurs in this interpreter's binaries, but EVENTS says {vs} does not raise it ({})",
                e.name,
                versions(e)
            ));
        }
    }
    problems
}

#[test]
fn table_matches_every_installed_interpreter() {
    let pythons = interpreters();
    assert!(
        !pythons.is_empty(),
        "no CPython of the supported versions is installed (looked for /usr/bin/python3.X and \
         pyenv builds; set STOCKADE_TEST_PYTHON to name one)"
    );
    // One thread per interpreter: the scans read a few hundred MB of binaries in all.
    let scans: Vec<Scan> = std::thread::scope(|scope| {
        let handles: Vec<_> = pythons.iter().map(|p| scope.spawn(move || scan(p))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });

    let mut failures = Vec::new();
    for s in &scans {
        let v = s.layout.version;
        let claimed = EVENTS.iter().filter(|e| e.raised_in(v)).count();
        let missing_options: Vec<String> = EVENTS
            .iter()
            .filter(|e| e.build.is_some() && e.raised_in(v))
            .filter(|e| !s.literals.contains_key(e.name) && !s.in_binaries.contains(e.name))
            .map(|e| e.name.to_string())
            .collect();
        eprintln!(
            "checked CPython {} ({}): {} stdlib files ({} distinct audit literals), {} binaries; \
             {claimed} events claimed for {}{}",
            s.layout.full_version,
            s.python.display(),
            s.files,
            s.literals.len(),
            s.binaries,
            version(v),
            if missing_options.is_empty() {
                String::new()
            } else {
                format!(" (not in this build: {})", missing_options.join(", "))
            }
        );
        let problems = drift(s);
        if !problems.is_empty() {
            failures.push(format!(
                "{} (CPython {}):\n    {}",
                s.python.display(),
                s.layout.full_version,
                problems.join("\n    ")
            ));
        }
    }
    let checked: BTreeSet<Version> = scans.iter().map(|s| s.layout.version).collect();
    let skipped: Vec<String> = SUPPORTED
        .iter()
        .filter(|v| !checked.contains(v))
        .map(|&v| version(v))
        .collect();
    eprintln!(
        "versions checked: {}; skipped (no interpreter installed): {}",
        checked.iter().map(|&v| version(v)).collect::<Vec<_>>().join(", "),
        if skipped.is_empty() {
            "none".to_string()
        } else {
            skipped.join(", ")
        }
    );
    assert!(
        failures.is_empty(),
        "the event table drifted from the interpreters:\n  {}\n\
         Fix crates/stockade-guard/src/events.rs (keep it sorted; `since`/`until` give the versions), \
         then rerun with STOCKADE_BLESS=1 to regenerate docs/guard.md",
        failures.join("\n  ")
    );
}

#[test]
fn literal_scanner() {
    let src = "sys.audit(\"a.b\", x)\n_sys.audit('c', 1)\naudit( \"d/e\")\nself.audit(\"no\")\nmyaudit(\"no2\")\nsys.audit(name)";
    assert_eq!(audit_literals(src), vec!["a.b", "c", "d/e"]);
    let mut found = BTreeSet::new();
    let data = b"\x01os.system\0\xffxx.open\0compile\x01\0sys._getframemodulename";
    names_in_binary(data, &names_by_tail(), &mut found);
    // "open" as the tail of a run counts; "compile" followed by a non-printable byte and an
    // unterminated run do not.
    assert_eq!(found.into_iter().collect::<Vec<_>>(), vec!["open", "os.system"]);
}
