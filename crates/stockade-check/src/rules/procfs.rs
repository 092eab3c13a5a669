//! STK908 other-process-access (pre-screen): code that names `/proc/self/mem`, or any entry of a
//! process by its id (`/proc/1/environ`, `/proc/<pid>/mem`), or builds a path under `/proc` whose
//! process part is computed at run time (`f"/proc/{pid}/mem"`, `"/proc/%d/maps" % pid`,
//! `os.path.join("/proc", str(pid), "mem")`, `Path("/proc") / pid / "mem"`, a glob over
//! `/proc/*/cmdline`). `/proc/self/mem` writes through page protections; other processes' entries
//! read their memory, environment and command lines.
//!
//! What ordinary programs read stays allowed: system-wide entries (`/proc/meminfo`,
//! `/proc/cpuinfo`, `/proc/loadavg`) and the process's own entries other than its memory
//! (`/proc/self/status`, `/proc/self/statm`, `/proc/self/fd`).
//!
//! A path is judged from its text, with every part not known before the run written as `{}`:
//! string literals as they are, f-strings with their fields, `+` chains of literals and values,
//! `os.path.join`/`Path(...)`/`joinpath`/`/` with literal and computed parts, and `sep.join([...])`
//! of literals. `%`- and `{}`-placeholders in a literal count as computed parts.

use crate::checker::Checker;
use crate::registry::RuleId;
use ruff_python_ast::{self as ast, Expr, InterpolatedStringElement, Operator};
use ruff_text_size::{Ranged, TextRange};

/// Part of a path whose text is not known before the run.
const HOLE: &str = "{}";

pub fn on_expr(checker: &mut Checker, expr: &Expr) {
    if !checker.enabled(RuleId::OtherProcessAccess) {
        return;
    }
    let text = match expr {
        Expr::StringLiteral(s) => {
            let text = s.value.to_str();
            if !text.contains("proc") {
                return;
            }
            text.to_string()
        }
        Expr::BytesLiteral(b) => {
            let bytes: Vec<u8> = b.value.iter().flat_map(|p| p.value.iter().copied()).collect();
            if memchr::memmem::find(&bytes, b"proc").is_none() {
                return;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Expr::FString(f) => {
            let mut text = String::new();
            for part in f.value.iter() {
                match part {
                    ast::FStringPart::Literal(l) => text.push_str(&l.value),
                    ast::FStringPart::FString(fs) => {
                        for element in fs.elements.iter() {
                            match element {
                                InterpolatedStringElement::Literal(l) => text.push_str(&l.value),
                                InterpolatedStringElement::Interpolation(_) => text.push_str(HOLE),
                            }
                        }
                    }
                }
            }
            text
        }
        Expr::BinOp(b) if matches!(b.op, Operator::Add | Operator::Div) => {
            let mut text = String::new();
            if !path_text(checker, expr, &mut text, 0) || !text.contains("proc") {
                return;
            }
            text
        }
        Expr::Call(call) if may_join(&call.func) => {
            let mut text = String::new();
            if !joined_text(checker, call, &mut text, 0) || !text.contains("proc") {
                return;
            }
            text
        }
        _ => return,
    };
    if let Some(why) = refusal(&text) {
        report(checker, expr.range(), &text, why);
    }
}

fn report(checker: &mut Checker, range: TextRange, text: &str, why: &str) {
    // An enclosing `+` chain and its inner links name the same path: one finding per place.
    let index = checker.index();
    let (line, column) = index.line_col(checker.source, range.start());
    if checker
        .findings
        .iter()
        .any(|f| f.rule == RuleId::OtherProcessAccess && f.line == line && f.column <= column && f.end_column > column)
    {
        return;
    }
    let shown: String = text.chars().take(60).collect();
    checker.report(RuleId::OtherProcessAccess, range, format!("the path `{shown}` {why}"));
}

/// Whether a callee may be one [`joined_text`] reads (checked before resolving its name).
fn may_join(func: &Expr) -> bool {
    let last = match func {
        Expr::Name(n) => n.id.as_str(),
        Expr::Attribute(a) => a.attr.as_str(),
        _ => return false,
    };
    matches!(
        last,
        "join" | "joinpath" | "Path" | "PurePath" | "PosixPath" | "PurePosixPath" | "str" | "fspath"
    )
}

/// Appends the text of a path expression: literals as written, anything else as [`HOLE`].
/// Returns whether any part is a literal (a text of holes only is not worth judging).
fn path_text(checker: &Checker, expr: &Expr, out: &mut String, depth: usize) -> bool {
    if depth > 64 {
        out.push_str(HOLE);
        return false;
    }
    match expr {
        Expr::StringLiteral(s) => {
            out.push_str(s.value.to_str());
            true
        }
        Expr::BinOp(b) if b.op == Operator::Add => {
            let left = path_text(checker, &b.left, out, depth + 1);
            let right = path_text(checker, &b.right, out, depth + 1);
            left || right
        }
        Expr::BinOp(b) if b.op == Operator::Div => {
            let left = path_text(checker, &b.left, out, depth + 1);
            out.push('/');
            let right = path_text(checker, &b.right, out, depth + 1);
            left || right
        }
        Expr::Call(call) if may_join(&call.func) => {
            let len = out.len();
            if joined_text(checker, call, out, depth + 1) {
                return true;
            }
            out.truncate(len);
            out.push_str(HOLE);
            false
        }
        _ => {
            out.push_str(HOLE);
            false
        }
    }
}

/// `os.path.join(a, b)`, `Path(a, b)`, `p.joinpath(b)`, `"/".join([a, b])`, `str(p)`: the joined
/// text. Returns false (and appends nothing) for any other call.
fn joined_text(checker: &Checker, call: &ast::ExprCall, out: &mut String, depth: usize) -> bool {
    let args = &call.arguments.args;
    let name = checker.qualified_name(&call.func);
    let joins = name.as_deref().is_some_and(|n| {
        matches!(
            n,
            "os.path.join"
                | "posixpath.join"
                | "pathlib.Path"
                | "pathlib.PurePath"
                | "pathlib.PosixPath"
                | "pathlib.PurePosixPath"
                | "Path"
                | "PurePath"
        )
    });
    if joins && !args.is_empty() {
        let mut any = false;
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            any |= path_text(checker, arg, out, depth + 1);
        }
        return any;
    }
    match (&*call.func, name.as_deref()) {
        (_, Some("str" | "os.fspath")) if args.len() == 1 => path_text(checker, &args[0], out, depth + 1),
        (Expr::Attribute(a), _) if a.attr.as_str() == "joinpath" => {
            let mut any = path_text(checker, &a.value, out, depth + 1);
            for arg in args {
                out.push('/');
                any |= path_text(checker, arg, out, depth + 1);
            }
            any
        }
        (Expr::Attribute(a), _) if a.attr.as_str() == "join" && args.len() == 1 => {
            let (
                Expr::StringLiteral(sep),
                Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }),
            ) = (&*a.value, &args[0])
            else {
                return false;
            };
            let sep = sep.value.to_str();
            let mut any = false;
            for (i, elt) in elts.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                any |= path_text(checker, elt, out, depth + 1);
            }
            any
        }
        _ => false,
    }
}

