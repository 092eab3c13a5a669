//! Bandit's B6xx: shell and process injection, SQL built from strings, Django raw SQL, the logging
//! config listener, unsafe model loading.
//!
//! Also home to two small pieces of per-file knowledge the B5xx–B7xx rules share: which "imported
//! like" modules the file has imported so far (Bandit's `is_module_imported_like`), and the
//! statements of the scope enclosing a call (for rules that look back at how a name was assigned).

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use crate::Level;
use ruff_python_ast::statement_visitor::{self, StatementVisitor};
use ruff_python_ast::{self as ast, Expr, ExprCall, Number, Stmt};
use ruff_text_size::{Ranged, TextSize};
use std::cell::{Cell, RefCell};

// ---------------------------------------------------------------------------------------------
// Shared per-file knowledge
// ---------------------------------------------------------------------------------------------

/// `paramiko` was imported (Bandit: `is_module_imported_like("paramiko")`).
pub(super) const IMPORTED_PARAMIKO: u8 = 1;
/// `django.db.models` was imported.
pub(super) const IMPORTED_DJANGO_MODELS: u8 = 2;
/// `django.utils.safestring` was imported.
pub(super) const IMPORTED_DJANGO_SAFESTRING: u8 = 4;
/// `pysnmp` was imported.
pub(super) const IMPORTED_PYSNMP: u8 = 8;

/// What this group remembers about the file being checked (kept in the checker's per-file state).
pub(crate) struct State {
    /// The `IMPORTED_*` flags of the modules imported so far. Bandit collects imports as it
    /// walks, so a module counts once its import statement has been visited.
    imports: Cell<u8>,
    /// BinOp nodes (by address) that belong to a string-building chain already examined from its
    /// root, so STK608 reports an expression once and never re-walks a chain.
    sql_chain: RefCell<Vec<usize>>,
    /// Statements look-backs may still visit in this file (see [`LOOKBACK_STATEMENTS`]).
    lookback: Cell<u32>,
}

impl Default for State {
    fn default() -> State {
        State {
            imports: Cell::new(0),
            sql_chain: RefCell::new(Vec::new()),
            lookback: Cell::new(LOOKBACK_STATEMENTS),
        }
    }
}

fn import_flags(module: &str) -> u8 {
    let mut flags = 0;
    if module.contains("paramiko") {
        flags |= IMPORTED_PARAMIKO;
    }
    if module.contains("django.db.models") {
        flags |= IMPORTED_DJANGO_MODELS;
    }
    if module.contains("django.utils.safestring") {
        flags |= IMPORTED_DJANGO_SAFESTRING;
    }
    if module.contains("pysnmp") {
        flags |= IMPORTED_PYSNMP;
    }
    flags
}

/// Records the modules an import statement brings in (called from the statement hook).
pub(super) fn note_imports(checker: &Checker, stmt: &Stmt) {
    let mut found = 0;
    match stmt {
        Stmt::Import(import) => {
            for alias in &import.names {
                found |= import_flags(alias.name.as_str());
            }
        }
        Stmt::ImportFrom(import) => {
            let Some(module) = &import.module else { return };
            let module = module.as_str();
            found |= import_flags(module);
            if module.starts_with("django") || module.contains("paramiko") {
                for alias in &import.names {
                    found |= import_flags(&format!("{module}.{}", alias.name.as_str()));
                }
            } else {
                for alias in &import.names {
                    found |= import_flags(alias.name.as_str());
                }
            }
        }
        _ => return,
    }
    if found == 0 {
        return;
    }
    let imports = &checker.file.injection.imports;
    imports.set(imports.get() | found);
}

/// Whether the file has imported a module "like" `flag` (one of the `IMPORTED_*` constants).
pub(super) fn imported(checker: &Checker, flag: u8) -> bool {
    checker.file.injection.imports.get() & flag != 0
}

/// The name a call is made by, as Bandit's `call_function_name`: the attribute of a method call
/// or the bare name called (`x.y.execute(...)` → `execute`).
pub(super) fn called_name(call: &ExprCall) -> Option<&str> {
    match &*call.func {
        Expr::Attribute(attribute) => Some(attribute.attr.as_str()),
        Expr::Name(name) => Some(name.id.as_str()),
        _ => None,
    }
}

/// Nested statements deeper than this are not searched when looking back at assignments.
const MAX_LOOKBACK_DEPTH: usize = 64;
/// Look-backs are bounded per file, so no input makes them quadratic: at most this many
/// statements visited in all.
const LOOKBACK_STATEMENTS: u32 = 200_000;

