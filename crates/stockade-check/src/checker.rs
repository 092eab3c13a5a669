//! The walk: parse one file, visit every statement and expression once, and hand each node to the
//! rules (crate::rules) with what they need — the qualified name of a call, the enclosing function,
//! the import bindings in scope.

use crate::finding::Finding;
use crate::names::Bindings;
use crate::registry::RuleId;
use crate::source::LineIndex;
use crate::{rules, suppress, taint, Settings};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

/// Nesting deeper than this is not walked: CPython itself refuses such code ("too complex"), and a
/// bounded walk keeps the checker's stack bounded. The file gets an STK002 finding instead.
const MAX_DEPTH: usize = 1500;

pub struct Checker<'a> {
    pub path: &'a str,
    /// The module's top-level statements (for rules that look back at module-level assignments).
    pub module: &'a [Stmt],
    /// What rule groups remember about this file while it is walked.
    pub file: rules::FileState,
    /// Which hook groups run (see [`rules::Groups`]).
    pub groups: rules::Groups,
    pub source: &'a str,
    /// Built on first use: most files have no finding and no suppression comment, and never
    /// need a line number.
    index: std::cell::OnceCell<LineIndex>,
    pub settings: &'a Settings,
    pub bindings: Bindings,
    /// Enclosing function definitions, innermost last.
    pub functions: Vec<&'a ast::StmtFunctionDef>,
    /// Enclosing statements, innermost last (the current statement included).
    pub stmts: Vec<&'a Stmt>,
    pub findings: Vec<Finding>,
    /// Calls of possible functions of the checked tree given tainted data (taint::interproc).
    pub call_outs: Vec<taint::interproc::CallOut>,
    /// Set when the walk summarises functions instead of checking (taint::interproc).
    summaries: Option<Vec<taint::interproc::Summary>>,
    /// When summarising: only these functions (by qualified name), or all.
    summary_filter: Option<&'a taint::interproc::Defined>,
    /// Which bodies the taint pass can report in (see [`taint::Gate`]).
    taint_gate: Option<taint::Gate>,
    /// The buffer the walk writes each callee's qualified name into (one allocation per file).
    call_name: String,
    depth: usize,
    too_deep: bool,
}

/// Rules about settings that are ordinary in tests (TLS checks off against a local server, debug
/// mode, cookies without flags, MD5/SHA1 and signing keys for fixtures): in test code they are reported at low
/// severity, so `--severity medium` leaves them out.
const TEST_CONTEXT_RULES: &[RuleId] = &[
    RuleId::RequestNoCertValidation,
    RuleId::FlaskDebugTrue,
    RuleId::DebugEnabled,
    RuleId::InsecureCookie,
    RuleId::HashlibInsecureHash,
    RuleId::HardcodedSigningKey,
];

/// The pre-screen reads hostile input on the host: code larger than this is refused unread.
pub const MAX_PRESCREEN_BYTES: usize = 1 << 20;

/// The pre-screen refuses code whose nesting bound (see [`nesting_bound`]) exceeds this before
/// parsing it. CPython refuses far less deep code ("too many nested parentheses" at 200).
const MAX_PRESCREEN_NESTING: usize = 1000;

/// The audit's nesting limit on the same bound (parentheses included: they make the parser
/// recurse but leave no node in the tree, so the walk's [`MAX_DEPTH`] never sees them).
const MAX_AUDIT_NESTING: usize = MAX_DEPTH;

/// Files at least this large have their nesting bounded from a lexer pass before the parser
/// runs. The parser grows its stack on the heap, about 2 KiB per level: 4 MiB of `(` cost 4.2 GB.
/// Below this size the worst case is ~250 MB (a level per byte of prefix `-`), so smaller files
/// are bounded from the parser's own tokens after parsing instead, which saves a second lexing of
/// most code (a lexer pass costs a quarter of a parse; on the standard library the files above
/// this size are 18 % of the bytes).
const PRE_PARSE_NESTING_BYTES: usize = 128 << 10;

/// What checking one file gives: its findings with suppressions applied, and the calls the
/// inter-procedural pass resolves once every file is checked.
pub struct Checked {
    pub findings: Vec<Finding>,
    pub crossing: taint::interproc::Crossing,
}

