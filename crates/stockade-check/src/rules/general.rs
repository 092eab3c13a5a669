//! Bandit's B1xx/B2xx: general misuse (assert, exec, permissions, binds, passwords, temp paths,
//! swallowed exceptions, timeouts, Flask debug, tar extraction) and trojan source.

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use crate::Level;
use ruff_python_ast::token::Tokens;
use ruff_python_ast::{
    self as ast, CmpOp, Expr, ExprCall, FStringPart, InterpolatedStringElement, Operator, Stmt, UnaryOp,
};
use ruff_text_size::{Ranged, TextRange, TextSize};

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    // STK106: a password-like keyword given a string literal, whatever the callee.
    for keyword in &call.arguments.keywords {
        if let (Some(arg), Some(value)) = (&keyword.arg, non_empty_str(&keyword.value)) {
            if is_password_name(arg.as_str()) {
                checker.report(
                    RuleId::HardcodedPasswordFuncarg,
                    keyword.range(),
                    format!("possible hard-coded password: keyword `{}` = {:?}", arg.as_str(), value),
                );
            }
        }
    }

    // The callee's last name: `os.chmod` → `chmod`, `Path(p).chmod` → `chmod`.
    let last = match name {
        Some(name) => util::last_segment(name),
        None => match util::method_name(call) {
            Some(method) => method,
            None => return,
        },
    };

    if let Some(name) = name {
        match name {
            "exec" | "builtins.exec" => {
                checker.report(RuleId::ExecUsed, call.range(), "exec runs arbitrary code");
                return;
            }
            _ => {}
        }
        let head = util::head_segment(name);
        if head == "requests" || head == "httpx" {
            request_timeout(checker, call, name, head, last);
        }
    }

    if util::contains_short(last, b"chmod") {
        chmod(checker, call, name, last);
    } else if last == "run" {
        flask_debug(checker, call, name);
    } else if util::contains_short(last, b"extractall") {
        tar_extractall(checker, call);
    }
}

pub fn on_stmt(checker: &mut Checker, stmt: &Stmt) {
    match stmt {
        Stmt::Assert(assert) => {
            checker.report(
                RuleId::AssertUsed,
                assert.range(),
                "assert is removed when Python runs with -O",
            );
        }
        Stmt::Try(try_stmt) => {
            for handler in &try_stmt.handlers {
                let ast::ExceptHandler::ExceptHandler(handler) = handler;
                let [only] = handler.body.as_slice() else {
                    continue;
                };
                // As Bandit (check_typed_exception off): only a bare `except:` or one that catches
                // everything; `except KeyError: pass` is a deliberate, narrow choice.
                if !catches_everything(handler.type_.as_deref()) {
                    continue;
                }
                let caught = handler.type_.as_deref().map_or("bare except", |t| checker.text(t));
                match only {
                    Stmt::Pass(_) => checker.report(
                        RuleId::TryExceptPass,
                        handler.range(),
                        format!("exception swallowed with `pass` ({caught})"),
                    ),
                    Stmt::Continue(_) => checker.report(
                        RuleId::TryExceptContinue,
                        handler.range(),
                        format!("exception swallowed with `continue` ({caught})"),
                    ),
                    _ => {}
                }
            }
        }
        Stmt::Assign(assign) => {
            let Some(value) = non_empty_str(&assign.value) else {
                return;
            };
            for target in &assign.targets {
                password_target(checker, target, value, assign.value.range());
            }
        }
        Stmt::AnnAssign(assign) => {
            if let Some(value) = assign.value.as_deref() {
                if let Some(text) = non_empty_str(value) {
                    password_target(checker, &assign.target, text, value.range());
                }
            }
        }
        Stmt::FunctionDef(function) => {
            for parameter in function.parameters.iter_non_variadic_params() {
                let Some(default) = parameter.default.as_deref() else {
                    continue;
                };
                let Some(value) = non_empty_str(default) else {
                    continue;
                };
                let name = parameter.parameter.name.as_str();
                if is_password_name(name) {
                    checker.report(
                        RuleId::HardcodedPasswordDefault,
                        parameter.range(),
                        format!(
                            "possible hard-coded password: parameter `{name}` of `{}` defaults to {value:?}",
                            function.name.as_str()
                        ),
                    );
                }
            }
        }
        _ => {}
    }
}

