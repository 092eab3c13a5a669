//! docs/check-rules.md is generated from the rule registry; this test fails when they drift.
//! Regenerate with `STOCKADE_BLESS=1 cargo test -p stockade-check --test rules_doc`.

use stockade_check::registry::ALL;

fn render() -> String {
    let mut out = String::from(
        "# stockade check: rules\n\n\
         Generated from `crates/stockade-check/src/registry.rs` by `tests/rules_doc.rs`; do not edit by hand.\n\n\
         Ids are stable. STK0xx are about the file itself and are reported in every profile; STK1xx–STK7xx follow \
         Bandit's numbering (`B602` is `STK602`); STK8xx go beyond Bandit (taint tracking, secrets, web \
         settings); STK9xx make up the pre-screen (`--prescreen`). Suppressions and `--select`/`--ignore` accept \
         the id, the name, the Bandit id or the ruff code.\n\n\
         | id | name | profile | severity | confidence | CWE | Bandit | ruff | what it finds |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for rule in ALL {
        let m = rule.meta();
        let profile = format!("{:?}", m.profile).to_lowercase();
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | [CWE-{}](https://cwe.mitre.org/data/definitions/{}.html) | {} | {} | {} |\n",
            m.id,
            m.name,
            profile,
            m.severity.as_str(),
            m.confidence.as_str(),
            m.cwe,
            m.cwe,
            m.bandit.join(", "),
            m.ruff.join(", "),
            m.summary.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn rules_doc_matches_the_registry() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/check-rules.md");
    let want = render();
    if std::env::var_os("STOCKADE_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/check-rules.md is out of date; rerun with STOCKADE_BLESS=1"
    );
}