/// Why a path text is refused: the first `/proc/` path in it that names process memory or another
/// process's entry, or leaves the process to run time.
pub fn refusal(text: &str) -> Option<&'static str> {
    let mut from = 0;
    while let Some(at) = text[from..].find("proc") {
        let start = from + at;
        from = start + 4;
        // `proc` must be the first segment of a path (`/proc`, `//proc`, `/./proc`,
        // `file:///proc`), not a directory of that name elsewhere (`/usr/proc`).
        let lead = text[..start].trim_end_matches(['/', '.']);
        if lead.len() == start
            || lead
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
        {
            continue;
        }
        let rest = &text[start + 4..];
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue;
        }
        let segments: Vec<&str> = rest
            .split('/')
            .take_while(|s| !s.contains([' ', '\n', '\'', '"', ',', ';']))
            .filter(|s| !s.is_empty() && *s != ".")
            .take(5)
            .collect();
        if let Some(why) = judge(&segments) {
            return Some(why);
        }
    }
    None
}

fn is_computed(segment: &str) -> bool {
    segment.contains(['{', '}', '%', '*', '?', '['])
}

fn is_pid(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

fn judge(segments: &[&str]) -> Option<&'static str> {
    let &process = segments.first()?;
    if is_pid(process) {
        return Some("names another process's /proc entry by its id");
    }
    if is_computed(process) {
        return Some("is built at run time under /proc: another process's entries");
    }
    if !matches!(process, "self" | "thread-self" | "curproc") {
        return None; // a system-wide entry (meminfo, cpuinfo, loadavg, ...)
    }
    let &entry = segments.get(1)?;
    let entry = if entry == "task" {
        match (segments.get(2), segments.get(3)) {
            (Some(tid), _) if is_computed(tid) => return Some("is built at run time under /proc/self/task"),
            (Some(_), Some(e)) => *e,
            _ => return None,
        }
    } else {
        entry
    };
    if entry == "mem" {
        return Some("is the process's own memory (/proc/self/mem writes through page protections)");
    }
    if is_computed(entry) {
        return Some("is an entry of /proc/self chosen at run time (it could be `mem`)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn paths() {
        for refused in [
            "/proc/self/mem",
            "//proc//self/./mem",
            "/proc/thread-self/mem",
            "/proc/self/task/12/mem",
            "/proc/1/environ",
            "/proc/1234/mem",
            "/proc/{}/mem",
            "/proc/%d/maps",
            "/proc/{pid}/cmdline",
            "/proc/*/cmdline",
            "/proc/[0-9]*/status",
            "/proc/{}",
            "/proc/self/{}",
            "file:///proc/self/mem",
            "cat /proc/1/environ",
        ] {
            assert!(refusal(refused).is_some(), "{refused}");
        }
        for allowed in [
            "/proc/meminfo",
            "/proc/cpuinfo",
            "/proc/loadavg",
            "/proc/self/status",
            "/proc/self/statm",
            "/proc/self/fd",
            "/proc",
            "/proc/",
            "process/1/mem",
            "/procedures/1",
            "/usr/proc/1",
            "the proc is done",
            "/proc/self/memory_usage",
        ] {
            assert!(refusal(allowed).is_none(), "{allowed}");
        }
    }
}
