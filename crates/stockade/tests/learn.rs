//! `stockade policy learn`: the learned policy runs the script cleanly in enforce mode, and
//! denies a variant that does one thing more.

mod common;

use common::{parse_result, status, stdout, stockade};

const SCRIPT: &str = r#"
import os, socket, sqlite3, sys
con = sqlite3.connect("db.sqlite")
con.execute("create table t (x)")
print(len(os.listdir("/proc/self/fd")) > 2)
try:
    socket.getaddrinfo("example.com", 443)
except OSError as e:
    print("no network:", type(e).__name__)
print(sys._getframe().f_code.co_name)
"#;

#[test]
fn learned_policy_allows_exactly_what_the_script_did() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.py");
    std::fs::write(&script, SCRIPT).unwrap();
    // Under the strict default the script is refused.
    let strict = parse_result(&stockade().args(["run", "--json"]).arg(&script).output().unwrap());
    assert_eq!(status(&strict), "error", "{strict}");
    assert!(!strict["violations"].as_array().unwrap().is_empty());

    let learned = stockade().args(["policy", "learn"]).arg(&script).output().unwrap();
    assert!(learned.status.success(), "{learned:?}");
    let text = String::from_utf8(learned.stdout).unwrap();
    for expected in [
        "\"socket\"",
        "\"/proc/self/fd\"",
        "\"example.com:443\"",
        "introspection = \"allow\"",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    let policy = dir.path().join("learned.toml");
    std::fs::write(&policy, &text).unwrap();
    let check = stockade().args(["policy", "check"]).arg(&policy).output().unwrap();
    assert!(check.status.success(), "{check:?}");

    let run = parse_result(
        &stockade()
            .args(["run", "--json", "--policy"])
            .arg(&policy)
            .arg(&script)
            .output()
            .unwrap(),
    );
    assert_eq!(status(&run), "ok", "{run}");
    assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{run}");
    assert!(stdout(&run).contains("no network: gaierror"), "{run}");

    // One thing more: a process. The learned policy denies it, naming the rule.
    let variant = dir.path().join("job2.py");
    std::fs::write(&variant, format!("{SCRIPT}\nimport os\nos.system('true')\n")).unwrap();
    let run = parse_result(
        &stockade()
            .args(["run", "--json", "--policy"])
            .arg(&policy)
            .arg(&variant)
            .output()
            .unwrap(),
    );
    assert_eq!(status(&run), "error", "{run}");
    let v = &run["violations"][0];
    assert_eq!(v["event"], "os.system");
    assert_eq!(v["rule"], "guard.rules.process");
    assert!(run["stderr"]
        .as_str()
        .unwrap()
        .contains("denied by guard.rules.process"));
}

/// The guard also installs in an ordinary Python process (defense in depth for an app's own
/// code, not a boundary): LD_PRELOAD + the compiled config from `policy guard-config`.
#[test]
fn guard_installs_in_an_ordinary_python_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("guard.json");
    let out = stockade()
        .args(["policy", "guard-config", "--python", common::system_python()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(&config, &out.stdout).unwrap();
    let lib = std::path::Path::new(env!("CARGO_BIN_EXE_stockade")).with_file_name("libstockade_guard.so");
    let code = "import json, os\nprint(json.dumps([1]))\ntry:\n    os.system('true')\nexcept PermissionError as e:\n    print(type(e).__name__, e)";
    let run = std::process::Command::new(common::system_python())
        .args(["-s", "-c", code])
        .env("LD_PRELOAD", &lib)
        .env("STOCKADE_GUARD_CONFIG", &config)
        .env("STOCKADE_GUARD_FD", "2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("[1]"), "{run:?}");
    assert!(
        text.contains("PolicyViolation stockade guard: os.system denied by guard.rules.process"),
        "{run:?}"
    );
    let events = String::from_utf8_lossy(&run.stderr);
    assert!(
        events.contains(r#""state":"installed""#) && events.contains(r#""decision":"denied""#),
        "{events}"
    );
    // A broken configuration refuses to run the interpreter at all.
    std::fs::write(&config, "{not json").unwrap();
    let refused = std::process::Command::new(common::system_python())
        .args(["-c", "print('ran')"])
        .env("LD_PRELOAD", &lib)
        .env("STOCKADE_GUARD_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(125));
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stockade guard: refusing to run"));
}
