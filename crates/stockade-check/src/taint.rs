//! Intra-function taint tracking: data from a request, argv, the environment or input() that
//! reaches a sink (SQL, shell, path, redirect, outgoing URL, eval, deserialisation, templates)
//! without passing a sanitiser.

use crate::checker::Checker;
use ruff_python_ast::{Stmt, StmtFunctionDef};

/// Checks one body (a function's, or the module's top level when `function` is None).
pub fn check_body(_checker: &mut Checker, _body: &[Stmt], _function: Option<&StmtFunctionDef>) {}