struct Lookback<'a, 'f> {
    budget: &'f Cell<u32>,
    before: TextSize,
    depth: usize,
    exhausted: bool,
    visit: &'f mut dyn FnMut(&'a Stmt),
}

impl<'a> StatementVisitor<'a> for Lookback<'a, '_> {
    fn visit_body(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            // Statements are in source order: the rest start later still.
            if stmt.start() >= self.before || self.exhausted {
                return;
            }
            self.visit_stmt(stmt);
        }
    }

    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if stmt.start() >= self.before || self.depth >= MAX_LOOKBACK_DEPTH || self.exhausted {
            return;
        }
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        self.exhausted = left == 0;
        if self.exhausted {
            return;
        }
        (self.visit)(stmt);
        // A nested function or class body is another scope.
        if matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            return;
        }
        self.depth += 1;
        statement_visitor::walk_stmt(self, stmt);
        self.depth -= 1;
    }
}

/// The statements of the scope enclosing a call, for rules that look back at how a name was
/// assigned; look-backs share the file's statement budget.
pub(super) struct ScopeBody<'s> {
    pub stmts: &'s [Stmt],
    budget: &'s Cell<u32>,
}

impl<'s> ScopeBody<'s> {
    /// Visits, in source order, every statement that starts before `before`, nested blocks
    /// included, nested functions and classes not entered.
    pub fn each_statement_before(&self, before: TextSize, visit: &mut dyn FnMut(&'s Stmt)) {
        let mut lookback = Lookback {
            budget: self.budget,
            before,
            depth: 0,
            exhausted: false,
            visit,
        };
        lookback.visit_body(self.stmts);
    }
}

/// Runs `f` on the body of the scope enclosing the current node: the innermost function, else the
/// module.
pub(super) fn with_scope_body<R>(checker: &Checker, f: impl FnOnce(ScopeBody<'_>) -> R) -> R {
    let stmts = checker
        .current_function()
        .map_or(checker.module, |function| &function.body);
    f(ScopeBody {
        stmts,
        budget: &checker.file.injection.lookback,
    })
}

// ---------------------------------------------------------------------------------------------
// Process starting: STK602–STK607, STK609
// ---------------------------------------------------------------------------------------------

/// Bandit's `shell_injection` configuration: how a function starts a process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Process {
    /// The subprocess module: a shell only with shell=True.
    Subprocess,
    /// Always through a shell.
    Shell,
    /// Replaces or spawns a program, never a shell.
    NoShell,
}

fn process_kind(name: &str) -> Option<Process> {
    Some(match name {
        "subprocess.Popen"
        | "subprocess.call"
        | "subprocess.check_call"
        | "subprocess.check_output"
        | "subprocess.run" => Process::Subprocess,
        "os.system"
        | "os.popen"
        | "os.popen2"
        | "os.popen3"
        | "os.popen4"
        | "popen2.popen2"
        | "popen2.popen3"
        | "popen2.popen4"
        | "popen2.Popen3"
        | "popen2.Popen4"
        | "commands.getoutput"
        | "commands.getstatusoutput"
        | "subprocess.getoutput"
        | "subprocess.getstatusoutput" => Process::Shell,
        "os.execl" | "os.execle" | "os.execlp" | "os.execlpe" | "os.execv" | "os.execve" | "os.execvp"
        | "os.execvpe" | "os.spawnl" | "os.spawnle" | "os.spawnlp" | "os.spawnlpe" | "os.spawnv" | "os.spawnve"
        | "os.spawnvp" | "os.spawnvpe" | "os.startfile" | "os.posix_spawn" | "os.posix_spawnp" => Process::NoShell,
        _ => return None,
    })
}

/// Bandit's `has_shell`: the value of a `shell=` keyword as Python would test it; anything not a
/// literal counts as on.
fn shell_value_is_on(value: &Expr) -> bool {
    match value {
        Expr::BooleanLiteral(b) => b.value,
        Expr::NoneLiteral(_) => false,
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => i.as_u64() != Some(0),
            Number::Float(f) => *f != 0.0,
            Number::Complex { real, imag } => *real != 0.0 || *imag != 0.0,
        },
        Expr::StringLiteral(s) => !s.value.is_empty(),
        Expr::BytesLiteral(b) => !b.value.is_empty(),
        Expr::List(l) => !l.elts.is_empty(),
        Expr::Dict(d) => !d.items.is_empty(),
        _ => true,
    }
}

