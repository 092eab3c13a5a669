//! The audit against the fixture database (real PyPI advisories; tests/fixtures/README.md says
//! where each came from) and realistic requirements, pylock.toml, uv.lock, poetry.lock and venv
//! fixtures.

use std::io::Write;
use std::path::{Path, PathBuf};

use stockade_audit::report::{self, Format};
use stockade_audit::{audit, ignore, Database, Date, Inventory, Level, Report};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn db() -> Database {
    Database::open(&fixtures().join("db")).unwrap()
}

fn today() -> Date {
    Date::new(2026, 12, 7).unwrap()
}

fn inventory(path: &Path) -> Inventory {
    let mut inv = Inventory::default();
    inv.read(path).unwrap_or_else(|e| panic!("{e}"));
    inv
}

fn run(path: &Path) -> Report {
    audit(&inventory(path), &db(), &[], today())
}

/// (package, version, id, fixed_in) of the active findings, sorted.
fn found(r: &Report) -> Vec<(String, String, String, Vec<String>)> {
    let mut v: Vec<_> = r
        .active()
        .map(|f| {
            (
                f.package.to_lowercase(),
                f.version.clone(),
                f.id.clone(),
                f.fixed_in.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

fn row(p: &str, v: &str, id: &str, fixed: &[&str]) -> (String, String, String, Vec<String>) {
    (
        p.into(),
        v.into(),
        id.into(),
        fixed.iter().map(|s| s.to_string()).collect(),
    )
}

#[test]
fn the_fixture_database_loads_and_indexes_by_normalised_name() {
    let db = db();
    assert_eq!(db.len(), 12);
    assert_eq!(
        db.records_for("pillow").count(),
        2,
        "GHSA spells it Pillow, PYSEC pillow"
    );
    assert_eq!(db.records_for("jinja2").count(), 3);
    assert_eq!(db.records_for("Pillow").count(), 0, "lookups take the normalised name");
}

#[test]
fn the_zip_export_reads_like_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    write_zip(&zip_path, &fixtures().join("db"));
    let from_zip = Database::open(&zip_path).unwrap();
    assert_eq!(from_zip.len(), db().len());
    let inv = inventory(&fixtures().join("uv/uv.lock"));
    assert_eq!(
        found(&audit(&inv, &from_zip, &[], today())),
        found(&audit(&inv, &db(), &[], today()))
    );
}

/// A zip of every JSON file under `dir`, named as in the OSV export (`ID.json` at the top).
pub fn write_zip(zip_path: &Path, dir: &Path) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for p in names.iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
        w.start_file(p.file_name().unwrap().to_string_lossy(), opts).unwrap();
        w.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn reading_only_the_records_a_lock_may_need_finds_the_same() {
    for source in [
        "requirements/requirements.txt",
        "uv/uv.lock",
        "pylock/pylock.toml",
        "poetry/poetry.lock",
        "venv",
    ] {
        let inv = inventory(&fixtures().join(source));
        let some = Database::open_for(&fixtures().join("db"), &inv.names()).unwrap();
        assert_eq!(some.total(), 12);
        if source == "uv/uv.lock" {
            // jinja2 (3), requests (2) and urllib3 (2) of the 12.
            assert_eq!(some.len(), 7);
        }
        assert_eq!(
            found(&audit(&inv, &some, &[], today())),
            found(&audit(&inv, &db(), &[], today())),
            "{source}"
        );
    }
}

#[test]
fn requirements_txt_with_includes_constraints_hashes_markers_and_extras() {
    let r = run(&fixtures().join("requirements/requirements.txt"));
    assert_eq!(
        found(&r),
        vec![
            row("cryptography", "41.0.5", "PYSEC-2023-254", &["41.0.6"]),
            // Only GHSA-h5c8 (fixed 3.1.3); PYSEC-2021-66 and -2019-217 were fixed before 3.1.2.
            row("django", "4.2.3", "PYSEC-2024-56", &["4.2.14"]),
            row("jinja2", "3.1.2", "GHSA-h5c8-rqwp-cp95", &["3.1.3"]),
            // pinned by constraints.txt, not by requirements.txt
            row("pillow", "10.0.0", "GHSA-3f63-hfp8-52jq", &["10.2.0"]),
            row("pillow", "10.0.0", "PYSEC-2023-175", &["10.0.1"]),
            // last_affected 1.11.0: no fix exists
            row("py", "1.11.0", "PYSEC-2022-42969", &[]),
            // PYSEC-2023-74 and GHSA-j8r2-6x86-q33q are one advisory (CVE-2023-32681)
            row("requests", "2.28.1", "GHSA-j8r2-6x86-q33q", &["2.31.0"]),
            row("urllib3", "1.26.16", "PYSEC-2023-192", &["1.26.17"]),
            row("urllib3", "1.26.16", "PYSEC-2023-212", &["1.26.18"]),
        ]
    );
    let requests = r.active().find(|f| f.package == "requests").unwrap();
    assert_eq!(requests.aliases, vec!["CVE-2023-32681", "PYSEC-2023-74"]);
    assert_eq!(requests.location.line, Some(17));
    assert!(requests.location.file.ends_with("requirements/requirements.txt"));
    let pillow = r.active().find(|f| f.package == "pillow").unwrap();
    assert!(
        pillow.location.file.ends_with("constraints.txt"),
        "{:?}",
        pillow.location
    );
    let crypto = r.active().find(|f| f.package == "cryptography").unwrap();
    assert!(crypto.location.file.ends_with("base.txt"));
    // pywin32 (pinned, marker not evaluated) is audited: certifi, Jinja2, requests, urllib3,
    // pywin32, Django, pillow, cryptography, py.
    assert_eq!(r.audited, 9);
    let mut skipped: Vec<(String, String)> = r
        .not_audited
        .iter()
        .map(|n| (n.name.clone(), n.reason.clone()))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            (
                "./vendored/mylib".into(),
                "editable (local or VCS source, not a release)".into()
            ),
            (
                "./wheels/local_pkg-1.0-py3-none-any.whl".into(),
                "a path or URL, not a named requirement".into()
            ),
            ("flask".into(), "unpinned (>=2.0)".into()),
            (
                "private-pkg".into(),
                "a direct reference (name @ URL), not a release".into()
            ),
        ]
    );
}

#[test]
fn requirements_errors_name_file_line_and_what() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requirements.txt");
    for (text, expected) in [
        (
            "ok==1.0\nbad=1.0\n",
            ":2: specifier \"=1.0\" has no comparison operator",
        ),
        ("-r missing.txt\n", ":1: -r missing.txt: no such file"),
        (
            "x==1 \\\n  --hash=sha256:zz\n",
            ":1: --hash \"sha256:zz\": not a sha256 hex digest",
        ),
        ("-r requirements.txt\n", "included from itself"),
    ] {
        std::fs::write(&p, text).unwrap();
        let err = Inventory::default().read(&p).unwrap_err().to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
        assert!(err.starts_with(&p.display().to_string()), "{err}");
    }
    std::fs::write(&p, "--frobnicate\nfoo==1.0\n").unwrap();
    let inv = inventory(&p);
    assert_eq!(inv.dependencies.len(), 1);
    assert!(
        inv.warnings[0].contains(":1: unknown option --frobnicate"),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn uv_lock() {
    let r = run(&fixtures().join("uv/uv.lock"));
    assert_eq!(
        found(&r),
        vec![
            row("jinja2", "3.1.2", "GHSA-h5c8-rqwp-cp95", &["3.1.3"]),
            // The second interval of each range (2.0.0 <= v < 2.0.6 / 2.0.7).
            row("urllib3", "2.0.4", "PYSEC-2023-192", &["2.0.6"]),
            row("urllib3", "2.0.4", "PYSEC-2023-212", &["2.0.7"]),
        ]
    );
    assert_eq!(r.audited, 7);
    let jinja = r.active().find(|f| f.package == "jinja2").unwrap();
    assert_eq!(jinja.location.line, Some(42), "the line of its [[package]]");
    let reasons: Vec<&str> = r.not_audited.iter().map(|n| n.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "the project itself (a workspace member)",
            "a git checkout, not a release"
        ]
    );
}

#[test]
fn pylock_toml() {
    let r = run(&fixtures().join("pylock/pylock.toml"));
    assert_eq!(
        found(&r),
        vec![
            // 5.0.6 is in the second interval of PYSEC-2024-56 (5.0 <= v < 5.0.7).
            row("django", "5.0.6", "PYSEC-2024-56", &["5.0.7"]),
            row("pillow", "10.1.0", "GHSA-3f63-hfp8-52jq", &["10.2.0"]),
            row("py", "1.11.0", "PYSEC-2022-42969", &[]),
        ]
    );
    assert_eq!(r.audited, 4);
    let django = r.active().find(|f| f.package == "Django").unwrap();
    assert_eq!(django.location.line, Some(22));
    let mut reasons: Vec<&str> = r.not_audited.iter().map(|n| n.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec!["a VCS checkout, not a release", "a local directory, not a release"]
    );
}

#[test]
fn poetry_lock() {
    let r = run(&fixtures().join("poetry/poetry.lock"));
    assert_eq!(
        found(&r),
        vec![
            row("cryptography", "41.0.5", "PYSEC-2023-254", &["41.0.6"]),
            row("requests", "2.30.0", "GHSA-j8r2-6x86-q33q", &["2.31.0"]),
        ]
    );
    // jinja2 3.1.3 is the fixed release of GHSA-h5c8: clean.
    assert_eq!(r.audited, 5);
    assert_eq!(r.not_audited.len(), 1);
    assert_eq!(r.not_audited[0].name, "shared-utils");
}

#[test]
fn an_installed_venv() {
    let r = run(&fixtures().join("venv"));
    assert_eq!(
        found(&r),
        vec![
            row("pillow", "10.0.0", "GHSA-3f63-hfp8-52jq", &["10.2.0"]),
            row("pillow", "10.0.0", "PYSEC-2023-175", &["10.0.1"]),
            // 2.0.6 fixes PYSEC-2023-192 but not -212.
            row("urllib3", "2.0.6", "PYSEC-2023-212", &["2.0.7"]),
        ]
    );
    // urllib3, Pillow, torch (a local version), requests, oldpkg (egg-info).
    assert_eq!(r.audited, 5);
    let mut reasons: Vec<(String, String)> = r
        .not_audited
        .iter()
        .map(|n| (n.name.clone(), n.reason.clone()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("broken".into(), "no Version header in its metadata".into()),
            (
                "demo-app".into(),
                "an editable install (local source, not a release)".into()
            ),
        ]
    );
    let f = r.active().find(|f| f.package == "urllib3").unwrap();
    assert!(f.location.file.ends_with("urllib3-2.0.6.dist-info/METADATA"));
    assert_eq!(f.location.line, Some(3));
}

#[test]
fn a_project_directory_is_searched_for_its_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("uv/uv.lock"), dir.path().join("uv.lock")).unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "jinja2==2.10\n").unwrap();
    let inv = inventory(dir.path());
    assert_eq!(inv.sources.len(), 2);
    let r = audit(&inv, &db(), &[], today());
    let jinja: Vec<&str> = r
        .active()
        .filter(|f| f.package == "jinja2" && f.version == "2.10")
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(jinja, vec!["GHSA-h5c8-rqwp-cp95", "PYSEC-2019-217", "PYSEC-2021-66"]);
    let empty = tempfile::tempdir().unwrap();
    let err = Inventory::default().read(empty.path()).unwrap_err().to_string();
    assert!(err.contains("nothing to audit"), "{err}");
}

