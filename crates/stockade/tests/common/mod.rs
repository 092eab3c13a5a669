//! Shared fixtures for the integration tests: run the real `stockade` binary, and run
//! unsandboxed controls safely (own pid + mount namespace, rlimits) so attack tests can fail.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `stockade` binary under test. A `stockade helper` left running on this machine is
/// never used (tests of the helper set their own `STOCKADE_HELPER`).
pub fn stockade() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stockade"));
    c.stdin(Stdio::null());
    c.env("STOCKADE_HELPER", "off");
    c
}

/// Repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The interpreter the escape and corpus suites run: `$STOCKADE_TEST_PYTHON` (scripts/test
/// runs both suites once per installed CPython 3.9-3.14), else one every user can read (the
/// tests also run stockade as `nobody`).
pub fn system_python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| std::env::var("STOCKADE_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3.11".into()))
}

/// Run `stockade run --json --no-guard <args>` (the jail alone) and parse the result document.
pub fn run_json(args: &[&str]) -> serde_json::Value {
    let out = stockade()
        .arg("run")
        .arg("--no-guard")
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

/// The interpreter `stockade run` uses by default on this host (resolved like stockade does),
/// or `$STOCKADE_TEST_PYTHON`.
pub fn default_python() -> String {
    if let Ok(p) = std::env::var("STOCKADE_TEST_PYTHON") {
        return p;
    }
    let out = stockade()
        .args(["run", "-c", "import sys; print(sys.executable)"])
        .output()
        .expect("spawn stockade");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

// ===== Additions for the escape suite (crates/stockade/tests/escapes.rs) =====

/// A payload of the public attack suite, `tests/escapes/<name>`.
pub fn escape_payload(name: &str) -> PathBuf {
    let p = repo().join("tests/escapes").join(name);
    assert!(p.is_file(), "no payload {}", p.display());
    p
}

/// Tight default limits for attack runs, so the suite stays fast; `overrides` replace single
/// flags (e.g. `("--pids", "16")`).
pub fn attack_limits(overrides: &[(&str, &str)]) -> Vec<String> {
    let mut flags = vec![
        ("--timeout", "5"),
        ("--cpu", "5"),
        ("--memory", "256M"),
        ("--pids", "32"),
        ("--scratch", "16M"),
        ("--file-size", "8M"),
        ("--open-files", "128"),
        ("--output", "256K"),
    ];
    for (k, v) in overrides {
        match flags.iter_mut().find(|(f, _)| f == k) {
            Some(slot) => slot.1 = v,
            None => flags.push((k, v)),
        }
    }
    flags
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v.to_string()])
        .collect()
}

/// Wrap a command so it starts with `secret` open read-only on fds 5..9 (inherited, no
/// CLOEXEC), the way a careless caller would leak descriptors into stockade.
fn with_inherited_fds(prog: &str, args: &[String], fds_from: Option<&Path>) -> Command {
    match fds_from {
        None => {
            let mut c = Command::new(prog);
            c.args(args);
            c
        }
        Some(secret) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(r#"f=$1; shift; exec "$@" 5<"$f" 6<"$f" 7<"$f" 8<"$f" 9<"$f""#)
                .arg("sh")
                .arg(secret)
                .arg(prog)
                .args(args);
            c
        }
    }
}

/// Run a script in the jail: `stockade run --json --python <system python> FLAGS SCRIPT ARGS`,
/// with extra environment for stockade itself and optionally a secret file on fds 5..9.
pub fn jail_script(
    script: &Path,
    args: &[&str],
    flags: &[String],
    env: &[(&str, &str)],
    fds_from: Option<&Path>,
) -> serde_json::Value {
    let mut all: Vec<String> = vec![
        "run".into(),
        "--no-guard".into(),
        "--json".into(),
        "--python".into(),
        system_python().into(),
    ];
    all.extend(flags.iter().cloned());
    all.push(script.to_string_lossy().into_owned());
    all.extend(args.iter().map(|a| a.to_string()));
    let mut c = with_inherited_fds(env!("CARGO_BIN_EXE_stockade"), &all, fds_from);
    c.stdin(Stdio::null()).envs(env.iter().copied());
    parse_result(&c.output().expect("spawn stockade"))
}

/// Run a script WITHOUT the jail, as a control, under the same confinement as `control_code`
/// (own pid + mount namespace, rlimits, timeout), by path and with arguments, extra
/// environment and optionally a secret file on fds 5..9.
pub fn control_script(
    script: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    fds_from: Option<&Path>,
    timeout_secs: u32,
) -> Output {
    control_python(
        &[script.to_string_lossy().into_owned()],
        args,
        env,
        fds_from,
        timeout_secs,
    )
}

