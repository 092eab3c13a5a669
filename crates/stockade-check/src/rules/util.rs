//! Small questions rules ask about nodes.

use ruff_python_ast::{Expr, ExprCall, Number};

/// The value of a string literal (implicit concatenation joined), or None.
pub fn str_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::StringLiteral(s) => Some(s.value.to_str()),
        _ => None,
    }
}

/// Whether an expression is a literal constant (string, bytes, number, bool, None, ...), or a
/// tuple/list of them: something the author wrote, not data that arrives at run time.
pub fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::StringLiteral(_)
        | Expr::BytesLiteral(_)
        | Expr::NumberLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NoneLiteral(_)
        | Expr::EllipsisLiteral(_) => true,
        Expr::Tuple(t) => t.elts.iter().all(is_literal),
        Expr::List(l) => l.elts.iter().all(is_literal),
        _ => false,
    }
}

/// `Some(true)` for `True` (and non-zero ints), `Some(false)` for `False`/`0`/`None`, else None.
pub fn truthiness(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::BooleanLiteral(b) => Some(b.value),
        Expr::NoneLiteral(_) => Some(false),
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => Some(i.as_u64() != Some(0)),
            _ => None,
        },
        _ => None,
    }
}

/// An integer literal's value.
pub fn int_literal(expr: &Expr) -> Option<u64> {
    match expr {
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => i.as_u64(),
            _ => None,
        },
        _ => None,
    }
}

/// The value of keyword argument `name`.
pub fn keyword<'a>(call: &'a ExprCall, name: &str) -> Option<&'a Expr> {
    call.arguments.find_keyword(name).map(|k| &k.value)
}

/// The argument passed as keyword `name` or at position `position`.
pub fn argument<'a>(call: &'a ExprCall, name: &str, position: usize) -> Option<&'a Expr> {
    call.arguments.find_argument_value(name, position)
}

/// The last segment of a dotted name (`a.b.c` → `c`).
pub fn last_segment(name: &str) -> &str {
    // Hot (several rule groups ask on every call, and names are short): a plain byte loop, which
    // beats a vectorised search's set-up on a dozen bytes.
    match name.bytes().rposition(|b| b == b'.') {
        Some(dot) => &name[dot + 1..],
        None => name,
    }
}

/// The first segment of a dotted name (`a.b.c` → `a`).
pub fn head_segment(name: &str) -> &str {
    split_head(name).0
}

/// A dotted name split at its first dot (`a.b.c` → (`a`, `b.c`)); (`name`, ``) without a dot.
pub fn split_head(name: &str) -> (&str, &str) {
    match name.bytes().position(|b| b == b'.') {
        Some(dot) => (&name[..dot], &name[dot + 1..]),
        None => (name, ""),
    }
}

/// Whether `needle` occurs in `haystack`: for the short names rules look at, comparing windows
/// of a length known at compile time is cheaper than setting up `str::contains`'s searcher.
pub fn contains_short<const N: usize>(haystack: &str, needle: &[u8; N]) -> bool {
    N == 0 || haystack.as_bytes().windows(N).any(|w| w[0] == needle[0] && w == needle)
}

/// The attribute name of a method call (`x.execute(...)` → `execute`).
pub fn method_name(call: &ExprCall) -> Option<&str> {
    match &*call.func {
        Expr::Attribute(a) => Some(a.attr.as_str()),
        _ => None,
    }
}

/// Whether a name looks like it holds a secret (password, token, api key, ...). Word-based, so
/// `password_hint` matches but `passenger` does not.
pub fn is_secret_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "api_key",
        "private_key",
        "privkey",
        "credential",
        "credentials",
        "auth_token",
        "access_key",
        "secret_key",
    ];
    let lower = name.to_ascii_lowercase();
    let lower = lower.trim_matches('_');
    WORDS.iter().any(|w| {
        lower == *w
            || lower.ends_with(&format!("_{w}"))
            || lower.starts_with(&format!("{w}_"))
            || lower.contains(&format!("_{w}_"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_short_search() {
        assert_eq!(last_segment("a.b.c"), "c");
        assert_eq!(last_segment("abc"), "abc");
        assert_eq!(last_segment("a."), "");
        assert_eq!(head_segment("a.b.c"), "a");
        assert_eq!(head_segment("abc"), "abc");
        assert_eq!(split_head("a.b.c"), ("a", "b.c"));
        assert_eq!(split_head("abc"), ("abc", ""));
        assert_eq!(split_head(".x"), ("", "x"));
        for h in ["fchmod", "chmod", "chmo", "", "chmodx", "cchmod"] {
            assert_eq!(contains_short(h, b"chmod"), h.contains("chmod"), "{h}");
        }
        assert!(contains_short("aab", b"ab"));
        assert!(contains_short("x", b""));
    }

    #[test]
    fn secret_names() {
        for yes in [
            "password",
            "db_password",
            "PASSWORD",
            "api_key",
            "secret",
            "auth_token",
            "user_pass",
            "_pwd",
        ] {
            assert!(is_secret_name(yes), "{yes}");
        }
        for no in ["passenger", "compass", "tokenizer", "bypass", "keyboard", "secretary"] {
            assert!(!is_secret_name(no), "{no}");
        }
    }
}