#[test]
fn malformed_lock_files_name_file_line_and_what() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, expected) in [
        (
            "uv.lock",
            "version = 1\n\n[[package]]\nname = \"a\"\nversion = 1.0\n",
            "uv.lock:5: invalid type",
        ),
        (
            "uv.lock",
            "version = 2\n",
            "uv.lock:1: uv.lock version 2 is not one this reader knows",
        ),
        (
            "uv.lock",
            "version = 1\n[[package]]\nname = \"not valid!\"\n",
            "uv.lock:3: package name \"not valid!\"",
        ),
        (
            "poetry.lock",
            "[[package]]\nname = \"x\"\n",
            "poetry.lock:1: missing field `version`",
        ),
        (
            "pylock.toml",
            "lock-version = '2.0'\n",
            "pylock.toml:1: lock-version \"2.0\" is not one",
        ),
        (
            "pylock.toml",
            "lock-version = '1.0'\n[[packages]]\nname = 'a'\nversion = '1' 'x'\n",
            "pylock.toml:4:",
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let err = Inventory::default().read(&p).unwrap_err().to_string();
        assert!(err.contains(expected), "{name} {text:?}: {err}");
    }
}

fn ignores(text: &str) -> Vec<stockade_audit::Ignore> {
    ignore::parse(Path::new("audit-ignore.toml"), text).unwrap()
}

