use crate::checker::Checker;
use ruff_python_ast::ExprCall;

pub fn on_call(_checker: &mut Checker, _call: &ExprCall, _name: Option<&str>) {}
