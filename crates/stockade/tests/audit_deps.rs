//! `stockade audit` of dependencies, through the binary: exit codes by `--fail-on`, the three
//! formats, auto-detection in the working directory, the ignore file, errors, and `update-db`
//! against a local HTTP server (and refusing cleanly when the server cannot be reached). The
//! store's `audit verify` keeps working beside them.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::stockade;

fn fixtures() -> PathBuf {
    common::repo().join("crates/stockade-audit/tests/fixtures")
}

fn db() -> String {
    fixtures().join("db").display().to_string()
}

fn audit(dir: &Path, args: &[&str]) -> Output {
    stockade()
        .current_dir(dir)
        .env_remove("STOCKADE_AUDIT_DB")
        .arg("audit")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (Option<i32>, String, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_follow_fail_on() {
    let lock = fixtures().join("uv/uv.lock").display().to_string();
    let cwd = fixtures();
    // jinja2 medium 5.4, urllib3 high 8.1 and medium 4.2.
    for (level, expected) in [("low", 1), ("medium", 1), ("high", 1), ("critical", 0)] {
        let (code, out, err) = text(&audit(&cwd, &[&lock, "--db", &db(), "--fail-on", level]));
        assert_eq!(code, Some(expected), "--fail-on {level}\n{out}{err}");
        assert!(out.contains("GHSA-h5c8-rqwp-cp95"), "{out}");
    }
    // poetry.lock has requests (6.1) and cryptography (7.5); at critical it passes.
    let poetry = fixtures().join("poetry/poetry.lock").display().to_string();
    assert_eq!(
        audit(&cwd, &[&poetry, "--db", &db(), "--fail-on", "critical"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        audit(&cwd, &[&poetry, "--db", &db(), "--fail-on", "high"])
            .status
            .code(),
        Some(1)
    );
    let (code, _, err) = text(&audit(&cwd, &[&poetry, "--db", &db(), "--fail-on", "severe"]));
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn a_clean_project_exits_0_and_unknown_severity_always_counts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "requests==2.31.0\njinja2==3.1.3\n").unwrap();
    let (code, out, _) = text(&audit(dir.path(), &["--db", &db()]));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 known vulnerabilities in 0 of 2 audited dependencies"),
        "{out}"
    );
    // PYSEC-2022-42969 (py, last_affected) has no severity: it fails even at critical.
    std::fs::write(dir.path().join("requirements.txt"), "py==1.11.0\n").unwrap();
    let (code, out, _) = text(&audit(dir.path(), &["--db", &db(), "--fail-on", "critical"]));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("[unknown]") && out.contains("no fixed release known"),
        "{out}"
    );
}

#[test]
fn the_working_directory_is_searched_and_the_database_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("poetry/poetry.lock"), dir.path().join("poetry.lock")).unwrap();
    let out = stockade()
        .current_dir(dir.path())
        .env("STOCKADE_AUDIT_DB", db())
        .args(["audit", "--format", "json"])
        .output()
        .unwrap();
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, Some(1), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["sources"][0]["path"], "poetry.lock");
    assert_eq!(v["sources"][0]["kind"], "poetry-lock");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["PYSEC-2023-254", "GHSA-j8r2-6x86-q33q"]);
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = text(&audit(empty.path(), &["--db", &db()]));
    assert_eq!(code, Some(2));
    assert!(err.contains("nothing to audit in .: no pylock.toml, uv.lock"), "{err}");
}