impl From<Vec<Finding>> for Checked {
    fn from(findings: Vec<Finding>) -> Checked {
        Checked {
            findings,
            crossing: taint::interproc::Crossing::default(),
        }
    }
}

/// Summarises every module-level function and method of one file for the inter-procedural
/// pass; nothing for a file that cannot be checked (it has its own finding).
pub fn summarise(path: &str, source: &str, settings: &Settings) -> Vec<taint::interproc::Summary> {
    if crate::encoding_refusal(source).is_some()
        || (source.len() >= PRE_PARSE_NESTING_BYTES && too_deep(nesting_bound(source), false).is_some())
    {
        return Vec::new();
    }
    let parsed = ruff_python_parser::parse_unchecked_source(source, ast::PySourceType::Python);
    if source.len() < PRE_PARSE_NESTING_BYTES {
        let kinds = parsed.tokens().iter().map(ruff_python_ast::token::Token::kind);
        if too_deep(nesting_bound_of(kinds), false).is_some() {
            std::mem::forget(parsed);
            return Vec::new();
        }
    }
    let (summaries, too_deep) = summarise_module(path, source, &parsed.syntax().body, settings, None);
    if too_deep {
        std::mem::forget(parsed);
    }
    summaries
}

/// The summaries of this module's own functions that its recorded calls reach, directly or
/// through one another (each walk summarises only the functions not yet summarised); None when
/// no call reaches one, or the tree is too deep to walk.
fn summarise_reached(
    path: &str,
    source: &str,
    body: &[Stmt],
    settings: &Settings,
    defined: &taint::interproc::Defined,
    call_outs: &[taint::interproc::CallOut],
) -> Option<taint::interproc::Partial> {
    let mut wanted: taint::interproc::Defined = call_outs
        .iter()
        .filter_map(|c| taint::interproc::local_target(&c.callee, defined))
        .collect();
    if wanted.is_empty() {
        return None;
    }
    let mut done = taint::interproc::Defined::default();
    let mut summaries = Vec::new();
    for _ in 0..=taint::interproc::MAX_HOPS {
        let todo: taint::interproc::Defined = wanted.difference(&done).cloned().collect();
        if todo.is_empty() {
            break;
        }
        let (made, deep) = summarise_module(path, source, body, settings, Some(&todo));
        if deep {
            return None;
        }
        done.extend(todo);
        for summary in &made {
            wanted.extend(
                summary
                    .calls
                    .iter()
                    .filter_map(|(callee, _, _)| taint::interproc::local_target(callee, defined)),
            );
        }
        summaries.extend(made);
    }
    Some(taint::interproc::Partial { summaries, of: done })
}

/// [`summarise`] of a module already parsed; also says whether the walk met too deep a tree
/// (which must then not be dropped: see the end of [`check`]).
fn summarise_module<'a>(
    path: &'a str,
    source: &'a str,
    body: &'a [Stmt],
    settings: &'a Settings,
    only: Option<&'a taint::interproc::Defined>,
) -> (Vec<taint::interproc::Summary>, bool) {
    let mut checker = Checker {
        path,
        module: body,
        file: rules::FileState::default(),
        groups: rules::Groups {
            audit: false,
            prescreen: false,
            taint: false,
        },
        source,
        index: std::cell::OnceCell::new(),
        settings,
        bindings: Bindings::default(),
        functions: Vec::new(),
        stmts: Vec::new(),
        findings: Vec::new(),
        call_outs: Vec::new(),
        summaries: Some(Vec::new()),
        summary_filter: only,
        taint_gate: None,
        call_name: String::new(),
        depth: 0,
        too_deep: false,
    };
    checker.visit_body(body);
    (checker.summaries.take().unwrap_or_default(), checker.too_deep)
}

