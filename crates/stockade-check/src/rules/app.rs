//! Application rules beyond Bandit that need no data flow: secrets in logs (STK810), fast hashes
//! of passwords (STK811), `random` for secrets (STK812), unverified JWTs (STK813), CSRF off
//! (STK814), cookies without Secure/HttpOnly (STK815), archive extraction without a path check
//! (STK816, with the member-name flow in crate::taint), debug mode on (STK817), template
//! autoescaping off (STK818) and XML parsers resolving external entities (STK820).

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use ruff_python_ast::{self as ast, Expr, ExprCall, Stmt};
use ruff_text_size::{Ranged, TextRange};

/// Expressions searched for a secret or a `random` call are bounded in depth.
const MAX_SEARCH_DEPTH: u32 = 24;

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    if let Some(name) = name {
        by_name(checker, call, name);
    }
    if let Expr::Attribute(attr) = &*call.func {
        by_method(checker, call, name, attr.attr.as_str(), &attr.value);
    }
    if !call.arguments.keywords.is_empty() {
        random_keywords(checker, call);
        flask_form_meta(checker, call);
    }
    match util::method_name(call) {
        Some("set_cookie" | "set_signed_cookie" | "set_secure_cookie") => random_cookie(checker, call),
        Some("set_trace_callback") => sql_trace(checker, call),
        _ => {}
    }
}

/// `response.set_cookie("sid", str(random.random()))`: a cookie value is a session id or a
/// token whatever the cookie is called.
fn random_cookie(checker: &mut Checker, call: &ExprCall) {
    let Some(value) = util::argument(call, "value", 1) else {
        return;
    };
    if !may_call_random(value, 0) {
        return;
    }
    if let Some((range, function)) = find_random(checker, value, 0) {
        checker.report(
            RuleId::RandomForSecret,
            range,
            format!(
                "`{function}` makes a cookie value (a session id or token), but the random module is predictable; \
                 use secrets.token_urlsafe"
            ),
        );
    }
}

pub fn on_stmt(checker: &mut Checker, stmt: &Stmt) {
    match stmt {
        Stmt::Assign(s) => {
            note_logger(checker, &s.targets, &s.value);
            for target in &s.targets {
                on_assignment(checker, target, &s.value);
            }
        }
        Stmt::AnnAssign(s) => {
            if let Some(value) = &s.value {
                on_assignment(checker, &s.target, value);
            }
        }
        Stmt::Return(s) => {
            if let (Some(value), Some(function)) = (&s.value, checker.current_function()) {
                let name = function.name.as_str();
                random_in(checker, value, name, |n| format!("the value {n}() returns"));
            }
        }
        Stmt::FunctionDef(f) => csrf_decorators(checker, &f.decorator_list),
        Stmt::ClassDef(c) => csrf_decorators(checker, &c.decorator_list),
        _ => {}
    }
}

// ---- calls by qualified name -------------------------------------------------------------

fn by_name(checker: &mut Checker, call: &ExprCall, name: &str) {
    match name {
        "print" => secret_in_log(checker, call, "print", 0),
        "jwt.decode" | "jose.jwt.decode" | "jwt.api_jwt.decode" => jwt_decode(checker, call, name),
        "django.views.decorators.csrf.csrf_exempt" => checker.report(
            RuleId::CsrfDisabled,
            call.range(),
            "csrf_exempt turns off Django's CSRF check for this view",
        ),
        "shutil.unpack_archive" => unpack_archive(checker, call),
        "fastapi.FastAPI" | "fastapi.applications.FastAPI" | "starlette.applications.Starlette" => {
            if keyword_is(call, "debug", true) {
                let short = util::last_segment(name);
                checker.report(
                    RuleId::DebugEnabled,
                    call.range(),
                    format!("{short}(debug=True) returns tracebacks to clients"),
                );
            }
        }
        "werkzeug.debug.DebuggedApplication" => {
            if util::argument(call, "evalex", 1).and_then(util::truthiness) == Some(true) {
                checker.report(
                    RuleId::DebugEnabled,
                    call.range(),
                    "DebuggedApplication(evalex=True) lets anyone who reaches a traceback run code",
                );
            }
        }
        "werkzeug.serving.run_simple" | "werkzeug.run_simple" => {
            if keyword_is(call, "use_debugger", true) {
                checker.report(
                    RuleId::DebugEnabled,
                    call.range(),
                    "run_simple(use_debugger=True) serves the interactive debugger",
                );
            }
        }
        "django.template.Engine"
        | "django.template.engine.Engine"
        | "django.template.Context"
        | "django.template.context.Context"
        | "jinja2.Template" => {
            if keyword_is(call, "autoescape", false) {
                let short = util::last_segment(name);
                checker.report(
                    RuleId::AutoescapeOff,
                    call.range(),
                    format!("{short}(autoescape=False) renders variables without HTML escaping"),
                );
            }
        }
        "lxml.etree.XMLParser"
        | "lxml.etree.XMLPullParser"
        | "lxml.etree.iterparse"
        | "lxml.objectify.makeparser"
        | "lxml.etree.XMLTreeBuilder" => lxml_parser(checker, call, name),
        "xmltodict.parse" => {
            if keyword_is(call, "disable_entities", false) {
                checker.report(
                    RuleId::XmlExternalEntities,
                    call.range(),
                    "xmltodict.parse(disable_entities=False) expands entities from the document",
                );
            }
        }
        _ => {
            if let Some(algorithm) = name.strip_prefix("hashlib.") {
                weak_password_hash(checker, call, algorithm);
            } else if name.starts_with("logging.") {
                if let Some(level) = log_method(util::last_segment(name)) {
                    secret_in_log(checker, call, name, level);
                }
            } else if name.ends_with(".method_decorator") {
                if let Some(first) = call.arguments.args.first() {
                    if checker.qualified_name(first).as_deref() == Some("django.views.decorators.csrf.csrf_exempt") {
                        checker.report(
                            RuleId::CsrfDisabled,
                            call.range(),
                            "method_decorator(csrf_exempt) turns off Django's CSRF check for this view",
                        );
                    }
                }
            }
        }
    }
}

// ---- calls by method name ----------------------------------------------------------------

