//! The pre-screen (STK901–STK906): before stockade runs untrusted code, refuse what tries to
//! leave Python's object model or what the checker cannot vouch for, with a reason per finding.
//! It is depth, not the boundary (the jail is), but simple spelling tricks must not get through.
//!
//! Decisions, rule by rule:
//!
//! - **STK901 forbidden-import.** Every `import`, `from … import`, `__import__('x')` and
//!   `importlib.import_module('x')` with a literal is checked against the settings
//!   (`Settings::import_refusal`: forbidden prefixes, the allowed list, a policy). Relative imports
//!   are refused (a snippet has no package). `import a.b` binds `a`, so `a` must be allowed too.
//!   A refused module reached through another module's attribute (`shutil.os`, `tempfile._os`,
//!   `from shutil import os`, `sys.modules['os']`) and asyncio's process creation when
//!   `subprocess` is refused count as the import.
//! - **STK902 dunder-access.** Any dunder attribute outside a safe list (names, docs, the operator
//!   and container protocols, `__init__`/`__new__`/`__call__`, context managers, descriptors, ...)
//!   and frame/code/generator internals (`f_globals`, `gi_frame`, `tb_frame`, `co_code`, ...).
//!   `x.__class__` is allowed only as `self.__class__`/`cls.__class__`, `x.__class__(...)` and
//!   `x.__class__.__name__` (or `__qualname__`/`__module__`): the idioms of `__repr__` and
//!   `__eq__`. The same names are refused in string literals that could be used as attribute
//!   paths: replacement fields of format strings (`"{0.__class__.__mro__}"`), and any string naming
//!   an object-graph step (`"__globals__"`, `"f_back"`), which covers getattr names, templates and
//!   `__match_args__`. Class-pattern keywords of `match` (`case object(__class__=c)`) count as
//!   attribute access.
//! - **STK903 dynamic-code.** eval/exec/compile/`__import__`/breakpoint/help — called or merely
//!   referenced (an alias hides later calls); `type()` with three arguments; code/codeop/runpy/
//!   pdb/ctypes/cffi; `types.CodeType`/`FunctionType`; unpickling (pickle/marshal/dill/shelve/
//!   yaml.load with an unsafe loader); `importlib.import_module` with a computed name and the
//!   importlib loaders; doctest (runs docstrings); timeit with string statements;
//!   `typing.get_type_hints` and string annotations that contain code (singledispatch, pydantic
//!   and friends eval them); `logging.config.dictConfig` and other name-to-object resolvers;
//!   pandas/sympy/numexpr string evaluation; stdlib helpers that compile, import or run what they
//!   are given (`ForwardRef._evaluate`, `timeit.main`, unittest's name loaders, `discover` and
//!   `main(module=...)`, optparse's `read_module`/`read_file`, every `logging.config` member);
//!   metaclass definitions, `__prepare__`, and classes built from a namespace dict (`super().__new__(
//!   mcs, name, bases, ns)`, `abc.ABCMeta(name, bases, ns)`, `type(x)(...)`). `__annotations__` is
//!   refused everywhere (attribute, class-body name, string, keyword argument): dataclasses compile
//!   its keys into `__init__`/`__eq__` source, so a key such as `"a,exec(s)"` is code.
//! - **STK904 dynamic-attribute.** getattr/setattr/delattr/hasattr, `operator.attrgetter`/
//!   `methodcaller` and explicit `__getattr__`/`__getattribute__`/`__setattr__`/`__delattr__`
//!   calls whose attribute name is not a plain literal, or names a refused attribute; the
//!   forwarding idiom `def __getattr__(self, name): return getattr(self._x, name)` is accepted (the
//!   name can only come from an access the pre-screen already read). getattr/setattr/delattr
//!   referenced without a call, `string.Formatter`, and `.format()` on a format string built at
//!   run time (a concatenation, a call) are refused.
//! - **STK905 decode-then-exec.** Data decoded at run time (base64, hex, codecs incl. rot13,
//!   zlib/gzip/bz2/lzma, binascii, `[::-1]`, chr/bytes assembly, `.decode()`, `.translate()`)
//!   reaching exec/eval/compile/unpickling/`__import__`/getattr — nested in the argument or through
//!   a local name assigned from such data earlier in the same body (a per-scope map; reassigning
//!   the name clears it). (A source encoding declaration such as `# coding: utf-7`, under which
//!   Python would run other code than the text read, is refused by the engine for every profile:
//!   STK002.)
//! - **STK906 reflection.** globals/locals/vars (called or referenced), `dir()` of the local
//!   namespace or of a module, `sys.modules`, `sys._getframe` and every private `sys._*`,
//!   settrace/setprofile/addaudithook, inspect's frame and member walkers, `gc.get_objects`/
//!   `get_referrers`/`get_referents`, the import-system hooks (`sys.meta_path`, ...), anything on the
//!   builtins module (`import builtins`, `builtins.x`, `__builtins__`), `__loader__`/`__spec__`,
//!   a reflective module (sys, builtins, inspect, gc, importlib, ...) passed around as a value,
//!   since aliases are not followed, and private helpers of imported modules (`pickle._loads`,
//!   `uuid._get_command_stdout`, `from warnings import _setoption`) apart from a few ordinary ones
//!   (`os._exit`, namedtuple's `_asdict`/`_replace`/..., enum's sunder names). A refused module kept
//!   under an imported module's attribute (`dataclasses.inspect`) counts as its import (STK901).
//!
//! Cost: one `match` on the node kind per expression; names are compared with `match` tables (no
//! allocation); qualified names are built only for attributes whose name is in a table. The rules
//! do nothing unless a pre-screen rule is enabled, so the audit pays one check per node.
//!
//! State: the rule hooks are free functions, so the per-body map of decoded names lives in a
//! thread-local, reset whenever the checked source changes (its address, length and a sample of
//! its bytes) or the walk moves back to an earlier top-level statement. Only STK905 reads it, and
//! a stale entry could only add a finding, never hide one.

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use ruff_python_ast::{self as ast, Expr, ExprCall, ExprContext, InterpolatedStringElement, Pattern, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};
use std::collections::HashMap;

const RULES: [RuleId; 8] = [
    RuleId::ForbiddenImport,
    RuleId::DunderAccess,
    RuleId::DynamicCode,
    RuleId::DynamicAttribute,
    RuleId::DecodeThenExec,
    RuleId::Reflection,
    RuleId::ForbiddenCall,
    RuleId::OtherProcessAccess,
];

fn active(checker: &Checker) -> bool {
    RULES.iter().any(|r| checker.enabled(*r))
}

// ---------------------------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------------------------

pub fn on_import(checker: &mut Checker, module: &str, range: TextRange) {
    if !active(checker) {
        return;
    }
    check_import_policy(checker, module, range, ImportKind::Statement);
    check_module_reference(checker, module, range);
    // `from os import system` takes the function itself; `from os import *` takes them all.
    if !check_forbidden_call(checker, module, range)
        && checker.enabled(RuleId::ForbiddenCall)
        && checker
            .stmts
            .last()
            .is_some_and(|s| matches!(s, Stmt::ImportFrom(i) if i.names.iter().any(|a| a.name.as_str() == "*")))
    {
        if let Some(entry) = checker
            .settings
            .forbidden_calls
            .iter()
            .find(|e| e.starts_with(&format!("{module}.")))
        {
            let message = format!("`from {module} import *` binds functions the policy refuses (`{entry}`)");
            checker.report(RuleId::ForbiddenCall, range, message);
        }
    }
}

/// Whether `call` is one of the decorators of the class statement being visited.
fn decorates_a_class(checker: &Checker, call: &ExprCall) -> bool {
    matches!(checker.stmts.last(), Some(Stmt::ClassDef(class))
        if class.decorator_list.iter().any(|d| d.expression.range().contains_range(call.range())))
}

/// STK907: a function the policy's guard denies, referenced by its dotted name (a call's callee
/// is such a reference, and so is `f = os.system` or `getattr(os, "system")`).
fn check_forbidden_call(checker: &mut Checker, function: &str, range: TextRange) -> bool {
    if checker.settings.forbidden_calls.is_empty() || !checker.enabled(RuleId::ForbiddenCall) {
        return false;
    }
    let Some(entry) = checker.settings.forbidden_call(function) else {
        return false;
    };
    let message = format!("`{function}` is refused by the policy (`{entry}`): the guard would deny it at run time");
    checker.report(RuleId::ForbiddenCall, range, message);
    true
}

/// The module of the function a `forbidden_calls` entry refuses under the attribute name `attr`,
/// if it does: the module may reach the code as a value (`m = os; m.system()`, `shutil.os`, a
/// default argument), so the pre-screen also judges the attribute name. `os.exec*`-style prefixes
/// stand for os's own functions (a bare `exec` prefix would catch `cursor.execute`); module-wide
/// entries (`subprocess.*`) are left to the import rules. No allocation: this runs on every
/// attribute the pre-screen reads.
fn entry_refuses_attribute<'e>(entry: &'e str, attr: &str) -> Option<&'e str> {
    const OS_EXEC: &[&str] = &[
        "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
    ];
    const OS_SPAWN: &[&str] = &[
        "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
    ];
    let os_function = match entry {
        "os.exec*" => OS_EXEC.contains(&attr),
        "os.spawn*" => OS_SPAWN.contains(&attr),
        "os.posix_spawn*" => matches!(attr, "posix_spawn" | "posix_spawnp"),
        _ if entry.ends_with('*') => false,
        _ => {
            return entry
                .rsplit_once('.')
                .filter(|(_, name)| *name == attr)
                .map(|(module, _)| module)
        }
    };
    os_function.then_some("os")
}

/// The module whose refused function `attr` names, and the entry refusing it, if any.
fn refused_attribute<'s>(settings: &'s crate::Settings, attr: &str) -> Option<(&'s str, &'s str)> {
    settings
        .forbidden_calls
        .iter()
        .find_map(|entry| entry_refuses_attribute(entry, attr).map(|module| (module, entry.as_str())))
}

/// Whether the head of a `Name`/`Attribute` chain is a name bound by an import: only such a
/// chain can resolve to a module-qualified function, so only then is its dotted name built.
fn head_is_imported(checker: &Checker, expr: &Expr) -> bool {
    let mut current = expr;
    while let Expr::Attribute(attribute) = current {
        current = &attribute.value;
    }
    matches!(current, Expr::Name(name) if checker.bindings.resolve(name.id.as_str()).is_some())
}

/// STK907 by attribute name: `<owner>.system` where the owner may be the os module — the module
/// itself or a re-export (`shutil.os`), a local name or parameter (it may hold the module: fail
/// closed), or anything computed. An owner imported from another module (`platform.system`) is
/// fine.
fn check_forbidden_attribute(checker: &mut Checker, owner: &Expr, attr: &str, range: TextRange) {
    let Some((module, entry)) = refused_attribute(checker.settings, attr) else {
        return;
    };
    let module_name = module.rsplit('.').next().unwrap_or(module);
    let why = match checker.qualified_name(owner) {
        None => Some("on a value computed at run time"),
        Some(q) if q == module || q.ends_with(&format!(".{module_name}")) => Some("on the module"),
        Some(q) => {
            let head = q.split('.').next().unwrap_or(&q);
            checker
                .bindings
                .resolve(head)
                .is_none()
                .then_some("on a name that may hold the module")
        }
    };
    if let Some(why) = why {
        let message = format!(
            "`.{attr}` {why}: `{module}.{attr}` is refused by the policy (`{entry}`), and the module can reach code as a value"
        );
        checker.report(RuleId::ForbiddenCall, range, message);
    }
}

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    if !active(checker) {
        return;
    }
    for keyword in &call.arguments.keywords {
        if let Some(arg) = &keyword.arg {
            if is_tripwire_word(arg.as_str()) {
                checker.report(
                    RuleId::DunderAccess,
                    keyword.range,
                    format!(
                        "the keyword argument `{}=` names an object-graph step (a namespace key once the callee stores it)",
                        arg.as_str()
                    ),
                );
            }
        }
    }
    judge_class_building(checker, call);
    if let Some(name) = name {
        let bare = strip_builtins(name);
        if let Some(label) = decode_label(bare, call) {
            record_taint(checker, call.range(), label);
        }
        check_sink(checker, call, bare);
        judge_call(checker, call, bare);
    }
    judge_method_call(checker, call);
}