/// Parses and checks one file.
pub fn check(path: &str, source: &str, settings: &Settings) -> Checked {
    if let Some(why) = crate::encoding_refusal(source) {
        return vec![Finding::engine(RuleId::UnreadableFile, path, source, &why)].into();
    }
    let prescreen = settings.profile == crate::Profile::Prescreen;
    let refusal = if prescreen && source.len() > MAX_PRESCREEN_BYTES {
        Some(format!(
            "{} bytes of code, over the pre-screen's {MAX_PRESCREEN_BYTES}-byte limit",
            source.len()
        ))
    } else if prescreen || source.len() >= PRE_PARSE_NESTING_BYTES {
        too_deep(nesting_bound(source), prescreen)
    } else {
        None
    };
    if let Some(why) = refusal {
        return vec![Finding::engine(
            RuleId::UnreadableFile,
            path,
            source,
            &format!("{why}; not parsed"),
        )]
        .into();
    }
    let parsed = ruff_python_parser::parse_unchecked_source(source, ast::PySourceType::Python);
    if !prescreen && source.len() < PRE_PARSE_NESTING_BYTES {
        let kinds = parsed.tokens().iter().map(ruff_python_ast::token::Token::kind);
        if let Some(why) = too_deep(nesting_bound_of(kinds), false) {
            std::mem::forget(parsed); // may be deep: see the end of this function
            return vec![Finding::engine(
                RuleId::UnreadableFile,
                path,
                source,
                &format!("{why}; not checked"),
            )]
            .into();
        }
    }
    let mut checker = Checker {
        path,
        module: &parsed.syntax().body,
        file: rules::FileState::default(),
        groups: rules::Groups::of(settings),
        source,
        index: std::cell::OnceCell::new(),
        settings,
        bindings: Bindings::default(),
        functions: Vec::new(),
        stmts: Vec::new(),
        findings: Vec::new(),
        call_outs: Vec::new(),
        summaries: None,
        summary_filter: None,
        taint_gate: None,
        call_name: String::new(),
        depth: 0,
        too_deep: false,
    };
    rules::on_source(&mut checker, parsed.tokens());
    let module = parsed.syntax();
    if checker.groups.taint {
        let gate = if settings.taint_gate {
            taint::Gate::of(source, parsed.tokens())
        } else {
            taint::Gate::open()
        };
        if gate.may_taint(None) {
            taint::check_body(&mut checker, &module.body, None);
        }
        checker.taint_gate = Some(gate);
    }
    checker.visit_body(&module.body);
    if checker.too_deep {
        checker.report(
            RuleId::UnreadableFile,
            TextRange::empty(TextSize::new(0)),
            format!("nesting deeper than {MAX_DEPTH} levels; the rest of the file was not checked"),
        );
    }
    // One finding per file: after the first error the parser's recovery produces follow-on errors
    // that say little; the count tells how broken the file is. The parser recovers, so the rest
    // of the tree was walked, and the message says so unless the walk stopped early.
    if let Some(first) = parsed.errors().first() {
        let more = parsed.errors().len() - 1;
        let tail = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        let rest = if checker.too_deep {
            "the file was only partly checked"
        } else {
            "the rest of the file was checked as the parser recovered it"
        };
        checker.report(
            RuleId::SyntaxError,
            first.location,
            format!("syntax error: {}{tail}; {rest}", first.error),
        );
    }
    let too_deep = checker.too_deep;
    let Checker {
        mut findings,
        index,
        mut call_outs,
        ..
    } = checker;
    // Calls of this module's own functions are summarised now, on the tree at hand; calls of
    // names it does not define at its top level are kept only if they may be in another module.
    let defined = taint::interproc::defined_names(&module.body);
    call_outs.retain(|c| c.may_reach(&defined));
    let summaries = if too_deep {
        None
    } else {
        summarise_reached(path, source, &module.body, settings, &defined, &call_outs)
    };
    let call_lines: Vec<usize> = call_outs.iter().flat_map(|c| [c.line, c.end_line]).collect();
    suppress::apply(
        &mut findings,
        path,
        source,
        &index,
        parsed.tokens(),
        settings,
        &call_lines,
    );
    if settings.honour_suppressions && !call_outs.is_empty() {
        for call in &mut call_outs {
            call.markers = suppress::markers_on(source, &index, parsed.tokens(), call.line, call.end_line);
        }
    }
    findings.retain(|f| !settings.ignored_in_file(path, f.rule));
    if too_deep {
        // Dropping a pathologically deep tree recurses once per level; leak it instead (bounded by
        // the file's size, which is capped) so a hostile file cannot overflow the stack.
        std::mem::forget(parsed);
    }
    findings.sort_by_key(|f| (f.line, f.column, f.rule));
    Checked {
        findings,
        crossing: taint::interproc::Crossing {
            call_outs,
            defined,
            summaries,
        },
    }
}