fn by_method(checker: &mut Checker, call: &ExprCall, name: Option<&str>, method: &str, receiver: &Expr) {
    match method {
        "set_cookie" => set_cookie(checker, call),
        "setFeature" => sax_feature(checker, call),
        "update" | "from_mapping" if is_config(receiver) => config_call(checker, call),
        "update" => {
            if let Some(Expr::Name(n)) = Some(receiver) {
                if is_hash_object_name(n.id.as_str()) {
                    if let Some(found) = call
                        .arguments
                        .args
                        .first()
                        .and_then(|a| find_name(a, is_password_name, 0))
                    {
                        checker.report(
                            RuleId::WeakPasswordHash,
                            call.range(),
                            format!(
                                "`{found}` is fed to a fast hash ({}.update); store passwords with bcrypt, argon2, \
                                 scrypt or hashlib.pbkdf2_hmac",
                                n.id.as_str()
                            ),
                        );
                    }
                }
            }
        }
        _ => {
            if let Some(level) = log_method(method) {
                // `logging.info(...)` is handled by name.
                let known = |checker: &Checker| match receiver {
                    Expr::Name(n) => checker.file.loggers.iter().any(|l| l == n.id.as_str()),
                    _ => false,
                };
                if (is_logger(receiver) || known(checker)) && !name.is_some_and(|n| n.starts_with("logging.")) {
                    let label = checker.text(&*call.func);
                    secret_in_log(checker, call, label, level);
                }
            }
        }
    }
}

// ---- STK810 secret in log ----------------------------------------------------------------

/// `audit = logging.getLogger("audit")`: a logger, whatever it is called.
fn note_logger(checker: &mut Checker, targets: &[Expr], value: &Expr) {
    let Expr::Call(call) = value else { return };
    if !matches!(
        util::method_name(call).or_else(|| match &*call.func {
            Expr::Name(n) => Some(n.id.as_str()),
            _ => None,
        }),
        Some("getLogger" | "get_logger" | "getChild")
    ) {
        return;
    }
    let is_logging = match &*call.func {
        // `logging.getLogger("app").getChild("events")`, `audit.getChild("x")`.
        Expr::Attribute(a) if a.attr.as_str() == "getChild" => match &*a.value {
            Expr::Call(inner) => checker
                .qualified_name(&inner.func)
                .is_some_and(|q| q == "logging.getLogger"),
            Expr::Name(n) => is_logger(&a.value) || checker.file.loggers.iter().any(|l| l == n.id.as_str()),
            other => is_logger(other),
        },
        func => checker
            .qualified_name(func)
            .is_some_and(|q| q.starts_with("logging.") || q.starts_with("structlog.")),
    };
    if !is_logging {
        return;
    }
    for target in targets {
        if let Expr::Name(n) = target {
            checker.file.loggers.push(n.id.to_string());
        }
    }
}

/// `conn.set_trace_callback(print)`: every SQL statement sqlite3 runs, with the values written
/// into it (passwords included), goes to stdout or the log.
fn sql_trace(checker: &mut Checker, call: &ExprCall) {
    let Some(callback) = call.arguments.args.first() else {
        return;
    };
    let sink = match callback {
        Expr::Name(n) if n.id.as_str() == "print" => "printed",
        Expr::Attribute(a) if log_method(a.attr.as_str()).is_some() => "written to the log",
        _ => return,
    };
    checker.report_with(
        RuleId::SecretInLog,
        call.range(),
        crate::Level::Medium,
        crate::Level::Low,
        format!(
            "every SQL statement is {sink} with the values written into it (credentials included); \
             bind values as parameters, or trace only in development"
        ),
    );
}

/// For a logging method, the number of leading positional arguments that are not data
/// (`log(level, msg, ...)` has one).
fn log_method(name: &str) -> Option<usize> {
    match name {
        "debug" | "info" | "warning" | "warn" | "error" | "exception" | "critical" | "fatal" => Some(0),
        "log" => Some(1),
        _ => None,
    }
}

/// A receiver that is a logger: `logger`, `log`, `self.logger`, `app.logger`, `LOG`, `logging`.
fn is_logger(receiver: &Expr) -> bool {
    let name = match receiver {
        Expr::Name(n) => n.id.as_str(),
        Expr::Attribute(a) => a.attr.as_str(),
        _ => return false,
    };
    let lower = |s: &str, w: &str| s.len() >= w.len() && s[s.len() - w.len()..].eq_ignore_ascii_case(w);
    name.eq_ignore_ascii_case("log")
        || name.eq_ignore_ascii_case("logging")
        || lower(name, "logger")
        || lower(name, "_log")
        || name.len() > 6 && name[..6].eq_ignore_ascii_case("logger")
}

fn secret_in_log(checker: &mut Checker, call: &ExprCall, sink: &str, skip: usize) {
    let mut found = None;
    for arg in call.arguments.args.iter().skip(skip) {
        found = find_name(arg, is_loggable_secret, 0);
        if found.is_some() {
            break;
        }
    }
    if found.is_none() {
        for keyword in &call.arguments.keywords {
            let Some(arg) = &keyword.arg else { continue };
            let arg = arg.as_str();
            if matches!(
                arg,
                "sep" | "end" | "file" | "flush" | "exc_info" | "stack_info" | "stacklevel"
            ) {
                continue;
            }
            if is_loggable_secret(arg) && !util::is_literal(&keyword.value) && !is_masked(&keyword.value) {
                found = Some(arg);
            } else {
                found = find_name(&keyword.value, is_loggable_secret, 0);
            }
            if found.is_some() {
                break;
            }
        }
    }
    // A local built from a secret: `sql = "... '%s'" % (user, password)` then `print(sql)`.
    let mut found: Option<String> = found.map(str::to_string);
    let mut via = None;
    if found.is_none() {
        let names = call
            .arguments
            .args
            .iter()
            .skip(skip)
            .chain(call.arguments.keywords.iter().map(|k| &k.value));
        for arg in names {
            if let Expr::Name(n) = arg {
                if let Some(secret) = secret_local(checker, n.id.as_str(), call.start()) {
                    found = Some(secret);
                    via = Some(n.id.as_str());
                    break;
                }
            }
        }
    }
    // In a tokenizer or parser a `token` is a piece of source text.
    if found.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("token"))
        && ["tokeniz", "lexer", "pgen", "parser", "grammar"]
            .iter()
            .any(|w| contains_ci(checker.path, w))
    {
        return;
    }
    if let Some(name) = found {
        let verb = if sink == "print" {
            "printed"
        } else {
            "written to the log"
        };
        let sink_shown = if sink.len() > 40 { "a logger" } else { sink };
        // A command-line tool printing to its own user's terminal (`print`, in a program with an
        // argument parser or a `__main__` guard) is often its job: lower confidence.
        let confidence = if sink == "print" && is_command_line_tool(checker) {
            crate::Level::Low
        } else {
            RuleId::SecretInLog.meta().confidence
        };
        checker.report_with(
            RuleId::SecretInLog,
            call.range(),
            RuleId::SecretInLog.meta().severity,
            confidence,
            match via {
                Some(local) => {
                    format!("`{local}` holds `{name}` and is {verb} by {sink_shown}; log a masked value instead")
                }
                None => format!("`{name}` is {verb} by {sink_shown}; log a masked value instead"),
            },
        );
    }
}

