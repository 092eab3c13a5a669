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