#[test]
fn ignores_apply_by_id_or_alias_until_they_expire() {
    let inv = inventory(&fixtures().join("poetry/poetry.lock"));
    let list = ignores(
        "[[ignore]]\nid = \"CVE-2023-32681\"\nreason = \"no proxies with credentials\"\nexpires = 2026-12-07\n\n\
         [[ignore]]\nid = \"PYSEC-2023-254\"\npackage = \"cryptography\"\nreason = \"no PKCS7\"\nexpires = 2026-12-06\n\n\
         [[ignore]]\nid = \"GHSA-0000-0000-0000\"\nreason = \"stale\"\nexpires = 2030-01-01\n",
    );
    let r = audit(&inv, &db(), &list, today());
    // The CVE alias ignores the requests finding through its last day.
    let requests = r.findings.iter().find(|f| f.package == "requests").unwrap();
    assert_eq!(requests.ignored.as_ref().unwrap().reason, "no proxies with credentials");
    // The cryptography ignore expired yesterday: the finding is active again, and says so.
    let crypto = r.active().find(|f| f.package == "cryptography").unwrap();
    assert_eq!(
        crypto.expired_ignore.as_ref().unwrap().expires.to_string(),
        "2026-12-06"
    );
    assert_eq!(r.active().count(), 1);
    assert_eq!(r.unused_ignores.len(), 1);
    assert_eq!(r.unused_ignores[0].id, "GHSA-0000-0000-0000");
    let text = report::render(&r, Format::Text, Level::Low);
    assert!(
        text.contains("expired on 2026-12-06 and no longer applies (no PKCS7)"),
        "{text}"
    );
    assert!(
        text.contains("GHSA-0000-0000-0000 at audit-ignore.toml:12 matched nothing"),
        "{text}"
    );
    // A day later both apply no longer.
    let later = audit(&inv, &db(), &list, Date::new(2026, 12, 8).unwrap());
    assert_eq!(later.active().count(), 2);
    // An ignore for another package does not apply.
    let other =
        ignores("[[ignore]]\nid = \"PYSEC-2023-254\"\npackage = \"pyopenssl\"\nreason = \"r\"\nexpires = 2030-01-01\n");
    assert_eq!(audit(&inv, &db(), &other, today()).active().count(), 2);
}