/// A program run from a terminal: it imports an argument parser (argparse, click, typer,
/// getopt, optparse, fire) or has an `if __name__ == "__main__":` guard.
fn is_command_line_tool(checker: &Checker) -> bool {
    checker.module.iter().any(|stmt| match stmt {
        Stmt::Import(i) => i.names.iter().any(|a| {
            matches!(
                a.name.as_str(),
                "argparse" | "click" | "typer" | "getopt" | "optparse" | "fire"
            )
        }),
        Stmt::ImportFrom(i) => i.module.as_ref().is_some_and(|m| {
            matches!(
                m.as_str(),
                "argparse" | "click" | "typer" | "getopt" | "optparse" | "fire"
            )
        }),
        Stmt::If(i) => matches!(&*i.test, Expr::Compare(c)
            if matches!(&*c.left, Expr::Name(n) if n.id.as_str() == "__name__")),
        _ => false,
    })
}

/// Calls that hide a secret's value (`len(password)`, `mask(token)`, `bool(secret)`).
fn is_masked(expr: &Expr) -> bool {
    matches!(expr, Expr::Call(_) | Expr::Compare(_) | Expr::UnaryOp(_))
        && !matches!(expr, Expr::Call(c) if passes_value(c))
}

/// Calls whose result shows their argument (`str(x)`, `x.strip()`, `"{}".format(x)`).
fn passes_value(call: &ExprCall) -> bool {
    match &*call.func {
        Expr::Name(n) => matches!(n.id.as_str(), "str" | "repr" | "ascii" | "format"),
        Expr::Attribute(a) => matches!(
            a.attr.as_str(),
            "format" | "strip" | "lstrip" | "rstrip" | "lower" | "upper" | "title" | "decode" | "encode" | "get"
        ),
        _ => false,
    }
}

/// Per name, the plain assignments of a function's body in source order: (offset, the secret the
/// value shows, if any).
pub(crate) type SecretLocals = std::collections::HashMap<String, Vec<(u32, Option<String>)>>;

/// The secret whose value the local `name` of the enclosing function shows at `before`, going by
/// its last plain assignment there (`sql = "..." % (user, password)` gives `password`). The
/// function's assignments are gathered once, not walked again for every call that logs.
fn secret_local(checker: &mut Checker, name: &str, before: ruff_text_size::TextSize) -> Option<String> {
    fn gather(body: &[Stmt], out: &mut SecretLocals, depth: u32) {
        if depth > MAX_SEARCH_DEPTH {
            return;
        }
        for stmt in body {
            let assigned = match stmt {
                Stmt::Assign(a) => match a.targets.as_slice() {
                    [Expr::Name(t)] => Some((t.id.as_str(), Some(&*a.value))),
                    _ => None,
                },
                Stmt::AnnAssign(a) => match &*a.target {
                    Expr::Name(t) => Some((t.id.as_str(), a.value.as_deref())),
                    _ => None,
                },
                Stmt::If(i) => {
                    gather(&i.body, out, depth + 1);
                    for clause in &i.elif_else_clauses {
                        gather(&clause.body, out, depth + 1);
                    }
                    None
                }
                Stmt::With(w) => {
                    gather(&w.body, out, depth + 1);
                    None
                }
                Stmt::For(f) => {
                    gather(&f.body, out, depth + 1);
                    None
                }
                Stmt::While(w) => {
                    gather(&w.body, out, depth + 1);
                    None
                }
                Stmt::Try(t) => {
                    gather(&t.body, out, depth + 1);
                    for handler in &t.handlers {
                        let ast::ExceptHandler::ExceptHandler(h) = handler;
                        gather(&h.body, out, depth + 1);
                    }
                    None
                }
                _ => None,
            };
            if let Some((name, value)) = assigned {
                let secret = value
                    .filter(|v| !util::is_literal(v) && !is_masked(v))
                    .and_then(|v| find_name(v, is_loggable_secret, 0))
                    .map(str::to_string);
                out.entry(name.to_string())
                    .or_default()
                    .push((stmt.start().to_u32(), secret));
            }
        }
    }
    let function = checker.current_function()?;
    let at = function.start().to_u32();
    if checker.file.secret_locals.as_ref().is_none_or(|(f, _)| *f != at) {
        let mut found = SecretLocals::new();
        gather(&function.body, &mut found, 0);
        for assignments in found.values_mut() {
            assignments.sort_by_key(|(offset, _)| *offset);
        }
        checker.file.secret_locals = Some((at, found));
    }
    let (_, locals) = checker.file.secret_locals.as_ref()?;
    let before = before.to_u32();
    locals
        .get(name)?
        .iter()
        .take_while(|(offset, _)| *offset < before)
        .last()?
        .1
        .clone()
}

