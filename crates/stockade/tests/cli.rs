//! CLI behaviour pinned by snapshots: usage errors, policy errors, `policy show`, exit codes.

mod common;

use std::process::Output;

use common::stockade;

/// Render an Output the way the snapshots record it, with temp paths filtered.
fn render(out: &Output, tmp: Option<&std::path::Path>) -> String {
    let mut text = format!(
        "exit_code: {:?}\n----- stdout -----\n{}----- stderr -----\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(dir) = tmp {
        text = text.replace(&dir.display().to_string(), "[TMP]");
    }
    text
}

fn cli(args: &[&str]) -> Output {
    stockade().args(args).output().unwrap()
}

#[test]
fn run_without_a_program() {
    insta::assert_snapshot!(render(&cli(&["run"]), None));
}

#[test]
fn run_with_a_bad_size() {
    insta::assert_snapshot!(render(&cli(&["run", "--memory", "12X", "-c", "pass"]), None));
}

#[test]
fn run_with_an_out_of_range_flag() {
    insta::assert_snapshot!(render(&cli(&["run", "--memory", "1M", "-c", "pass"]), None));
}

#[test]
fn run_with_a_missing_script() {
    insta::assert_snapshot!(render(&cli(&["run", "/nonexistent/script.py"]), None));
}

#[test]
fn run_with_a_missing_interpreter() {
    insta::assert_snapshot!(render(
        &cli(&["run", "--python", "/nonexistent/python3", "-c", "pass"]),
        None
    ));
}

#[test]
fn run_with_a_broken_policy_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, "version = 1\n\n[limits]\nmemory = \"12X\"\n").unwrap();
    let out = stockade()
        .args(["run", "--policy"])
        .arg(&file)
        .args(["-c", "print('must not run')"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(123));
    insta::assert_snapshot!(render(&out, Some(dir.path())));
}

#[test]
fn run_with_an_unknown_policy_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, "version = 1\n[limits]\nmemroy = \"1G\"\n").unwrap();
    let out = stockade()
        .args(["run", "--policy"])
        .arg(&file)
        .args(["-c", "pass"])
        .output()
        .unwrap();
    insta::assert_snapshot!(render(&out, Some(dir.path())));
}

#[test]
fn policy_check_accepts_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "version = 1\nextends = \"data\"\n[limits]\nwall-time = \"30s\"\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 2\n").unwrap();
    let ok = stockade().args(["policy", "check"]).arg(&good).output().unwrap();
    let err = stockade().args(["policy", "check"]).arg(&bad).output().unwrap();
    insta::assert_snapshot!(format!(
        "{}\n{}",
        render(&ok, Some(dir.path())),
        render(&err, Some(dir.path()))
    ));
}

#[test]
fn policy_show_strict() {
    insta::assert_snapshot!(render(&cli(&["policy", "show"]), None));
}

#[test]
fn policy_show_data_with_overrides() {
    insta::assert_snapshot!(render(
        &cli(&[
            "policy",
            "show",
            "--profile",
            "data",
            "--timeout",
            "90",
            "--memory",
            "2G",
            "--pids",
            "32"
        ]),
        None
    ));
}

#[test]
fn policy_show_round_trips_through_policy_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shown.toml");
    let shown = cli(&["policy", "show", "--profile", "data", "--output", "3M"]);
    std::fs::write(&file, &shown.stdout).unwrap();
    let again = stockade()
        .args(["policy", "show", "--policy"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn unknown_profile() {
    insta::assert_snapshot!(render(&cli(&["policy", "show", "--profile", "roomy"]), None));
}

#[test]
fn setup_failure_in_json_mode_is_a_json_document() {
    let out = cli(&["run", "--json", "--python", "/nonexistent/python3", "-c", "pass"]);
    assert_eq!(out.status.code(), Some(127));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["status"], "setup_failed");
    assert_eq!(r["error"]["step"], "interpreter");
}