pub fn on_expr(checker: &mut Checker, expr: &Expr) {
    match expr {
        Expr::StringLiteral(string) => {
            let value = &string.value;
            let Some(first) = value.iter().next() else { return };
            // STK108: quick reject on the first byte; the value is joined only when it must be.
            if first.as_str().starts_with('/') {
                let text = if first.len() >= 8 || !value.is_implicit_concatenated() {
                    first.as_str()
                } else {
                    value.to_str()
                };
                if let Some(dir) = tmp_dir_prefix(text) {
                    if !is_docstring(checker, expr) {
                        checker.report(
                            RuleId::HardcodedTmpDirectory,
                            string.range(),
                            format!("hard-coded path in the shared temporary directory {dir}: {text:?}"),
                        );
                    }
                }
            }
            // STK104
            let len = value.len();
            if (len == 7 || len == 2) && matches!(value.to_str(), "0.0.0.0" | "::") && !is_docstring(checker, expr) {
                checker.report(
                    RuleId::BindAllInterfaces,
                    string.range(),
                    format!("possible binding to all interfaces: {:?}", value.to_str()),
                );
            }
        }
        Expr::FString(fstring) => {
            // STK108 in the literal head of an f-string: f"/tmp/{name}".
            let head = match fstring.value.iter().next() {
                Some(FStringPart::Literal(literal)) => Some(literal.as_str()),
                Some(FStringPart::FString(f)) => match f.elements.first() {
                    Some(InterpolatedStringElement::Literal(literal)) => Some(&*literal.value),
                    _ => None,
                },
                None => None,
            };
            if let Some(head) = head {
                if let Some(dir) = tmp_dir_prefix(head) {
                    checker.report(
                        RuleId::HardcodedTmpDirectory,
                        fstring.range(),
                        format!("hard-coded path in the shared temporary directory {dir}: f-string {head:?}..."),
                    );
                }
            }
        }
        Expr::Compare(compare) => {
            // STK105: `password == "literal"` (either side of the first comparison).
            let (Some(op), Some(right)) = (compare.ops.first(), compare.comparators.first()) else {
                return;
            };
            if !matches!(op, CmpOp::Eq | CmpOp::NotEq | CmpOp::Is | CmpOp::IsNot) {
                return;
            }
            let left = &*compare.left;
            let found = match (target_name(left), non_empty_str(right)) {
                (Some(name), Some(value)) if is_password_name(name) => Some((name, value, right.range())),
                _ => match (non_empty_str(left), target_name(right)) {
                    (Some(value), Some(name)) if is_password_name(name) => Some((name, value, left.range())),
                    _ => None,
                },
            };
            if let Some((name, value, range)) = found {
                checker.report(
                    RuleId::HardcodedPasswordString,
                    range,
                    format!("possible hard-coded password: `{name}` compared with {value:?}"),
                );
            }
        }
        Expr::Dict(dict) => {
            // STK105: `{"password": "literal"}`.
            for item in &dict.items {
                let Some(key) = item.key.as_ref().and_then(non_empty_str) else {
                    continue;
                };
                if let Some(value) = non_empty_str(&item.value) {
                    if is_password_name(key) {
                        checker.report(
                            RuleId::HardcodedPasswordString,
                            item.value.range(),
                            format!("possible hard-coded password: dict key {key:?} = {value:?}"),
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

/// STK613: bidirectional control characters anywhere in the file (comments, strings, code).
pub fn on_source(checker: &mut Checker, _tokens: &Tokens) {
    let source = checker.source;
    if source.is_ascii() {
        return;
    }
    let bytes = source.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        // Every character the loop looks for starts with 0xE2 or 0xD8 (lead bytes, never inside
        // another character): jump from one such byte to the next.
        match memchr::memchr2(0xE2, 0xD8, &bytes[i..]) {
            Some(at) => i += at,
            None => break,
        }
        if i + 1 >= bytes.len() {
            break;
        }
        let width = match (bytes[i], bytes[i + 1]) {
            (0xE2, 0x80 | 0x81) if i + 2 < bytes.len() => 3,
            (0xD8, 0x9C) => 2,
            _ => {
                i += 1;
                continue;
            }
        };
        let Some(c) = source.get(i..i + width).and_then(|s| s.chars().next()) else {
            i += 1;
            continue;
        };
        if let Some(what) = bidi_name(c) {
            let start = TextSize::new(i as u32);
            checker.report(
                RuleId::TrojanSource,
                TextRange::at(start, TextSize::new(width as u32)),
                format!(
                    "bidirectional control character U+{:04X} ({what}): the code may read differently than it runs",
                    c as u32
                ),
            );
        }
        i += width;
    }
}

fn bidi_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{061C}' => "ARABIC LETTER MARK",
        _ => return None,
    })
}

/// `except:`, `except Exception:`, `except BaseException:`, or a tuple holding one of them.
fn catches_everything(type_: Option<&Expr>) -> bool {
    match type_ {
        None => true,
        Some(Expr::Name(name)) => matches!(name.id.as_str(), "Exception" | "BaseException"),
        Some(Expr::Attribute(attr)) => {
            matches!(attr.attr.as_str(), "Exception" | "BaseException")
                && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == "builtins")
        }
        Some(Expr::Tuple(tuple)) => tuple.elts.iter().any(|e| catches_everything(Some(e))),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Hard-coded passwords (STK105/106/107)

/// A non-empty string literal's value (Bandit's candidates; an empty string holds no password).
fn non_empty_str(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::StringLiteral(s) if !s.value.is_empty() => Some(s.value.to_str()),
        _ => None,
    }
}

/// The name a password could be stored under: a variable or an attribute (`self.password`).
fn target_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attr) => Some(attr.attr.as_str()),
        _ => None,
    }
}

