//! Bandit's B7xx: templates and markup that do not escape (Jinja2 autoescape, Mako, Django
//! mark_safe, markupsafe.Markup).

use super::injection::{self, IMPORTED_DJANGO_SAFESTRING};
use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use crate::Level;
use ruff_python_ast::{self as ast, Expr, ExprCall, Stmt};
use ruff_text_size::{Ranged, TextSize};

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    let Some(name) = name else { return };
    let last = util::last_segment(name);
    match last {
        "Environment" if has_segment(name, "jinja2") => jinja2_environment(checker, call, name),
        // Framework setups that make a jinja2 environment: they escape by default, so only an
        // explicit autoescape=False counts.
        "setup"
            if matches!(
                name,
                "aiohttp_jinja2.setup" | "sanic_jinja2.SanicJinja2" | "fastapi_jinja.setup"
            ) =>
        {
            if let Some(Expr::BooleanLiteral(b)) = util::keyword(call, "autoescape") {
                if !b.value {
                    checker.report(
                        RuleId::Jinja2AutoescapeFalse,
                        call.range(),
                        format!("`{name}` with autoescape=False exposes XSS; leave autoescape on"),
                    );
                }
            }
        }
        "Jinja2Templates" if name.starts_with("starlette.") || name.starts_with("fastapi.") => {
            if let Some(Expr::BooleanLiteral(b)) = util::keyword(call, "autoescape") {
                if !b.value {
                    checker.report(
                        RuleId::Jinja2AutoescapeFalse,
                        call.range(),
                        format!("`{name}` with autoescape=False exposes XSS; leave autoescape on"),
                    );
                }
            }
        }
        "Template" | "TemplateLookup" if has_segment(name, "mako") => {
            checker.report(
                RuleId::MakoTemplates,
                call.range(),
                format!(
                    "`{name}`: Mako does not escape HTML by default; escape every variable with the h filter \
                     (${{ data | h }}) or set default_filters"
                ),
            );
        }
        "mark_safe" | "SafeText" | "SafeUnicode" | "SafeString" | "SafeBytes"
            if name.starts_with("django.") || injection::imported(checker, IMPORTED_DJANGO_SAFESTRING) =>
        {
            django_mark_safe(checker, call, name);
        }
        "Markup" if matches!(name, "markupsafe.Markup" | "flask.Markup" | "jinja2.Markup") => {
            markup(checker, call, name);
        }
        _ => {}
    }
}

fn has_segment(name: &str, segment: &str) -> bool {
    name.split('.').any(|s| s == segment)
}

// ---------------------------------------------------------------------------------------------
// STK701: jinja2 autoescape
// ---------------------------------------------------------------------------------------------

fn jinja2_environment(checker: &mut Checker, call: &ExprCall, name: &str) {
    let Some(autoescape) = util::keyword(call, "autoescape") else {
        // Unpacked keywords may set it: still reported, with less confidence.
        let confidence = if call.arguments.keywords.iter().any(|k| k.arg.is_none()) {
            Level::Medium
        } else {
            Level::High
        };
        checker.report_with(
            RuleId::Jinja2AutoescapeFalse,
            call.range(),
            Level::High,
            confidence,
            format!(
                "`{name}` without autoescape: jinja2 does not escape by default (XSS); pass autoescape=True or \
                 select_autoescape()"
            ),
        );
        return;
    };
    match autoescape {
        Expr::BooleanLiteral(b) if b.value => {}
        Expr::BooleanLiteral(_) => checker.report(
            RuleId::Jinja2AutoescapeFalse,
            call.range(),
            format!("`{name}` with autoescape=False exposes XSS; use autoescape=True or select_autoescape()"),
        ),
        Expr::Call(c) if injection::called_name(c) == Some("select_autoescape") => {}
        _ => checker.report_with(
            RuleId::Jinja2AutoescapeFalse,
            call.range(),
            Level::High,
            Level::Medium,
            format!(
                "`{name}` with autoescape set to `{}`, which may be false; use autoescape=True or \
                 select_autoescape()",
                short(checker.text(autoescape))
            ),
        ),
    }
}

fn short(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 40 {
        flat.chars().take(37).collect::<String>() + "..."
    } else {
        flat
    }
}

// ---------------------------------------------------------------------------------------------
// STK703: Django mark_safe
// ---------------------------------------------------------------------------------------------

/// Bounds the look-back through chains of assignments (`a = b; b = c; ...`).
const MAX_EVALUATION_DEPTH: usize = 16;

/// What Bandit's B703 needs to judge a value: the statements of the enclosing scope and the
/// enclosing function's parameters (data from the caller, never known safe).
struct Scope<'a> {
    body: injection::ScopeBody<'a>,
    params: &'a [&'a str],
}

