use crate::checker::Checker;
use ruff_python_ast::{ExprCall, Stmt};

pub fn on_call(_checker: &mut Checker, _call: &ExprCall, _name: Option<&str>) {}

pub fn on_stmt(_checker: &mut Checker, _stmt: &Stmt) {}
