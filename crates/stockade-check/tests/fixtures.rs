//! One fixture per rule: `tests/fixtures/<ID>.py`.
//!
//! A line ending in `# expect: STK602` must be flagged by that rule on that line; every other line
//! must not be. Each fixture also has `# ok` lines: close variants (the safe spelling, the same call
//! with the dangerous argument off, a look-alike name) that must not be flagged. The fixture is
//! checked with only its own rule selected, so rules cannot hide each other's mistakes. A header
//! line `# settings: forbidden-imports=os,subprocess` sets pre-screen options; `select=STK003,STK101`
//! selects more rules than the fixture's own (findings of the others are ignored), for rules that
//! are about other rules' findings.

use std::collections::BTreeSet;
use stockade_check::registry::ALL;
use stockade_check::{check_source, Profile, RuleId, Settings};

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn settings_for(rule: RuleId, source: &str) -> Settings {
    let profile = match rule.meta().profile {
        Profile::Prescreen => Profile::Prescreen,
        _ => Profile::Audit,
    };
    let mut settings = Settings::new(profile);
    settings.select(&[rule.meta().id.to_string()]).unwrap();
    for line in source.lines().filter_map(|l| l.strip_prefix("# settings:")) {
        for setting in line.split_whitespace() {
            let (key, value) = setting.split_once('=').expect("setting is key=value");
            let list: Vec<String> = value.split(',').map(str::to_string).collect();
            match key {
                "forbidden-imports" => settings.forbidden_imports = list,
                "allowed-imports" => settings.allowed_imports = Some(list),
                "forbidden-calls" => settings.forbidden_calls = list,
                "allow-bare-suppressions" => settings.allow_bare_suppressions = value == "true",
                "select" => settings.select(&list).expect("select= names rules"),
                other => panic!("unknown fixture setting {other}"),
            }
        }
    }
    settings
}

fn check_fixture(rule: RuleId) -> Result<(), String> {
    let id = rule.meta().id;
    let path = fixture_dir().join(format!("{id}.py"));
    let source = std::fs::read_to_string(&path).map_err(|e| format!("{id}: no fixture {}: {e}", path.display()))?;
    let settings = settings_for(rule, &source);
    let report = check_source(&format!("{id}.py"), &source, &settings);
    let expected: BTreeSet<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.split("# expect:")
                .nth(1)
                .is_some_and(|ids| ids.split([',', ' ']).any(|x| x == id))
        })
        .map(|(i, _)| i + 1)
        .collect();
    let ok_lines = source
        .lines()
        .filter(|l| l.trim_end().ends_with("# ok") || l.contains("# ok:"))
        .count();
    let actual: BTreeSet<usize> = report
        .findings
        .iter()
        .filter(|f| f.rule == rule && f.is_active())
        .map(|f| f.line)
        .collect();
    let mut problems = Vec::new();
    if expected.is_empty() {
        problems.push("no `# expect:` line".to_string());
    }
    if ok_lines == 0 {
        problems.push("no `# ok` line (a close variant that must not be flagged)".to_string());
    }
    for line in expected.difference(&actual) {
        problems.push(format!("line {line} should be flagged but is not"));
    }
    for line in actual.difference(&expected) {
        let f = report
            .findings
            .iter()
            .find(|f| f.line == *line && f.rule == rule)
            .unwrap();
        problems.push(format!("line {line} is flagged but should not be: {}", f.message));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{id} ({}):\n  {}", path.display(), problems.join("\n  ")))
    }
}

#[test]
fn every_rule_has_a_fixture_and_passes_it() {
    let failures: Vec<String> = ALL.iter().filter_map(|r| check_fixture(*r).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} rules fail their fixture:\n{}",
        failures.len(),
        ALL.len(),
        failures.join("\n")
    );
}