impl<'a> Checker<'a> {
    /// Byte offsets → lines and columns for this file.
    pub fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::new(self.source))
    }

    pub fn enabled(&self, rule: RuleId) -> bool {
        self.settings.is_enabled(rule)
    }

    /// Records a finding at `range` with the rule's default severity and confidence.
    pub fn report(&mut self, rule: RuleId, range: TextRange, message: impl Into<String>) {
        let meta = rule.meta();
        self.report_with(rule, range, meta.severity, meta.confidence, message);
    }

    /// Records a finding with a severity/confidence that differs from the rule's default.
    pub fn report_with(
        &mut self,
        rule: RuleId,
        range: TextRange,
        severity: crate::Level,
        confidence: crate::Level,
        message: impl Into<String>,
    ) {
        if !self.enabled(rule) {
            return;
        }
        let mut message = message.into();
        let mut severity = severity;
        if TEST_CONTEXT_RULES.contains(&rule) && self.in_test_code() {
            severity = crate::Level::Low;
            message.push_str(" (in test code: reported at low severity)");
        }
        let index = self.index();
        let (line, column) = index.line_col(self.source, range.start());
        let (end_line, end_column) = index.line_col(self.source, range.end());
        self.findings.push(Finding {
            path: self.path.to_string(),
            line,
            column,
            end_line,
            end_column,
            rule,
            severity,
            confidence,
            message,
            line_text: index.line_text(self.source, line).to_string(),
            suppression: None,
            baselined: false,
        });
    }

    /// Whether the code being walked is test code: a file under a `tests`/`test`/`testing`
    /// directory, named `test_*.py`, `*_test.py`, `tests.py` or `conftest.py`, or a function named
    /// `test*` or a method of a class named `Test*`.
    pub fn in_test_code(&self) -> bool {
        let path = std::path::Path::new(self.path);
        let by_path = path
            .components()
            .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "test" | "testing")))
            || path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("test_") || n.ends_with("_test.py") || n == "tests.py" || n == "conftest.py"
            });
        by_path
            || self.functions.iter().any(|f| f.name.starts_with("test"))
            || self
                .stmts
                .iter()
                .any(|s| matches!(s, Stmt::ClassDef(c) if c.name.starts_with("Test")))
    }

    /// The dotted name an expression refers to, with imports resolved: `sp.call` after
    /// `import subprocess as sp` is `subprocess.call`; `loads` after `from pickle import loads` is
    /// `pickle.loads`; an unimported name stays as written (`eval`, `request.args`).
    pub fn qualified_name(&self, expr: &Expr) -> Option<String> {
        self.bindings.qualified_name(expr)
    }

    pub fn text(&self, node: &impl Ranged) -> &'a str {
        self.source.get(node.range().to_std_range()).unwrap_or("")
    }

    pub fn current_function(&self) -> Option<&'a ast::StmtFunctionDef> {
        self.functions.last().copied()
    }

    /// Runs `walk` on a stack with room to spare: checked every 32 levels (checking costs a
    /// syscall-free but measurable lookup), growing the stack on the heap when less than 512 KiB
    /// is left — room for 32 levels of walk frames and the rules they call.
    fn grow_if_deep(&mut self, walk: impl FnOnce(&mut Self)) {
        if self.depth.is_multiple_of(32) {
            stacker::maybe_grow(512 * 1024, 8 << 20, || walk(self));
        } else {
            walk(self);
        }
    }

    /// Summarises `function` (the innermost statement) when it is a module-level function or a
    /// method of a module-level class.
    fn summarise(&mut self, function: &'a ast::StmtFunctionDef) {
        let outer = self.stmts.len().saturating_sub(1);
        let mut class = None;
        for stmt in self.stmts[..outer].iter().rev() {
            match stmt {
                Stmt::FunctionDef(_) => return,
                Stmt::ClassDef(c) if class.is_none() => class = Some(c.name.as_str()),
                Stmt::ClassDef(_) => return,
                _ => {}
            }
        }
        if let Some(only) = self.summary_filter {
            let wanted = match class {
                Some(class) => only.contains(&format!("{class}.{}", function.name.as_str())),
                None => only.contains(function.name.as_str()),
            };
            if !wanted {
                return;
            }
        }
        let summary = taint::summarise(self, function, class);
        if let Some(summaries) = self.summaries.as_mut() {
            summaries.push(summary);
        }
    }

    fn descend(&mut self) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.too_deep = true;
        }
        !self.too_deep
    }
}