#[test]
fn severities_and_fail_on_thresholds() {
    let r = run(&fixtures().join("requirements/requirements.txt"));
    let level = |id: &str| r.findings.iter().find(|f| f.id == id).unwrap().severity.clone();
    // CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H
    assert_eq!(
        (level("GHSA-3f63-hfp8-52jq").level, level("GHSA-3f63-hfp8-52jq").score),
        (Level::High, Some(8.1))
    );
    assert_eq!(level("GHSA-h5c8-rqwp-cp95").level, Level::Medium);
    assert_eq!(level("PYSEC-2023-254").score, Some(7.5));
    assert_eq!(level("PYSEC-2023-212").level, Level::Medium);
    // No severity in the record (and no alias with one): unknown, which fails at every threshold.
    for id in ["PYSEC-2022-42969", "PYSEC-2023-175", "PYSEC-2024-56"] {
        assert_eq!(level(id).level, Level::Unknown, "{id}");
    }
    assert_eq!(level("PYSEC-2023-192").score, Some(8.1));
    let unknown = 3;
    assert_eq!(r.failing(Level::Low), 9);
    assert_eq!(r.failing(Level::Medium), 9, "the rest are medium or above");
    assert_eq!(
        r.failing(Level::High),
        unknown + 3,
        "pillow 8.1, urllib3 8.1, cryptography 7.5"
    );
    assert_eq!(r.failing(Level::Critical), unknown);
}

#[test]
fn json_report_lists_everything() {
    let r = run(&fixtures().join("uv/uv.lock"));
    let v: serde_json::Value = serde_json::from_str(&report::render(&r, Format::Json, Level::High)).unwrap();
    assert_eq!(v["schema"], "stockade.audit/1");
    assert_eq!(v["audited"], 7);
    assert_eq!(v["findings"].as_array().unwrap().len(), 3);
    // Two medium, and PYSEC-2023-192 at 8.1.
    assert_eq!(v["failing"], 1);
    assert_eq!(v["findings"][0]["id"], "GHSA-h5c8-rqwp-cp95");
    assert_eq!(v["findings"][0]["severity"]["score"], 5.4);
    assert_eq!(v["findings"][0]["location"]["line"], 42);
    assert_eq!(v["not_audited"].as_array().unwrap().len(), 2);
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let inv = inventory(&fixtures().join("requirements/requirements.txt"));
    let list = ignores("[[ignore]]\nid = \"CVE-2023-32681\"\nreason = \"no proxies\"\nexpires = 2030-01-01\n");
    let r = audit(&inv, &db(), &list, today());
    let sarif: serde_json::Value = serde_json::from_str(&report::render(&r, Format::Sarif, Level::Low)).unwrap();

    let schema_path = fixtures().join("sarif/sarif-schema-2.1.0.json");
    let schema_json: serde_json::Value = serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let url = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
    compiler.add_resource(url, schema_json).unwrap();
    let index = compiler.compile(url, &mut schemas).unwrap();
    if let Err(e) = schemas.validate(&sarif, index) {
        panic!("SARIF does not validate: {e:#}");
    }
    // And the validator does reject what the schema forbids (so the check above can fail).
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("severe");
    assert!(schemas.validate(&broken, index).is_err());

    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    let suppressed: Vec<&serde_json::Value> = results.iter().filter(|r| r.get("suppressions").is_some()).collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["ruleId"], "GHSA-j8r2-6x86-q33q");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
    }
}

