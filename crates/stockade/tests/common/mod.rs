//! Shared fixtures for the integration tests: run the real `stockade` binary, and run
//! unsandboxed controls safely (own pid + mount namespace, rlimits) so attack tests can fail.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `stockade` binary under test.
pub fn stockade() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stockade"));
    c.stdin(Stdio::null());
    c
}

/// Repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A Python interpreter every user can read (the tests also run stockade as `nobody`).
pub fn system_python() -> &'static str {
    "/usr/bin/python3.11"
}

/// Run `stockade run --json <args>` and parse the result document.
pub fn run_json(args: &[&str]) -> serde_json::Value {
    let out = stockade()
        .arg("run")
        .arg("--json")
        .args(args)
        .output()
        .expect("spawn stockade");
    parse_result(&out)
}

/// Parse a `--json` result from an Output, with a helpful panic.
pub fn parse_result(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stockade did not print JSON ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Run Python code in the jail with extra flags; returns the result document.
pub fn jail_code(code: &str, flags: &[&str]) -> serde_json::Value {
    let mut args: Vec<&str> = flags.to_vec();
    args.push("-c");
    args.push(code);
    run_json(&args)
}

/// Run Python code WITHOUT the jail, as a control: inside its own pid and mount namespace
/// (so `kill(-1)` or a fork bomb cannot reach the host's processes), with rlimits, a timeout,
/// and as the same user. Returns the output.
pub fn control_code(code: &str, timeout_secs: u32) -> Output {
    Command::new("timeout")
        .args(["-s", "KILL", &timeout_secs.to_string()])
        .args(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"])
        .args([
            "prlimit",
            "--nproc=200",
            "--as=2000000000",
            "--fsize=200000000",
            "--cpu=20",
            "--nofile=512",
        ])
        .args([system_python(), "-I", "-c", code])
        .stdin(Stdio::null())
        .output()
        .expect("spawn control")
}

/// Status field of a result.
pub fn status(r: &serde_json::Value) -> &str {
    r["status"].as_str().unwrap_or("?")
}

/// stdout field of a result.
pub fn stdout(r: &serde_json::Value) -> &str {
    r["stdout"].as_str().unwrap_or("")
}

/// The interpreter `stockade run` uses by default on this host (resolved like stockade does).
pub fn default_python() -> String {
    let out = stockade().args(["run", "-c", "import sys; print(sys.executable)"]).output().expect("spawn stockade");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