fn password_target(checker: &mut Checker, target: &Expr, value: &str, range: TextRange) {
    match target {
        Expr::Name(_) | Expr::Attribute(_) => {
            let Some(name) = target_name(target) else { return };
            if is_password_name(name) {
                checker.report(
                    RuleId::HardcodedPasswordString,
                    range,
                    format!("possible hard-coded password: `{name}` = {value:?}"),
                );
            }
        }
        Expr::Subscript(subscript) => {
            if let Some(key) = non_empty_str(&subscript.slice) {
                if is_password_name(key) {
                    checker.report(
                        RuleId::HardcodedPasswordString,
                        range,
                        format!("possible hard-coded password: [{key:?}] = {value:?}"),
                    );
                }
            }
        }
        _ => {}
    }
}

/// Bandit's candidate names: `(^W$|_W_|^W_|_W$)` with W = `pas+wo?r?d|pass(phrase)?|pwd|token|secrete?`,
/// case-insensitive; that is, some `_`-separated word of the name is one of those words.
pub(crate) fn is_password_name(name: &str) -> bool {
    name.len() >= 3 && name.split('_').any(is_password_word)
}

fn is_password_word(word: &str) -> bool {
    let b = word.as_bytes();
    if b.len() < 3 || b.len() > 10 {
        return false;
    }
    for fixed in ["pwd", "token", "secret", "secrete", "pass", "passphrase"] {
        if word.eq_ignore_ascii_case(fixed) {
            return true;
        }
    }
    // pas+wo?r?d
    let lower = |i: usize| b.get(i).map(|c| c.to_ascii_lowercase());
    if lower(0) != Some(b'p') || lower(1) != Some(b'a') || lower(2) != Some(b's') {
        return false;
    }
    let mut i = 3;
    while lower(i) == Some(b's') {
        i += 1;
    }
    if lower(i) != Some(b'w') {
        return false;
    }
    i += 1;
    if lower(i) == Some(b'o') {
        i += 1;
    }
    if lower(i) == Some(b'r') {
        i += 1;
    }
    lower(i) == Some(b'd') && i + 1 == b.len()
}