/// Whether a string starts like an absolute path: `/`, `\`, `.` or a drive letter (`C:`).
fn is_full_path(s: &str) -> bool {
    match s.as_bytes() {
        [b'/' | b'\\' | b'.', ..] => true,
        [letter, b':', ..] => letter.is_ascii_alphabetic(),
        _ => false,
    }
}

fn process_calls(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    let kind = name.and_then(process_kind);
    let shell = call.arguments.find_keyword("shell");
    let shell_on = shell.is_some_and(|k| shell_value_is_on(&k.value));
    let shown = name.unwrap_or("function");

    if kind == Some(Process::Subprocess) {
        if shell_on {
            // The command: the first positional argument (or `args=`).
            if let Some(command) = util::argument(call, "args", 0).or(call.arguments.args.first()) {
                if command.is_string_literal_expr() {
                    checker.report_with(
                        RuleId::SubprocessShellTrue,
                        call.range(),
                        Level::Low,
                        Level::High,
                        format!(
                            "`{shown}` with shell=True on a literal command: seems safe, but may change; \
                             consider running it without a shell"
                        ),
                    );
                } else {
                    checker.report(
                        RuleId::SubprocessShellTrue,
                        call.range(),
                        format!("`{shown}` with shell=True and a command built at run time: shell injection"),
                    );
                }
            }
        } else {
            checker.report(
                RuleId::SubprocessWithoutShell,
                call.range(),
                format!("`{shown}` without a shell: check the program and its arguments are trusted"),
            );
        }
    } else if shell_on {
        let message = match name {
            Some(name) => format!("`{name}` called with shell=True: check it does not run a command built from input"),
            None => "a function called with shell=True: check it does not run a command built from input".to_string(),
        };
        checker.report(RuleId::CallWithShellTrue, call.range(), message);
    }

    let Some(kind) = kind else { return };
    match kind {
        Process::Shell => {
            if let Some(command) = call.arguments.args.first() {
                if command.is_string_literal_expr() {
                    checker.report_with(
                        RuleId::StartProcessWithShell,
                        call.range(),
                        Level::Low,
                        Level::High,
                        format!(
                            "`{shown}` runs a literal command through a shell: seems safe, but may change; \
                             consider running it without a shell"
                        ),
                    );
                } else {
                    checker.report(
                        RuleId::StartProcessWithShell,
                        call.range(),
                        format!("`{shown}` runs a command built at run time through a shell: shell injection"),
                    );
                }
            }
        }
        Process::NoShell => {
            checker.report(
                RuleId::StartProcessNoShell,
                call.range(),
                format!("`{shown}` starts a program without a shell: check the program and arguments are trusted"),
            );
        }
        Process::Subprocess => {}
    }

    // STK607: the program given by a partial path is looked up in PATH.
    let first = if kind == Process::Subprocess {
        util::argument(call, "args", 0)
    } else {
        call.arguments.args.first()
    };
    let program = match first {
        Some(Expr::List(list)) => list.elts.first(),
        Some(Expr::Tuple(tuple)) => tuple.elts.first(),
        other => other,
    };
    if let Some(Expr::StringLiteral(program)) = program {
        let program = program.value.to_str();
        if !is_full_path(program) {
            let shown_program = program.split_whitespace().next().unwrap_or(program);
            checker.report(
                RuleId::StartProcessPartialPath,
                call.range(),
                format!("`{shown}` starts `{shown_program}` by a partial path; it is looked up in PATH"),
            );
        }
    }

    // STK609: a wildcard handed to a shell running chown/chmod/tar/rsync.
    let shell_literal_on = shell.and_then(|k| util::truthiness(&k.value)) == Some(true);
    if kind == Process::Shell || (kind == Process::Subprocess && shell_literal_on) {
        wildcard_injection(checker, call, shown);
    }
}