impl<'a> Visitor<'a> for Checker<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !self.descend() {
            self.depth -= 1;
            return;
        }
        self.stmts.push(stmt);
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.bindings.bind_import(alias);
                    rules::on_import(self, alias.name.as_str(), alias.range);
                }
            }
            Stmt::ImportFrom(import) => {
                let module = ruff_python_ast::helpers::format_import_from(
                    import.level,
                    import.module.as_ref().map(|m| m.as_str()),
                );
                for alias in &import.names {
                    self.bindings.bind_from_import(&module, alias);
                    if alias.name.as_str() == "*" {
                        rules::on_import(self, &module, alias.range);
                    } else {
                        rules::on_import(self, &format!("{module}.{}", alias.name.as_str()), alias.range);
                    }
                }
            }
            _ => {}
        }
        rules::on_stmt(self, stmt);
        if let Stmt::FunctionDef(function) = stmt {
            // Decorators, defaults and annotations belong to the enclosing scope.
            for decorator in &function.decorator_list {
                self.visit_decorator(decorator);
            }
            self.visit_parameters(&function.parameters);
            if let Some(returns) = &function.returns {
                self.visit_annotation(returns);
            }
            self.functions.push(function);
            self.bindings.push_scope();
            if self.summaries.is_some() {
                self.summarise(function);
            }
            if self
                .taint_gate
                .as_ref()
                .is_some_and(|gate| gate.may_taint(Some(function)))
            {
                taint::check_body(self, &function.body, Some(function));
            }
            self.visit_body(&function.body);
            self.bindings.pop_scope();
            self.functions.pop();
        } else {
            self.grow_if_deep(|this| visitor::walk_stmt(this, stmt));
        }
        self.stmts.pop();
        self.depth -= 1;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if !self.descend() {
            self.depth -= 1;
            return;
        }
        if let (Expr::Call(call), true) = (expr, self.groups.audit || self.groups.prescreen) {
            let mut name = std::mem::take(&mut self.call_name);
            let found = self.bindings.write_qualified_name(&call.func, &mut name);
            rules::on_call(self, call, found.then_some(name.as_str()));
            self.call_name = name;
        }
        rules::on_expr(self, expr);
        self.grow_if_deep(|this| visitor::walk_expr(this, expr));
        self.depth -= 1;
    }
}

/// Why code nesting `bound` levels deep is not parsed or checked, if it is too deep.
fn too_deep(bound: usize, prescreen: bool) -> Option<String> {
    if prescreen {
        (bound > MAX_PRESCREEN_NESTING)
            .then(|| format!("nesting up to {bound} levels, over the pre-screen's limit of {MAX_PRESCREEN_NESTING}"))
    } else {
        (bound > MAX_AUDIT_NESTING).then(|| {
            format!(
                "nesting up to {bound} levels (parentheses, operators, blocks), over the limit of \
                 {MAX_AUDIT_NESTING} (CPython refuses such code too)"
            )
        })
    }
}

/// An upper bound on how deeply the parser can recurse on `source`, from the token stream alone
/// (the lexer is flat, so hostile input cannot make this deep). Within one logical line it counts
/// the tokens that can open a nesting level — brackets, prefix operators, `not`, `lambda`,
/// `await`, `yield`, conditional expressions, comprehensions, `**`, decorators, f-strings —
/// resetting to the enclosing bracket's level at each comma; indentation adds one per level.
/// Binary operators of one precedence are parsed in a loop, so long flat chains do not count.
pub fn nesting_bound(source: &str) -> usize {
    let mut lexer = ruff_python_parser::lexer::lex(source, ruff_python_parser::Mode::Module);
    nesting_bound_of(std::iter::from_fn(|| {
        let kind = lexer.next_token();
        (kind != ruff_python_ast::token::TokenKind::EndOfFile).then_some(kind)
    }))
}