pub fn on_expr(checker: &mut Checker, expr: &Expr) {
    if !active(checker) {
        return;
    }
    if matches!(expr, Expr::Name(_) | Expr::Attribute(_))
        && checker.enabled(RuleId::DecodeThenExec)
        && next_char(checker.source, expr.range().end()) != Some(b'(')
    {
        if let Some(label) = decode_reference(checker, expr) {
            record_taint(checker, expr.range(), label);
        }
    }
    if !checker.settings.forbidden_calls.is_empty() {
        match expr {
            Expr::Name(_) => {
                if let Some(function) = head_is_imported(checker, expr)
                    .then(|| checker.qualified_name(expr))
                    .flatten()
                {
                    check_forbidden_call(checker, &function, expr.range());
                }
            }
            Expr::Attribute(attribute) => {
                let by_name = head_is_imported(checker, expr)
                    && checker
                        .qualified_name(expr)
                        .is_some_and(|f| check_forbidden_call(checker, &f, expr.range()));
                if !by_name {
                    check_forbidden_attribute(checker, &attribute.value, attribute.attr.as_str(), expr.range());
                }
            }
            Expr::Call(call) => {
                // getattr(os, "system"), operator.attrgetter("system"), methodcaller("system", ...):
                // the literal names the attribute.
                let callee = checker.qualified_name(&call.func);
                let first_literal = |i: usize| match call.arguments.args.get(i) {
                    Some(Expr::StringLiteral(s)) => Some(s.value.to_str().to_string()),
                    _ => None,
                };
                match callee.as_deref() {
                    Some("getattr" | "builtins.getattr") => {
                        if let (Some(owner), Some(attr)) = (call.arguments.args.first(), first_literal(1)) {
                            check_forbidden_attribute(checker, owner, &attr, call.range());
                        }
                    }
                    Some("operator.attrgetter" | "operator.methodcaller") => {
                        if let Some(attr) = first_literal(0) {
                            let last = attr.rsplit('.').next().unwrap_or(&attr).to_string();
                            if let Some((module, entry)) = refused_attribute(checker.settings, &last) {
                                let message = format!(
                                    "`{}` fetches `.{last}` from a value it is given: `{module}.{last}` is refused by the policy (`{entry}`)",
                                    callee.as_deref().unwrap_or_default()
                                );
                                checker.report(RuleId::ForbiddenCall, call.range(), message);
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    match expr {
        Expr::Name(name) => check_name(checker, name),
        Expr::Attribute(attribute) => check_attribute(checker, attribute),
        Expr::Subscript(subscript) => check_subscript(checker, subscript),
        Expr::StringLiteral(string) => {
            check_text(checker, string.value.to_str(), string.range);
            check_annotation_string(checker, string);
        }
        Expr::BytesLiteral(bytes) => {
            for part in bytes.value.iter() {
                if let Ok(text) = std::str::from_utf8(&part.value) {
                    check_text(checker, text, part.range);
                } else {
                    check_text(checker, &String::from_utf8_lossy(&part.value), part.range);
                }
            }
        }
        Expr::FString(fstring) if fstring_needs_text(fstring) => {
            let mut text = String::new();
            for part in fstring.value.iter() {
                match part {
                    ast::FStringPart::Literal(literal) => text.push_str(&literal.value),
                    ast::FStringPart::FString(f) => interpolated_text(&f.elements, &mut text),
                }
            }
            check_text(checker, &text, fstring.range);
        }
        Expr::TString(tstring) => {
            let mut text = String::new();
            for part in tstring.value.iter() {
                interpolated_text(&part.elements, &mut text);
            }
            check_text(checker, &text, tstring.range);
        }
        Expr::Named(named) => {
            if let Expr::Name(target) = &*named.target {
                let found = with_state(checker, |state| {
                    contains_decode(checker, state, &named.value, &mut Budget::new()).map(|label| {
                        (
                            label,
                            scope_of(checker),
                            target.id.to_string(),
                            named.range.end().to_u32(),
                        )
                    })
                });
                if let Some((label, scope, name, at)) = found {
                    with_state(checker, |state| state.taint(scope, &name, at, Some(label)));
                }
            }
        }
        _ => {}
    }
    if matches!(checker.stmts.last(), Some(Stmt::ClassDef(_) | Stmt::Return(_))) {
        check_class_statement(checker, expr);
    }
    if let Some(Stmt::Match(stmt)) = checker.stmts.last().copied() {
        if stmt.subject.range() == expr.range() {
            check_patterns(checker, stmt);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Name tables
// ---------------------------------------------------------------------------------------------

fn is_dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

/// Dunder attributes ordinary code reads or calls and that lead nowhere by themselves: names and
/// docs (strings), the construction, operator, container, iterator, context-manager, descriptor and
/// copy protocols. Everything else that looks like `__x__` is refused.
fn is_safe_dunder(name: &str) -> bool {
    matches!(
        name,
        "__name__"
            | "__qualname__"
            | "__doc__"
            | "__module__"
            | "__version__"
            | "__file__"
            | "__all__"
            | "__slots__"
            | "__match_args__"
            | "__dataclass_fields__"
            | "__members__"
            | "__cause__"
            | "__context__"
            | "__suppress_context__"
            | "__notes__"
            | "__args__"
            | "__origin__"
            | "__isabstractmethod__"
            | "__author__"
            | "__license__"
            | "__version_info__"
            | "__init__"
            | "__new__"
            | "__del__"
            | "__post_init__"
            | "__init_subclass__"
            | "__set_name__"
            | "__class_getitem__"
            | "__call__"
            | "__repr__"
            | "__str__"
            | "__bytes__"
            | "__format__"
            | "__hash__"
            | "__bool__"
            | "__sizeof__"
            | "__len__"
            | "__length_hint__"
            | "__getitem__"
            | "__setitem__"
            | "__delitem__"
            | "__missing__"
            | "__contains__"
            | "__iter__"
            | "__reversed__"
            | "__next__"
            | "__aiter__"
            | "__anext__"
            | "__await__"
            | "__enter__"
            | "__exit__"
            | "__aenter__"
            | "__aexit__"
            | "__get__"
            | "__set__"
            | "__delete__"
            | "__copy__"
            | "__deepcopy__"
            | "__fspath__"
            | "__index__"
            | "__int__"
            | "__float__"
            | "__complex__"
            | "__round__"
            | "__trunc__"
            | "__floor__"
            | "__ceil__"
            | "__abs__"
            | "__neg__"
            | "__pos__"
            | "__invert__"
            | "__eq__"
            | "__ne__"
            | "__lt__"
            | "__le__"
            | "__gt__"
            | "__ge__"
            | "__add__"
            | "__radd__"
            | "__iadd__"
            | "__sub__"
            | "__rsub__"
            | "__isub__"
            | "__mul__"
            | "__rmul__"
            | "__imul__"
            | "__matmul__"
            | "__rmatmul__"
            | "__imatmul__"
            | "__truediv__"
            | "__rtruediv__"
            | "__itruediv__"
            | "__floordiv__"
            | "__rfloordiv__"
            | "__ifloordiv__"
            | "__mod__"
            | "__rmod__"
            | "__imod__"
            | "__divmod__"
            | "__rdivmod__"
            | "__pow__"
            | "__rpow__"
            | "__ipow__"
            | "__lshift__"
            | "__rlshift__"
            | "__ilshift__"
            | "__rshift__"
            | "__rrshift__"
            | "__irshift__"
            | "__and__"
            | "__rand__"
            | "__iand__"
            | "__or__"
            | "__ror__"
            | "__ior__"
            | "__xor__"
            | "__rxor__"
            | "__ixor__"
    )
}

/// Frame, code, generator, coroutine, traceback and (Python 2 style) function internals: each
/// leads to another frame's globals or to code objects.
fn is_frame_attr(name: &str) -> bool {
    matches!(
        name,
        "f_globals"
            | "f_locals"
            | "f_back"
            | "f_builtins"
            | "f_code"
            | "f_trace"
            | "gi_frame"
            | "gi_code"
            | "gi_yieldfrom"
            | "cr_frame"
            | "cr_code"
            | "cr_await"
            | "cr_origin"
            | "ag_frame"
            | "ag_code"
            | "ag_await"
            | "tb_frame"
            | "tb_next"
            | "co_code"
            | "co_consts"
            | "co_names"
            | "co_varnames"
            | "co_freevars"
            | "co_cellvars"
            | "co_lnotab"
            | "co_linetable"
            | "co_exceptiontable"
            | "func_globals"
            | "func_code"
            | "func_closure"
            | "func_defaults"
            | "im_func"
            | "im_self"
            | "im_class"
    )
}

/// Why an attribute name is refused as an object-graph step (STK902), if it is.
fn graph_step(name: &str) -> Option<&'static str> {
    if is_dunder(name) {
        if is_safe_dunder(name) {
            return None;
        }
        return Some(match name {
            "__class__" | "__base__" | "__bases__" | "__mro__" | "__subclasses__" => {
                "walks the class hierarchy, the first steps of `().__class__.__base__.__subclasses__()` escapes"
            }
            "__globals__" | "__builtins__" | "__code__" | "__closure__" | "__dict__" | "__defaults__"
            | "__kwdefaults__" | "__self__" | "__func__" | "__wrapped__" | "__objclass__" => {
                "reaches a namespace, function internals or a bound object the pre-screen cannot follow"
            }
            "__getattribute__" | "__getattr__" | "__setattr__" | "__delattr__" => {
                "looks attributes up by a name given at run time"
            }
            "__reduce__" | "__reduce_ex__" | "__getstate__" | "__setstate__" => {
                "the pickling protocol hands out callables and their arguments"
            }
            "__annotations__" => {
                "reaches annotation dicts, whose keys dataclasses and namedtuple-style helpers compile into code"
            }
            "__prepare__" => "builds the namespace of a class statement, which the pre-screen cannot read",
            "__loader__" | "__spec__" | "__import__" | "__traceback__" => {
                "reaches the import system or a traceback's frames"
            }
            _ => "is a dunder attribute outside the pre-screen's safe list",
        });
    }
    if is_frame_attr(name) {
        return Some("is a frame/code/generator internal that reaches other frames' globals or code objects");
    }
    None
}

/// Words that name an object-graph step when they appear in a string (getattr names, format
/// fields, templates, `__match_args__`). Narrower than `graph_step` so prose rarely trips it.
fn is_tripwire_word(word: &str) -> bool {
    is_frame_attr(word)
        || matches!(
            word,
            "__class__"
                | "__subclasses__"
                | "__globals__"
                | "__builtins__"
                | "__builtin__"
                | "__mro__"
                | "__bases__"
                | "__base__"
                | "__code__"
                | "__closure__"
                | "__dict__"
                | "__getattribute__"
                | "__reduce__"
                | "__reduce_ex__"
                | "__loader__"
                | "__spec__"
                | "__self__"
                | "__func__"
                | "__traceback__"
                | "__import__"
                | "__defaults__"
                | "__kwdefaults__"
                | "__objclass__"
                | "__subclasshook__"
                | "__annotations__"
                | "__prepare__"
        )
}

/// A rule hit from a name table.
#[derive(Clone, Copy)]
struct Hit {
    rule: RuleId,
    why: &'static str,
    /// The call is judged by its arguments (`on_call`); only a reference without a call is
    /// reported at the name.
    call_judged: bool,
}

const fn hit(rule: RuleId, why: &'static str) -> Option<Hit> {
    Some(Hit {
        rule,
        why,
        call_judged: false,
    })
}

const fn judged(rule: RuleId, why: &'static str) -> Option<Hit> {
    Some(Hit {
        rule,
        why,
        call_judged: true,
    })
}

const RUNS_CODE: &str = "runs a string as Python code";

/// Builtins (unqualified names not bound by an import) the pre-screen refuses.
fn builtin_hit(name: &str) -> Option<Hit> {
    use RuleId::*;
    match name {
        "eval" | "exec" | "compile" | "execfile" => hit(DynamicCode, RUNS_CODE),
        "__import__" => hit(DynamicCode, "imports a module named by a string at run time"),
        "__build_class__" => hit(DynamicCode, "builds a class from a function at run time"),
        "breakpoint" => hit(DynamicCode, "starts the debugger, which runs typed-in code"),
        "help" => hit(
            DynamicCode,
            "starts pydoc, which imports modules by name and can start a pager",
        ),
        "globals" | "locals" | "vars" => hit(Reflection, "hands out a namespace as a dict (and through it, builtins)"),
        "dir" => judged(Reflection, "lists a namespace"),
        "getattr" | "setattr" | "delattr" => {
            judged(DynamicAttribute, "accesses an attribute by a name given at run time")
        }
        _ => None,
    }
}

/// Members of modules, by qualified module name (or the last segment of a receiver that could not
/// be resolved, e.g. `x._module.sys`).
fn member_hit(module: &str, attr: &str) -> Option<Hit> {
    use RuleId::*;
    const FRAMES: &str = "reaches interpreter frames and their globals";
    const UNPICKLE: &str = "deserialises with pickle-like formats, which run code chosen by the data";
    const ANNOTATIONS: &str = "evaluates annotation strings with eval()";
    match (module, attr) {
        ("sys", "modules") => hit(
            Reflection,
            "hands out every loaded module, including ones the policy refuses",
        ),
        ("sys", "meta_path" | "path_hooks" | "path_importer_cache") => {
            hit(Reflection, "changes how imports are resolved")
        }
        ("sys", "remote_exec") => hit(DynamicCode, "runs a file in another Python process"),
        ("sys", "breakpointhook") => hit(DynamicCode, "starts the debugger, which runs typed-in code"),
        ("sys", a) if a.starts_with('_') => hit(Reflection, "is an interpreter internal of sys"),
        ("inspect", "stack" | "trace" | "getmembers" | "getmembers_static" | "getframeinfo" | "getmodule") => {
            hit(Reflection, FRAMES)
        }
        ("inspect", "get_annotations") => judged(DynamicCode, ANNOTATIONS),
        ("gc", "garbage" | "callbacks") => hit(Reflection, "hands out arbitrary live objects"),
        ("importlib", "import_module") => judged(DynamicCode, "imports a module named at run time"),
        ("importlib", "__import__") => hit(DynamicCode, "imports a module named at run time"),
        ("importlib.util" | "importlib.machinery", _) => {
            hit(DynamicCode, "loads modules from files or specs at run time")
        }
        (
            "pickle" | "_pickle" | "cPickle" | "dill" | "cloudpickle" | "joblib",
            "load" | "loads" | "Unpickler" | "_load" | "_loads" | "_Unpickler",
        ) => hit(DynamicCode, UNPICKLE),
        ("pandas", "read_pickle") => hit(DynamicCode, UNPICKLE),
        ("marshal", "load" | "loads") => hit(DynamicCode, "loads code objects"),
        ("shelve", "open") => hit(DynamicCode, UNPICKLE),
        ("jsonpickle", "decode") => hit(DynamicCode, UNPICKLE),
        ("yaml", "unsafe_load" | "unsafe_load_all" | "full_load" | "full_load_all") => {
            hit(DynamicCode, "constructs arbitrary Python objects from YAML tags")
        }
        ("yaml", "load" | "load_all") => judged(DynamicCode, "constructs arbitrary Python objects from YAML tags"),
        ("types", "CodeType" | "FunctionType" | "LambdaType") => {
            hit(DynamicCode, "builds code or function objects at run time")
        }
        ("types", "new_class") => hit(DynamicCode, "builds a class at run time"),
        ("typing" | "typing_extensions", "get_type_hints" | "_eval_type" | "ForwardRef" | "evaluate_forward_ref") => {
            hit(DynamicCode, ANNOTATIONS)
        }
        (
            "doctest",
            "testmod"
            | "testfile"
            | "run_docstring_examples"
            | "DocTestRunner"
            | "DocTestSuite"
            | "DocFileSuite"
            | "debug"
            | "debug_src"
            | "script_from_examples",
        ) => hit(
            DynamicCode,
            "runs code written in docstrings, which the pre-screen does not read",
        ),
        ("logging.config", _) => hit(
            DynamicCode,
            "resolves dotted names from its configuration to objects and calls them",
        ),
        ("pydoc", "locate" | "render_doc" | "help" | "doc") => hit(DynamicCode, "imports modules by name"),
        ("pkgutil", "resolve_name" | "get_loader" | "find_loader" | "get_importer") => {
            hit(DynamicCode, "imports modules by name")
        }
        ("unittest.mock" | "mock", "patch") => hit(
            DynamicCode,
            "resolves a dotted name from a string and replaces the object",
        ),
        ("timeit", "timeit" | "repeat" | "Timer") => judged(DynamicCode, "compiles and runs string statements"),
        ("timeit", "main") => hit(DynamicCode, "compiles and runs the statements given as arguments"),
        ("unittest" | "unittest.main", "main" | "TestProgram") => judged(
            DynamicCode,
            "imports the modules and test names it is given (arguments, argv) and calls what they reach",
        ),
        ("operator", "attrgetter" | "methodcaller") => {
            judged(DynamicAttribute, "accesses attributes by names given at run time")
        }
        ("string", "Formatter") => hit(
            DynamicAttribute,
            "resolves attribute paths from format strings at run time",
        ),
        ("pandas", "eval") | ("numexpr", "evaluate") | ("sympy", "sympify" | "parse_expr") => {
            hit(DynamicCode, "evaluates a string as Python")
        }
        ("sympy.parsing.sympy_parser", "parse_expr") => hit(DynamicCode, "evaluates a string as Python"),
        _ => None,
    }
}

/// Attribute names for which a receiver's qualified name is worth building (the attr column of
/// `member_hit`).
fn is_member_candidate(attr: &str) -> bool {
    attr.starts_with('_')
        || matches!(
            attr,
            "modules"
                | "meta_path"
                | "path_hooks"
                | "path_importer_cache"
                | "remote_exec"
                | "breakpointhook"
                | "stack"
                | "trace"
                | "getmembers"
                | "getmembers_static"
                | "getframeinfo"
                | "getmodule"
                | "get_annotations"
                | "garbage"
                | "callbacks"
                | "import_module"
                | "load"
                | "loads"
                | "Unpickler"
                | "read_pickle"
                | "open"
                | "decode"
                | "unsafe_load"
                | "unsafe_load_all"
                | "full_load"
                | "full_load_all"
                | "load_all"
                | "CodeType"
                | "FunctionType"
                | "LambdaType"
                | "new_class"
                | "get_type_hints"
                | "ForwardRef"
                | "evaluate_forward_ref"
                | "testmod"
                | "testfile"
                | "run_docstring_examples"
                | "DocTestRunner"
                | "DocTestSuite"
                | "DocFileSuite"
                | "debug"
                | "debug_src"
                | "script_from_examples"
                | "dictConfig"
                | "fileConfig"
                | "listen"
                | "locate"
                | "render_doc"
                | "help"
                | "doc"
                | "resolve_name"
                | "get_loader"
                | "find_loader"
                | "get_importer"
                | "patch"
                | "timeit"
                | "repeat"
                | "Timer"
                | "main"
                | "attrgetter"
                | "methodcaller"
                | "Formatter"
                | "eval"
                | "evaluate"
                | "sympify"
                | "parse_expr"
        )
        || attr.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

/// Attribute names refused whatever their receiver: distinctive enough that only reflection uses
/// them, so aliasing the module (`s = sys; s._getframe()`) does not help.
fn distinctive_hit(attr: &str) -> Option<Hit> {
    use RuleId::*;
    match attr {
        "_getframe"
        | "_current_frames"
        | "_current_exceptions"
        | "_getframemodulename"
        | "currentframe"
        | "getouterframes"
        | "getinnerframes"
        | "getclosurevars"
        | "getgeneratorlocals"
        | "getcoroutinelocals"
        | "getasyncgenlocals" => hit(Reflection, "reaches interpreter frames and their globals"),
        "getattr_static" => hit(Reflection, "reads attributes past the normal lookup"),
        "settrace" | "setprofile" | "settrace_all_threads" | "setprofile_all_threads" => {
            hit(Reflection, "installs a tracer that receives every frame")
        }
        "addaudithook" => hit(
            Reflection,
            "installs an audit hook (stockade's guard is one; hooks can interfere with it)",
        ),
        "get_objects" | "get_referrers" | "get_referents" => hit(
            Reflection,
            "hands out arbitrary live objects from the garbage collector",
        ),
        "load_module" | "exec_module" => hit(DynamicCode, "runs a module's code through the import machinery"),
        "pythonapi" => hit(DynamicCode, "calls the CPython C API through ctypes"),
        "_evaluate" | "_evaluate_forward_ref" => hit(DynamicCode, "evaluates a forward reference's string with eval()"),
        "loadTestsFromName" | "loadTestsFromNames" => hit(
            DynamicCode,
            "imports modules named by strings and calls what the names reach",
        ),
        "read_module" => hit(
            DynamicCode,
            "imports a module named by a string and copies its namespace",
        ),
        "enable_load_extension" | "load_extension" => hit(DynamicCode, "loads a native SQLite extension (native code)"),
        _ => None,
    }
}

/// Modules whose every member runs code or touches raw memory.
fn family_hit(head: &str) -> Option<Hit> {
    use RuleId::*;
    match head {
        "ctypes" | "_ctypes" | "cffi" => hit(DynamicCode, "calls native code and reads or writes raw memory"),
        "code" | "codeop" => hit(
            DynamicCode,
            "is an interactive interpreter: it compiles and runs strings",
        ),
        "runpy" => hit(DynamicCode, "runs modules and files as code"),
        "pdb" | "bdb" => hit(DynamicCode, "is the debugger, which runs typed-in code"),
        _ => None,
    }
}

/// Modules that reflect on the interpreter or have members the pre-screen refuses by name
/// (`member_hit`); passed around as values they would defeat the name tables.
fn is_reflective_module(module: &str) -> bool {
    matches!(
        module,
        "sys"
            | "builtins"
            | "__builtin__"
            | "inspect"
            | "gc"
            | "importlib"
            | "importlib.util"
            | "importlib.machinery"
            | "types"
            | "operator"
            | "string"
            | "threading"
            | "marshal"
            | "pickle"
            | "_pickle"
            | "cPickle"
            | "dill"
            | "cloudpickle"
            | "joblib"
            | "shelve"
            | "jsonpickle"
            | "yaml"
            | "typing"
            | "typing_extensions"
            | "doctest"
            | "logging.config"
            | "optparse"
            | "unittest"
            | "pydoc"
            | "pkgutil"
            | "unittest.mock"
            | "mock"
            | "timeit"
            | "pandas"
            | "numexpr"
            | "sympy"
    )
}

fn is_builtins_module(name: &str) -> bool {
    matches!(name, "builtins" | "__builtins__" | "__builtin__")
}

/// Attribute names under which standard modules keep other modules (`shutil.os`,
/// `tempfile._os`): reaching a refused module that way counts as importing it.
fn module_attr(attr: &str) -> Option<&str> {
    let stripped = attr.trim_start_matches('_');
    match stripped {
        "os" | "posix" | "nt" | "sys" | "subprocess" | "socket" | "ctypes" | "importlib" | "imp" | "shutil" | "pty"
        | "multiprocessing" | "marshal" | "runpy" | "posixsubprocess" | "builtins" => {
            Some(if stripped == "posixsubprocess" {
                "_posixsubprocess"
            } else {
                stripped
            })
        }
        _ => None,
    }
}

fn strip_builtins(name: &str) -> &str {
    for prefix in ["builtins.", "__builtins__.", "__builtin__."] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest;
        }
    }
    name
}

// ---------------------------------------------------------------------------------------------
// STK901: imports
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum ImportKind {
    Statement,
    /// `__import__('a.b')`: returns (and so binds) the top package `a`.
    DunderImport,
    /// `importlib.import_module('a.b')`.
    ImportModule,
}

fn check_import_policy(checker: &mut Checker, module: &str, range: TextRange, kind: ImportKind) {
    if !checker.enabled(RuleId::ForbiddenImport) {
        return;
    }
    if module.starts_with('.') {
        checker.report(
            RuleId::ForbiddenImport,
            range,
            format!(
                "relative import `{}` refused: an untrusted snippet has no package to import from",
                module.trim_start_matches('.')
            ),
        );
        return;
    }
    if module == "__future__" || module.starts_with("__future__.") {
        return; // a compiler directive, not a module the code gets
    }
    if let Some(why) = checker.settings.import_refusal(module) {
        checker.report(
            RuleId::ForbiddenImport,
            range,
            format!("import of `{module}` refused: {why}"),
        );
        return;
    }
    // `import a.b` (and `__import__('a.b')`) binds the top package `a`.
    let binds_head = match kind {
        ImportKind::DunderImport => true,
        ImportKind::ImportModule => false,
        ImportKind::Statement => matches!(
            checker.stmts.last(),
            Some(Stmt::Import(import)) if import.names.iter().any(|a| a.range == range && a.asname.is_none())
        ),
    };
    if binds_head {
        if let Some((head, _)) = module.split_once('.') {
            if let Some(why) = checker.settings.import_refusal(head) {
                checker.report(
                    RuleId::ForbiddenImport,
                    range,
                    format!("`{module}` binds the top package `{head}`, which is refused: {why}"),
                );
                return;
            }
        }
    }
    // `from shutil import os`: another module's reference to a refused module.
    if let Some((_, member)) = module.rsplit_once('.') {
        if let Some(target) = module_attr(member) {
            if let Some(why) = checker.settings.import_refusal(target) {
                checker.report(
                    RuleId::ForbiddenImport,
                    range,
                    format!("`{module}` is the `{target}` module, which is refused: {why}"),
                );
            }
        }
    }
}

/// STK903/906 for a module or a `module.member` that is imported (by statement or by a literal
/// `__import__`/`import_module`).
fn check_module_reference(checker: &mut Checker, module: &str, range: TextRange) {
    let head = module.split('.').next().unwrap_or(module);
    if let Some(h) = family_hit(head) {
        checker.report(h.rule, range, format!("`{module}`: `{head}` {}", h.why));
    }
    if is_builtins_module(head) {
        checker.report(
            RuleId::Reflection,
            range,
            format!("`{module}`: the builtins module is refused; use the builtins by their names"),
        );
        if let Some((_, member)) = module.split_once('.') {
            report_builtin_member(checker, member, range, false);
        }
        return;
    }
    if let Some((owner, member)) = module.rsplit_once('.') {
        let private = member.starts_with('_') && !is_dunder(member) && !is_ordinary_private(member);
        if private && owner != "sys" && member_hit(owner, member).is_none() {
            checker.report(
                RuleId::Reflection,
                range,
                format!("`{module}` is a private helper of a module: private helpers skip the checks (and the names) of the public API the pre-screen knows"),
            );
        }
        if let Some(h) = member_hit(owner, member).or_else(|| distinctive_hit(member)) {
            if !h.call_judged {
                checker.report(h.rule, range, format!("`{module}` {}", h.why));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Names and attributes
// ---------------------------------------------------------------------------------------------

fn check_name(checker: &mut Checker, name: &ast::ExprName) {
    let id = name.id.as_str();
    match name.ctx {
        ExprContext::Load => {}
        ExprContext::Store => {
            if id == "__builtins__" {
                checker.report(
                    RuleId::Reflection,
                    name.range,
                    "assigning `__builtins__` swaps the builtins of code run later",
                );
            }
            if matches!(id, "__annotations__" | "__prepare__") {
                checker.report(
                    RuleId::DunderAccess,
                    name.range,
                    format!("assigning `{id}` {}", graph_step(id).unwrap_or_default()),
                );
            }
            let scope = scope_of(checker);
            let at = name.range.start().to_u32();
            with_state(checker, |state| {
                if state.tracks(id) {
                    state.taint(scope, id, at, None);
                }
            });
            return;
        }
        _ => return,
    }

    // STK905 propagation: `y = x + ...` where `x` holds decoded data.
    let scope = scope_of(checker);
    let pos = name.range.start().to_u32();
    let decoded = with_state(checker, |state| state.lookup(scope, id, pos).map(str::to_string));
    if let Some(label) = decoded {
        record_taint(checker, name.range, format!("`{id}` (from {label})"));
    }

    let range = name.range;
    if let Some(q) = checker.bindings.resolve(id) {
        let found = imported_name_finding(checker.source, id, q, range);
        if let Some((rule, message)) = found {
            checker.report(rule, range, message);
        }
        return;
    }
    match id {
        "__builtins__" => checker.report(
            RuleId::Reflection,
            range,
            "`__builtins__` is the builtins namespace as an object; the pre-screen cannot follow it",
        ),
        "__loader__" | "__spec__" => checker.report(
            RuleId::Reflection,
            range,
            format!("`{id}` reaches the import system (e.g. `__loader__.load_module('os')`)"),
        ),
        "__class__" => checker.report(
            RuleId::DunderAccess,
            range,
            "`__class__` (the method's class cell) walks the class hierarchy",
        ),
        "__annotations__" => checker.report(
            RuleId::DunderAccess,
            range,
            "`__annotations__` (the class body's annotation dict): dataclasses compile its keys into code",
        ),
        _ => {
            if let Some(h) = builtin_hit(id) {
                if let Some(message) = name_hit_message(checker.source, &format!("`{id}`"), h, range) {
                    checker.report(h.rule, range, message);
                }
            }
        }
    }
}

/// The message for a name-table hit on a reference (`shown` is the name as displayed), or None
/// when the call is judged by its arguments instead.
fn name_hit_message(source: &str, shown: &str, h: Hit, range: TextRange) -> Option<String> {
    let called = next_char(source, range.end()) == Some(b'(');
    if h.call_judged && called {
        return None;
    }
    Some(if called {
        format!("{shown} {}", h.why)
    } else {
        format!(
            "{shown} {} (referenced without a call: an alias hides the calls from the pre-screen)",
            h.why
        )
    })
}

/// A name bound by an import (`q` is what it was imported as): the finding, if any.
fn imported_name_finding(source: &str, id: &str, q: &str, range: TextRange) -> Option<(RuleId, String)> {
    if next_char(source, range.end()) == Some(b'.') {
        return None; // the base of an attribute: `check_member` judges `q.attr`
    }
    let shown = || {
        if id == q {
            format!("`{q}`")
        } else {
            format!("`{id}` (`{q}`)")
        }
    };
    let head = q.split('.').next().unwrap_or(q);
    if let Some(h) = family_hit(head) {
        // A member of the family (`CDLL` from ctypes); the module itself was reported at its import.
        return q
            .contains('.')
            .then(|| (h.rule, format!("{}: `{head}` {}", shown(), h.why)));
    }
    if is_builtins_module(head) {
        return Some(match q.split_once('.') {
            Some((_, member)) => match builtin_hit(member) {
                Some(h) => (h.rule, format!("{}: `{member}` {}", shown(), h.why)),
                None => (
                    RuleId::Reflection,
                    format!("{} comes from the builtins module, which is refused", shown()),
                ),
            },
            None => (
                RuleId::Reflection,
                format!("{} is the builtins module used as a value", shown()),
            ),
        });
    }
    match q.rsplit_once('.') {
        Some((owner, member)) => {
            let h = member_hit(owner, member).or_else(|| distinctive_hit(member))?;
            name_hit_message(source, &shown(), h, range).map(|message| (h.rule, message))
        }
        None => is_reflective_module(q).then(|| {
            (
                RuleId::Reflection,
                format!(
                    "the `{q}` module used as a value: the pre-screen follows `{q}.x` but not aliases of the module"
                ),
            )
        }),
    }
}

/// A member of the builtins module, reached as `builtins.x`, `__builtins__['x']`, `getattr(builtins, 'x')`.
fn report_builtin_member(checker: &mut Checker, member: &str, range: TextRange, skip_if_called: bool) {
    if let Some(h) = builtin_hit(member) {
        if skip_if_called && h.call_judged && next_char(checker.source, range.end()) == Some(b'(') {
            return;
        }
        checker.report(h.rule, range, format!("`builtins.{member}`: `{member}` {}", h.why));
    }
}

/// Where an attribute check comes from: real syntax, or a name given to getattr and friends.
#[derive(Clone, Copy, PartialEq)]
enum Access {
    Syntax,
    /// A plain string literal given to getattr & co. (already covered by the string tripwire for
    /// tripwire words).
    Literal,
    /// A name folded from a concatenation or similar.
    Computed,
}

fn check_attribute(checker: &mut Checker, attribute: &ast::ExprAttribute) {
    check_member(
        checker,
        Some(&attribute.value),
        attribute.attr.as_str(),
        attribute.range,
        Access::Syntax,
    );
}

/// Attribute `attr` of `receiver` (None: unknown), reported at `range`.
fn check_member(checker: &mut Checker, receiver: Option<&Expr>, attr: &str, range: TextRange, access: Access) {
    let after = range.end();
    // STK902
    if let Some(why) = graph_step(attr) {
        let skip = match access {
            Access::Syntax => {
                let called = next_char(checker.source, after) == Some(b'(');
                match attr {
                    "__getattr__" | "__getattribute__" | "__setattr__" | "__delattr__" => called,
                    "__class__" => {
                        called
                            || followed_by_attr(checker.source, after, &["__name__", "__qualname__", "__module__"])
                            || matches!(receiver, Some(Expr::Name(n)) if matches!(n.id.as_str(), "self" | "cls"))
                    }
                    _ => false,
                }
            }
            Access::Literal => is_tripwire_word(attr),
            Access::Computed => false,
        };
        if !skip {
            checker.report(RuleId::DunderAccess, range, format!("`.{attr}` {why}"));
        }
    }
    if let Some(h) = distinctive_hit(attr) {
        checker.report(h.rule, range, format!("`.{attr}` {}", h.why));
    }
    // Methods whose names are common but which run files or import modules in one library.
    let library = match attr {
        "read_file" => Some(("optparse", "`optparse.Values.read_file` runs a file as Python code")),
        "discover" => Some((
            "unittest",
            "`unittest.TestLoader.discover` imports (runs) the Python files of a directory",
        )),
        _ => None,
    };
    if let Some((module, why)) = library {
        if checker.source.contains(module) {
            checker.report(
                RuleId::DynamicCode,
                range,
                format!("`.{attr}` (with `{module}` in the file): {why}"),
            );
        }
    }
    // STK901: modules reached through other modules, process creation through asyncio.
    if checker.enabled(RuleId::ForbiddenImport) {
        if let Some(target) = module_attr(attr) {
            if let Some(why) = checker.settings.import_refusal(target) {
                checker.report(
                    RuleId::ForbiddenImport,
                    range,
                    format!("`.{attr}` reaches the `{target}` module through another object, and `{target}` is refused: {why}"),
                );
            }
        }
        if matches!(
            attr,
            "create_subprocess_exec" | "create_subprocess_shell" | "subprocess_exec" | "subprocess_shell"
        ) {
            if let Some(why) = checker.settings.import_refusal("subprocess") {
                checker.report(
                    RuleId::ForbiddenImport,
                    range,
                    format!("`.{attr}` starts a process as `subprocess` does, and `subprocess` is refused: {why}"),
                );
            }
        }
    }
    let Some(receiver) = receiver else { return };
    if access == Access::Syntax {
        check_module_member(checker, receiver, attr, range);
    }
    // The receiver's name: resolved through imports for a plain name, else the qualified chain
    // (only built when `attr` is in a table), else the last attribute of a broken chain.
    let called = access == Access::Syntax && next_char(checker.source, after) == Some(b'(');
    match receiver {
        Expr::Name(name) => {
            let id = name.id.as_str();
            let resolved = checker.bindings.resolve(id);
            let q = resolved.unwrap_or(id);
            let head = q.split('.').next().unwrap_or(q);
            let found = if is_builtins_module(head) {
                None
            } else if let Some(h) = resolved.and_then(|_| family_hit(head)) {
                Some((h.rule, format!("`{q}.{attr}`: `{head}` {}", h.why)))
            } else {
                member_hit(q, attr)
                    .filter(|h| !(h.call_judged && called))
                    .map(|h| (h.rule, format!("`{q}.{attr}` {}", h.why)))
            };
            if is_builtins_module(head) {
                report_builtins_access(checker, attr, range, called);
            } else if let Some((rule, message)) = found {
                checker.report(rule, range, message);
            }
        }
        Expr::Attribute(inner) => {
            let tail = inner.attr.as_str();
            if is_builtins_module(tail) {
                report_builtins_access(checker, attr, range, called);
                return;
            }
            if is_member_candidate(attr) {
                match checker.qualified_name(receiver) {
                    Some(q) => {
                        let owner = q.rsplit('.').next().unwrap_or(&q);
                        if member_hit(&q, attr).is_some() || member_hit(owner, attr).is_none() {
                            report_member(checker, &q, attr, range, called);
                        } else {
                            report_member(checker, owner, attr, range, called);
                        }
                    }
                    None => report_member(checker, tail, attr, range, called),
                }
            }
        }
        _ => {}
    }
}

/// Whether `expr` is a name bound by an import, or an attribute chain rooted at one (`logging.config`).
fn import_rooted(checker: &Checker, expr: &Expr) -> bool {
    let mut expr = expr;
    for _ in 0..32 {
        match expr {
            Expr::Attribute(a) => expr = &a.value,
            Expr::Name(n) => return checker.bindings.resolve(n.id.as_str()).is_some(),
            _ => return false,
        }
    }
    false
}

/// Private helpers of imported modules that are fine to use.
fn is_ordinary_private(attr: &str) -> bool {
    matches!(
        attr,
        "_exit"
            | "_make"
            | "_asdict"
            | "_replace"
            | "_fields"
            | "_field_defaults"
            | "_value_"
            | "_name_"
            | "_missing_"
            | "_member_map_"
            | "_member_names_"
            | "_generate_next_value_"
            | "_ignore_"
            | "_order_"
            | "_"
    )
}

/// Modules kept under other modules' attributes that are worth refusing only on a module
/// (`dataclasses.inspect`): as plain attribute names (`self.signal`, `query.select`) they are common.
fn module_only_attr(attr: &str) -> Option<&str> {
    let stripped = attr.trim_start_matches('_');
    match stripped {
        "inspect" | "gc" | "signal" | "select" | "ssl" | "mmap" | "fcntl" | "resource" | "termios" | "tty" | "code"
        | "codeop" | "pdb" | "bdb" | "trace" | "tracemalloc" | "faulthandler" | "webbrowser" | "http" | "urllib"
        | "thread" | "pickle" | "zipimport" | "pkgutil" | "optparse" | "unittest" | "cffi" => Some(stripped),
        _ => None,
    }
}

/// `mod._helper` (a private member of an imported module) and `mod.inspect` (a refused module kept
/// under another module).
fn check_module_member(checker: &mut Checker, receiver: &Expr, attr: &str, range: TextRange) {
    let private = attr.starts_with('_') && !is_dunder(attr) && !is_ordinary_private(attr);
    let nested = module_only_attr(attr);
    if !(private || nested.is_some()) || !import_rooted(checker, receiver) {
        return;
    }
    if private && checker.enabled(RuleId::Reflection) {
        let owner = checker.qualified_name(receiver).unwrap_or_default();
        if owner != "sys" {
            checker.report(
                RuleId::Reflection,
                range,
                format!("`{owner}.{attr}` is a private helper of a module: private helpers skip the checks (and the names) of the public API the pre-screen knows"),
            );
        }
    }
    if let Some(target) = nested {
        if let Some(why) = checker.settings.import_refusal(target) {
            checker.report(
                RuleId::ForbiddenImport,
                range,
                format!(
                    "`.{attr}` reaches the `{target}` module through another module, and `{target}` is refused: {why}"
                ),
            );
        }
    }
}

fn report_member(checker: &mut Checker, owner: &str, attr: &str, range: TextRange, called: bool) {
    if let Some(h) = member_hit(owner, attr) {
        if h.call_judged && called {
            return;
        }
        checker.report(h.rule, range, format!("`{owner}.{attr}` {}", h.why));
    }
}

fn report_builtins_access(checker: &mut Checker, attr: &str, range: TextRange, called: bool) {
    checker.report(
        RuleId::Reflection,
        range,
        format!("`builtins.{attr}`: the builtins namespace used as an object; use builtins by their names"),
    );
    if let Some(h) = builtin_hit(attr) {
        if !(h.call_judged && called) {
            checker.report(h.rule, range, format!("`builtins.{attr}`: `{attr}` {}", h.why));
        }
    }
}

fn check_subscript(checker: &mut Checker, subscript: &ast::ExprSubscript) {
    if is_reversal(&subscript.slice) {
        record_taint(checker, subscript.range, "a `[::-1]` reversal".to_string());
    }
    let Some(key) = util::str_literal(&subscript.slice) else {
        return;
    };
    let resolve = |id: &str| checker.bindings.resolve(id).is_some_and(is_builtins_module) || is_builtins_module(id);
    let on_builtins = match &*subscript.value {
        Expr::Name(n) => resolve(n.id.as_str()),
        Expr::Attribute(a) => is_builtins_module(a.attr.as_str()),
        _ => false,
    };
    let on_sys_modules = match &*subscript.value {
        Expr::Name(n) => checker.bindings.resolve(n.id.as_str()) == Some("sys.modules"),
        Expr::Attribute(a) if a.attr.as_str() == "modules" => match &*a.value {
            Expr::Name(n) => checker.bindings.resolve(n.id.as_str()).unwrap_or(n.id.as_str()) == "sys",
            Expr::Attribute(b) => b.attr.as_str() == "sys",
            _ => false,
        },
        _ => false,
    };
    if on_builtins {
        if let Some(h) = builtin_hit(key) {
            checker.report(
                h.rule,
                subscript.range,
                format!("builtins `['{key}']`: `{key}` {}", h.why),
            );
        }
    } else if matches!(key, "eval" | "exec" | "execfile" | "__import__") {
        checker.report(
            RuleId::DynamicCode,
            subscript.range,
            format!("looks up `{key}` by name: {RUNS_CODE}"),
        );
    }
    if on_sys_modules && !key.is_empty() {
        let key = key.to_string();
        check_import_policy(checker, &key, subscript.range, ImportKind::ImportModule);
    }
}

/// `[::-1]` (or any negative literal step).
fn is_reversal(slice: &Expr) -> bool {
    let Expr::Slice(slice) = slice else { return false };
    match slice.step.as_deref() {
        Some(Expr::UnaryOp(op)) => op.op == ast::UnaryOp::USub,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Strings: the tripwire, format fields, annotations
// ---------------------------------------------------------------------------------------------

/// Whether an f-string's joined text could hold something its parts (each checked on its own)
/// do not: a literal part with `_` or `{`, or an interpolation that might fold to a string.
fn fstring_needs_text(fstring: &ast::ExprFString) -> bool {
    fstring.value.iter().any(|part| match part {
        ast::FStringPart::Literal(l) => l.value.contains(['_', '{']),
        ast::FStringPart::FString(f) => f.elements.iter().any(|e| match e {
            InterpolatedStringElement::Literal(l) => l.value.contains(['_', '{']),
            InterpolatedStringElement::Interpolation(i) => !matches!(
                &*i.expression,
                Expr::Name(_) | Expr::Attribute(_) | Expr::NumberLiteral(_) | Expr::Compare(_)
            ),
        }),
    })
}

/// The literal text of an f-/t-string: literal parts joined, interpolations that fold to a
/// constant inlined, others replaced by a separator so words do not join across them.
fn interpolated_text(elements: &ast::InterpolatedStringElements, out: &mut String) {
    for element in elements.iter() {
        match element {
            InterpolatedStringElement::Literal(literal) => out.push_str(&literal.value),
            InterpolatedStringElement::Interpolation(interpolation) => {
                let plain = interpolation.conversion == ast::ConversionFlag::None
                    && interpolation.format_spec.is_none()
                    && interpolation.debug_text.is_none();
                if !(plain && fold(&interpolation.expression, out, &mut Budget::new())) {
                    out.push('\0');
                }
            }
        }
    }
}

/// STK902 for a string that names an object-graph step, in a format field or anywhere.
fn check_text(checker: &mut Checker, text: &str, range: TextRange) {
    if !checker.enabled(RuleId::DunderAccess) {
        return;
    }
    if let Some(field) = dangerous_format_field(text) {
        checker.report(
            RuleId::DunderAccess,
            range,
            format!(
                "format field `{{{}}}` reaches `{}` when the string is formatted: {}",
                field.0,
                field.1,
                graph_step(field.1).unwrap_or("an object-graph step")
            ),
        );
        return;
    }
    if let Some(word) = tripwire_in(text) {
        checker.report(
            RuleId::DunderAccess,
            range,
            format!(
                "the string names `{word}`, an object-graph step (usable through getattr, str.format, templates or eval)"
            ),
        );
    }
}

/// The first tripwire word in `text` (words are runs of `[A-Za-z0-9_]`).
fn tripwire_in(text: &str) -> Option<&str> {
    if !text.contains('_') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if is_word_byte(bytes[i]) {
            let start = i;
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            let word = &text[start..i];
            let names_class = word == "__class__"
                && text[i..]
                    .strip_prefix('.')
                    .and_then(|rest| {
                        rest.get(
                            ..rest
                                .find(|c: char| !is_word_byte(c as u8) || !c.is_ascii())
                                .unwrap_or(rest.len()),
                        )
                    })
                    .is_some_and(is_class_name_attr);
            if word.len() >= 6 && word.contains('_') && is_tripwire_word(word) && !names_class {
                return Some(word);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The string attributes of a class that `x.__class__.<attr>` may read.
fn is_class_name_attr(attr: &str) -> bool {
    matches!(attr, "__name__" | "__qualname__" | "__module__")
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The first replacement field (as `str.format` parses it) whose attribute or index path has a
/// refused step: `(field text, step)`.
fn dangerous_format_field(text: &str) -> Option<(&str, &str)> {
    if !text.contains('{') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            i += 2;
            continue;
        }
        // The field name runs to `!`, `:` or `}`; an index `[...]` may contain any of them.
        let start = i + 1;
        let mut j = start;
        while j < bytes.len() && !matches!(bytes[j], b'!' | b':' | b'}' | b'{') {
            if bytes[j] == b'[' {
                while j < bytes.len() && bytes[j] != b']' {
                    j += 1;
                }
            }
            j += 1;
        }
        let field = &text[start..j.min(bytes.len())];
        let mut steps = field_steps(field).peekable();
        while let Some(step) = steps.next() {
            // `{x.__class__.__name__}`: the class's name, as the attribute syntax allows.
            let names_class = step == "__class__" && steps.peek().is_some_and(|next| is_class_name_attr(next));
            if graph_step(step).is_some() && !names_class {
                return Some((field, step));
            }
        }
        // Continue inside the field: a format spec may nest fields (`{x:{y.__class__}}`).
        i = start;
    }
    None
}

/// The attribute names and index keys of a field name: `0.__class__[x].y` → `__class__`, `x`, `y`.
fn field_steps(field: &str) -> impl Iterator<Item = &str> {
    let first = field.find(['.', '[']).unwrap_or(field.len());
    let mut rest = &field[first..];
    std::iter::from_fn(move || loop {
        let c = rest.chars().next()?;
        rest = &rest[c.len_utf8()..];
        let end = match c {
            '.' => rest.find(['.', '[']).unwrap_or(rest.len()),
            '[' => rest.find(']').unwrap_or(rest.len()),
            _ => continue,
        };
        let step = &rest[..end];
        rest = &rest[end..];
        if c == '[' {
            rest = rest.strip_prefix(']').unwrap_or(rest);
        }
        return Some(step);
    })
}

/// STK903 for a string annotation with code in it: typing.get_type_hints, functools.singledispatch,
/// pydantic and other libraries evaluate annotation strings with eval().
fn check_annotation_string(checker: &mut Checker, string: &ast::ExprStringLiteral) {
    if !checker.enabled(RuleId::DynamicCode) {
        return;
    }
    let range = string.range;
    let in_annotation = match checker.stmts.last() {
        Some(Stmt::FunctionDef(f)) => {
            f.returns.as_deref().is_some_and(|r| r.range().contains_range(range))
                || f.parameters
                    .iter()
                    .any(|p| p.annotation().is_some_and(|a| a.range().contains_range(range)))
        }
        Some(Stmt::AnnAssign(a)) => a.annotation.range().contains_range(range),
        _ => false,
    };
    if !in_annotation {
        return;
    }
    let text = string.value.to_str();
    let plain = !text.contains("__")
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'_' | b'.' | b',' | b'[' | b']' | b'|' | b' ' | b'\'' | b'"' | b'-')
        });
    if !plain {
        checker.report(
            RuleId::DynamicCode,
            range,
            "a string annotation that is not a plain type expression: typing.get_type_hints, singledispatch and others eval() annotation strings",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Calls judged by their arguments
// ---------------------------------------------------------------------------------------------

fn judge_call(checker: &mut Checker, call: &ExprCall, name: &str) {
    match name {
        // update_wrapper copies `__annotations__` (and `__dict__`) from any object onto its target;
        // onto a class, a dataclass-style decorator then compiles the copied keys as code. `wraps`
        // on a function (the everyday use) is fine; on a class, or update_wrapper called directly,
        // it is refused.
        "functools.update_wrapper" => checker.report(
            RuleId::DunderAccess,
            call.range(),
            "`functools.update_wrapper` copies `__annotations__`/`__dict__` from an object the pre-screen cannot read",
        ),
        "functools.wraps" if decorates_a_class(checker, call) => checker.report(
            RuleId::DunderAccess,
            call.range(),
            "`functools.wraps` on a class copies `__annotations__`/`__dict__` onto it from an object the pre-screen cannot read",
        ),
        "getattr" | "setattr" | "delattr" | "hasattr" => judge_attr_function(checker, call, name),
        "__import__" | "importlib.__import__" => judge_import(checker, call, ImportKind::DunderImport),
        "importlib.import_module" => judge_import(checker, call, ImportKind::ImportModule),
        "type" => {
            let starred = call.arguments.args.iter().any(Expr::is_starred_expr);
            if call.arguments.args.len() >= 3 || starred || !call.arguments.keywords.is_empty() {
                checker.report(
                    RuleId::DynamicCode,
                    call.range(),
                    "`type(name, bases, dict)` builds a class from a run-time dict the pre-screen cannot read",
                );
            }
        }
        "dir" => {
            let module_arg = call.arguments.args.first().is_some_and(|arg| match arg {
                Expr::Name(n) => checker.bindings.resolve(n.id.as_str()).is_some() || is_builtins_module(&n.id),
                _ => false,
            });
            if call.arguments.args.is_empty() || module_arg {
                checker.report(
                    RuleId::Reflection,
                    call.range(),
                    "`dir()` of the local namespace or of a module lists names to reach by reflection",
                );
            }
        }
        "operator.attrgetter" | "operator.methodcaller" => {
            let names: Vec<&Expr> = if name == "operator.methodcaller" {
                call.arguments.args.first().into_iter().collect()
            } else {
                call.arguments.args.iter().collect()
            };
            if call.arguments.args.iter().any(Expr::is_starred_expr) {
                checker.report(
                    RuleId::DynamicAttribute,
                    call.range(),
                    format!("`{name}` with names unpacked at run time"),
                );
            }
            for arg in names {
                judge_attr_name(checker, None, arg, name, call.range(), true);
            }
        }
        "str.format" | "str.format_map" => {
            if let Some(template) = call.arguments.args.first() {
                judge_format_template(checker, template, call.range());
            }
        }
        "timeit.timeit" | "timeit.repeat" | "timeit.Timer" => {
            for (keyword, position) in [("stmt", 0), ("setup", 1)] {
                if let Some(arg) = util::argument(call, keyword, position) {
                    if !matches!(arg, Expr::Name(_) | Expr::Lambda(_) | Expr::Attribute(_)) {
                        checker.report(
                            RuleId::DynamicCode,
                            arg.range(),
                            format!("`{name}` compiles and runs its `{keyword}` string"),
                        );
                    }
                }
            }
        }
        "unittest.main" | "unittest.TestProgram" | "unittest.main.main" | "unittest.main.TestProgram" => {
            let module_ok = util::argument(call, "module", 0)
                .is_none_or(|m| util::str_literal(m) == Some("__main__") || matches!(m, Expr::NoneLiteral(_)));
            let argv_ok = util::argument(call, "argv", 2).is_none_or(|argv| match argv {
                Expr::List(l) => l.elts.iter().all(|e| util::str_literal(e).is_some()),
                Expr::Tuple(t) => t.elts.iter().all(|e| util::str_literal(e).is_some()),
                Expr::NoneLiteral(_) => true,
                _ => false,
            });
            let names_ok = util::argument(call, "defaultTest", 1).is_none_or(|d| util::str_literal(d).is_some());
            let unpacked = call.arguments.args.iter().any(Expr::is_starred_expr)
                || call.arguments.keywords.iter().any(|k| k.arg.is_none());
            if !(module_ok && argv_ok && names_ok) || unpacked {
                checker.report(
                    RuleId::DynamicCode,
                    call.range(),
                    format!("`{name}` imports the module and test names it is given; only literal names and `module='__main__'` are accepted"),
                );
            }
        }
        "inspect.get_annotations" => {
            if let Some(value) = util::keyword(call, "eval_str") {
                if util::truthiness(value) != Some(false) {
                    checker.report(
                        RuleId::DynamicCode,
                        call.range(),
                        "`inspect.get_annotations(eval_str=...)` evaluates annotation strings with eval()",
                    );
                }
            }
        }
        "yaml.load" | "yaml.load_all" => {
            let safe = util::argument(call, "Loader", 1)
                .and_then(|loader| checker.qualified_name(loader))
                .is_some_and(|q| {
                    matches!(
                        util::last_segment(&q),
                        "SafeLoader" | "CSafeLoader" | "BaseLoader" | "CBaseLoader"
                    )
                });
            if !safe {
                checker.report(
                    RuleId::DynamicCode,
                    call.range(),
                    format!("`{name}` without a safe Loader constructs arbitrary Python objects from YAML tags"),
                );
            }
        }
        _ => {}
    }
}

/// Metaclass names whose 3-argument call builds a class from a dict.
fn is_metaclass_name(name: &str) -> bool {
    matches!(
        util::last_segment(name),
        "type" | "ABCMeta" | "EnumMeta" | "EnumType" | "NamedTupleMeta" | "_ProtocolMeta"
    )
}

/// Classes built from a namespace dict the pre-screen cannot read (their `__annotations__` keys
/// become code in dataclasses): `super().__new__(mcs, name, bases, ns)`, `abc.ABCMeta(name, bases,
/// ns)`, `type(x)(name, bases, ns)`.
fn judge_class_building(checker: &mut Checker, call: &ExprCall) {
    if !checker.enabled(RuleId::DynamicCode) {
        return;
    }
    let args = &call.arguments.args;
    let positional = args.len();
    let unpacked = args.iter().any(Expr::is_starred_expr) || call.arguments.keywords.iter().any(|k| k.arg.is_none());
    let building = match &*call.func {
        Expr::Attribute(a) if a.attr.as_str() == "__new__" => {
            positional >= 4 && !matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "type")
        }
        Expr::Call(inner) => {
            matches!(&*inner.func, Expr::Name(n) if n.id.as_str() == "type")
                && inner.arguments.args.len() == 1
                && (positional >= 3 || unpacked)
        }
        Expr::Name(_) | Expr::Attribute(_) => {
            (positional >= 3 || unpacked)
                && checker
                    .qualified_name(&call.func)
                    .is_some_and(|q| q != "type" && is_metaclass_name(&q))
        }
        _ => false,
    };
    if building {
        checker.report(
            RuleId::DynamicCode,
            call.range(),
            "builds a class from a namespace dict the pre-screen cannot read (dataclasses compile its annotation keys into code)",
        );
    }
}

/// Class statements that define a metaclass (`class M(type)`): a metaclass builds classes from
/// namespace dicts it can rewrite, and `__prepare__` hands a class body a namespace of its choice.
fn check_class_statement(checker: &mut Checker, expr: &Expr) {
    match checker.stmts.last().copied() {
        Some(Stmt::ClassDef(class)) => {
            let is_base = class
                .arguments
                .as_deref()
                .is_some_and(|a| a.args.iter().any(|b| b.range() == expr.range()));
            if is_base
                && matches!(expr, Expr::Name(_) | Expr::Attribute(_))
                && checker.qualified_name(expr).is_some_and(|q| is_metaclass_name(&q))
            {
                checker.report(
                    RuleId::DynamicCode,
                    expr.range(),
                    "defines a metaclass: it builds classes from namespace dicts it can rewrite, which the pre-screen cannot read",
                );
            }
        }
        Some(Stmt::Return(ret))
            if ret.value.as_deref().is_some_and(|v| v.range() == expr.range())
                && checker
                    .current_function()
                    .is_some_and(|f| f.name.as_str() == "__prepare__") =>
        {
            checker.report(
                RuleId::DunderAccess,
                expr.range(),
                "`__prepare__` hands class bodies a namespace the pre-screen cannot read",
            );
        }
        _ => {}
    }
}

/// getattr/setattr/delattr/hasattr(obj, name, ...).
fn judge_attr_function(checker: &mut Checker, call: &ExprCall, name: &str) {
    let args = &call.arguments.args;
    if args.iter().take(2).any(Expr::is_starred_expr) {
        checker.report(
            RuleId::DynamicAttribute,
            call.range(),
            format!("`{name}` with arguments unpacked at run time"),
        );
        return;
    }
    let (Some(object), Some(attr)) = (args.first(), args.get(1)) else {
        return;
    };
    judge_attr_name(checker, Some(object), attr, name, call.range(), false);
}

/// An attribute name given to a dynamic accessor (`what`): a plain literal is checked like the
/// attribute syntax would be; anything else is refused unless it folds to a constant (then both
/// refused as computed and checked) or it is the forwarding idiom of `__getattr__`.
fn judge_attr_name(
    checker: &mut Checker,
    receiver: Option<&Expr>,
    name: &Expr,
    what: &str,
    call_range: TextRange,
    dotted: bool,
) {
    if let Some(literal) = util::str_literal(name) {
        let bad = attr_path(literal, dotted).find(|step| graph_step(step).is_some());
        if let Some(step) = bad {
            checker.report(
                RuleId::DynamicAttribute,
                call_range,
                format!("`{what}` with the refused attribute name `{step}`"),
            );
        }
        for step in attr_path(literal, dotted) {
            check_member(checker, receiver, step, name.range(), Access::Literal);
        }
        return;
    }
    if is_forwarded_name(checker, name) && !receiver.is_some_and(|r| is_module_value(checker, r)) {
        return;
    }
    let mut folded = String::new();
    if fold(name, &mut folded, &mut Budget::new()) {
        checker.report(
            RuleId::DynamicAttribute,
            call_range,
            format!("`{what}` with an attribute name built at run time (it evaluates to `{folded}`)"),
        );
        let steps: Vec<String> = attr_path(&folded, dotted).map(str::to_string).collect();
        for step in &steps {
            check_member(checker, receiver, step, name.range(), Access::Computed);
        }
        return;
    }
    checker.report(
        RuleId::DynamicAttribute,
        call_range,
        format!("`{what}` with an attribute name computed at run time; the pre-screen cannot tell what it reaches"),
    );
}

fn attr_path(name: &str, dotted: bool) -> impl Iterator<Item = &str> {
    let mut parts = if dotted {
        name.split('.')
    } else {
        // Not split: `getattr(x, "a.b")` looks up one attribute named `a.b`.
        name.split('\u{0}')
    };
    std::iter::from_fn(move || parts.next())
}

/// Whether `expr` names a module (an import-bound name or the builtins): forwarding attribute
/// names to it would hide which member is reached.
fn is_module_value(checker: &Checker, expr: &Expr) -> bool {
    match expr {
        Expr::Name(n) => {
            let id = n.id.as_str();
            is_builtins_module(id) || checker.bindings.resolve(id).is_some()
        }
        _ => false,
    }
}

/// The name parameter of an enclosing `__getattr__`/`__getattribute__`/`__setattr__`/`__delattr__`,
/// passed on unchanged: the name can only come from an access the pre-screen has already read.
fn is_forwarded_name(checker: &Checker, name: &Expr) -> bool {
    let Expr::Name(name) = name else { return false };
    let Some(function) = checker.current_function() else {
        return false;
    };
    if !matches!(
        function.name.as_str(),
        "__getattr__" | "__getattribute__" | "__setattr__" | "__delattr__"
    ) {
        return false;
    }
    function
        .parameters
        .iter_non_variadic_params()
        .nth(1)
        .is_some_and(|p| p.parameter.name.as_str() == name.id.as_str())
}

fn judge_import(checker: &mut Checker, call: &ExprCall, kind: ImportKind) {
    let Some(arg) = util::argument(call, "name", 0) else {
        return;
    };
    if let Some(module) = util::str_literal(arg) {
        let module = module.to_string();
        check_import_policy(checker, &module, arg.range(), kind);
        check_module_reference(checker, &module, arg.range());
        return;
    }
    let mut folded = String::new();
    let computed = fold(arg, &mut folded, &mut Budget::new());
    if kind == ImportKind::ImportModule {
        checker.report(
            RuleId::DynamicCode,
            call.range(),
            if computed {
                format!("`importlib.import_module` with a module name built at run time (it evaluates to `{folded}`)")
            } else {
                "`importlib.import_module` with a module name computed at run time".to_string()
            },
        );
    }
    if computed {
        check_import_policy(checker, &folded, arg.range(), kind);
        check_module_reference(checker, &folded, arg.range());
    }
}

/// Method calls judged by receiver and arguments: `.format()` on a computed template, explicit
/// `__getattr__`-family calls.
fn judge_method_call(checker: &mut Checker, call: &ExprCall) {
    let Expr::Attribute(method) = &*call.func else {
        return;
    };
    match method.attr.as_str() {
        "format" | "format_map" => {
            let is_str_class = matches!(&*method.value, Expr::Name(n) if n.id.as_str() == "str");
            if !is_str_class {
                judge_format_template(checker, &method.value, call.range());
            }
        }
        "__new__" | "__call__" if matches!(&*method.value, Expr::Name(n) if n.id.as_str() == "type") => {
            let args = &call.arguments.args;
            if args.len() >= 4 || args.iter().any(Expr::is_starred_expr) || !call.arguments.keywords.is_empty() {
                checker.report(
                    RuleId::DynamicCode,
                    call.range(),
                    format!("`type.{}(type, name, bases, dict)` builds a class from a run-time dict the pre-screen cannot read", method.attr),
                );
            }
        }
        attr @ ("__getattr__" | "__getattribute__" | "__delattr__" | "__setattr__") => {
            let args = &call.arguments.args;
            let bound_count = if attr == "__setattr__" { 2 } else { 1 };
            let unbound = args.len() > bound_count;
            let index = if unbound { 1 } else { 0 };
            let receiver = if unbound { args.first() } else { Some(&*method.value) };
            match args.get(index) {
                Some(name) if !name.is_starred_expr() => {
                    judge_attr_name(checker, receiver, name, &format!(".{attr}"), call.range(), false);
                }
                _ => checker.report(
                    RuleId::DynamicAttribute,
                    call.range(),
                    format!("`.{attr}` with a name the pre-screen cannot see"),
                ),
            }
        }
        _ => {}
    }
}

/// The template of a `.format()`/`.format_map()`: literals are checked by the string tripwire;
/// a name is accepted (formatting only produces a string); a template built at run time is
/// refused unless it folds to a constant without refused fields.
fn judge_format_template(checker: &mut Checker, template: &Expr, call_range: TextRange) {
    match template {
        Expr::StringLiteral(_) | Expr::Name(_) | Expr::Attribute(_) => {}
        Expr::FString(f) if f.value.iter().all(|p| matches!(p, ast::FStringPart::Literal(_))) => {}
        _ => {
            let mut folded = String::new();
            if fold(template, &mut folded, &mut Budget::new()) {
                if let Some((field, step)) = dangerous_format_field(&folded) {
                    checker.report(
                        RuleId::DunderAccess,
                        template.range(),
                        format!("format field `{{{field}}}` (of a template built at run time) reaches `{step}`"),
                    );
                    checker.report(
                        RuleId::DynamicAttribute,
                        call_range,
                        "a format template built at run time walks attributes when formatted",
                    );
                } else if let Some(word) = tripwire_in(&folded) {
                    checker.report(
                        RuleId::DunderAccess,
                        template.range(),
                        format!("a format template built at run time names `{word}`"),
                    );
                }
            } else {
                checker.report(
                    RuleId::DynamicAttribute,
                    call_range,
                    "`.format()` on a template built at run time: its fields can walk attributes the pre-screen cannot see",
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Constant folding (for names and templates built from literals)
// ---------------------------------------------------------------------------------------------

struct Budget {
    nodes: usize,
    depth: usize,
}

impl Budget {
    fn new() -> Budget {
        Budget { nodes: 256, depth: 0 }
    }

    fn enter(&mut self) -> bool {
        if self.nodes == 0 || self.depth >= 48 {
            return false;
        }
        self.nodes -= 1;
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }
}

const FOLD_LIMIT: usize = 4096;

/// Appends the constant string `expr` evaluates to, if it is built from string literals by `+`,
/// `"sep".join([...])`, `[::-1]`, `chr(n)`, f-strings, str methods with literal arguments,
/// `textwrap.dedent`. Returns false (leaving `out` in an unspecified state) otherwise.
fn fold(expr: &Expr, out: &mut String, budget: &mut Budget) -> bool {
    if !budget.enter() {
        return false;
    }
    let ok = fold_inner(expr, out, budget) && out.len() <= FOLD_LIMIT;
    budget.leave();
    ok
}

fn fold_inner(expr: &Expr, out: &mut String, budget: &mut Budget) -> bool {
    match expr {
        Expr::StringLiteral(s) => {
            out.push_str(s.value.to_str());
            true
        }
        Expr::BinOp(b) if b.op == ast::Operator::Add => fold(&b.left, out, budget) && fold(&b.right, out, budget),
        Expr::FString(f) => f.value.iter().all(|part| match part {
            ast::FStringPart::Literal(l) => {
                out.push_str(&l.value);
                true
            }
            ast::FStringPart::FString(f) => f.elements.iter().all(|e| match e {
                InterpolatedStringElement::Literal(l) => {
                    out.push_str(&l.value);
                    true
                }
                InterpolatedStringElement::Interpolation(i) => {
                    i.conversion == ast::ConversionFlag::None
                        && i.format_spec.is_none()
                        && i.debug_text.is_none()
                        && fold(&i.expression, out, budget)
                }
            }),
        }),
        Expr::Subscript(s) if is_reversal(&s.slice) => {
            if let Expr::Slice(slice) = &*s.slice {
                let minus_one =
                    matches!(slice.step.as_deref(), Some(Expr::UnaryOp(u)) if util::int_literal(&u.operand) == Some(1));
                if !minus_one || slice.lower.is_some() || slice.upper.is_some() {
                    return false;
                }
            }
            let mut inner = String::new();
            if !fold(&s.value, &mut inner, budget) {
                return false;
            }
            out.extend(inner.chars().rev());
            true
        }
        Expr::Call(call) => fold_call(call, out, budget),
        _ => false,
    }
}

fn fold_call(call: &ExprCall, out: &mut String, budget: &mut Budget) -> bool {
    let args = &call.arguments.args;
    if !call.arguments.keywords.is_empty() {
        return false;
    }
    match &*call.func {
        Expr::Name(n) if n.id.as_str() == "chr" && args.len() == 1 => {
            match util::int_literal(&args[0])
                .and_then(|v| u32::try_from(v).ok())
                .and_then(char::from_u32)
            {
                Some(c) => {
                    out.push(c);
                    true
                }
                None => false,
            }
        }
        Expr::Name(n) if n.id.as_str() == "str" && args.len() == 1 => fold(&args[0], out, budget),
        Expr::Attribute(a) if a.attr.as_str() == "dedent" && args.len() == 1 => {
            matches!(&*a.value, Expr::Name(m) if m.id.as_str() == "textwrap") && fold(&args[0], out, budget)
        }
        Expr::Attribute(a) => {
            let mut receiver = String::new();
            match a.attr.as_str() {
                "join" if args.len() == 1 => {
                    if !fold(&a.value, &mut receiver, budget) {
                        return false;
                    }
                    let items: &[Expr] = match &args[0] {
                        Expr::List(l) => &l.elts,
                        Expr::Tuple(t) => &t.elts,
                        _ => return false,
                    };
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(&receiver);
                        }
                        if !fold(item, out, budget) {
                            return false;
                        }
                    }
                    true
                }
                method @ ("strip" | "lstrip" | "rstrip" | "lower" | "upper" | "casefold") if args.is_empty() => {
                    if !fold(&a.value, &mut receiver, budget) {
                        return false;
                    }
                    match method {
                        "strip" => out.push_str(receiver.trim()),
                        "lstrip" => out.push_str(receiver.trim_start()),
                        "rstrip" => out.push_str(receiver.trim_end()),
                        "lower" | "casefold" => out.push_str(&receiver.to_lowercase()),
                        _ => out.push_str(&receiver.to_uppercase()),
                    }
                    true
                }
                "replace" if args.len() == 2 => {
                    let (mut from, mut to) = (String::new(), String::new());
                    if !(fold(&a.value, &mut receiver, budget)
                        && fold(&args[0], &mut from, budget)
                        && fold(&args[1], &mut to, budget))
                    {
                        return false;
                    }
                    if from.is_empty() || receiver.len().saturating_mul(to.len().max(1)) > FOLD_LIMIT * 4 {
                        return false;
                    }
                    out.push_str(&receiver.replace(&from, &to));
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// STK905: decode → exec
// ---------------------------------------------------------------------------------------------

/// Functions that turn data into other data at run time (qualified names).
fn is_decode_function(name: &str) -> bool {
    matches!(
        name,
        "base64.b64decode"
            | "base64.b32decode"
            | "base64.b32hexdecode"
            | "base64.b16decode"
            | "base64.b85decode"
            | "base64.a85decode"
            | "base64.z85decode"
            | "base64.decodebytes"
            | "base64.decodestring"
            | "base64.urlsafe_b64decode"
            | "base64.standard_b64decode"
            | "binascii.a2b_base64"
            | "binascii.a2b_hex"
            | "binascii.unhexlify"
            | "binascii.a2b_uu"
            | "binascii.a2b_qp"
            | "binascii.a2b_hqx"
            | "binascii.rledecode_hqx"
            | "codecs.decode"
            | "codecs.encode"
            | "codecs.getdecoder"
            | "codecs.iterdecode"
            | "zlib.decompress"
            | "zlib.decompressobj"
            | "gzip.decompress"
            | "bz2.decompress"
            | "lzma.decompress"
            | "quopri.decodestring"
            | "uu.decode"
            | "bytes.fromhex"
            | "bytearray.fromhex"
            | "chr"
    )
}

/// Method names that decode whatever their receiver is.
fn is_decode_method(attr: &str) -> bool {
    matches!(
        attr,
        "decode"
            | "fromhex"
            | "translate"
            | "decompress"
            | "b64decode"
            | "urlsafe_b64decode"
            | "b32decode"
            | "b16decode"
            | "b85decode"
            | "a85decode"
            | "unhexlify"
            | "a2b_base64"
            | "a2b_hex"
            | "decodebytes"
    )
}

/// What a call decodes, if it turns data into other data at run time.
fn decode_label(name: &str, call: &ExprCall) -> Option<String> {
    if is_decode_function(name) {
        return Some(format!("`{name}(...)`"));
    }
    // `bytes([112, 114, ...])`: text assembled from numbers.
    if matches!(name, "bytes" | "bytearray")
        && matches!(
            call.arguments.args.first(),
            Some(Expr::List(_) | Expr::Tuple(_) | Expr::ListComp(_) | Expr::Generator(_) | Expr::Call(_))
        )
    {
        return Some(format!("`{name}(...)` from numbers"));
    }
    let method = util::method_name(call)?;
    is_decode_method(method).then(|| format!("`.{method}(...)`"))
}

/// A decoding function referenced without a call (`map(base64.b64decode, parts)`).
fn decode_reference(checker: &Checker, expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(n) => {
            let id = n.id.as_str();
            let q = checker.bindings.resolve(id).unwrap_or(id);
            is_decode_function(q).then(|| format!("`{q}`"))
        }
        Expr::Attribute(a) => is_decode_method(a.attr.as_str()).then(|| format!("`.{}`", a.attr)),
        _ => None,
    }
}

/// Arguments of a call that run as code (or name what is run), by callee.
fn sink_arguments(name: &str) -> Option<&'static [usize]> {
    Some(match name {
        "exec" | "eval" | "compile" | "__import__" | "importlib.import_module" | "importlib.__import__" => &[0],
        "getattr" | "setattr" | "delattr" | "hasattr" => &[1],
        "pickle.loads" | "pickle.load" | "_pickle.loads" | "cPickle.loads" | "dill.loads" | "cloudpickle.loads"
        | "marshal.loads" | "marshal.load" | "jsonpickle.decode" | "yaml.load" | "yaml.unsafe_load"
        | "yaml.full_load" | "runpy.run_path" | "runpy.run_module" => &[0],
        "types.CodeType" | "types.FunctionType" | "operator.attrgetter" | "operator.methodcaller" => {
            &[0, 1, 2, 3, 4, 5, 6, 7]
        }
        _ => return None,
    })
}

fn check_sink(checker: &mut Checker, call: &ExprCall, name: &str) {
    if !checker.enabled(RuleId::DecodeThenExec) {
        return;
    }
    let Some(positions) = sink_arguments(name) else {
        return;
    };
    let args = &call.arguments.args;
    let found = with_state(checker, |state| {
        let mut budget = Budget::new();
        positions
            .iter()
            .filter_map(|&i| args.get(i))
            .chain(call.arguments.keywords.iter().map(|k| &k.value))
            .find_map(|arg| contains_decode(checker, state, arg, &mut budget))
    });
    if let Some(label) = found {
        checker.report(
            RuleId::DecodeThenExec,
            call.range(),
            format!("data decoded at run time ({label}) reaches `{name}`: what runs is not in the source"),
        );
    }
}

/// Whether `expr` contains a decoding step or a name assigned from one: its label.
fn contains_decode(checker: &Checker, state: &State, expr: &Expr, budget: &mut Budget) -> Option<String> {
    if !budget.enter() {
        return None;
    }
    let found = contains_decode_inner(checker, state, expr, budget);
    budget.leave();
    found
}

fn contains_decode_inner(checker: &Checker, state: &State, expr: &Expr, budget: &mut Budget) -> Option<String> {
    let mut any = |items: &mut dyn Iterator<Item = &Expr>| {
        for item in items {
            if let Some(label) = contains_decode(checker, state, item, budget) {
                return Some(label);
            }
        }
        None
    };
    match expr {
        Expr::Call(call) => {
            if let Some(name) = checker.qualified_name(&call.func) {
                if let Some(label) = decode_label(strip_builtins(&name), call) {
                    return Some(label);
                }
            } else if let Some(label) = decode_label("", call) {
                return Some(label);
            }
            let receiver = match &*call.func {
                Expr::Attribute(a) => Some(&*a.value),
                _ => None,
            };
            any(&mut receiver
                .into_iter()
                .chain(call.arguments.args.iter())
                .chain(call.arguments.keywords.iter().map(|k| &k.value)))
        }
        Expr::Name(name) => {
            let id = name.id.as_str();
            state
                .lookup(scope_of(checker), id, name.range.start().to_u32())
                .map(|label| format!("`{id}`, from {label}"))
                .or_else(|| decode_reference(checker, expr))
        }
        Expr::Subscript(s) => {
            if is_reversal(&s.slice) {
                return Some("a `[::-1]` reversal".to_string());
            }
            any(&mut [&*s.value, &*s.slice].into_iter())
        }
        Expr::BinOp(b) => any(&mut [&*b.left, &*b.right].into_iter()),
        Expr::BoolOp(b) => any(&mut b.values.iter()),
        Expr::If(i) => any(&mut [&*i.body, &*i.orelse].into_iter()),
        Expr::List(l) => any(&mut l.elts.iter()),
        Expr::Tuple(t) => any(&mut t.elts.iter()),
        Expr::Set(s) => any(&mut s.elts.iter()),
        Expr::Attribute(a) => decode_reference(checker, expr).or_else(|| any(&mut std::iter::once(&*a.value))),
        Expr::Starred(s) => any(&mut std::iter::once(&*s.value)),
        Expr::Await(a) => any(&mut std::iter::once(&*a.value)),
        Expr::Named(n) => any(&mut std::iter::once(&*n.value)),
        Expr::Generator(g) => any(&mut std::iter::once(&*g.elt).chain(g.generators.iter().map(|c| &c.iter))),
        Expr::ListComp(g) => any(&mut std::iter::once(&*g.elt).chain(g.generators.iter().map(|c| &c.iter))),
        Expr::FString(f) => {
            let mut found = None;
            for part in f.value.iter() {
                if let ast::FStringPart::FString(f) = part {
                    for interpolation in f.elements.interpolations() {
                        found = found.or_else(|| contains_decode(checker, state, &interpolation.expression, budget));
                    }
                }
            }
            found
        }
        _ => None,
    }
}

/// Marks the targets of the assignment whose value contains `at` as decoded data.
fn record_taint(checker: &mut Checker, at: TextRange, label: String) {
    if !checker.enabled(RuleId::DecodeThenExec) {
        return;
    }
    let Some(stmt) = checker.stmts.last().copied() else {
        return;
    };
    let targets: &[Expr] = match stmt {
        Stmt::Assign(a) if a.value.range().contains_range(at) => &a.targets,
        Stmt::AnnAssign(a) if a.value.as_deref().is_some_and(|v| v.range().contains_range(at)) => {
            std::slice::from_ref(&*a.target)
        }
        Stmt::AugAssign(a) if a.value.range().contains_range(at) => std::slice::from_ref(&*a.target),
        Stmt::For(f) if f.iter.range().contains_range(at) => std::slice::from_ref(&*f.target),
        _ => return,
    };
    let mut names = Vec::new();
    for target in targets {
        collect_names(target, &mut names, 0);
    }
    let scope = scope_of(checker);
    let end = at.end().to_u32();
    with_state(checker, |state| {
        for name in names {
            state.taint(scope, &name, end, Some(label.clone()));
        }
    });
}

fn collect_names(target: &Expr, out: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    match target {
        Expr::Name(n) => out.push(n.id.to_string()),
        Expr::Tuple(t) => t.elts.iter().for_each(|e| collect_names(e, out, depth + 1)),
        Expr::List(l) => l.elts.iter().for_each(|e| collect_names(e, out, depth + 1)),
        Expr::Starred(s) => collect_names(&s.value, out, depth + 1),
        _ => {}
    }
}

fn scope_of(checker: &Checker) -> u32 {
    checker
        .current_function()
        .map_or(MODULE_SCOPE, |f| f.range.start().to_u32())
}

const MODULE_SCOPE: u32 = u32::MAX;

// ---------------------------------------------------------------------------------------------
// match statements
// ---------------------------------------------------------------------------------------------

/// Class-pattern keywords read attributes: `case object(__class__=c)` is `c = subject.__class__`.
fn check_patterns(checker: &mut Checker, stmt: &ast::StmtMatch) {
    let mut stack: Vec<&Pattern> = stmt.cases.iter().map(|c| &c.pattern).collect();
    let mut budget = 100_000usize;
    while let Some(pattern) = stack.pop() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            break;
        }
        match pattern {
            Pattern::MatchClass(class) => {
                for keyword in &class.arguments.keywords {
                    check_member(checker, None, keyword.attr.as_str(), keyword.range, Access::Computed);
                    stack.push(&keyword.pattern);
                }
                stack.extend(class.arguments.patterns.iter());
            }
            Pattern::MatchSequence(s) => stack.extend(s.patterns.iter()),
            Pattern::MatchOr(o) => stack.extend(o.patterns.iter()),
            Pattern::MatchMapping(m) => stack.extend(m.patterns.iter()),
            Pattern::MatchAs(a) => stack.extend(a.pattern.as_deref()),
            Pattern::MatchValue(_) | Pattern::MatchSingleton(_) | Pattern::MatchStar(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Source text helpers
// ---------------------------------------------------------------------------------------------

/// The index of the first byte at or after `i` that is not a space, tab, form feed or backslash
/// continuation. Newlines are not skipped: outside brackets a newline ends the statement; inside,
/// not seeing what follows only makes the pre-screen stricter.
fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\x0c' => i += 1,
            b'\\' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'\\' if bytes.get(i + 1) == Some(&b'\r') => i += if bytes.get(i + 2) == Some(&b'\n') { 3 } else { 2 },
            _ => break,
        }
    }
    i
}

/// The first significant byte after `at` (see `skip_blanks`).
fn next_char(source: &str, at: TextSize) -> Option<u8> {
    let bytes = source.as_bytes();
    bytes.get(skip_blanks(bytes, at.to_usize())).copied()
}

/// Whether `.name`, for one of `names`, follows `at` (the attribute access on what ends there).
fn followed_by_attr(source: &str, at: TextSize, names: &[&str]) -> bool {
    let bytes = source.as_bytes();
    let dot = skip_blanks(bytes, at.to_usize());
    if bytes.get(dot) != Some(&b'.') {
        return false;
    }
    let start = skip_blanks(bytes, dot + 1);
    let end = start + bytes[start..].iter().take_while(|b| is_word_byte(**b)).count();
    if bytes.get(end).is_some_and(|b| !b.is_ascii()) {
        return false; // the identifier goes on with non-ASCII letters: another name
    }
    names.contains(&&source[start..end])
}

// ---------------------------------------------------------------------------------------------
// Per-file state
// ---------------------------------------------------------------------------------------------

/// An assignment to a name: from decoded data (`label: Some`) or from anything else (`None`), at
/// offset `at`, in the scope starting at `scope`.
struct Assigned {
    scope: u32,
    at: u32,
    label: Option<Box<str>>,
}

/// Bounds on the map, so no input makes look-ups slow: names tracked, assignments kept per name
/// (the latest ones).
const MAX_NAMES: usize = 10_000;
const MAX_PER_NAME: usize = 32;

/// What the pre-screen remembers about the file being checked (in the checker's per-file state).
#[derive(Default)]
pub(crate) struct State {
    /// Names assigned from decoded data, and later reassignments of those names.
    decoded: HashMap<Box<str>, Vec<Assigned>>,
}

impl State {
    fn taint(&mut self, scope: u32, name: &str, at: u32, label: Option<String>) {
        if !self.decoded.contains_key(name) && (label.is_none() || self.decoded.len() >= MAX_NAMES) {
            return; // a name never assigned decoded data needs no entry
        }
        let entries = self.decoded.entry(name.into()).or_default();
        if entries.iter().any(|e| e.scope == scope && e.at == at) {
            return;
        }
        if entries.len() >= MAX_PER_NAME {
            entries.remove(0);
        }
        entries.push(Assigned {
            scope,
            at,
            label: label.map(String::into_boxed_str),
        });
    }

    fn tracks(&self, name: &str) -> bool {
        !self.decoded.is_empty() && self.decoded.contains_key(name)
    }

    /// The label of decoded data `name` holds at `pos` in `scope` (falling back to module scope):
    /// the latest assignment before `pos` decides.
    fn lookup(&self, scope: u32, name: &str, pos: u32) -> Option<&str> {
        if self.decoded.is_empty() {
            return None;
        }
        let entries = self.decoded.get(name)?;
        let latest = |scope: u32| {
            entries
                .iter()
                .filter(|e| e.scope == scope && e.at <= pos)
                .max_by_key(|e| e.at)
        };
        let entry = latest(scope).or_else(|| {
            if scope == MODULE_SCOPE {
                None
            } else {
                latest(MODULE_SCOPE)
            }
        })?;
        entry.label.as_deref()
    }
}

fn with_state<R>(checker: &Checker, f: impl FnOnce(&mut State) -> R) -> R {
    f(&mut checker.file.prescreen.borrow_mut())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_fields_parse_like_str_format() {
        assert_eq!(
            dangerous_format_field("{0.__class__.__mro__}"),
            Some(("0.__class__.__mro__", "__class__"))
        );
        assert_eq!(
            dangerous_format_field("x {a[k].f_globals!r:>10}"),
            Some(("a[k].f_globals", "f_globals"))
        );
        assert_eq!(dangerous_format_field("{{0.__class__}}"), None);
        assert_eq!(dangerous_format_field("{obj.__class__.__name__}"), None);
        assert_eq!(
            dangerous_format_field("{obj.__class__.__name__.__class__}"),
            Some(("obj.__class__.__name__.__class__", "__class__"))
        );
        assert_eq!(dangerous_format_field("{0.name} {1[__init__]}"), None);
        assert_eq!(
            dangerous_format_field("{x:{y.__globals__}}"),
            Some(("y.__globals__", "__globals__"))
        );
        assert_eq!(
            dangerous_format_field("{__class__}"),
            None,
            "a keyword argument name, not an attribute"
        );
        assert_eq!(
            dangerous_format_field("{0[__builtins__]}"),
            Some(("0[__builtins__]", "__builtins__"))
        );
    }

    #[test]
    fn tripwire_words() {
        assert_eq!(tripwire_in("x.__class__.y"), Some("__class__"));
        assert_eq!(tripwire_in("frame.f_back"), Some("f_back"));
        assert_eq!(tripwire_in("__main__ and __init__.py"), None);
        assert_eq!(tripwire_in("my__class__name"), None);
        assert_eq!(tripwire_in("plain text"), None);
        assert_eq!(tripwire_in("{self.__class__.__name__}: {x}"), None);
        assert_eq!(tripwire_in("x.__class__.__base__"), Some("__class__"));
        assert_eq!(tripwire_in("x.__class__.__name__x"), Some("__class__"));
    }

    #[test]
    fn lookahead() {
        let src = "x.__class__ .__name__(y) \\\n(";
        assert_eq!(next_char(src, TextSize::new(11)), Some(b'.'));
        assert!(followed_by_attr(src, TextSize::new(11), &["__name__"]));
        assert!(!followed_by_attr(src, TextSize::new(11), &["__qualname__"]));
        assert_eq!(next_char(src, TextSize::new(24)), Some(b'('));
    }
}