/// Like `control_script`, but the payload runs as the child of a parent Python process (which
/// carries `env`), so attacks on "our parent" have a target. The parent prints
/// `PARENT_SURVIVED` if it survived; pid 1 prints `PARENT_KILLED_BY <signal>` if it did not.
pub fn control_script_under_parent(
    script: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    fds_from: Option<&Path>,
    timeout_secs: u32,
) -> Output {
    // pid 1 of the control's namespace cannot be signalled from inside it, so the parent under
    // attack is a forked child of pid 1.
    // pid 1 ignores the catchable signals too (a payload may also aim at pid 1), and the
    // parent restores the defaults so it is as killable as any process.
    let code = r#"
import os, signal, subprocess, sys
for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
    signal.signal(s, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    for s in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    subprocess.run([sys.executable, "-I"] + sys.argv[1:])
    print("PARENT_SURVIVED", flush=True)
    os._exit(0)
_, st = os.waitpid(pid, 0)
if os.WIFSIGNALED(st):
    print("PARENT_KILLED_BY", os.WTERMSIG(st), flush=True)
"#;
    control_python(
        &["-c".into(), code.into(), script.to_string_lossy().into_owned()],
        args,
        env,
        fds_from,
        timeout_secs,
    )
}

fn control_python(
    head: &[String],
    args: &[&str],
    env: &[(&str, &str)],
    fds_from: Option<&Path>,
    timeout_secs: u32,
) -> Output {
    let mut all: Vec<String> = ["-s", "KILL", &timeout_secs.to_string()].map(String::from).to_vec();
    all.extend(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"].map(String::from));
    all.extend(
        [
            "prlimit",
            "--nproc=200",
            "--as=2000000000",
            "--fsize=200000000",
            "--cpu=20",
            "--nofile=512",
        ]
        .map(String::from),
    );
    all.push(system_python().into());
    all.push("-I".into());
    all.extend(head.iter().cloned());
    all.extend(args.iter().map(|a| a.to_string()));
    let mut c = with_inherited_fds("timeout", &all, fds_from);
    c.stdin(Stdio::null()).envs(env.iter().copied());
    c.output().expect("spawn control")
}

/// stdout + stderr of a control, lossily decoded.
pub fn control_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Everything a jail result exposes to the caller (stdout, stderr, and the whole document).
pub fn result_text(r: &serde_json::Value) -> String {
    format!(
        "{}\n{}\n{}",
        r["stdout"].as_str().unwrap_or(""),
        r["stderr"].as_str().unwrap_or(""),
        r
    )
}

/// A random lowercase hex token (no extra crates: std's randomly keyed hasher).
pub fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut s = String::new();
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s
}

/// A host directory `/tmp/stockade-test-XXXX` holding `secret.txt` with a random token; removed
/// on drop. The host /tmp is not visible inside the jail.
pub struct HostSecret {
    pub dir: tempfile::TempDir,
    pub token: String,
}

impl HostSecret {
    pub fn new() -> HostSecret {
        let dir = tempfile::Builder::new()
            .prefix("stockade-test-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let token = random_token();
        std::fs::write(dir.path().join("secret.txt"), format!("stockade-secret-{token}\n")).unwrap();
        HostSecret { dir, token }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn secret(&self) -> PathBuf {
        self.dir.path().join("secret.txt")
    }
    pub fn secret_str(&self) -> String {
        self.secret().to_string_lossy().into_owned()
    }
    /// The directory's own random name, e.g. `stockade-test-a1B2c3`.
    pub fn dir_name(&self) -> String {
        self.dir.path().file_name().unwrap().to_string_lossy().into_owned()
    }
}

/// Host pids whose command line contains `needle`.
pub fn host_pids_with_cmdline(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// A venv with numpy, shared by the test files (`target/test-venv-numpy`). Built once, in a
/// private directory renamed into place, so test binaries running at the same time never see or
/// clobber a half-built one.
pub fn numpy_venv() -> PathBuf {
    // Tests of one binary run on threads: one builds, the others wait.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = repo().join("target/test-venv-numpy");
    if venv.join("lib/python3.11/site-packages/numpy").exists() {
        return venv;
    }
    let tmp = repo().join(format!("target/test-venv-numpy.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let ok = Command::new(system_python())
        .args(["-m", "venv"])
        .arg(&tmp)
        .status()
        .unwrap()
        .success()
        && Command::new(tmp.join("bin/python"))
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "numpy"])
            .status()
            .unwrap()
            .success();
    assert!(ok, "could not build the numpy test venv");
    // Another test binary may have won the race; either way one complete venv is in place.
    if std::fs::rename(&tmp, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(venv.join("lib/python3.11/site-packages/numpy").exists());
    venv
}