#[test]
fn sarif_and_json_outputs_are_documents() {
    let dir = tempfile::tempdir().unwrap();
    let venv = fixtures().join("venv").display().to_string();
    let sarif_path = dir.path().join("out.sarif");
    let out = audit(
        dir.path(),
        &[&venv, "--db", &db(), "--format", "sarif", "-o", "out.sarif"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "-o writes the file, not stdout");
    let sarif: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif_path).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with("file:///") && uri.ends_with("/METADATA"), "{uri}");
    // pillow's GHSA (8.1) is an error; urllib3's PYSEC-2023-212 (4.2) a warning.
    let level = |rule: &str| {
        results.iter().find(|r| r["ruleId"] == rule).unwrap()["level"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(level("GHSA-3f63-hfp8-52jq"), "error");
    assert_eq!(level("PYSEC-2023-212"), "warning");
}

#[test]
fn the_ignore_file_suppresses_until_its_date_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("requirements.txt"),
        "cryptography==41.0.5\nrequests==2.30.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ignore.toml"),
        "[[ignore]]\nid = \"CVE-2023-49083\"\nreason = \"we load no PKCS7\"\nexpires = 2999-01-01\n\n\
         [[ignore]]\nid = \"GHSA-j8r2-6x86-q33q\"\nreason = \"no proxies\"\nexpires = 2001-01-01\n",
    )
    .unwrap();
    let (code, out, _) = text(&audit(dir.path(), &["--db", &db(), "--ignore", "ignore.toml"]));
    assert_eq!(code, Some(1), "the expired ignore no longer applies\n{out}");
    assert!(
        out.contains("expired on 2001-01-01 and no longer applies (no proxies)"),
        "{out}"
    );
    assert!(
        out.contains("ignored:\n  cryptography 41.0.5  PYSEC-2023-254  until 2999-01-01: we load no PKCS7"),
        "{out}"
    );
    std::fs::write(
        dir.path().join("ignore.toml"),
        "[[ignore]]\nid = \"GHSA-j8r2-6x86-q33q\"\nreason = \"no proxies\"\nexpires = 2999-01-01\n\n\
         [[ignore]]\nid = \"PYSEC-2023-254\"\nreason = \"no PKCS7\"\nexpires = 2999-01-01\n",
    )
    .unwrap();
    let (code, out, _) = text(&audit(dir.path(), &["--db", &db(), "--ignore", "ignore.toml"]));
    assert_eq!(code, Some(0), "{out}");
    std::fs::write(
        dir.path().join("ignore.toml"),
        "[[ignore]]\nid = \"X\"\nexpires = 2999-01-01\n",
    )
    .unwrap();
    let (code, _, err) = text(&audit(dir.path(), &["--db", &db(), "--ignore", "ignore.toml"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("ignore.toml:1: ignore X has no reason"), "{err}");
}

#[test]
fn errors_exit_2_and_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("uv.lock"), "version = 1\n[[package]]\nname = 3\n").unwrap();
    let (code, _, err) = text(&audit(dir.path(), &["--db", &db()]));
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("stockade: audit: uv.lock:3: invalid type: integer"),
        "{err}"
    );
    let (code, _, err) = text(&audit(dir.path(), &["--db", "no-such-db", "missing.txt"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("missing.txt: No such file"), "{err}");
    std::fs::write(dir.path().join("requirements.txt"), "a==1\n").unwrap();
    std::fs::write(dir.path().join("bad.zip"), "not a zip").unwrap();
    let (code, _, err) = text(&audit(dir.path(), &["requirements.txt", "--db", "bad.zip"]));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("bad.zip: neither a directory nor a zip of OSV records"),
        "{err}"
    );
}

/// A one-shot HTTP server on loopback answering every request with `body`.
fn serve(body: Vec<u8>, status: &str) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/PyPI/all.zip", listener.local_addr().unwrap());
    let status = status.to_string();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut req = [0u8; 4096];
        let _ = conn.read(&mut req);
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&body).unwrap();
    });
    (url, handle)
}

/// The fixture records zipped as OSV's export is, with the system's Python.
fn fixture_zip(to: &Path) {
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile, pathlib\n\
             with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
             \x20   for p in sorted(pathlib.Path(sys.argv[1]).glob('*.json')): z.write(p, p.name)\n",
        ])
        .arg(fixtures().join("db"))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn update_db_downloads_checks_and_replaces_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("fixture.zip");
    fixture_zip(&zip);
    let (url, server) = serve(std::fs::read(&zip).unwrap(), "200 OK");
    let target = dir.path().join("cache/osv-pypi.zip");
    let out = stockade()
        .env("STOCKADE_AUDIT_DB_URL", &url)
        .args(["audit", "update-db", "--db"])
        .arg(&target)
        .output()
        .unwrap();
    server.join().unwrap();
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("12 records"), "{stdout}");
    let lock = fixtures().join("uv/uv.lock");
    let out = stockade()
        .arg("audit")
        .arg(&lock)
        .arg("--db")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PYSEC-2023-212"));

    // A server error or a body that is not the export leaves the good database in place.
    for (body, status, what) in [
        (b"nope".to_vec(), "404 Not Found", "the server answered 404 Not Found"),
        (
            b"<html>captive portal</html>".to_vec(),
            "200 OK",
            "neither a directory nor a zip",
        ),
    ] {
        let (url, server) = serve(body, status);
        let out = stockade()
            .env("STOCKADE_AUDIT_DB_URL", &url)
            .args(["audit", "update-db", "--db"])
            .arg(&target)
            .output()
            .unwrap();
        server.join().unwrap();
        let (code, _, stderr) = text(&out);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
        assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(&zip).unwrap());
        assert!(!dir.path().join("cache/osv-pypi.zip.partial").exists());
    }
}