/// The first name in `expr` (a variable, attribute, literal subscript key, `.get("...")` key or
/// format keyword) whose value the expression shows and that `is_secret` accepts. Masking calls
/// (`len(password)`) and comparisons are not searched.
fn find_name(expr: &Expr, is_secret: fn(&str) -> bool, depth: u32) -> Option<&str> {
    if depth > MAX_SEARCH_DEPTH {
        return None;
    }
    let next = depth + 1;
    match expr {
        Expr::Name(n) => Some(n.id.as_str()).filter(|n| is_secret(n)),
        Expr::Attribute(a) => Some(a.attr.as_str()).filter(|n| is_secret(n)),
        Expr::Subscript(s) => util::str_literal(&s.slice).filter(|k| is_secret(k)),
        Expr::FString(f) => f.value.iter().find_map(|part| match part {
            ast::FStringPart::FString(fs) => fs.elements.iter().find_map(|e| match e {
                ast::InterpolatedStringElement::Interpolation(i) => find_name(&i.expression, is_secret, next),
                ast::InterpolatedStringElement::Literal(_) => None,
            }),
            ast::FStringPart::Literal(_) => None,
        }),
        Expr::BinOp(b) => find_name(&b.left, is_secret, next).or_else(|| find_name(&b.right, is_secret, next)),
        Expr::BoolOp(b) => b.values.iter().find_map(|v| find_name(v, is_secret, next)),
        Expr::If(i) => find_name(&i.body, is_secret, next).or_else(|| find_name(&i.orelse, is_secret, next)),
        Expr::Tuple(t) => t.elts.iter().find_map(|v| find_name(v, is_secret, next)),
        Expr::List(l) => l.elts.iter().find_map(|v| find_name(v, is_secret, next)),
        Expr::Set(s) => s.elts.iter().find_map(|v| find_name(v, is_secret, next)),
        Expr::Starred(s) => find_name(&s.value, is_secret, next),
        Expr::Dict(d) => d.iter().find_map(|item| {
            let key = item.key.as_ref().and_then(util::str_literal);
            match key {
                Some(k) if is_secret(k) && !util::is_literal(&item.value) && !is_masked(&item.value) => Some(k),
                _ => find_name(&item.value, is_secret, next),
            }
        }),
        Expr::Call(c) if passes_value(c) => {
            if let Expr::Attribute(a) = &*c.func {
                if a.attr.as_str() == "get" {
                    return c
                        .arguments
                        .args
                        .first()
                        .and_then(util::str_literal)
                        .filter(|k| is_secret(k));
                }
                if a.attr.as_str() == "format" {
                    for keyword in &c.arguments.keywords {
                        if let Some(arg) = &keyword.arg {
                            if is_secret(arg.as_str()) && !util::is_literal(&keyword.value) {
                                return Some(arg.as_str());
                            }
                        }
                        if let Some(found) = find_name(&keyword.value, is_secret, next) {
                            return Some(found);
                        }
                    }
                } else if let Some(found) = find_name(&a.value, is_secret, next) {
                    return Some(found);
                }
            }
            c.arguments.args.iter().find_map(|a| find_name(a, is_secret, next))
        }
        _ => None,
    }
}

/// ASCII case-insensitive substring test, without allocating.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A secret-like name (per util::is_secret_name) that is not about the secret
/// (`password_hash`, `token_url`, `is_password_set`, `max_password_length`).
fn is_loggable_secret(name: &str) -> bool {
    if !["pass", "pwd", "secret", "token", "key", "credential"]
        .iter()
        .any(|w| contains_ci(name, w))
    {
        return false;
    }
    let mut words = [""; 8];
    let n = split_words(name, &mut words);
    // util::is_secret_name reads snake_case; give it camelCase names in that form.
    let secret = if name.contains('_') || n <= 1 {
        util::is_secret_name(name)
    } else {
        util::is_secret_name(&words[..n].join("_"))
    };
    if !secret {
        return false;
    }
    if n == 0 {
        return false;
    }
    let first = words[0];
    const NOT_FIRST: &[&str] = &[
        "is", "has", "num", "n", "use", "no", "with", "check", "validate", "get", "set", "max", "min", "require",
        "required", "show", "hide", "should", "can", "allow", "need", "needs", "hashed", "hash", "masked", "redacted",
        "len", "new_len",
    ];
    // A word saying the name is about the secret, not the secret itself.
    const QUALIFIERS: &[&str] = &[
        "handler",
        "handlers",
        "validator",
        "generator",
        "factory",
        "service",
        "manager",
        "provider",
        "store",
        "storage",
        "backend",
        "callback",
        "func",
        "method",
        "methods",
        "scope",
        "scopes",
        "getter",
        "setter",
        "hash",
        "hashed",
        "digest",
        "len",
        "length",
        "size",
        "count",
        "url",
        "uri",
        "endpoint",
        "type",
        "types",
        "kind",
        "name",
        "names",
        "field",
        "fields",
        "id",
        "ids",
        "index",
        "idx",
        "pos",
        "range",
        "start",
        "end",
        "expiry",
        "expires",
        "expiration",
        "ttl",
        "timeout",
        "prompt",
        "hint",
        "label",
        "required",
        "policy",
        "changed",
        "valid",
        "set",
        "missing",
        "error",
        "errors",
        "format",
        "pattern",
        "regex",
        "re",
        "class",
        "mode",
        "env",
        "var",
        "header",
        "param",
        "attr",
        "column",
        "col",
        "table",
        "enabled",
        "file",
        "path",
        "dir",
        "min",
        "max",
        "strength",
        "widget",
        "form",
        "help",
        "placeholder",
        "provided",
        "given",
        "ok",
        "matches",
        "match",
        "rules",
        "location",
    ];
    !NOT_FIRST.iter().any(|w| first.eq_ignore_ascii_case(w))
        && !words[1..n]
            .iter()
            .any(|word| QUALIFIERS.iter().any(|w| word.eq_ignore_ascii_case(w)))
}

/// Splits an identifier into words on `_` and lower→upper case changes (`resetToken` →
/// `reset`, `Token`); returns how many of `out` were filled.
fn split_words<'n>(name: &'n str, out: &mut [&'n str; 8]) -> usize {
    let mut n = 0;
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let bytes = part.as_bytes();
        let mut start = 0;
        for i in 1..bytes.len() {
            if bytes[i].is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase() {
                if n < out.len() {
                    out[n] = &part[start..i];
                    n += 1;
                }
                start = i;
            }
        }
        if n < out.len() {
            out[n] = &part[start..];
            n += 1;
        }
    }
    n
}

// ---- STK811 weak password hash -----------------------------------------------------------

fn is_password_name(name: &str) -> bool {
    (contains_ci(name, "pass") || contains_ci(name, "pwd")) && is_loggable_secret(name)
}

fn is_hash_object_name(name: &str) -> bool {
    matches!(
        name,
        "h" | "hasher"
            | "hash_obj"
            | "hashobj"
            | "hash"
            | "sha"
            | "sha1"
            | "sha256"
            | "sha512"
            | "md5"
            | "digest"
            | "m"
    )
}

fn weak_password_hash(checker: &mut Checker, call: &ExprCall, algorithm: &str) {
    let data = match algorithm {
        "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512" | "sha3_224" | "sha3_256" | "sha3_384"
        | "sha3_512" | "blake2b" | "blake2s" => {
            util::argument(call, "data", 0).or_else(|| util::keyword(call, "string"))
        }
        "new" => util::argument(call, "data", 1).or_else(|| util::keyword(call, "string")),
        _ => return,
    };
    let Some(found) = data.and_then(|d| find_name(d, is_password_name, 0)) else {
        return;
    };
    checker.report(
        RuleId::WeakPasswordHash,
        call.range(),
        format!(
            "hashlib.{algorithm} hashes `{found}` with a fast hash; store passwords with bcrypt, argon2, scrypt or \
             hashlib.pbkdf2_hmac"
        ),
    );
}

// ---- STK812 random for secrets -----------------------------------------------------------