/// Hostile input never panics: every fixture source, truncated at many points and with bytes
/// replaced by characters that break tokens (quotes, brackets, backslashes, multi-byte UTF-8),
/// reads to a result or an error. So does every fixture record, likewise mangled, as a database.
#[test]
fn mangled_sources_and_records_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        ("requirements.txt", "requirements/requirements.txt"),
        ("uv.lock", "uv/uv.lock"),
        ("pylock.toml", "pylock/pylock.toml"),
        ("poetry.lock", "poetry/poetry.lock"),
    ];
    let inserts: [&[u8]; 8] = [
        b"\"",
        b"[",
        b"\\",
        "é".as_bytes(),
        "\n-é".as_bytes(),
        b"==",
        b"\x00",
        &[0xff],
    ];
    let mut tried = 0;
    let fixture_db = db();
    for (name, fixture) in sources {
        let original = std::fs::read(fixtures().join(fixture)).unwrap();
        let path = dir.path().join(name);
        let step = (original.len() / 30).max(1);
        for at in (0..original.len()).step_by(step) {
            for (k, insert) in inserts.iter().enumerate() {
                let mut mangled = original[..at].to_vec();
                mangled.extend_from_slice(insert);
                // Every other variant keeps the rest of the file, the others cut it here.
                if k % 2 == 0 {
                    mangled.extend_from_slice(&original[(at + 1).min(original.len())..]);
                }
                std::fs::write(&path, &mangled).unwrap();
                let mut inv = Inventory::default();
                let _ = inv.read(&path);
                let _ = audit(&inv, &fixture_db, &[], today());
                tried += 1;
            }
        }
    }
    let db_dir = dir.path().join("db");
    std::fs::create_dir(&db_dir).unwrap();
    let inv = inventory(&fixtures().join("requirements/requirements.txt"));
    for entry in std::fs::read_dir(fixtures().join("db")).unwrap() {
        let original = std::fs::read(entry.unwrap().path()).unwrap();
        let step = (original.len() / 10).max(1);
        for at in (0..original.len()).step_by(step) {
            for insert in [inserts[0], inserts[2], inserts[3], inserts[7]] {
                let mut mangled = original[..at].to_vec();
                mangled.extend_from_slice(insert);
                mangled.extend_from_slice(&original[(at + 1).min(original.len())..]);
                std::fs::write(db_dir.join("r.json"), &mangled).unwrap();
                if let Ok(db) = Database::open(&db_dir) {
                    let _ = audit(&inv, &db, &[], today());
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 1500, "{tried}");
}

#[test]
fn a_stale_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    write_zip(&zip_path, &fixtures().join("db"));
    let inv = inventory(&fixtures().join("poetry/poetry.lock"));
    let fresh = audit(&inv, &Database::open(&zip_path).unwrap(), &[], today());
    assert_eq!(fresh.database.age_days, Some(0));
    assert!(
        !fresh.warnings.iter().any(|w| w.contains("days old")),
        "{:?}",
        fresh.warnings
    );
    let ten_days = std::time::Duration::from_secs(10 * 86_400 + 60);
    std::fs::File::options()
        .write(true)
        .open(&zip_path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - ten_days)
        .unwrap();
    let stale = audit(&inv, &Database::open(&zip_path).unwrap(), &[], today());
    assert_eq!(stale.database.age_days, Some(10));
    assert!(
        stale
            .warnings
            .iter()
            .any(|w| w.contains("is 10 days old") && w.contains("update-db")),
        "{:?}",
        stale.warnings
    );
    let v: serde_json::Value = serde_json::from_str(&report::render(&stale, Format::Json, Level::Low)).unwrap();
    assert_eq!(v["database"]["age_days"], 10);
}
