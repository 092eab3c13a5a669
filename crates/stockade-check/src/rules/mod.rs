//! Rule implementations, grouped as Bandit groups them. Each group exposes some of the hooks
//! below; the dispatch here is the only place that knows which group wants which node.
//!
//! Hooks (all called once per node by crate::checker):
//! - `on_call(checker, call, name)`: every call; `name` is the callee's qualified name if it is a
//!   dotted name (imports resolved), e.g. `subprocess.run`, `eval`, `request.args.get`.
//! - `on_stmt(checker, stmt)`: every statement, before its children.
//! - `on_expr(checker, expr)`: every expression, before its children (calls included).
//! - `on_import(checker, module, range)`: every imported module or `from` member, dotted
//!   (`from xml.etree import ElementTree` gives `xml.etree.ElementTree`).
//! - `on_source(checker, tokens)`: once per file, before the walk (comments, raw text).

mod app;
mod blacklist;
mod crypto;
mod general;
mod injection;
mod prescreen;
mod templates;
pub mod util;

use crate::checker::Checker;
use ruff_python_ast::token::Tokens;
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::TextRange;

/// Per-file memory of the rule groups that need it; a fresh one for every file.
#[derive(Default)]
pub struct FileState {
    pub(crate) injection: injection::State,
}

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    general::on_call(checker, call, name);
    blacklist::on_call(checker, call, name);
    crypto::on_call(checker, call, name);
    injection::on_call(checker, call, name);
    templates::on_call(checker, call, name);
    app::on_call(checker, call, name);
    prescreen::on_call(checker, call, name);
}

pub fn on_stmt(checker: &mut Checker, stmt: &Stmt) {
    general::on_stmt(checker, stmt);
    app::on_stmt(checker, stmt);
    crypto::on_stmt(checker, stmt);
}

pub fn on_expr(checker: &mut Checker, expr: &Expr) {
    general::on_expr(checker, expr);
    injection::on_expr(checker, expr);
    prescreen::on_expr(checker, expr);
}

pub fn on_import(checker: &mut Checker, module: &str, range: TextRange) {
    blacklist::on_import(checker, module, range);
    prescreen::on_import(checker, module, range);
}

pub fn on_source(checker: &mut Checker, tokens: &Tokens) {
    general::on_source(checker, tokens);
}