// ---------------------------------------------------------------------------------------------
// Temporary directories, binds (STK104/STK108)

fn tmp_dir_prefix(text: &str) -> Option<&'static str> {
    ["/tmp", "/var/tmp", "/dev/shm"]
        .into_iter()
        .find(|dir| text.starts_with(dir))
}

/// Bandit does not look at strings that are a statement of their own (docstrings).
fn is_docstring(checker: &Checker, expr: &Expr) -> bool {
    matches!(checker.stmts.last(), Some(Stmt::Expr(stmt)) if stmt.value.range() == expr.range())
}

// ---------------------------------------------------------------------------------------------
// chmod (STK103)

const S_IWOTH: u64 = 0o2;
const S_IXOTH: u64 = 0o1;
const S_IWGRP: u64 = 0o20;
const S_IXGRP: u64 = 0o10;

fn chmod(checker: &mut Checker, call: &ExprCall, name: Option<&str>, last: &str) {
    let args = &call.arguments.args;
    let is_os = name.is_some_and(|n| n.starts_with("os.") || n.starts_with("posix."));
    // os.chmod(path, mode) and friends take the mode second; pathlib's Path.chmod(mode) first.
    let mode_expr = if args.len() >= 2 {
        &args[1]
    } else if let Some(mode) = util::keyword(call, "mode") {
        mode
    } else if args.len() == 1 && !is_os && matches!(&*call.func, Expr::Attribute(_)) {
        &args[0]
    } else {
        return;
    };
    let Some(mode) = eval_mode(checker, mode_expr, 0) else {
        return;
    };
    if mode & (S_IWOTH | S_IXOTH | S_IWGRP | S_IXGRP) == 0 {
        return;
    }
    let mut grants = Vec::new();
    if mode & S_IWOTH != 0 {
        grants.push("world-writable");
    }
    if mode & S_IXOTH != 0 {
        grants.push("world-executable");
    }
    if mode & S_IWGRP != 0 {
        grants.push("group-writable");
    }
    if mode & S_IXGRP != 0 {
        grants.push("group-executable");
    }
    let target = if args.len() >= 2 {
        checker.text(&args[0])
    } else {
        match &*call.func {
            Expr::Attribute(attr) => checker.text(&*attr.value),
            _ => "?",
        }
    };
    let callee = name.unwrap_or(last);
    let severity = if mode & S_IWOTH != 0 {
        Level::High
    } else {
        Level::Medium
    };
    let meta = RuleId::BadFilePermissions.meta();
    checker.report_with(
        RuleId::BadFilePermissions,
        call.range(),
        severity,
        meta.confidence,
        format!(
            "`{callee}` sets permissive mode {mode:#o} ({}) on `{target}`",
            grants.join(", ")
        ),
    );
}

/// The value of a mode expression: int literals and `stat.S_I*` constants combined with
/// `| & ^ + -` and `~`.
fn eval_mode(checker: &Checker, expr: &Expr, depth: usize) -> Option<u64> {
    if depth > 32 {
        return None;
    }
    match expr {
        Expr::NumberLiteral(_) => util::int_literal(expr),
        Expr::BinOp(binop) => {
            let left = eval_mode(checker, &binop.left, depth + 1)?;
            let right = eval_mode(checker, &binop.right, depth + 1)?;
            Some(match binop.op {
                Operator::BitOr => left | right,
                Operator::BitAnd => left & right,
                Operator::BitXor => left ^ right,
                Operator::Add => left.wrapping_add(right),
                Operator::Sub => left.wrapping_sub(right),
                _ => return None,
            })
        }
        Expr::UnaryOp(unary) if unary.op == UnaryOp::Invert => {
            eval_mode(checker, &unary.operand, depth + 1).map(|v| !v)
        }
        Expr::Name(_) | Expr::Attribute(_) => {
            let name = checker.qualified_name(expr)?;
            stat_constant(name.strip_prefix("stat.")?)
        }
        _ => None,
    }
}

