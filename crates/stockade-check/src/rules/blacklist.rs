use crate::checker::Checker;
use ruff_python_ast::ExprCall;

pub fn on_call(_checker: &mut Checker, _call: &ExprCall, _name: Option<&str>) {}

pub fn on_import(_checker: &mut Checker, _module: &str, _range: ruff_text_size::TextRange) {}