/// [`nesting_bound`] over token kinds already lexed (the parser's own tokens).
fn nesting_bound_of(kinds: impl Iterator<Item = ruff_python_ast::token::TokenKind>) -> usize {
    use ruff_python_ast::token::TokenKind as T;
    let (mut indent, mut current, mut max) = (0usize, 0usize, 0usize);
    let mut open: Vec<usize> = Vec::new();
    let mut previous = T::Newline;
    for kind in kinds {
        match kind {
            T::EndOfFile => break,
            T::Indent => indent += 1,
            T::Dedent => indent = indent.saturating_sub(1),
            T::Newline => {
                current = 0;
                open.clear();
            }
            T::Lpar | T::Lsqb | T::Lbrace | T::FStringStart | T::TStringStart => {
                open.push(current);
                current += 1;
            }
            T::Rpar | T::Rsqb | T::Rbrace | T::FStringEnd | T::TStringEnd => current = open.pop().unwrap_or(0),
            T::Comma => current = open.last().map_or(0, |c| c + 1),
            T::Not | T::Lambda | T::Await | T::Yield | T::If | T::Else | T::For | T::DoubleStar | T::Tilde | T::At => {
                current += 1
            }
            T::Minus | T::Plus | T::Star if !ends_operand(previous) => current += 1,
            _ => {}
        }
        max = max.max(current + indent);
        previous = kind;
    }
    max
}

/// Whether a token can end an operand (so a following `-` is binary, not a prefix).
fn ends_operand(kind: ruff_python_ast::token::TokenKind) -> bool {
    use ruff_python_ast::token::TokenKind as T;
    matches!(
        kind,
        T::Name
            | T::Int
            | T::Float
            | T::Complex
            | T::String
            | T::FStringEnd
            | T::TStringEnd
            | T::Rpar
            | T::Rsqb
            | T::Rbrace
            | T::True
            | T::False
            | T::None
            | T::Ellipsis
    )
}

#[cfg(test)]
mod tests {
    use super::nesting_bound;
    use crate::{check_source, Profile, RuleId, Settings};

