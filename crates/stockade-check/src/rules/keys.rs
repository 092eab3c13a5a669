//! STK819 hardcoded-signing-key: a string literal used as the key that signs or encrypts —
//! `jwt.encode(payload, "secret")`, `jwt.decode(token, KEY)` with `KEY = "..."` at module level,
//! `Fernet(b"...")`, `hmac.new(b"key", ...)`, itsdangerous serializers and signers. Found by use,
//! whatever the variable is called (STK105–STK107 find secrets by name).

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::Ranged;

/// The argument that is the key: its position and keyword, for a callee by qualified name.
fn key_argument(name: &str) -> Option<(usize, &'static str, &'static str)> {
    let found = match name {
        "jwt.encode" | "jwt.decode" | "jwt.api_jwt.encode" | "jwt.api_jwt.decode" => (1, "key", "a JWT"),
        "jose.jwt.encode" | "jose.jwt.decode" => (1, "key", "a JWT"),
        "cryptography.fernet.Fernet" => (0, "key", "Fernet encryption"),
        "hmac.new" | "hmac.digest" => (0, "key", "an HMAC"),
        _ => {
            let last = util::last_segment(name);
            let itsdangerous = name.starts_with("itsdangerous.")
                && matches!(
                    last,
                    "Serializer"
                        | "URLSafeSerializer"
                        | "URLSafeTimedSerializer"
                        | "TimedSerializer"
                        | "JSONWebSignatureSerializer"
                        | "Signer"
                        | "TimestampSigner"
                );
            if !itsdangerous {
                return None;
            }
            (0, "secret_key", "an itsdangerous signature")
        }
    };
    Some(found)
}

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    let Some(name) = name else { return };
    let Some((position, keyword, what)) = key_argument(name) else {
        return;
    };
    let Some(key) = util::argument(call, keyword, position) else {
        return;
    };
    let Some(shown) = literal_key(checker, key) else {
        return;
    };
    checker.report(
        RuleId::HardcodedSigningKey,
        key.range(),
        format!(
            "{shown} is the key of {what} in `{name}`: anyone with the source can forge or read what it protects; \
             load the key from the environment or a secret store"
        ),
    );
}

/// How a key that is written in the source is shown: the literal itself (not its text), or the
/// module-level name bound to one.
fn literal_key(checker: &Checker, key: &Expr) -> Option<String> {
    match key {
        Expr::StringLiteral(_) | Expr::BytesLiteral(_) => Some("a literal".to_string()),
        Expr::Name(n) => {
            let id = n.id.as_str();
            let bound = checker.module.iter().rev().find_map(|stmt| match stmt {
                Stmt::Assign(a)
                    if a.targets
                        .iter()
                        .any(|t| matches!(t, Expr::Name(t) if t.id.as_str() == id)) =>
                {
                    Some(&*a.value)
                }
                Stmt::AnnAssign(a) if matches!(&*a.target, Expr::Name(t) if t.id.as_str() == id) => a.value.as_deref(),
                _ => None,
            })?;
            matches!(bound, Expr::StringLiteral(_) | Expr::BytesLiteral(_)).then(|| format!("`{id}`, a literal,"))
        }
        // `app.config["SECRET"]` after `app.config["SECRET"] = "..."` at the top level.
        Expr::Subscript(_) | Expr::Attribute(_) => {
            let text = checker.text(key);
            let bound = checker.module.iter().rev().find_map(|stmt| match stmt {
                Stmt::Assign(a) if a.targets.iter().any(|t| checker.text(t) == text) => Some(&*a.value),
                _ => None,
            })?;
            matches!(bound, Expr::StringLiteral(_) | Expr::BytesLiteral(_)).then(|| format!("`{text}`, a literal,"))
        }
        // `"secret".encode()`.
        Expr::Call(c) if c.arguments.is_empty() => match &*c.func {
            Expr::Attribute(a) if a.attr.as_str() == "encode" => literal_key(checker, &a.value),
            _ => None,
        },
        _ => None,
    }
}