/// A name for something that must be unpredictable: a token, secret, OTP, password, nonce,
/// salt, API/session key, reset/verification code. "key" and "code" alone are not enough.
fn is_secret_target(name: &str) -> bool {
    let mut words = [""; 8];
    let n = split_words(name, &mut words);
    if n == 0 {
        return false;
    }
    let words = &words[..n];
    const NOT_LAST: &[&str] = &[
        "len", "length", "size", "count", "type", "kind", "name", "names", "url", "index", "idx", "chars", "alphabet",
        "charset", "format", "pattern", "field", "header", "expiry", "expires", "ttl", "timeout", "file", "path",
        "bits", "min", "max",
    ];
    if NOT_LAST.iter().any(|w| words[n - 1].eq_ignore_ascii_case(w)) {
        return false;
    }
    const SINGLE: &[&str] = &[
        "token",
        "secret",
        "otp",
        "totp",
        "hotp",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "nonce",
        "salt",
        "apikey",
        "csrf",
        "sessionid",
        "pin",
    ];
    const PAIRS: &[(&str, &str)] = &[
        ("api", "key"),
        ("secret", "key"),
        ("session", "key"),
        ("session", "id"),
        ("access", "key"),
        ("private", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("auth", "code"),
        ("reset", "code"),
        ("verification", "code"),
        ("verify", "code"),
        ("confirmation", "code"),
        ("confirm", "code"),
        ("activation", "code"),
        ("invite", "code"),
        ("one", "time"),
        ("security", "code"),
    ];
    words.iter().any(|w| SINGLE.iter().any(|s| w.eq_ignore_ascii_case(s)))
        || words.windows(2).any(|pair| {
            PAIRS
                .iter()
                .any(|(a, b)| pair[0].eq_ignore_ascii_case(a) && pair[1].eq_ignore_ascii_case(b))
        })
}

fn target_name(target: &Expr) -> Option<&str> {
    match target {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(a) => Some(a.attr.as_str()),
        Expr::Subscript(s) => util::str_literal(&s.slice),
        _ => None,
    }
}

fn on_assignment(checker: &mut Checker, target: &Expr, value: &Expr) {
    if let Some(name) = target_name(target) {
        random_in(checker, value, name, |n| format!("`{n}`"));
    }
    config_assignment(checker, target, value);
}

fn random_keywords(checker: &mut Checker, call: &ExprCall) {
    for keyword in &call.arguments.keywords {
        if !matches!(keyword.value, Expr::Call(_)) {
            continue;
        }
        if let Some(arg) = &keyword.arg {
            random_in(checker, &keyword.value, arg.as_str(), |n| format!("`{n}`"));
        }
    }
}

/// Reports the first call of the `random` module inside `value` when `value` makes something
/// named `name` that must be unpredictable.
fn random_in(checker: &mut Checker, value: &Expr, name: &str, describe: impl Fn(&str) -> String) {
    // Cheap structural test first: most values call nothing from `random`.
    if !may_call_random(value, 0) || !is_secret_target(name) {
        return;
    }
    if let Some((range, function)) = find_random(checker, value, 0) {
        let target = describe(name);
        checker.report(
            RuleId::RandomForSecret,
            range,
            format!(
                "`{function}` makes {target}, but the random module is predictable; use secrets.token_urlsafe, \
                 secrets.token_hex or secrets.choice"
            ),
        );
    }
}

fn is_random_function(name: &str) -> bool {
    matches!(
        name,
        "random"
            | "randint"
            | "randrange"
            | "choice"
            | "choices"
            | "sample"
            | "getrandbits"
            | "randbytes"
            | "uniform"
            | "shuffle"
    )
}

/// Whether `expr` contains a call of a function named like one of `random`'s (no name resolution).
fn may_call_random(expr: &Expr, depth: u32) -> bool {
    if depth > 4 {
        return false;
    }
    let next = depth + 1;
    let may = |e: &Expr| may_call_random(e, next);
    match expr {
        Expr::Call(c) => {
            model_last(&c.func).is_some_and(is_random_function)
                || matches!(&*c.func, Expr::Attribute(a) if may(&a.value))
                || c.arguments.args.iter().any(may)
                || c.arguments.keywords.iter().any(|k| may(&k.value))
        }
        Expr::BinOp(b) => may(&b.left) || may(&b.right),
        Expr::FString(f) => f.value.iter().any(|part| match part {
            ast::FStringPart::FString(fs) => fs.elements.iter().any(|e| match e {
                ast::InterpolatedStringElement::Interpolation(i) => may(&i.expression),
                ast::InterpolatedStringElement::Literal(_) => false,
            }),
            ast::FStringPart::Literal(_) => false,
        }),
        Expr::ListComp(c) => may(&c.elt) || c.generators.iter().any(|g| may(&g.iter)),
        Expr::SetComp(c) => may(&c.elt) || c.generators.iter().any(|g| may(&g.iter)),
        Expr::Generator(c) => may(&c.elt) || c.generators.iter().any(|g| may(&g.iter)),
        Expr::Subscript(s) => may(&s.value),
        Expr::Attribute(a) => may(&a.value),
        Expr::Tuple(t) => t.elts.iter().any(may),
        Expr::List(l) => l.elts.iter().any(may),
        Expr::Starred(s) => may(&s.value),
        Expr::If(i) => may(&i.body) || may(&i.orelse),
        Expr::Await(a) => may(&a.value),
        _ => false,
    }
}

fn find_random(checker: &Checker, expr: &Expr, depth: u32) -> Option<(TextRange, String)> {
    if depth > MAX_SEARCH_DEPTH {
        return None;
    }
    let next = depth + 1;
    let find = |e: &Expr| find_random(checker, e, next);
    match expr {
        Expr::Call(c) => {
            if let Some(last) = model_last(&c.func) {
                if is_random_function(last) {
                    if let Some(name) = checker.qualified_name(&c.func) {
                        if name.strip_prefix("random.").is_some_and(|rest| !rest.contains('.')) {
                            return Some((c.range(), name));
                        }
                    }
                }
            }
            if let Expr::Attribute(a) = &*c.func {
                if let Some(found) = find(&a.value) {
                    return Some(found);
                }
            }
            c.arguments
                .args
                .iter()
                .find_map(find)
                .or_else(|| c.arguments.keywords.iter().find_map(|k| find(&k.value)))
        }
        Expr::BinOp(b) => find(&b.left).or_else(|| find(&b.right)),
        Expr::FString(f) => f.value.iter().find_map(|part| match part {
            ast::FStringPart::FString(fs) => fs.elements.iter().find_map(|e| match e {
                ast::InterpolatedStringElement::Interpolation(i) => find(&i.expression),
                ast::InterpolatedStringElement::Literal(_) => None,
            }),
            ast::FStringPart::Literal(_) => None,
        }),
        Expr::ListComp(c) => find(&c.elt).or_else(|| c.generators.iter().find_map(|g| find(&g.iter))),
        Expr::SetComp(c) => find(&c.elt).or_else(|| c.generators.iter().find_map(|g| find(&g.iter))),
        Expr::Generator(c) => find(&c.elt).or_else(|| c.generators.iter().find_map(|g| find(&g.iter))),
        Expr::Subscript(s) => find(&s.value),
        Expr::Attribute(a) => find(&a.value),
        Expr::Tuple(t) => t.elts.iter().find_map(find),
        Expr::List(l) => l.elts.iter().find_map(find),
        Expr::Starred(s) => find(&s.value),
        Expr::If(i) => find(&i.body).or_else(|| find(&i.orelse)),
        Expr::Await(a) => find(&a.value),
        _ => None,
    }
}

fn model_last(func: &Expr) -> Option<&str> {
    match func {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(a) => Some(a.attr.as_str()),
        _ => None,
    }
}

// ---- STK813 JWT without verification ------------------------------------------------------

fn jwt_decode(checker: &mut Checker, call: &ExprCall, name: &str) {
    let why = if keyword_is(call, "verify", false) {
        Some("verify=False")
    } else if util::keyword(call, "options").is_some_and(|o| dict_flag(o, "verify_signature") == Some(false)) {
        Some("options={\"verify_signature\": False}")
    } else if util::keyword(call, "algorithms").is_some_and(allows_none_algorithm) {
        Some("the 'none' algorithm allowed")
    } else {
        None
    };
    if let Some(why) = why {
        checker.report(
            RuleId::JwtNoVerify,
            call.range(),
            format!("{name} with {why} accepts tokens whose signature was never checked"),
        );
    }
}

fn allows_none_algorithm(expr: &Expr) -> bool {
    let is_none = |e: &Expr| util::str_literal(e).is_some_and(|s| s.eq_ignore_ascii_case("none"));
    match expr {
        Expr::List(l) => l.elts.iter().any(is_none),
        Expr::Tuple(t) => t.elts.iter().any(is_none),
        Expr::Set(s) => s.elts.iter().any(is_none),
        other => is_none(other),
    }
}

/// The truthiness of a dict literal's entry for `key`.
fn dict_flag(expr: &Expr, key: &str) -> Option<bool> {
    let Expr::Dict(d) = expr else { return None };
    d.iter()
        .find(|item| item.key.as_ref().and_then(util::str_literal) == Some(key))
        .and_then(|item| util::truthiness(&item.value))
}

// ---- STK814 CSRF disabled ----------------------------------------------------------------

fn csrf_decorators(checker: &mut Checker, decorators: &[ast::Decorator]) {
    for decorator in decorators {
        let expr = &decorator.expression;
        match expr {
            Expr::Name(_) | Expr::Attribute(_) => {}
            _ => continue,
        }
        if let Expr::Attribute(a) = expr {
            if a.attr.as_str() == "exempt" && matches!(&*a.value, Expr::Name(n) if contains_ci(n.id.as_str(), "csrf")) {
                checker.report(
                    RuleId::CsrfDisabled,
                    decorator.range(),
                    format!("@{} turns off Flask-WTF's CSRF check for this view", checker.text(expr)),
                );
                continue;
            }
        }
        if checker.qualified_name(expr).as_deref() == Some("django.views.decorators.csrf.csrf_exempt") {
            checker.report(
                RuleId::CsrfDisabled,
                decorator.range(),
                "@csrf_exempt turns off Django's CSRF check for this view",
            );
        }
    }
}

/// `FlaskForm(meta={"csrf": False})`.
fn flask_form_meta(checker: &mut Checker, call: &ExprCall) {
    if util::keyword(call, "meta").is_some_and(|m| dict_flag(m, "csrf") == Some(false)) {
        checker.report(
            RuleId::CsrfDisabled,
            call.range(),
            "form created with meta={\"csrf\": False}: no CSRF token is checked",
        );
    }
}

// ---- configuration (STK814, STK815, STK817, STK818) ---------------------------------------

/// `app.config` / `self.app.config` / `current_app.config`.
fn is_config(expr: &Expr) -> bool {
    matches!(expr, Expr::Attribute(a) if a.attr.as_str() == "config")
}

/// Where a configuration assignment is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place<'s> {
    /// `app.config[...] = ` / `app.config.update(...)`.
    AppConfig,
    /// A module-level `NAME = value`.
    Module,
    /// `NAME = value` directly in a class body (a Flask config class).
    Class(&'s str),
}

fn config_assignment(checker: &mut Checker, target: &Expr, value: &Expr) {
    match target {
        Expr::Subscript(s) if is_config(&s.value) => {
            if let Some(key) = util::str_literal(&s.slice) {
                config_setting(
                    checker,
                    key,
                    value,
                    Place::AppConfig,
                    target.range().cover(value.range()),
                );
            }
        }
        Expr::Name(n) => {
            let id = n.id.as_str();
            if !is_setting_name(id) || !checker.functions.is_empty() {
                return;
            }
            let place = match checker.stmts.len() {
                1 => Place::Module,
                len => match checker.stmts.get(len - 2) {
                    Some(Stmt::ClassDef(c)) => Place::Class(c.name.as_str()),
                    _ => return,
                },
            };
            config_setting(checker, id, value, place, target.range().cover(value.range()));
        }
        Expr::Attribute(a) => {
            let attr = a.attr.as_str();
            let receiver = match &*a.value {
                Expr::Name(n) => n.id.as_str(),
                Expr::Attribute(inner) => inner.attr.as_str(),
                _ => return,
            };
            let range = target.range().cover(value.range());
            if attr == "debug" && contains_ci(receiver, "app") && util::truthiness(value) == Some(true) {
                checker.report(
                    RuleId::DebugEnabled,
                    range,
                    format!(
                        "{}.debug = True turns on the framework's debug mode",
                        checker.text(&*a.value)
                    ),
                );
            } else if attr == "autoescape" && receiver == "jinja_env" && util::truthiness(value) == Some(false) {
                checker.report(
                    RuleId::AutoescapeOff,
                    range,
                    "jinja_env.autoescape = False renders template variables without HTML escaping",
                );
            } else if attr == "jinja_options" {
                autoescape_in(checker, value, "jinja_options", 0);
            }
        }
        _ => {}
    }
}

fn is_setting_name(id: &str) -> bool {
    matches!(
        id,
        "DEBUG"
            | "WTF_CSRF_ENABLED"
            | "SESSION_COOKIE_SECURE"
            | "CSRF_COOKIE_SECURE"
            | "SESSION_COOKIE_HTTPONLY"
            | "REMEMBER_COOKIE_SECURE"
            | "REMEMBER_COOKIE_HTTPONLY"
            | "TEMPLATES"
            | "MIDDLEWARE"
            | "MIDDLEWARE_CLASSES"
            | "csrf"
    )
}

/// `app.config.update(KEY=value, ...)` / `app.config.update({"KEY": value})` / `from_mapping`.
fn config_call(checker: &mut Checker, call: &ExprCall) {
    for keyword in &call.arguments.keywords {
        if let Some(arg) = &keyword.arg {
            config_setting(checker, arg.as_str(), &keyword.value, Place::AppConfig, keyword.range());
        }
    }
    if let Some(Expr::Dict(d)) = call.arguments.args.first() {
        for item in d.iter() {
            if let Some(key) = item.key.as_ref().and_then(util::str_literal) {
                let range = item
                    .key
                    .as_ref()
                    .map_or(item.value.range(), |k| k.range().cover(item.value.range()));
                config_setting(checker, key, &item.value, Place::AppConfig, range);
            }
        }
    }
}

fn config_setting(checker: &mut Checker, key: &str, value: &Expr, place: Place, range: TextRange) {
    let flag = util::truthiness(value);
    match key {
        "WTF_CSRF_ENABLED" if flag == Some(false) && !in_test_context(checker, place) => checker.report(
            RuleId::CsrfDisabled,
            range,
            "WTF_CSRF_ENABLED = False turns off Flask-WTF's CSRF protection",
        ),
        "csrf" if flag == Some(false) && place == Place::Class("Meta") => checker.report(
            RuleId::CsrfDisabled,
            range,
            "form Meta with csrf = False: no CSRF token is checked",
        ),
        "SESSION_COOKIE_SECURE" | "CSRF_COOKIE_SECURE" | "REMEMBER_COOKIE_SECURE"
            if flag == Some(false) && !in_test_context(checker, place) =>
        {
            checker.report(
                RuleId::InsecureCookie,
                range,
                format!("{key} = False sends the cookie over plain HTTP"),
            )
        }
        "SESSION_COOKIE_HTTPONLY" | "REMEMBER_COOKIE_HTTPONLY"
            if flag == Some(false) && !in_test_context(checker, place) =>
        {
            checker.report(
                RuleId::InsecureCookie,
                range,
                format!("{key} = False lets page scripts read the cookie"),
            )
        }
        "DEBUG" if flag == Some(true) && debug_counts(checker, place) => checker.report(
            RuleId::DebugEnabled,
            range,
            "DEBUG = True shows tracebacks and settings to anyone who triggers an error",
        ),
        "TEMPLATES" if place == Place::Module => autoescape_in(checker, value, "TEMPLATES", 0),
        "MIDDLEWARE" | "MIDDLEWARE_CLASSES" if place == Place::Module => middleware_without_csrf(checker, value, range),
        _ => {}
    }
}

/// A test configuration turning protections off is expected.
fn in_test_context(checker: &Checker, place: Place) -> bool {
    if let Place::Class(class) = place {
        if contains_ci(class, "test") {
            return true;
        }
    }
    is_test_path(checker.path)
}

fn is_test_path(path: &str) -> bool {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    file.starts_with("test_") || file.ends_with("_test.py") || file == "conftest.py" || path.contains("/tests/")
}

/// Whether `DEBUG = True` here is an application's setting: `app.config`, a production config
/// class, or the top level of a settings module (not a development/local/test one).
fn debug_counts(checker: &Checker, place: Place) -> bool {
    match place {
        Place::AppConfig => !is_test_path(checker.path),
        Place::Class(class) => contains_ci(class, "prod"),
        Place::Module => {
            let file = checker.path.rsplit(['/', '\\']).next().unwrap_or(checker.path);
            let stem = file.strip_suffix(".py").unwrap_or(file);
            let settings_like = contains_ci(checker.path, "settings")
                || checker.source.contains("INSTALLED_APPS")
                || checker.source.contains("ROOT_URLCONF");
            settings_like && !["dev", "local", "test"].iter().any(|w| contains_ci(stem, w))
        }
    }
}

/// Django TEMPLATES / Flask jinja_options: an `"autoescape": False` entry.
fn autoescape_in(checker: &mut Checker, expr: &Expr, setting: &str, depth: u32) {
    if depth > 6 {
        return;
    }
    match expr {
        Expr::List(l) => l
            .elts
            .iter()
            .for_each(|e| autoescape_in(checker, e, setting, depth + 1)),
        Expr::Tuple(t) => t
            .elts
            .iter()
            .for_each(|e| autoescape_in(checker, e, setting, depth + 1)),
        Expr::Dict(d) => {
            for item in d.iter() {
                let key = item.key.as_ref().and_then(util::str_literal);
                if key == Some("autoescape") && util::truthiness(&item.value) == Some(false) {
                    let range = item
                        .key
                        .as_ref()
                        .map_or(item.value.range(), |k| k.range().cover(item.value.range()));
                    checker.report(
                        RuleId::AutoescapeOff,
                        range,
                        format!("{setting} sets \"autoescape\": False: template variables are not HTML-escaped"),
                    );
                } else {
                    autoescape_in(checker, &item.value, setting, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// A Django MIDDLEWARE list with sessions/auth but without CsrfViewMiddleware.
fn middleware_without_csrf(checker: &mut Checker, value: &Expr, range: TextRange) {
    let elts = match value {
        Expr::List(l) => &l.elts,
        Expr::Tuple(t) => &t.elts,
        _ => return,
    };
    let names = || elts.iter().filter_map(util::str_literal);
    let django = names().any(|n| {
        n.starts_with("django.contrib.sessions.middleware") || n.starts_with("django.contrib.auth.middleware")
    });
    if django && !names().any(|n| n.contains("CsrfViewMiddleware")) {
        checker.report(
            RuleId::CsrfDisabled,
            range,
            "MIDDLEWARE has no django.middleware.csrf.CsrfViewMiddleware: CSRF protection is off",
        );
    }
}

// ---- STK815 insecure cookie --------------------------------------------------------------

fn set_cookie(checker: &mut Checker, call: &ExprCall) {
    let args = &call.arguments;
    // `CookieJar.set_cookie(cookie)` takes one Cookie object; a response's takes a name.
    let key = args.args.first();
    let is_response = key.is_some_and(|k| util::str_literal(k).is_some())
        || args.args.len() >= 2
        || args.find_keyword("value").is_some()
        || args.find_keyword("key").is_some();
    if !is_response || args.keywords.iter().any(|k| k.arg.is_none()) {
        return;
    }
    // Deleting a cookie (max_age=0 / expires=0) sends no value.
    if [("max_age", 2), ("expires", 3)]
        .iter()
        .any(|(name, pos)| util::argument(call, name, *pos).and_then(util::int_literal) == Some(0))
    {
        return;
    }
    let off = |name: &str, pos: usize| match util::argument(call, name, pos) {
        None => true,
        Some(value) => util::truthiness(value) == Some(false),
    };
    let missing = match (off("secure", 6), off("httponly", 7)) {
        (true, true) => "secure=True and httponly=True",
        (true, false) => "secure=True",
        (false, true) => "httponly=True",
        (false, false) => return,
    };
    let literal = key.or_else(|| util::keyword(call, "key")).and_then(util::str_literal);
    // A cookie named for what it holds (`theme`, `lang`, `consent`) carries no session or
    // credential; one whose name is computed might, at lower confidence.
    if literal.is_some_and(|k| !is_credential_cookie(k)) {
        return;
    }
    let name = literal.map_or(String::new(), |k| format!(" `{k}`"));
    let confidence = if literal.is_some() {
        RuleId::InsecureCookie.meta().confidence
    } else {
        crate::Level::Low
    };
    checker.report_with(
        RuleId::InsecureCookie,
        call.range(),
        RuleId::InsecureCookie.meta().severity,
        confidence,
        format!("cookie{name} set without {missing}"),
    );
}

/// Whether a cookie's name says it holds a session, a token or a credential.
fn is_credential_cookie(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "sess", "sid", "token", "auth", "jwt", "remember", "login", "csrf", "xsrf", "secret", "key", "pass", "cred",
        "ident", "user", "uid", "access", "refresh", "api", "oauth", "saml", "sso", "account",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

// ---- STK816 archive extraction -----------------------------------------------------------

fn unpack_archive(checker: &mut Checker, call: &ExprCall) {
    if util::keyword(call, "filter").is_some() {
        return;
    }
    let Some(archive) = util::argument(call, "filename", 0) else {
        return;
    };
    if util::is_literal(archive) {
        return;
    }
    // Zip members are sanitised by zipfile itself.
    if util::argument(call, "format", 2)
        .and_then(util::str_literal)
        .is_some_and(|f| f == "zip")
    {
        return;
    }
    checker.report(
        RuleId::ZipSlip,
        call.range(),
        "shutil.unpack_archive without filter= can write outside the target directory (tar members with \
         absolute paths, '..' or links); pass filter=\"data\"",
    );
}

// ---- STK820 XML external entities --------------------------------------------------------

fn lxml_parser(checker: &mut Checker, call: &ExprCall, name: &str) {
    let short = util::last_segment(name);
    let why = if keyword_is(call, "resolve_entities", true) {
        "resolve_entities=True"
    } else if keyword_is(call, "no_network", false) {
        "no_network=False"
    } else {
        return;
    };
    checker.report(
        RuleId::XmlExternalEntities,
        call.range(),
        format!("lxml {short}({why}) lets a document pull in external entities (XXE)"),
    );
}

fn sax_feature(checker: &mut Checker, call: &ExprCall) {
    let (Some(feature), Some(value)) = (call.arguments.args.first(), call.arguments.args.get(1)) else {
        return;
    };
    if util::truthiness(value) != Some(true) {
        return;
    }
    let external = match feature {
        Expr::Name(n) => matches!(n.id.as_str(), "feature_external_ges" | "feature_external_pes"),
        Expr::Attribute(a) => matches!(a.attr.as_str(), "feature_external_ges" | "feature_external_pes"),
        other => util::str_literal(other).is_some_and(|s| {
            s == "http://xml.org/sax/features/external-general-entities"
                || s == "http://xml.org/sax/features/external-parameter-entities"
        }),
    };
    if external {
        checker.report(
            RuleId::XmlExternalEntities,
            call.range(),
            "the SAX parser is set to fetch external entities (XXE)",
        );
    }
}

// ---- helpers -----------------------------------------------------------------------------

/// Whether keyword `name` is a literal with truthiness `value`.
fn keyword_is(call: &ExprCall, name: &str, value: bool) -> bool {
    util::keyword(call, name).and_then(util::truthiness) == Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each logging call with a local as its argument looked the local up by walking the whole
    /// function again: 30,000 `print(x)` lines took 4.4 s in a debug build. Now the function's
    /// assignments are gathered once; the last one before the call still decides.
    #[test]
    fn secret_locals_are_gathered_once_per_function() {
        let mut code = String::from("def f(password):\n    x = 'a' + password\n    print(x)\n    x = 1\n");
        for _ in 0..60_000 {
            code.push_str("    print(x)\n");
        }
        let settings = crate::Settings::new(crate::Profile::Audit);
        let started = std::time::Instant::now();
        let findings: Vec<_> = crate::check_source("f.py", &code, &settings)
            .findings
            .into_iter()
            .filter(|f| f.rule == RuleId::SecretInLog)
            .collect();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            findings.iter().map(|f| f.line).collect::<Vec<_>>(),
            vec![3],
            "{findings:?}"
        );
    }

    #[test]
    fn loggable_secrets() {
        for yes in [
            "password",
            "db_password",
            "api_key",
            "token",
            "auth_token",
            "SECRET_KEY",
            "userPassword",
        ] {
            assert!(is_loggable_secret(yes), "{yes}");
        }
        for no in [
            "password_hash",
            "token_url",
            "is_password_set",
            "max_password_length",
            "passenger",
            "tokens",
            "monkey",
        ] {
            assert!(!is_loggable_secret(no), "{no}");
        }
    }

    #[test]
    fn secret_targets() {
        for yes in [
            "token",
            "reset_token",
            "otp",
            "api_key",
            "resetCode",
            "reset_code",
            "salt",
            "session_id",
            "generate_password",
            "make_nonce",
        ] {
            assert!(is_secret_target(yes), "{yes}");
        }
        for no in [
            "key",
            "code",
            "sort_key",
            "status_code",
            "token_length",
            "tokens",
            "keyboard",
            "salt_len",
        ] {
            assert!(!is_secret_target(no), "{no}");
        }
    }

    #[test]
    fn words() {
        let mut out = [""; 8];
        let n = split_words("resetToken_value", &mut out);
        assert_eq!(&out[..n], &["reset", "Token", "value"]);
        let n = split_words("__private__", &mut out);
        assert_eq!(&out[..n], &["private"]);
    }
}
