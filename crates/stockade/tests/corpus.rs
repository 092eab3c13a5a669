//! Deny by default, but never useless by default: ordinary model-written programs
//! (tests/corpus/*.py) must run unchanged under the default policy and print exactly what
//! bare CPython prints.

mod common;

use std::process::{Command, Stdio};

#[test]
fn corpus_matches_bare_cpython() {
    let dir = common::repo().join("tests/corpus");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    scripts.retain(|p| p.extension().is_some_and(|e| e == "py"));
    scripts.sort();
    assert!(scripts.len() >= 8, "corpus too small");
    let python = common::default_python();
    assert!(python.starts_with('/'), "no default interpreter: {python:?}");
    let version = python_version(&python);
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for script in &scripts {
        // `# min-python: 3.10` in a program's first lines: newer syntax (`match`).
        let text = std::fs::read_to_string(script).unwrap();
        if let Some(min) = text.lines().take(5).find_map(|l| l.strip_prefix("# min-python: ")) {
            let min: Vec<u32> = min
                .split_whitespace()
                .next()
                .unwrap()
                .split('.')
                .map(|p| p.parse().unwrap())
                .collect();
            if version < (min[0], min[1]) {
                skipped.push(script.file_name().unwrap().to_string_lossy().to_string());
                continue;
            }
        }
        let jailed = common::stockade()
            .args(["run", "--json", "--python", &python])
            .arg(script)
            .output()
            .unwrap();
        let r = common::parse_result(&jailed);
        // Bare CPython, same interpreter, in an empty scratch directory of its own.
        let scratch = tempfile::tempdir().unwrap();
        let bare = Command::new(&python)
            .args(["-s", "-S"])
            .arg(script)
            .current_dir(scratch.path())
            .env_clear()
            .env("PYTHONPATH", site_path(&python))
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let bare_out = String::from_utf8_lossy(&bare.stdout).to_string();
        let name = script.file_name().unwrap().to_string_lossy().to_string();
        assert!(!bare_out.is_empty(), "{name} printed nothing under bare CPython");
        if common::stdout(&r) != bare_out || r["exit_code"].as_i64() != bare.status.code().map(i64::from) {
            failures.push(format!(
                "{name}: jail status {} exit {} vs bare exit {:?}\n--- jail stdout\n{}\n--- jail stderr\n{}\n--- bare stdout\n{}\n--- bare stderr\n{}",
                r["status"],
                r["exit_code"],
                bare.status.code(),
                common::stdout(&r),
                r["stderr"].as_str().unwrap_or(""),
                bare_out,
                String::from_utf8_lossy(&bare.stderr)
            ));
        }
    }
    eprintln!(
        "corpus under {python} ({version:?}): {} programs, skipped {skipped:?}",
        scripts.len()
    );
    assert!(skipped.len() <= 2, "too many corpus programs skipped: {skipped:?}");
    assert!(
        failures.is_empty(),
        "{} of {} corpus programs differ:\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n\n")
    );
}

fn python_version(python: &str) -> (u32, u32) {
    let out = Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn site_path(python: &str) -> String {
    let out = Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import site, sys; print(':'.join(site.getsitepackages()))",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
