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
mod keys;
mod prescreen;
mod procfs;
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
    /// Names bound to `logging.getLogger(...)` so far (STK810 follows them whatever they are called).
    pub(crate) loggers: Vec<String>,
    pub(crate) prescreen: std::cell::RefCell<prescreen::State>,
    /// STK810's locals built from a secret, for the function starting at the offset: by name,
    /// each plain assignment's offset and the secret its value shows (made once per function).
    pub(crate) secret_locals: Option<(u32, app::SecretLocals)>,
}

/// Which groups of hooks have an enabled rule in this run: the audit's hooks are skipped under
/// the pre-screen and the other way round, so neither pays for the other on every node.
#[derive(Clone, Copy)]
pub struct Groups {
    pub audit: bool,
    pub prescreen: bool,
    pub taint: bool,
}

impl Groups {
    pub fn of(settings: &crate::Settings) -> Groups {
        use crate::registry::{Profile, ALL};
        let any = |f: &dyn Fn(&crate::Rule) -> bool| ALL.iter().any(|r| settings.is_enabled(*r) && f(r.meta()));
        Groups {
            audit: any(&|m| m.profile == Profile::Audit),
            prescreen: any(&|m| m.profile == Profile::Prescreen),
            taint: crate::taint::RULES.iter().any(|r| settings.is_enabled(*r)),
        }
    }
}

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    if checker.groups.audit {
        general::on_call(checker, call, name);
        blacklist::on_call(checker, call, name);
        crypto::on_call(checker, call, name);
        injection::on_call(checker, call, name);
        templates::on_call(checker, call, name);
        app::on_call(checker, call, name);
        keys::on_call(checker, call, name);
    }
    if checker.groups.prescreen {
        prescreen::on_call(checker, call, name);
    }
}

pub fn on_stmt(checker: &mut Checker, stmt: &Stmt) {
    if checker.groups.audit {
        general::on_stmt(checker, stmt);
        app::on_stmt(checker, stmt);
        crypto::on_stmt(checker, stmt);
    }
}

pub fn on_expr(checker: &mut Checker, expr: &Expr) {
    if checker.groups.audit {
        general::on_expr(checker, expr);
        injection::on_expr(checker, expr);
    }
    if checker.groups.prescreen {
        prescreen::on_expr(checker, expr);
        procfs::on_expr(checker, expr);
    }
}

pub fn on_import(checker: &mut Checker, module: &str, range: TextRange) {
    if checker.groups.audit {
        blacklist::on_import(checker, module, range);
    }
    if checker.groups.prescreen {
        prescreen::on_import(checker, module, range);
    }
}

pub fn on_source(checker: &mut Checker, tokens: &Tokens) {
    if checker.groups.audit {
        general::on_source(checker, tokens);
    }
}
