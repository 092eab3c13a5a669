//! Bandit's B6xx: shell and process injection, SQL built from strings, Django raw SQL.

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::Ranged;

const SUBPROCESS: &[&str] = &[
    "subprocess.Popen",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.run",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
];

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    let Some(name) = name else { return };
    if SUBPROCESS.contains(&name) {
        if util::keyword(call, "shell").and_then(util::truthiness) == Some(true) {
            checker.report(
                RuleId::SubprocessShellTrue,
                call.range(),
                format!("`{name}` with shell=True"),
            );
        }
    }
}

pub fn on_expr(_checker: &mut Checker, _expr: &Expr) {}