impl Scope<'_> {
    /// Whether `var`, as assigned before `before`, holds only literal text (Bandit's
    /// `evaluate_var`: the assignments in order; a string literal makes it safe, another name or a
    /// `"...".format(...)` is judged in turn, anything else makes it unsafe).
    fn var_is_secure(&self, var: &str, before: TextSize, depth: usize) -> bool {
        if depth > MAX_EVALUATION_DEPTH || self.params.contains(&var) {
            return false;
        }
        let mut secure = false;
        let mut done = false;
        self.body.each_statement_before(before, &mut |stmt| {
            if done {
                return;
            }
            let value: Option<Option<&Expr>> = match stmt {
                Stmt::Assign(assign) => match assign.targets.first() {
                    Some(Expr::Name(n)) if n.id.as_str() == var => Some(Some(&assign.value)),
                    Some(Expr::Tuple(t)) => t
                        .elts
                        .iter()
                        .position(|e| matches!(e, Expr::Name(n) if n.id.as_str() == var))
                        .map(|i| match &*assign.value {
                            Expr::Tuple(v) => v.elts.get(i),
                            Expr::List(v) => v.elts.get(i),
                            _ => None,
                        }),
                    _ => None,
                },
                Stmt::AugAssign(assign) => {
                    matches!(&*assign.target, Expr::Name(n) if n.id.as_str() == var).then_some(Some(&*assign.value))
                }
                Stmt::AnnAssign(assign) => match (&*assign.target, &assign.value) {
                    (Expr::Name(n), Some(value)) if n.id.as_str() == var => Some(Some(&**value)),
                    _ => None,
                },
                // Bound by `with ... as var` or `for var in ...`: a value not known to be literal.
                Stmt::With(with) => with
                    .items
                    .iter()
                    .any(|i| matches!(i.optional_vars.as_deref(), Some(Expr::Name(n)) if n.id.as_str() == var))
                    .then_some(None),
                Stmt::For(for_stmt) => {
                    matches!(&*for_stmt.target, Expr::Name(n) if n.id.as_str() == var).then_some(None)
                }
                _ => None,
            };
            match value {
                None => {}
                Some(Some(Expr::StringLiteral(_))) => secure = true,
                Some(Some(Expr::Name(n))) => secure = self.var_is_secure(n.id.as_str(), stmt.start(), depth + 1),
                Some(Some(Expr::Call(c))) => secure = self.format_is_secure(c, depth + 1),
                Some(_) => {
                    secure = false;
                    done = true;
                }
            }
        });
        secure
    }

    /// Bandit's `evaluate_call`: `"literal".format(...)` whose arguments are all secure.
    fn format_is_secure(&self, call: &ExprCall, depth: usize) -> bool {
        let Expr::Attribute(attribute) = &*call.func else {
            return false;
        };
        if attribute.attr.as_str() != "format"
            || !attribute.value.is_string_literal_expr()
            || !call.arguments.keywords.is_empty()
        {
            return false;
        }
        self.args_are_secure(&call.arguments.args, call.start(), depth)
    }

    fn args_are_secure(&self, args: &[Expr], before: TextSize, depth: usize) -> bool {
        if depth > MAX_EVALUATION_DEPTH {
            return false;
        }
        args.iter().all(|arg| match arg {
            Expr::StringLiteral(_) => true,
            Expr::Name(n) => self.var_is_secure(n.id.as_str(), before, depth + 1),
            Expr::Call(c) => self.format_is_secure(c, depth + 1),
            Expr::Starred(s) => match &*s.value {
                Expr::List(l) => self.args_are_secure(&l.elts, before, depth + 1),
                Expr::Tuple(t) => self.args_are_secure(&t.elts, before, depth + 1),
                _ => false,
            },
            _ => false,
        })
    }
}

fn django_mark_safe(checker: &mut Checker, call: &ExprCall, name: &str) {
    let Some(value) = call.arguments.args.first() else {
        return;
    };
    if value.is_string_literal_expr() {
        return;
    }
    // `"...".format(...)`, `"..." % (...)` and names need the enclosing scope; anything else
    // (f-strings, concatenation, other calls) is not known safe.
    let format_args: Option<&[Expr]> = match value {
        Expr::Name(_) => Some(&[]),
        Expr::Call(c) => match &*c.func {
            Expr::Attribute(a) if a.attr.as_str() == "format" && a.value.is_string_literal_expr() => Some(&[]),
            _ => None,
        },
        Expr::BinOp(b) if b.op == ast::Operator::Mod && b.left.is_string_literal_expr() => match &*b.right {
            Expr::Tuple(t) => Some(&t.elts),
            other => Some(std::slice::from_ref(other)),
        },
        _ => None,
    };
    let secure = format_args.is_some() && {
        let params: Vec<&str> = checker.current_function().map_or_else(Vec::new, |f| {
            let p = &f.parameters;
            p.posonlyargs
                .iter()
                .chain(&p.args)
                .chain(&p.kwonlyargs)
                .map(|p| p.parameter.name.as_str())
                .chain(p.vararg.iter().chain(&p.kwarg).map(|p| p.name.as_str()))
                .collect()
        });
        injection::with_scope_body(checker, |body| {
            let scope = Scope { body, params: &params };
            match value {
                Expr::Name(n) => scope.var_is_secure(n.id.as_str(), call.start(), 0),
                Expr::Call(c) => scope.format_is_secure(c, 0),
                _ => scope.args_are_secure(format_args.unwrap_or(&[]), call.start(), 0),
            }
        })
    };
    if !secure {
        checker.report(
            RuleId::DjangoMarkSafe,
            call.range(),
            format!(
                "`{name}` on `{}`, which is not known to be literal text: it is not escaped (XSS)",
                short(checker.text(value))
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// STK704: markupsafe.Markup
// ---------------------------------------------------------------------------------------------

fn markup(checker: &mut Checker, call: &ExprCall, name: &str) {
    let Some(value) = call.arguments.args.first() else {
        return;
    };
    let constant = matches!(
        value,
        Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::NumberLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::EllipsisLiteral(_)
    );
    if !constant {
        checker.report_with(
            RuleId::MarkupsafeMarkupXss,
            call.range(),
            Level::Medium,
            Level::High,
            format!(
                "`{name}` on `{}`: Markup does not escape its argument (XSS); escape the data or interpolate into \
                 a Markup template",
                short(checker.text(value))
            ),
        );
    }
}
