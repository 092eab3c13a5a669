//! The policy's `[check] prescreen` hooked up to runs: code the pre-screen refuses never
//! reaches a jail, and the refusal is an ordinary result (status `refused`, the findings).

use stockade_check::{Finding, Profile, RuleId, Settings};
use stockade_policy::Policy;
use stockade_protocol::{RunResult, Status};

/// Functions the guard's `process` class covers (`[guard.rules] process`).
const PROCESS_CALLS: &[&str] = &[
    "os.system",
    "os.popen",
    "os.exec*",
    "os.spawn*",
    "os.posix_spawn*",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "pty.spawn",
    "pty.fork",
    "subprocess.*",
    "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
    "asyncio.subprocess.*",
    "_posixsubprocess.*",
];

/// Functions the guard's `signal` class covers when aimed at another process.
const SIGNAL_CALLS: &[&str] = &[
    "os.kill",
    "os.killpg",
    "signal.pidfd_send_signal",
    "signal.pthread_kill",
];

/// The pre-screen refuses what the policy's guard would refuse: imports by the guard's own
/// matching (longest entry wins, deny beats allow, venv packages), and the functions of the
/// process, signal and ctypes classes when the guard denies them — so both layers agree.
pub fn apply_policy(settings: &mut Settings, policy: &Policy) {
    let guard = &policy.guard;
    if guard.enabled && guard.mode == stockade_policy::GuardMode::Enforce {
        let denied = |d: stockade_policy::Decision| d == stockade_policy::Decision::Deny;
        let mut calls: Vec<&str> = Vec::new();
        if denied(guard.rules.process) {
            calls.extend(PROCESS_CALLS);
        }
        if denied(guard.rules.signal) {
            calls.extend(SIGNAL_CALLS);
        }
        if denied(guard.rules.ctypes) {
            calls.extend(["ctypes.*", "_ctypes.*", "cffi.*"]);
        }
        settings.forbidden_calls.extend(calls.into_iter().map(str::to_string));
    }
    let rules = policy.guard.imports.clone();
    let venv_packages = policy
        .python
        .venv
        .as_deref()
        .map(stockade_jail::interpreter::venv_modules)
        .unwrap_or_default();
    settings.import_policy = Some(std::sync::Arc::new(move |module: &str| {
        let top = module.split('.').next().unwrap_or(module);
        if rules.allows(module, venv_packages.iter().any(|p| p == top)) {
            None
        } else {
            Some("the policy's [guard.imports] does not allow it".to_string())
        }
    }));
}

/// Pre-screens code about to run under `policy`; returns the reasons it is refused (empty when
/// accepted).
#[must_use]
pub fn prescreen(name: &str, source: &[u8], policy: &Policy) -> Vec<Finding> {
    let mut settings = Settings::new(Profile::Prescreen);
    apply_policy(&mut settings, policy);
    let findings = match stockade_check::decode_source(source.to_vec()) {
        Ok(text) => stockade_check::check_source(name, &text, &settings).findings,
        Err(why) => vec![Finding::engine(RuleId::UnreadableFile, name, "", &why)],
    };
    findings.into_iter().filter(Finding::is_active).collect()
}

/// With `[check] prescreen = true`, the `refused` result for code the pre-screen refuses; None
/// when the policy does not ask or the code passes.
#[must_use]
pub fn refusal(policy: &Policy, name: &str, source: &[u8]) -> Option<RunResult> {
    if !policy.check.prescreen {
        return None;
    }
    let findings = prescreen(name, source, policy);
    if findings.is_empty() {
        return None;
    }
    let reasons: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{}: {} {}: {}",
                f.path,
                f.line,
                f.column,
                f.rule.meta().id,
                f.rule.meta().name,
                f.message
            )
        })
        .collect();
    let reason = format!(
        "refused by the pre-screen ([check] prescreen = true), nothing was run:\n  {}",
        reasons.join("\n  ")
    );
    let mut result = RunResult::not_run(Status::Refused, Some(reason), None);
    result.prescreen = serde_json::to_value(&findings).ok();
    Some(result)
}