#[test]
fn update_db_without_a_route_says_so() {
    // Port 9 (discard) on loopback: nothing listens, so the connection is refused, as it would be
    // without a network.
    let dir = tempfile::tempdir().unwrap();
    let out = stockade()
        .env("STOCKADE_AUDIT_DB_URL", "http://127.0.0.1:9/PyPI/all.zip")
        .args(["audit", "update-db", "--db"])
        .arg(dir.path().join("db.zip"))
        .output()
        .unwrap();
    let (code, _, err) = text(&out);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot download http://127.0.0.1:9/PyPI/all.zip"), "{err}");
    assert!(err.contains("no network here?"), "{err}");
    let out = stockade()
        .args(["audit", "update-db", "--db"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (code, _, err) = text(&out);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("is a directory; update-db writes the PyPI export zip"),
        "{err}"
    );
}

#[test]
fn the_store_subcommands_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = stockade()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("audit chain intact: 0 records"), "{stdout}");
    let help = text(&stockade().args(["audit", "--help"]).output().unwrap()).1;
    for word in ["verify", "export", "update-db", "--fail-on", "--ignore", "--db"] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
}

/// The CLI's SARIF against the OASIS schema once more, with Python's `jsonschema` (the reference
/// implementation most SARIF consumers use), when the repository's venv has it. The same check
/// runs in-process in stockade-audit's tests (boon) on every machine, so a missing venv skips
/// only this second opinion, saying so.
#[test]
fn sarif_passes_python_jsonschema_too() {
    let python = common::repo().join("target/pyvenv/bin/python");
    let has_jsonschema = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import jsonschema"])
            .status()
            .is_ok_and(|s| s.success());
    if !has_jsonschema {
        eprintln!("skipped: no target/pyvenv with jsonschema (scripts/test installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ignore.toml"),
        "[[ignore]]\nid = \"CVE-2023-32681\"\nreason = \"no proxies\"\nexpires = 2999-01-01\n",
    )
    .unwrap();
    let req = fixtures().join("requirements/requirements.txt").display().to_string();
    let out = audit(
        dir.path(),
        &[
            &req,
            "--db",
            &db(),
            "--format",
            "sarif",
            "-o",
            "out.sarif",
            "--ignore",
            "ignore.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let schema = fixtures().join("sarif/sarif-schema-2.1.0.json");
    let check = std::process::Command::new(&python)
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))\n\
             jsonschema.validators.validator_for(schema)(schema).validate(doc)\n\
             bad = dict(doc, version='2.0.0')\n\
             assert not jsonschema.validators.validator_for(schema)(schema).is_valid(bad)\n\
             print(len(doc['runs'][0]['results']), 'results valid')\n",
        ])
        .arg(&schema)
        .arg(dir.path().join("out.sarif"))
        .output()
        .unwrap();
    let (code, stdout, stderr) = text(&check);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("9 results valid"), "{stdout}");
}

/// docs/audit.md documents every flag and subcommand `stockade audit --help` lists, and every
/// environment variable the command reads.
#[test]
fn docs_audit_md_covers_the_help() {
    let doc = std::fs::read_to_string(common::repo().join("docs/audit.md")).unwrap();
    let help = text(&stockade().args(["audit", "--help"]).output().unwrap()).1;
    let mut flags: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2 && w != &"--help")
        .collect();
    flags.sort();
    flags.dedup();
    assert!(flags.len() >= 5, "{flags:?}");
    for item in flags.into_iter().chain([
        "update-db",
        "verify",
        "export",
        "STOCKADE_AUDIT_DB",
        "STOCKADE_AUDIT_DB_URL",
    ]) {
        assert!(doc.contains(item), "docs/audit.md does not mention {item}");
    }
    let update_help = text(&stockade().args(["audit", "update-db", "--help"]).output().unwrap()).1;
    assert!(update_help.contains("--db"), "{update_help}");
}
