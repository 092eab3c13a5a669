//! `stockade check`: every output format pinned by a snapshot, exit codes, configuration
//! discovery, excludes, suppressions, baselines, the pre-screen, and `stockade run` refusing code
//! under `[check] prescreen = true`.

mod common;

use std::path::Path;
use std::process::Output;

use common::stockade;

const APP: &str = r#"import subprocess
import pickle


def handler(cmd, blob):
    subprocess.run(cmd, shell=True)
    try:
        data = pickle.loads(blob)
    except Exception:
        pass
    exec("print(1)")
    return data
"#;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    dir
}

fn check(dir: &Path, args: &[&str]) -> Output {
    stockade().current_dir(dir).arg("check").args(args).output().unwrap()
}

fn render(out: &Output) -> String {
    format!(
        "exit_code: {:?}\n----- stdout -----\n{}----- stderr -----\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON list ({e}): {}", render(out)))
}

fn rules(out: &Output) -> Vec<String> {
    json(out)
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn text_format() {
    let dir = project();
    insta::assert_snapshot!(render(&check(dir.path(), &["--color", "never", "app.py"])));
}

#[test]
fn json_format() {
    let dir = project();
    let out = check(dir.path(), &["--format", "json", "app.py"]);
    assert_eq!(out.status.code(), Some(1));
    for f in json(&out) {
        for key in [
            "path",
            "line",
            "column",
            "rule",
            "severity",
            "confidence",
            "cwe",
            "message",
        ] {
            assert!(!f[key].is_null(), "{key} missing in {f}");
        }
    }
    insta::assert_snapshot!(render(&out));
}

#[test]
fn sarif_format() {
    let dir = project();
    std::fs::write(
        dir.path().join("extra.py"),
        "import subprocess\nsubprocess.call(c, shell=True)  # nosec B602 reviewed\n",
    )
    .unwrap();
    let out = check(dir.path(), &["--format", "sarif", "app.py", "extra.py"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["taxonomies"][0]["name"], "CWE");
    let suppressed: Vec<&serde_json::Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(
        suppressed.len(),
        1,
        "the nosec'd finding is in SARIF with a suppression"
    );
    assert_eq!(suppressed[0]["suppressions"][0]["justification"], "reviewed");
    insta::assert_snapshot!(render(&out));
}

#[test]
fn github_format() {
    let dir = project();
    insta::assert_snapshot!(render(&check(dir.path(), &["--format", "github", "app.py"])));
}

#[test]
fn thresholds_and_exit_codes() {
    let dir = project();
    let high = check(dir.path(), &["--format", "json", "--severity", "high", "app.py"]);
    assert_eq!(rules(&high), vec!["STK602"]);
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(clean.path().join("ok.py"), "import json\nprint(json.dumps({'a': 1}))\n").unwrap();
    assert_eq!(check(clean.path(), &[]).status.code(), Some(0));
    assert_eq!(check(dir.path(), &["--exit-zero"]).status.code(), Some(0));
    let bad = check(dir.path(), &["--severity", "extreme"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("severity"));
    let missing = check(dir.path(), &["nope.py"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn a_file_that_does_not_parse_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.py"), "def f(:\n    pass\n").unwrap();
    std::fs::write(dir.path().join("latin1.py"), b"x = '\xe9'\n").unwrap();
    // PEP 263: a declared Latin-1 file is valid Python and is checked.
    std::fs::write(
        dir.path().join("declared.py"),
        b"# -*- coding: latin-1 -*-\nx = '\xe9'\nexec(x)\n",
    )
    .unwrap();
    let out = check(dir.path(), &["--format", "json", "."]);
    assert_eq!(out.status.code(), Some(1));
    let found = json(&out);
    assert!(
        found.iter().any(|f| f["rule"] == "STK001" && f["path"] == "broken.py"),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f["rule"] == "STK002" && f["path"] == "latin1.py"),
        "{found:?}"
    );
}

/// Symbolic links are followed (a file, a directory, a loop back up the tree ends); a FIFO is
/// reported as what it is, never opened (reading one would block), whether the walk finds it or
/// it is named on the command line.
#[test]
fn links_are_followed_loop_safe_and_fifos_are_reported_not_read() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("lib.py"), "eval(x)\n").unwrap();
    std::fs::create_dir(outside.path().join("pkg")).unwrap();
    std::fs::write(outside.path().join("pkg/mod.py"), "exec(y)\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::os::unix::fs::symlink(outside.path().join("lib.py"), tree.join("linked.py")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("pkg"), tree.join("linkeddir")).unwrap();
    std::os::unix::fs::symlink(&tree, tree.join("loop")).unwrap();
    std::os::unix::fs::symlink(tree.join("gone.py"), tree.join("dangling.py")).unwrap();
    let fifo = tree.join("pipe.py");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let out = check(dir.path(), &["--format", "json", "--isolated", "tree"]);
    assert_eq!(out.status.code(), Some(1), "{}", render(&out));
    let found: Vec<(String, String)> = json(&out)
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("tree/linked.py".to_string(), "STK307".to_string()),
            ("tree/linkeddir/mod.py".to_string(), "STK102".to_string()),
            ("tree/pipe.py".to_string(), "STK002".to_string()),
        ],
        "{}",
        render(&out)
    );
    let fifo_finding = &json(&out)[2];
    assert_eq!(fifo_finding["message"], "not a regular file (a FIFO); not checked");
    // Named on the command line: the same finding, not "no such file".
    let named = check(dir.path(), &["--format", "json", "--isolated", "tree/pipe.py"]);
    assert_eq!(named.status.code(), Some(1), "{}", render(&named));
    assert_eq!(json(&named)[0]["message"], "not a regular file (a FIFO); not checked");
    let dangling = check(dir.path(), &["--isolated", "tree/dangling.py"]);
    assert_eq!(dangling.status.code(), Some(2), "{}", render(&dangling));
}

#[test]
fn pyproject_configuration_is_found_and_applied() {
    let dir = project();
    std::fs::create_dir_all(dir.path().join("gen")).unwrap();
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("gen/made.py"), APP).unwrap();
    std::fs::write(
        dir.path().join("tests/test_app.py"),
        "def test():\n    assert 1 + 1 == 2\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"x\"\n\n[tool.stockade]\nexclude = [\"gen\"]\nignore = [\"B110\"]\n\
         per-file-ignores = { \"tests/*\" = [\"assert-used\"] }\n",
    )
    .unwrap();
    // Run from a subdirectory: the configuration is found by walking up.
    let out = stockade()
        .current_dir(dir.path().join("tests"))
        .args(["check", "--format", "json", ".."])
        .output()
        .unwrap();
    let found = json(&out);
    assert!(
        found.iter().all(|f| !f["path"].as_str().unwrap().contains("gen/")),
        "gen/ is excluded: {found:?}"
    );
    assert!(found.iter().all(|f| f["rule"] != "STK110"), "B110 ignored: {found:?}");
    assert!(
        found.iter().all(|f| f["rule"] != "STK101"),
        "asserts in tests/ ignored: {found:?}"
    );
    // Excludes also apply to files named on the command line.
    let named = check(dir.path(), &["--format", "json", "gen/made.py"]);
    assert_eq!(json(&named).len(), 0, "{}", render(&named));
    // A broken configuration is an error naming the key.
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.stockade]\nselect = [\"STK99x\"]\n",
    )
    .unwrap();
    let bad = check(dir.path(), &["app.py"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("select: `STK99x`"),
        "{}",
        render(&bad)
    );
    assert_eq!(
        check(dir.path(), &["--isolated", "--format", "json", "app.py"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn suppressions_are_strict_and_unused_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let source = "import subprocess\n\
        subprocess.run(a, shell=True)  # stockade: ignore[STK602] input is a constant table\n\
        subprocess.run(b, shell=True)  # nosec B602\n\
        subprocess.run(c, shell=True)  # noqa: S602\n\
        subprocess.run(d, shell=True)  # nosec\n\
        subprocess.run(e, shell=True)  # nosec B6O2\n\
        x = 1  # stockade: ignore[STK602] stale\n\
        y = 2  # stockade: ignore[STK999]\n";
    std::fs::write(dir.path().join("s.py"), source).unwrap();
    let out = check(dir.path(), &["--format", "json", "s.py"]);
    let found: Vec<(String, u64)> = json(&out)
        .iter()
        .filter(|f| f["rule"] == "STK602" || f["rule"] == "STK003")
        .map(|f| (f["rule"].as_str().unwrap().to_string(), f["line"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(String, u64)> = [
        ("STK602", 5),
        ("STK003", 5),
        ("STK602", 6),
        ("STK003", 6),
        ("STK003", 7),
        ("STK003", 8),
    ]
    .iter()
    .map(|(r, l)| (r.to_string(), *l))
    .collect();
    let mut sorted = found.clone();
    sorted.sort_by_key(|(r, l)| (*l, r.clone()));
    let mut want = expected.clone();
    want.sort_by_key(|(r, l)| (*l, r.clone()));
    assert_eq!(sorted, want, "{}", render(&out));
    // Audits can ignore every suppression.
    let audit = check(dir.path(), &["--format", "json", "--no-suppressions", "s.py"]);
    assert_eq!(rules(&audit).iter().filter(|r| *r == "STK602").count(), 5);
    // A configured bare marker suppresses.
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.stockade]\nallow-bare-suppressions = true\n",
    )
    .unwrap();
    let bare = check(dir.path(), &["--format", "json", "s.py"]);
    assert!(
        !json(&bare).iter().any(|f| f["rule"] == "STK602" && f["line"] == 5),
        "{}",
        render(&bare)
    );
}

#[test]
fn a_baseline_hides_known_findings_but_not_new_copies() {
    let dir = tempfile::tempdir().unwrap();
    let one = "import subprocess\n\ndef f(c):\n    subprocess.run(c, shell=True)\n";
    std::fs::write(dir.path().join("a.py"), one).unwrap();
    let write = check(dir.path(), &["--write-baseline", "base.json", "a.py"]);
    assert_eq!(write.status.code(), Some(0), "{}", render(&write));
    assert_eq!(
        check(dir.path(), &["--baseline", "base.json", "a.py"]).status.code(),
        Some(0)
    );
    // Moving the line keeps it baselined; a second identical line is new.
    let two = "import subprocess\n\n\n# moved\ndef f(c):\n    subprocess.run(c, shell=True)\n    subprocess.run(c, shell=True)\n";
    std::fs::write(dir.path().join("a.py"), two).unwrap();
    let out = check(dir.path(), &["--format", "json", "--baseline", "base.json", "a.py"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(rules(&out), vec!["STK602"], "{}", render(&out));
    let broken = check(dir.path(), &["--baseline", "a.py", "a.py"]);
    assert_eq!(broken.status.code(), Some(2));
}

#[test]
fn stdin_is_checked_under_its_given_name() {
    use std::io::Write;
    let mut child = stockade()
        .args(["check", "--format", "json", "--stdin-filename", "cell.py", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"import os\nos.system('ls ' + x)\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let found = json(&out);
    assert!(
        !found.is_empty() && found.iter().all(|f| f["path"] == "cell.py"),
        "{found:?}"
    );
}

/// An input the parser gives up on after building a deep tree (found by check_replay): dropping
/// that tree overflowed the main thread's stack when stdin was checked there (SIGSEGV in a
/// debug build); the parse now runs where the parser has room (`with_parser_room`).
#[test]
fn stdin_that_the_parser_abandons_deep_is_a_finding_not_a_crash() {
    use std::io::Write;
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../stockade-check/tests/data/parser_drops_a_deep_tree.py"
    ))
    .unwrap();
    let mut child = stockade()
        .args(["check", "--format", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
    assert!(rules(&out).iter().any(|r| r == "STK002"), "{:?}", rules(&out));
}

#[test]
fn list_rules_names_every_rule_with_its_aliases() {
    let out = stockade()
        .args(["check", "--list-rules", "--format", "json"])
        .output()
        .unwrap();
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rules.len() > 80, "{}", rules.len());
    let b602 = rules.iter().find(|r| r["id"] == "STK602").unwrap();
    assert_eq!(b602["bandit"][0], "B602");
    assert_eq!(b602["ruff"][0], "S602");
}

const ATTACK: &str = "x = ().__class__.__base__.__subclasses__()\nprint(len(x))\n";

#[test]
fn prescreen_refuses_with_reasons_and_accepts_ordinary_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("attack.py"), ATTACK).unwrap();
    std::fs::write(dir.path().join("fine.py"), "import json\nprint(json.dumps([1, 2]))\n").unwrap();
    std::fs::write(dir.path().join("net.py"), "import socket\n").unwrap();
    let refused = check(dir.path(), &["--prescreen", "--format", "json", "attack.py"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(rules(&refused).contains(&"STK902".to_string()), "{}", render(&refused));
    assert_eq!(check(dir.path(), &["--prescreen", "fine.py"]).status.code(), Some(0));
    // Import rules come from the stockade policy (the default one unless named): strict does not
    // allow socket, a policy can.
    let net = check(dir.path(), &["--prescreen", "--format", "json", "net.py"]);
    assert_eq!(rules(&net), vec!["STK901"], "{}", render(&net));
    std::fs::write(
        dir.path().join("net.toml"),
        "version = 1\n[guard.imports]\nallow = ['socket']\n",
    )
    .unwrap();
    let allowed = check(dir.path(), &["--prescreen", "--policy", "net.toml", "net.py"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", render(&allowed));
    // Functions the guard denies are refused too (the strict policy allows importing os, not
    // starting a shell with it); a policy that allows processes accepts the same code.
    std::fs::write(dir.path().join("shell.py"), "import os\nos.system('id')\n").unwrap();
    let shell = check(dir.path(), &["--prescreen", "--format", "json", "shell.py"]);
    assert_eq!(rules(&shell), vec!["STK907"], "{}", render(&shell));
    std::fs::write(
        dir.path().join("proc.toml"),
        "version = 1\n[guard.rules]\nprocess = 'allow'\n",
    )
    .unwrap();
    let allowed = check(dir.path(), &["--prescreen", "--policy", "proc.toml", "shell.py"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", render(&allowed));
    // The code under review cannot wave its own findings through.
    std::fs::write(dir.path().join("hush.py"), "exec(x)  # stockade: ignore[STK903]\n").unwrap();
    let hushed = check(dir.path(), &["--prescreen", "--format", "json", "hush.py"]);
    assert_eq!(rules(&hushed), vec!["STK903"], "{}", render(&hushed));
    // A coding line under which CPython would run other code than the text read is refused.
    std::fs::write(dir.path().join("utf7.py"), "# coding: utf-7\n#+AAo-import os\n").unwrap();
    let utf7 = check(dir.path(), &["--prescreen", "--format", "json", "utf7.py"]);
    assert_eq!(rules(&utf7), vec!["STK002"], "{}", render(&utf7));
    let unparsable = tempfile::tempdir().unwrap();
    std::fs::write(unparsable.path().join("x.py"), "print(1\n").unwrap();
    assert_eq!(
        check(unparsable.path(), &["--prescreen", "x.py"]).status.code(),
        Some(1)
    );
}

#[test]
fn run_refuses_code_the_prescreen_refuses_when_the_policy_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "version = 1\n\n[check]\nprescreen = true\n").unwrap();
    let marker = dir.path().join("ran");
    let attack = format!("{ATTACK}open({:?}, 'w')\n", marker.display().to_string());
    let script = dir.path().join("attack.py");
    std::fs::write(&script, &attack).unwrap();
    let out = stockade()
        .args(["run", "--json", "--policy"])
        .arg(&policy)
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(121), "{}", render(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "refused");
    assert!(
        doc["prescreen"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "STK902"),
        "{doc}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("STK902"),
        "{}",
        render(&out)
    );
    assert!(!marker.exists());
    // Without the key the same policy runs it (the jail is still the boundary).
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "version = 1\n").unwrap();
    let out = stockade()
        .args(["run", "--json", "--policy"])
        .arg(&plain)
        .args(["-c", ATTACK])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(doc["status"], "refused", "{doc}");
    // Ordinary code passes the pre-screen and runs.
    let ok = stockade()
        .args(["run", "--json", "--policy"])
        .arg(&policy)
        .args(["-c", "import json\nprint(json.dumps({'a': [1, 2]}))"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(doc["status"], "ok", "{doc}");
    assert_eq!(doc["stdout"], "{\"a\": [1, 2]}\n");
}

/// The audit over a real code base — the standard library of the interpreter stockade runs with —
/// finishes, fails no file internally, and finds what it should.
#[test]
fn the_standard_library_is_checked_without_internal_errors() {
    let stdlib = std::process::Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .unwrap();
    let stdlib = String::from_utf8(stdlib.stdout).unwrap().trim().to_string();
    let out = stockade()
        .args([
            "check",
            "--format",
            "json",
            "--exit-zero",
            "--isolated",
            "--exclude",
            "site-packages",
        ])
        .arg(&stdlib)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let found = json(&out);
    assert!(found.len() > 1000, "{} findings", found.len());
    let internal: Vec<_> = found
        .iter()
        .filter(|f| f["message"].as_str().unwrap().contains("internal error"))
        .collect();
    assert!(internal.is_empty(), "{internal:?}");
    // Only the deliberately broken test data does not parse.
    for f in found.iter().filter(|f| f["rule"] == "STK001") {
        let path = f["path"].as_str().unwrap();
        assert!(path.contains("/test"), "{path} does not parse: {}", f["message"]);
    }
    for rule in ["STK101", "STK301", "STK602", "STK608"] {
        assert!(found.iter().any(|f| f["rule"] == rule), "no {rule} in the stdlib");
    }
}

/// Ordinary model-written programs — the corpus the jail must run unchanged — pass the default
/// pre-screen, so turning `[check] prescreen` on does not make stockade useless.
#[test]
fn the_ordinary_corpus_passes_the_default_prescreen() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let out = stockade()
        .args(["check", "--prescreen", "--format", "json", "--isolated"])
        .arg(&corpus)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", render(&out));
    let programs = std::fs::read_dir(&corpus)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "py"))
        .count();
    assert!(programs >= 9, "{programs} programs");
}
