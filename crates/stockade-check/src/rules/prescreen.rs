use crate::checker::Checker;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::TextRange;

pub fn on_call(_checker: &mut Checker, _call: &ExprCall, _name: Option<&str>) {}

pub fn on_expr(_checker: &mut Checker, _expr: &Expr) {}

pub fn on_import(_checker: &mut Checker, _module: &str, _range: TextRange) {}