fn stat_constant(name: &str) -> Option<u64> {
    Some(match name {
        "S_ISUID" => 0o4000,
        "S_ISGID" | "S_ENFMT" => 0o2000,
        "S_ISVTX" => 0o1000,
        "S_IRWXU" => 0o700,
        "S_IRUSR" | "S_IREAD" => 0o400,
        "S_IWUSR" | "S_IWRITE" => 0o200,
        "S_IXUSR" | "S_IEXEC" => 0o100,
        "S_IRWXG" => 0o70,
        "S_IRGRP" => 0o40,
        "S_IWGRP" => 0o20,
        "S_IXGRP" => 0o10,
        "S_IRWXO" => 0o7,
        "S_IROTH" => 0o4,
        "S_IWOTH" => 0o2,
        "S_IXOTH" => 0o1,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// requests/httpx timeouts (STK113)

const HTTP_VERBS: &[&str] = &["get", "options", "head", "post", "put", "patch", "delete"];

fn request_timeout(checker: &mut Checker, call: &ExprCall, name: &str, head: &str, last: &str) {
    let is_verb = HTTP_VERBS.contains(&last);
    let applies = match head {
        // `requests.request(method, url)` hangs just the same as `requests.get(url)`.
        "requests" => is_verb || last == "request",
        // httpx has a default timeout (5 s): only an explicit `timeout=None` turns it off.
        _ => is_verb || matches!(last, "request" | "stream" | "Client" | "AsyncClient"),
    };
    if !applies {
        return;
    }
    match util::keyword(call, "timeout") {
        Some(Expr::NoneLiteral(_)) => checker.report(
            RuleId::RequestWithoutTimeout,
            call.range(),
            format!("`{name}` with timeout=None can hang forever"),
        ),
        None if head == "requests" => {
            // `**kwargs` may carry a timeout: not provable either way, so not reported.
            if call.arguments.keywords.iter().any(|k| k.arg.is_none()) {
                return;
            }
            checker.report(
                RuleId::RequestWithoutTimeout,
                call.range(),
                format!("`{name}` without a timeout can hang forever"),
            );
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Flask debug (STK201)

fn flask_debug(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    if !matches!(&*call.func, Expr::Attribute(_)) {
        return;
    }
    let Some(debug) = call.arguments.find_keyword("debug") else {
        return;
    };
    if util::truthiness(&debug.value) != Some(true) {
        return;
    }
    // As Bandit: only in a module that imports something flask-like.
    if !source_imports(checker.source, |module| module.contains("flask")) {
        return;
    }
    let callee = name.map_or_else(|| format!("{}.run", receiver_text(checker, call)), str::to_string);
    // As Bandit, on the `debug=` argument's line.
    checker.report(
        RuleId::FlaskDebugTrue,
        debug.range(),
        format!("`{callee}(debug=True)` runs the Werkzeug debugger, which executes arbitrary code"),
    );
}

fn receiver_text<'a>(checker: &Checker<'a>, call: &ExprCall) -> &'a str {
    match &*call.func {
        Expr::Attribute(attr) => checker.text(&*attr.value),
        _ => "",
    }
}

/// Whether some `import`/`from` line of the source names a module that satisfies `pred`. A text
/// scan, used only on the rare path where a rule has matched and needs to know the file's imports.
fn source_imports(source: &str, pred: impl Fn(&str) -> bool) -> bool {
    source.lines().any(|line| {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("import ") {
            rest.split(',').any(|part| {
                let module = part.split_whitespace().next().unwrap_or("");
                pred(module.trim_matches(|c| c == '(' || c == ')'))
            })
        } else if let Some(rest) = line.strip_prefix("from ") {
            rest.split_whitespace().next().is_some_and(&pred)
        } else {
            false
        }
    })
}

// ---------------------------------------------------------------------------------------------
// tarfile extraction (STK202)

fn tar_extractall(checker: &mut Checker, call: &ExprCall) {
    // Is the receiver a tar archive? `tarfile.open(p).extractall()` says so directly;
    // `zipfile.ZipFile(p).extractall()` says otherwise; else, as Bandit, the module must import
    // tarfile.
    let mut direct = None;
    if let Expr::Attribute(attr) = &*call.func {
        if let Expr::Call(inner) = &*attr.value {
            if let Some(q) = checker.qualified_name(&inner.func) {
                direct = Some(q.starts_with("tarfile."));
            }
        }
    }
    let is_tar = match direct {
        Some(known) => known,
        None => source_imports(checker.source, |m| m == "tarfile" || m.starts_with("tarfile.")),
    };
    if !is_tar {
        return;
    }
    let receiver = receiver_text(checker, call);
    if let Some(filter) = util::keyword(call, "filter") {
        match filter_kind(checker, filter) {
            Filter::Safe => return,
            Filter::Unsafe => {
                checker.report(
                    RuleId::TarfileUnsafeMembers,
                    call.range(),
                    format!(
                        "`{receiver}.extractall` with filter={} trusts every member of the archive",
                        checker.text(filter)
                    ),
                );
                return;
            }
            Filter::Custom => {
                checker.report_with(
                    RuleId::TarfileUnsafeMembers,
                    call.range(),
                    Level::Low,
                    Level::Low,
                    format!(
                        "`{receiver}.extractall(filter={})`: make sure the filter rejects absolute paths, `..` and links",
                        checker.text(filter)
                    ),
                );
                return;
            }
            Filter::Default => {}
        }
    }
    if let Some(members) = util::keyword(call, "members") {
        let text = checker.text(members);
        if let Expr::Call(_) = members {
            checker.report_with(
                RuleId::TarfileUnsafeMembers,
                call.range(),
                Level::Low,
                Level::Low,
                format!("`{receiver}.extractall(members={text})`: make sure the function discards dangerous members"),
            );
        } else {
            checker.report_with(
                RuleId::TarfileUnsafeMembers,
                call.range(),
                Level::Medium,
                Level::Medium,
                format!("`{receiver}.extractall(members={text})`: check the members were validated"),
            );
        }
        return;
    }
    checker.report(
        RuleId::TarfileUnsafeMembers,
        call.range(),
        format!("`{receiver}.extractall` without a filter or member check can write outside the target"),
    );
}

enum Filter {
    /// `filter="data"`/`"tar"` or the matching tarfile functions: paths outside the target are refused.
    Safe,
    /// `filter="fully_trusted"`.
    Unsafe,
    /// `filter=None`: the interpreter's default.
    Default,
    /// Some other callable.
    Custom,
}

fn filter_kind(checker: &Checker, filter: &Expr) -> Filter {
    match filter {
        Expr::StringLiteral(s) => match s.value.to_str() {
            "data" | "tar" => Filter::Safe,
            _ => Filter::Unsafe,
        },
        Expr::NoneLiteral(_) => Filter::Default,
        Expr::Name(_) | Expr::Attribute(_) => match checker.qualified_name(filter).as_deref() {
            Some("tarfile.data_filter" | "tarfile.tar_filter") => Filter::Safe,
            Some("tarfile.fully_trusted_filter") => Filter::Unsafe,
            _ => Filter::Custom,
        },
        _ => Filter::Custom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_names_follow_bandit() {
        for yes in [
            "password",
            "PASSWORD",
            "db_password",
            "password_hint",
            "my_pass_value",
            "passwd",
            "paswd",
            "passwrd",
            "pwd",
            "user_pwd",
            "token",
            "api_token",
            "secret",
            "client_secrete",
            "passphrase",
            "PassWord",
        ] {
            assert!(is_password_name(yes), "{yes}");
        }
        for no in [
            "passwords",
            "mypassword",
            "passenger",
            "bypass",
            "tokenizer",
            "secretary",
            "compass",
            "pw",
            "",
            "passw",
            "api_key",
        ] {
            assert!(!is_password_name(no), "{no}");
        }
    }

    #[test]
    fn source_import_scan() {
        let src = "import os, tarfile as t\n";
        assert!(source_imports(src, |m| m == "tarfile"));
        assert!(source_imports("from flask import Flask\n", |m| m.contains("flask")));
        assert!(!source_imports("x = 'import tarfile'\n", |m| m == "tarfile"));
    }
}
