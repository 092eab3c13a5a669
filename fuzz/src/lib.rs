//! The properties the fuzz targets check, each shared by a libFuzzer target and a stable
//! replay/mutation harness: [`check`] for the policy parser (`fuzz_targets/policy_parse.rs`,
//! `src/bin/policy_replay.rs`), [`check_python`] for the Python checker
//! (`fuzz_targets/check_source.rs`, `src/bin/check_replay.rs`), and [`protocol`] for the
//! protocol decoders and the guard's event reader (`fuzz_targets/protocol_*.rs`,
//! `fuzz_targets/guard_events.rs`, `src/bin/{frames,answer,messages,names,events}_replay.rs`).
//! [`replay`] holds what the stable harnesses share, [`protocol_replay`] the protocol
//! harnesses' driver, and [`alloc`] a counting allocator for the decoders' memory bounds.

use std::sync::LazyLock;
use stockade_check::{Finding, Profile, RuleId, Settings};
use stockade_policy::Policy;

pub mod alloc;
pub mod protocol;
pub mod protocol_replay;
pub mod replay;

/// Feed one input to the parser.
///
/// - `Policy::from_toml` must return (`Ok` or `Err`), never panic;
/// - a policy that parses must survive `to_toml()` → `from_toml()` with equality.
///
/// Panics (which the harnesses report as a crash) when a property does not hold.
pub fn check(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::from_toml(src, "fuzz.toml") else {
        return;
    };
    let printed = policy.to_toml();
    match Policy::from_toml(&printed, "printed.toml") {
        Ok(again) => assert!(
            again == policy,
            "round trip changed the policy\n--- input ---\n{src}\n--- printed ---\n{printed}\n--- first ---\n{policy:#?}\n--- again ---\n{again:#?}"
        ),
        Err(e) => panic!("the printed policy does not parse back: {e}\n--- input ---\n{src}\n--- printed ---\n{printed}"),
    }
}

/// The settings the checker is fuzzed with: the audit, and the pre-screen as stockade runs it
/// (a forbidden-import list, an allowed list, suppressions ignored).
static CHECK_SETTINGS: LazyLock<[Settings; 3]> = LazyLock::new(|| {
    let audit = Settings::new(Profile::Audit);
    let mut prescreen = Settings::new(Profile::Prescreen);
    prescreen.forbidden_imports = ["os", "subprocess", "socket", "ctypes", "importlib", "builtins"]
        .map(String::from)
        .to_vec();
    prescreen.honour_suppressions = false;
    let mut allowlist = Settings::new(Profile::Prescreen);
    allowlist.allowed_imports = Some(
        ["json", "math", "collections", "dataclasses", "typing"]
            .map(String::from)
            .to_vec(),
    );
    [audit, prescreen, allowlist]
});

/// The message `stockade_check::check_source` gives a file when the checker panicked on it (the
/// panic is caught and reported as STK002, so it has to be looked for).
const INTERNAL_ERROR: &str = "internal error";

/// Feed one input to the Python checker, as UTF-8 text (or, when it is not UTF-8, as the lossy
/// decoding and as its valid prefix).
///
/// - `check_source` must not fail internally (a caught panic becomes an STK002 "internal error"
///   finding; that is a crash here) and must return;
/// - every finding must point into the text (1-based line and column, end not before start);
/// - checking the same text again (from the same buffer) gives the same findings: no per-file
///   state may leak from one check into the next.
///
/// Panics (which the harnesses report as a crash) when a property does not hold. Returns a coarse
/// outcome class for the mutation harness: the sorted rule ids that fired (it keeps inputs that
/// reach a new combination).
pub fn check_python(data: &[u8]) -> String {
    let mut ids = Vec::new();
    match std::str::from_utf8(data) {
        Ok(text) => check_text(text, &mut ids),
        Err(e) => {
            ids.push("utf8");
            check_text(&String::from_utf8_lossy(data), &mut ids);
            check_text(std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or(""), &mut ids);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids.join(",")
}

fn check_text(text: &str, ids: &mut Vec<&'static str>) {
    let lines = text.split(['\n']).count().max(1);
    for settings in CHECK_SETTINGS.iter() {
        let report = stockade_check::check_source("fuzz.py", text, settings);
        if let Some(f) = report
            .findings
            .iter()
            .find(|f| f.rule == RuleId::UnreadableFile && f.message.contains(INTERNAL_ERROR))
        {
            panic!(
                "the checker failed internally ({:?} profile): {}",
                settings.profile, f.message
            );
        }
        for f in &report.findings {
            assert!(
                f.line >= 1 && f.column >= 1 && f.line <= lines + 1 && (f.end_line, f.end_column) >= (f.line, f.column),
                "finding outside the text ({} lines): {f:?}",
                lines
            );
        }
        ids.extend(report.findings.iter().map(|f| f.rule.meta().id));
        let again = stockade_check::check_source("fuzz.py", text, settings);
        assert!(
            same(&report.findings, &again.findings),
            "checking the same text twice gave different findings ({:?} profile)\n--- first ---\n{}\n--- again ---\n{}",
            settings.profile,
            show(&report.findings),
            show(&again.findings)
        );
    }
}

fn same(a: &[Finding], b: &[Finding]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.rule, x.line, x.column, &x.message) == (y.rule, y.line, y.column, &y.message))
}

fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{}:{} {} {}", f.line, f.column, f.rule.meta().id, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}
