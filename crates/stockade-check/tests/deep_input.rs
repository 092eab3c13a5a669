//! Hostile code whose parse builds, then abandons, a deep tree (found by check_replay). Every
//! entry point that parses code on its caller's thread — the check (`stockade check -`, the
//! pre-screen) and the shape the runner sends with each run — must survive it on a process's
//! main thread, where a supervisor calls them: that is why this test has no harness (its
//! `main` is the process's main thread). Before the fix a supervisor died of it (SIGSEGV) and
//! `stockade.run` raised WorkerLost.

const INPUT: &[u8] = include_bytes!("data/parser_drops_a_deep_tree.py");

fn main() {
    let source = String::from_utf8_lossy(INPUT).into_owned();
    // It does not parse: no shape (the interpreter reports the syntax error).
    assert!(stockade_check::code_shape(&source).is_none());
    let settings = stockade_check::Settings::new(stockade_check::Profile::Audit);
    let findings = stockade_check::check_source("deep.py", &source, &settings).findings;
    assert!(
        findings
            .iter()
            .any(|f| f.rule == stockade_check::RuleId::UnreadableFile),
        "{findings:?}"
    );
    let settings = stockade_check::Settings::new(stockade_check::Profile::Prescreen);
    let findings = stockade_check::check_source("deep.py", &source, &settings).findings;
    assert!(!findings.is_empty(), "the pre-screen accepted it");
    println!("deep_input: the shape, the audit and the pre-screen survived a deep abandoned tree on the main thread");
}