    #[test]
    fn a_broken_file_is_one_finding_that_counts_the_rest() {
        let source = "x = 1 +\ndef f(:\n    pass\nclass C\n    pass\n";
        let report = check_source("b.py", source, &Settings::new(Profile::Audit));
        let errors: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == RuleId::SyntaxError)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.contains("more)"), "{}", errors[0].message);
    }

    #[test]
    fn settings_ordinary_in_tests_are_low_severity_in_test_code() {
        let code = "import requests\nrequests.get(url, verify=False)\n";
        let audit = Settings::new(Profile::Audit);
        let severity = |path: &str, code: &str| {
            let report = check_source(path, code, &audit);
            let f = report.findings.iter().find(|f| f.rule.meta().id == "STK501").unwrap();
            (f.severity, f.message.contains("in test code"))
        };
        assert_eq!(severity("app/client.py", code), (crate::Level::High, false));
        for path in [
            "tests/test_client.py",
            "pkg/test/client.py",
            "client_test.py",
            "conftest.py",
        ] {
            assert_eq!(severity(path, code), (crate::Level::Low, true), "{path}");
        }
        let in_test_function = "import requests\ndef test_get():\n    requests.get(url, verify=False)\n";
        assert_eq!(severity("app/checks.py", in_test_function), (crate::Level::Low, true));
        // Not a test-context rule: an injection in test code stays what it is.
        let eval = check_source("tests/test_x.py", "eval(input())\n", &audit);
        assert!(eval
            .findings
            .iter()
            .all(|f| f.severity != crate::Level::Low || f.rule.meta().id != "STK307"));
    }

    #[test]
    fn passwords_printed_by_command_line_tools_are_low_confidence() {
        let audit = Settings::new(Profile::Audit);
        let confidence = |code: &str| {
            let report = check_source("tool.py", code, &audit);
            report
                .findings
                .iter()
                .find(|f| f.rule.meta().id == "STK810")
                .map(|f| f.confidence)
        };
        assert_eq!(
            confidence("def show(user):\n    print('password:', user.password)\n"),
            Some(crate::Level::Medium)
        );
        assert_eq!(
            confidence("import argparse\ndef show(args):\n    print('password:', args.password)\n"),
            Some(crate::Level::Low)
        );
        let guarded = "def show(user):\n    print(user.password)\nif __name__ == '__main__':\n    show(None)\n";
        assert_eq!(confidence(guarded), Some(crate::Level::Low));
        // A logger is not the terminal: the confidence stays.
        let logged = "import argparse, logging\nlog = logging.getLogger()\ndef f(a):\n    log.info(a.password)\n";
        assert_eq!(confidence(logged), Some(crate::Level::Medium));
    }

    #[test]
    fn the_syntax_error_says_the_rest_was_checked() {
        let source = "x = (\nimport pickle\npickle.loads(data)\n";
        let report = check_source("b.py", source, &Settings::new(Profile::Audit));
        let error = report.findings.iter().find(|f| f.rule == RuleId::SyntaxError).unwrap();
        assert!(error
            .message
            .ends_with("the rest of the file was checked as the parser recovered it"));
        assert!(
            report.findings.iter().any(|f| f.rule.meta().id == "STK301"),
            "{:?}",
            report.findings
        );
    }

    /// Parentheses leave no node in the tree, so only a bound taken from the tokens sees them;
    /// big files are bounded before the parser runs (4 MiB of `(` cost it 4.2 GB), small ones
    /// from the parser's tokens. Both give the same finding.
    #[test]
    fn deep_parentheses_are_refused_in_the_audit_before_or_after_parsing() {
        let audit = Settings::new(Profile::Audit);
        for levels in [2_000, 1 << 20] {
            let source = format!("x = {}1{}\n", "(".repeat(levels), ")".repeat(levels));
            let started = std::time::Instant::now();
            let report = check_source("deep.py", &source, &audit);
            assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
            let f = &report.findings[0];
            assert_eq!(f.rule, RuleId::UnreadableFile);
            assert!(f.message.contains("over the limit of 1500"), "{}", f.message);
            assert!(started.elapsed() < std::time::Duration::from_secs(20));
        }
        let deep_but_allowed = format!("x = {}1{}\n", "(".repeat(100), ")".repeat(100));
        assert!(check_source("ok.py", &deep_but_allowed, &audit).findings.is_empty());
        // The pre-parse bound of a big file and the post-parse bound of a small one agree.
        let padding = format!("# {}\n", "p".repeat(super::PRE_PARSE_NESTING_BYTES));
        let small = format!("y = {}0{}\n", "[".repeat(1600), "]".repeat(1600));
        let big = format!("{padding}{small}");
        for source in [small, big] {
            let f = check_source("d.py", &source, &audit).findings;
            assert!(f.len() == 1 && f[0].message.contains("up to 16"), "{f:?}");
        }
    }

    #[test]
    fn nesting_bound_is_small_for_ordinary_code_and_large_for_deep_code() {
        assert!(nesting_bound("x = [1, 2, 3, 4] + [a if b else c for a in d]\n") < 8);
        assert!(nesting_bound("y = a - b - c - d - e - f - g - h\n") < 3);
        let long_data = format!("x = [{}]\n", "-1, ".repeat(10_000));
        assert!(nesting_bound(&long_data) < 5, "{}", nesting_bound(&long_data));
        assert!(nesting_bound(&format!("x = {}1\n", "-".repeat(5000))) >= 5000);
        assert!(nesting_bound(&format!("x = {}1{}\n", "(".repeat(3000), ")".repeat(3000))) >= 3000);
        assert!(nesting_bound(&format!("x = {}1\n", "not ".repeat(3000))) >= 3000);
        assert!(nesting_bound(&format!("x = {}1\n", "lambda: ".repeat(3000))) >= 3000);
        assert!(nesting_bound(&format!("x = {}", "[\n".repeat(3000))) >= 3000);
    }
}