fn wildcard_injection(checker: &mut Checker, call: &ExprCall, shown: &str) {
    const VULNERABLE: &[&str] = &["chown", "chmod", "tar", "rsync"];
    let Some(first) = call.arguments.args.first() else {
        return;
    };
    let joined;
    let command: &str = match first {
        Expr::StringLiteral(s) => s.value.to_str(),
        Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
            if !elts
                .iter()
                .any(|e| util::str_literal(e).is_some_and(|s| s.contains('*')))
            {
                return;
            }
            joined = elts.iter().filter_map(util::str_literal).collect::<Vec<_>>().join(" ");
            &joined
        }
        _ => return,
    };
    if !command.contains('*') {
        return;
    }
    if let Some(program) = VULNERABLE.iter().find(|p| command.contains(*p)) {
        checker.report(
            RuleId::WildcardInjection,
            call.range(),
            format!("possible wildcard injection: `{program}` with `*` in a shell command run by `{shown}`"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Calls matched by name: STK601, STK610–STK612, STK614, STK615
// ---------------------------------------------------------------------------------------------

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    process_calls(checker, call, name);

    match called_name(call) {
        Some("exec_command") if imported(checker, IMPORTED_PARAMIKO) => {
            checker.report(
                RuleId::ParamikoCall,
                call.range(),
                "paramiko `exec_command` runs a shell command on the remote host: check it is not built from \
                 untrusted input",
            );
        }
        Some("extra") => django_extra(checker, call),
        Some("execute" | "executemany" | "text") => sql_fragment(checker, call, name),
        Some("RawSQL")
            if imported(checker, IMPORTED_DJANGO_MODELS) || name.is_some_and(|n| n.contains("django.db.models")) =>
        {
            django_raw_sql(checker, call);
        }
        _ => {}
    }

    let Some(name) = name else { return };
    if name == "logging.config.listen" {
        let verify = util::argument(call, "verify", 1);
        if verify.is_none_or(|v| v.is_none_literal_expr()) {
            checker.report(
                RuleId::LoggingConfigListen,
                call.range(),
                "`logging.config.listen` without `verify` accepts configuration, and code, from anyone who can \
                 connect",
            );
        }
        return;
    }
    let last = util::last_segment(name);
    let head = util::head_segment(name);
    if last == "load" && head == "torch" {
        torch_load(checker, call, name);
        return;
    }
    let required = match last {
        "from_pretrained" => "transformers",
        "load_dataset" => "datasets",
        "hf_hub_download" | "snapshot_download" | "repository_id" => "huggingface_hub",
        _ => return,
    };
    if name.split('.').any(|segment| segment == required) {
        hub_download(checker, call, last);
    }
}

/// STK610 (Bandit B610): `QuerySet.extra` with `where`/`tables` that are not lists of string
/// literals, or `select` that is not a dict of string literals.
fn django_extra(checker: &mut Checker, call: &ExprCall) {
    // extra(select=None, where=None, params=None, tables=None, order_by=None, select_params=None)
    // An explicit None is the default: nothing to judge.
    let given = |keyword, position| util::argument(call, keyword, position).filter(|v| !v.is_none_literal_expr());
    let select = given("select", 0);
    let where_ = given("where", 1);
    let tables = given("tables", 3);
    let literal_strings = |value: &Expr| match value {
        Expr::List(list) => list.elts.iter().all(|e| e.is_string_literal_expr()),
        _ => false,
    };
    let mut insecure = None;
    for (what, value) in [("where", where_), ("tables", tables)] {
        if let Some(value) = value {
            if !literal_strings(value) {
                insecure = Some(what);
                break;
            }
        }
    }
    if insecure.is_none() {
        if let Some(select) = select {
            let literal = match select {
                Expr::Dict(dict) => dict.items.iter().all(|item| {
                    item.key.as_ref().is_some_and(|k| k.is_string_literal_expr()) && item.value.is_string_literal_expr()
                }),
                _ => false,
            };
            if !literal {
                insecure = Some("select");
            }
        }
    }
    if let Some(what) = insecure {
        checker.report(
            RuleId::DjangoExtra,
            call.range(),
            format!("`extra` with a non-literal `{what}`: a SQL injection vector"),
        );
    }
}

/// STK611 (Bandit B611): `RawSQL` whose SQL is not a string literal.
fn django_raw_sql(checker: &mut Checker, call: &ExprCall) {
    let Some(sql) = util::argument(call, "sql", 0) else {
        return;
    };
    if !sql.is_string_literal_expr() {
        checker.report(
            RuleId::DjangoRawSql,
            call.range(),
            "`RawSQL` with SQL that is not a literal: a SQL injection vector",
        );
    }
}

/// STK614 (Bandit B614): `torch.load` unpickles unless `weights_only=True`.
fn torch_load(checker: &mut Checker, call: &ExprCall, name: &str) {
    if matches!(util::keyword(call, "weights_only"), Some(Expr::BooleanLiteral(b)) if b.value) {
        return;
    }
    checker.report(
        RuleId::TorchLoad,
        call.range(),
        format!("`{name}` without weights_only=True unpickles the file: arbitrary code execution"),
    );
}

/// STK615 (Bandit B615): a Hugging Face Hub download without a revision pinned to a commit.
fn hub_download(checker: &mut Checker, call: &ExprCall, function: &str) {
    // Bandit: `revision or commit_id`, the first one given that is not empty.
    let revision = [util::keyword(call, "revision"), util::keyword(call, "commit_id")]
        .into_iter()
        .flatten()
        .find(|value| !matches!(value, Expr::StringLiteral(s) if s.value.is_empty()) && !value.is_none_literal_expr());
    if let Some(Expr::StringLiteral(s)) = revision {
        let value = s.value.to_str().trim_matches(|c| c == '"' || c == '\'');
        if value.len() >= 7 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return;
        }
    }
    // A local path is not a download.
    if let Some(Expr::StringLiteral(first)) = call.arguments.args.first() {
        let first = first.value.to_str();
        if first.starts_with("./") || first.starts_with('/') || first.starts_with("../") {
            return;
        }
    }
    match revision {
        Some(Expr::StringLiteral(s)) => checker.report(
            RuleId::HubUnpinnedDownload,
            call.range(),
            format!(
                "Hugging Face Hub download `{function}()` pinned to `{}`, a branch or tag, not a commit: the files \
                 can change under you",
                s.value.to_str()
            ),
        ),
        Some(_) => checker.report_with(
            RuleId::HubUnpinnedDownload,
            call.range(),
            Level::Medium,
            Level::Low,
            format!("Hugging Face Hub download `{function}()` with a revision that is not a literal commit hash"),
        ),
        None => checker.report(
            RuleId::HubUnpinnedDownload,
            call.range(),
            format!(
                "Hugging Face Hub download `{function}()` without a pinned revision: the files can change under you"
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// STK608: SQL built from strings
// ---------------------------------------------------------------------------------------------

/// A chain of string operations longer than this (pathological source) is examined in pieces.
const MAX_CHAIN: usize = 2048;
/// Right-nested operands deeper than this are left to be examined as chains of their own.
const MAX_CHAIN_NESTING: usize = 64;

pub fn on_expr(checker: &mut Checker, expr: &Expr) {
    match expr {
        Expr::BinOp(binop) => sql_chain(checker, expr, binop),
        Expr::FString(fstring) => sql_fstring(checker, expr, fstring),
        Expr::Call(call) => {
            if let Expr::Attribute(attribute) = &*call.func {
                if let Expr::StringLiteral(template) = &*attribute.value {
                    sql_format(checker, expr, attribute.attr.as_str(), template);
                }
            }
        }
        _ => {}
    }
}

/// `"...".format(...)` / `"...".replace(...)` on a literal that reads as SQL.
#[inline(never)]
fn sql_format(checker: &mut Checker, expr: &Expr, method: &str, template: &ast::ExprStringLiteral) {
    if !matches!(method, "format" | "replace") || !checker.enabled(RuleId::HardcodedSqlExpression) {
        return;
    }
    let template = template.value.to_str();
    if has_sql_keyword(template) && looks_like_sql(template) {
        let how = if method == "format" {
            "str.format"
        } else {
            "str.replace"
        };
        report_sql(checker, expr, template, how, method == "replace");
    }
}

/// `execute("title = '%s'" % x)`, `text(f"name = '{x}'")`, `.filter(text("id=" + x))`: SQL built
/// from a fragment without a keyword (a WHERE clause, an ORDER BY column) — the callee says it is
/// SQL. Strings that read as SQL on their own are reported where they are built.
fn sql_fragment(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    if !checker.enabled(RuleId::HardcodedSqlExpression) {
        return;
    }
    let is_sql_callee = match util::method_name(call) {
        Some("text") => name.is_some_and(|n| n.starts_with("sqlalchemy")),
        Some(_) => true,
        None => name.is_some_and(|n| n.starts_with("sqlalchemy") && n.ends_with(".text")),
    };
    let Some(arg) = call.arguments.args.first().filter(|_| is_sql_callee) else {
        return;
    };
    // The literal text of a string built from literals and values, and whether a value is in it.
    let literal: String = match arg {
        Expr::BinOp(b) if matches!(b.op, ast::Operator::Mod | ast::Operator::Add) => match (&*b.left, &*b.right) {
            (Expr::StringLiteral(l), right) if !util::is_literal(right) => l.value.to_str().to_string(),
            (left, Expr::StringLiteral(r)) if b.op == ast::Operator::Add && !util::is_literal(left) => {
                r.value.to_str().to_string()
            }
            _ => return,
        },
        Expr::FString(f) => {
            let mut text = String::new();
            let mut values = false;
            for part in f.value.iter() {
                match part {
                    ast::FStringPart::Literal(l) => text.push_str(&l.value),
                    ast::FStringPart::FString(fs) => {
                        for element in fs.elements.iter() {
                            match element {
                                ast::InterpolatedStringElement::Literal(l) => text.push_str(&l.value),
                                ast::InterpolatedStringElement::Interpolation(_) => values = true,
                            }
                        }
                    }
                }
            }
            if !values {
                return;
            }
            text
        }
        Expr::Call(c) => match (&*c.func, util::method_name(c)) {
            (Expr::Attribute(a), Some("format")) if !c.arguments.is_empty() => match &*a.value {
                Expr::StringLiteral(l) => l.value.to_str().to_string(),
                _ => return,
            },
            _ => return,
        },
        _ => return,
    };
    if literal.trim().is_empty() || (has_sql_keyword(&literal) && looks_like_sql(&literal)) {
        return;
    }
    // A fragment: an operator or a clause's shape (`title = '%s'`, `id IN (`, `ORDER BY `).
    let fragment = literal.contains(['=', '<', '>', '\'', '(']) || literal.to_ascii_lowercase().contains(" by");
    if !fragment {
        return;
    }
    let shown: String = literal
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(40)
        .collect();
    checker.report_with(
        RuleId::HardcodedSqlExpression,
        arg.range(),
        Level::Medium,
        Level::Low,
        format!("possible SQL injection: the SQL fragment `{shown}` is built from values and run as SQL; use query parameters"),
    );
}

/// An f-string whose literal parts, joined, read as SQL.
#[inline(never)]
fn sql_fstring(checker: &mut Checker, expr: &Expr, fstring: &ast::ExprFString) {
    if !checker.enabled(RuleId::HardcodedSqlExpression) {
        return;
    }
    let mut maybe = false;
    for part in fstring.value.iter() {
        match part {
            ast::FStringPart::Literal(literal) => maybe |= has_sql_keyword(&literal.value),
            ast::FStringPart::FString(f) => {
                for literal in f.elements.literals() {
                    maybe |= has_sql_keyword(&literal.value);
                }
            }
        }
    }
    if !maybe {
        return;
    }
    // The literal text is matched (as Bandit joins the f-string's constants); the message shows
    // where the values go.
    let mut statement = String::new();
    let mut shown = String::new();
    for part in fstring.value.iter() {
        match part {
            ast::FStringPart::Literal(literal) => {
                statement.push_str(&literal.value);
                shown.push_str(&literal.value);
            }
            ast::FStringPart::FString(f) => {
                for element in f.elements.iter() {
                    match element {
                        ast::InterpolatedStringElement::Literal(literal) => {
                            statement.push_str(&literal.value);
                            shown.push_str(&literal.value);
                        }
                        ast::InterpolatedStringElement::Interpolation(_) => shown.push_str("{...}"),
                    }
                }
            }
        }
    }
    if looks_like_sql(&statement) {
        report_sql(checker, expr, &shown, "an f-string", false);
    }
}

/// A `+`/`%`/... chain: examined once, from its root; its inner BinOps are remembered so they are
/// neither reported again nor walked again.
#[inline(never)]
fn sql_chain(checker: &mut Checker, expr: &Expr, binop: &ast::ExprBinOp) {
    if !checker.enabled(RuleId::HardcodedSqlExpression) {
        return;
    }
    let address = std::ptr::from_ref(binop) as usize;
    let maybe_sql = (|| {
        let mut members = checker.file.injection.sql_chain.borrow_mut();
        if !members.is_empty() {
            if let Some(i) = members.iter().position(|m| *m == address) {
                members.swap_remove(i);
                return None;
            }
        }
        let mut maybe_sql = false;
        let mut budget = MAX_CHAIN;
        scan_chain(binop, &mut members, &mut maybe_sql, &mut budget, 0);
        Some(maybe_sql)
    })();
    if maybe_sql != Some(true) {
        return;
    }
    let mut parts = Vec::new();
    collect_chain_literals(binop, &mut parts, 0);
    let statement = parts.join(" ");
    if looks_like_sql(&statement) {
        let how = match binop.op {
            ast::Operator::Mod => "%-formatting",
            ast::Operator::Add => "concatenation",
            _ => "a string operation",
        };
        report_sql(checker, expr, &statement, how, false);
    }
}

/// Walks a chain's BinOps (left spine iteratively, right operands recursively, both bounded),
/// recording inner BinOps in `members` and whether any literal part contains a SQL keyword.
fn scan_chain(
    binop: &ast::ExprBinOp,
    members: &mut Vec<usize>,
    maybe_sql: &mut bool,
    budget: &mut usize,
    nesting: usize,
) {
    let mut node = binop;
    loop {
        match &*node.right {
            Expr::BinOp(right) if nesting < MAX_CHAIN_NESTING && *budget > 0 => {
                *budget -= 1;
                members.push(std::ptr::from_ref(right) as usize);
                scan_chain(right, members, maybe_sql, budget, nesting + 1);
            }
            Expr::StringLiteral(s) => *maybe_sql |= has_sql_keyword(s.value.to_str()),
            _ => {}
        }
        match &*node.left {
            Expr::BinOp(left) if *budget > 0 => {
                *budget -= 1;
                members.push(std::ptr::from_ref(left) as usize);
                node = left;
            }
            Expr::StringLiteral(s) => {
                *maybe_sql |= has_sql_keyword(s.value.to_str());
                return;
            }
            _ => return,
        }
    }
}

/// The literal parts of a chain in source order (same bounds as `scan_chain`).
fn collect_chain_literals<'a>(binop: &'a ast::ExprBinOp, out: &mut Vec<&'a str>, nesting: usize) {
    let mut spine = vec![binop];
    let mut node = binop;
    while let Expr::BinOp(left) = &*node.left {
        if spine.len() > MAX_CHAIN {
            break;
        }
        spine.push(left);
        node = left;
    }
    if let Expr::StringLiteral(s) = &*node.left {
        out.push(s.value.to_str());
    }
    for node in spine.iter().rev() {
        match &*node.right {
            Expr::BinOp(right) if nesting < MAX_CHAIN_NESTING => collect_chain_literals(right, out, nesting + 1),
            Expr::StringLiteral(s) => out.push(s.value.to_str()),
            _ => {}
        }
    }
}

fn report_sql(checker: &mut Checker, expr: &Expr, statement: &str, how: &str, replace: bool) {
    let confidence = if !replace && in_execute_call(checker, expr) {
        Level::Medium
    } else {
        Level::Low
    };
    let mut snippet: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if snippet.chars().count() > 48 {
        snippet = snippet.chars().take(45).collect::<String>() + "...";
    }
    checker.report_with(
        RuleId::HardcodedSqlExpression,
        expr.range(),
        Level::Medium,
        confidence,
        format!("possible SQL injection: query `{snippet}` built by {how}; use query parameters"),
    );
}

/// Whether `expr` is a positional argument of a DB-API `execute`/`executemany` call in the
/// current statement (Bandit raises its confidence then).
fn in_execute_call(checker: &Checker, expr: &Expr) -> bool {
    let Some(stmt) = checker.stmts.last() else { return false };
    let values: [Option<&Expr>; 2] = match stmt {
        Stmt::Expr(s) => [Some(&s.value), None],
        Stmt::Assign(s) => [Some(&s.value), None],
        Stmt::AnnAssign(s) => [s.value.as_deref(), None],
        Stmt::AugAssign(s) => [Some(&s.value), None],
        Stmt::Return(s) => [s.value.as_deref(), None],
        Stmt::For(s) => [Some(&s.iter), None],
        Stmt::With(s) => [
            s.items.first().map(|i| &i.context_expr),
            s.items.get(1).map(|i| &i.context_expr),
        ],
        _ => [None, None],
    };
    for mut value in values.into_iter().flatten() {
        loop {
            match value {
                Expr::Await(a) => value = &a.value,
                Expr::Attribute(a) => value = &a.value,
                Expr::Call(call) => {
                    if matches!(called_name(call), Some("execute" | "executemany"))
                        && call.arguments.args.iter().any(|a| std::ptr::eq(a, expr))
                    {
                        return true;
                    }
                    value = &call.func;
                }
                _ => break,
            }
        }
    }
    false
}

/// Whether `s` contains `select`, `delete`, `insert` or `update` in any case: a cheap test before
/// joining a statement's parts and matching it.
fn has_sql_keyword(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 6 {
        return false;
    }
    (0..=b.len() - 6).any(|i| {
        matches!(b[i] | 0x20, b's' | b'd' | b'i' | b'u')
            && ["select", "delete", "insert", "update"]
                .iter()
                .any(|k| b[i..i + 6].eq_ignore_ascii_case(k.as_bytes()))
    })
}

/// Byte length of the whitespace character at `i` (Python's `\s`), or 0.
fn whitespace_at(s: &str, i: usize) -> usize {
    s.get(i..)
        .and_then(|rest| rest.chars().next())
        .filter(|c| c.is_whitespace())
        .map_or(0, char::len_utf8)
}

/// Positions just after each case-insensitive occurrence of `word` in `s`, from `from`.
fn occurrences<'s>(s: &'s str, word: &'s str, from: usize) -> impl Iterator<Item = usize> + 's {
    let (h, w) = (s.as_bytes(), word.as_bytes());
    (from..(h.len() + 1).saturating_sub(w.len()))
        .filter(move |&i| h[i..i + w.len()].eq_ignore_ascii_case(w))
        .map(move |i| i + w.len())
}

/// Bandit's B608 pattern, `(select\s.*from\s|delete\s+from\s|insert\s+into\s.*values[\s(]|
/// update\s.*set\s)` searched case-insensitively with `.` matching newlines.
fn looks_like_sql(s: &str) -> bool {
    // "<first>\s" followed anywhere later by "<second>" and a terminator.
    let first_then = |first: &str, second: &str, paren_ok: bool| {
        occurrences(s, first, 0)
            .find_map(|end| match whitespace_at(s, end) {
                0 => None,
                w => Some(end + w),
            })
            .is_some_and(|from| {
                occurrences(s, second, from)
                    .any(|end| whitespace_at(s, end) > 0 || (paren_ok && s.as_bytes().get(end) == Some(&b'(')))
            })
    };
    if first_then("select", "from", false) || first_then("update", "set", false) {
        return true;
    }
    // insert\s+into\s.*values[\s(]
    let insert = occurrences(s, "insert", 0).find_map(|end| {
        let mut at = end;
        let mut w = whitespace_at(s, at);
        if w == 0 {
            return None;
        }
        while w > 0 {
            at += w;
            w = whitespace_at(s, at);
        }
        let after = occurrences(s, "into", at).next().filter(|e| *e == at + 4)?;
        match whitespace_at(s, after) {
            0 => None,
            w => Some(after + w),
        }
    });
    if let Some(from) = insert {
        let values =
            occurrences(s, "values", from).any(|end| whitespace_at(s, end) > 0 || s.as_bytes().get(end) == Some(&b'('));
        if values {
            return true;
        }
    }
    // delete\s+from\s
    occurrences(s, "delete", 0).any(|end| {
        let mut at = end;
        let mut w = whitespace_at(s, at);
        if w == 0 {
            return false;
        }
        while w > 0 {
            at += w;
            w = whitespace_at(s, at);
        }
        s.as_bytes()
            .get(at..at + 4)
            .is_some_and(|word| word.eq_ignore_ascii_case(b"from"))
            && whitespace_at(s, at + 4) > 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_pattern_follows_bandit() {
        for yes in [
            "SELECT * FROM users WHERE id = %s",
            "select a\nfrom t",
            "  SeLeCt x, y FROM t ",
            "DELETE   FROM t WHERE x=",
            "INSERT INTO t (a, b) VALUES (%s, %s)",
            "insert into t values(1)",
            "UPDATE t SET a = %s",
            "explain select x from y ",
        ] {
            assert!(looks_like_sql(yes), "{yes:?}");
        }
        for no in [
            "SELECT * FROM",
            "select from",
            "selected from here",
            "DELETE FROMt",
            "deletefrom t",
            "INSERT INTO t",
            "insert  into",
            "UPDATE t",
            "update the settings",
        ] {
            assert!(!looks_like_sql(no), "{no:?}");
        }
        // Bandit's pattern is a plain search: prose matches too.
        assert!(looks_like_sql("please select an item from the list"));
        assert!(has_sql_keyword("xx UPDATE"));
        assert!(!has_sql_keyword("upd"));
    }

    #[test]
    fn partial_paths() {
        for full in ["/bin/ls", "\\\\server\\x", "./run", "C:\\x", "c:"] {
            assert!(is_full_path(full), "{full}");
        }
        for partial in ["ls", "bin/ls", "", "1:"] {
            assert!(!is_full_path(partial), "{partial}");
        }
    }
}
