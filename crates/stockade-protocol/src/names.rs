//! Names that cross the boundary: file names (given to a run, or returned by it) and input
//! names. The same rules apply in both directions; a run that forges its answer cannot return
//! `../../etc/cron.d/x` any more than a caller can send it.

/// Longest file name (bytes), and longest component.
pub const MAX_FILE_NAME: usize = 1024;
const MAX_COMPONENT: usize = 255;
/// Longest input name.
pub const MAX_INPUT_NAME: usize = 128;

/// Python's keywords (3.9–3.13, soft keywords excluded: they are valid names).
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {name:?} {why}")]
pub struct NameError {
    /// `file name` or `input name`.
    pub what: &'static str,
    /// The name, as given (escaped by `Debug`).
    pub name: String,
    /// What is wrong with it.
    pub why: String,
}

fn refuse(what: &'static str, name: &str, why: impl Into<String>) -> NameError {
    NameError {
        what,
        name: name.chars().take(200).collect(),
        why: why.into(),
    }
}

/// A relative file name in the scratch (or under `out/`): `a/b.txt`. Refused: empty, absolute,
/// `.`/`..`/empty components, NUL or other control characters, backslashes, over-long names.
pub fn check_file_name(name: &str) -> Result<(), NameError> {
    let bad = |why: &str| Err(refuse("file name", name, why));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_FILE_NAME {
        return bad(&format!("is longer than {MAX_FILE_NAME} bytes"));
    }
    if name.starts_with('/') {
        return bad("must be relative (it starts with '/')");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    if name.contains('\\') {
        return bad("contains a backslash");
    }
    for part in name.split('/') {
        match part {
            "" => return bad("has an empty component (//, or a trailing /)"),
            "." | ".." => return bad("has a '.' or '..' component"),
            p if p.len() > MAX_COMPONENT => return bad(&format!("has a component longer than {MAX_COMPONENT} bytes")),
            _ => {}
        }
    }
    Ok(())
}

/// An input name: a Python identifier (ASCII letters, digits and `_`, not starting with a
/// digit), not a keyword, and not a dunder name (`__builtins__`, `__name__`, ... would replace
/// what the runtime relies on).
pub fn check_input_name(name: &str) -> Result<(), NameError> {
    let bad = |why: &str| Err(refuse("input name", name, why));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_INPUT_NAME {
        return bad(&format!("is longer than {MAX_INPUT_NAME} characters"));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return bad("is not a Python identifier (ASCII letters, digits and _, not starting with a digit)");
    }
    if KEYWORDS.contains(&name) {
        return bad("is a Python keyword");
    }
    if name.len() > 4 && name.starts_with("__") && name.ends_with("__") {
        return bad("is reserved (names of the form __x__ belong to the runtime)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        for ok in ["a", "a/b.txt", "dir/sub/x.py", "ünï code.txt", ".hidden", "a..b"] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            ".",
            "a/./b",
            "a\0b",
            "a\nb",
            "a\\b",
            &"x".repeat(2000),
            &format!("{}/y", "x".repeat(300)),
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
        let e = check_file_name("../../etc/cron.d/pwn").unwrap_err();
        assert_eq!(
            e.to_string(),
            "file name \"../../etc/cron.d/pwn\" has a '.' or '..' component"
        );
    }

    #[test]
    fn input_names() {
        for ok in ["x", "_x", "data_2", "__x", "x__", "match", "_"] {
            assert!(check_input_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2x",
            "a-b",
            "a b",
            "class",
            "None",
            "__builtins__",
            "__name__",
            "__file__",
            "über",
            "x\0",
        ] {
            assert!(check_input_name(bad).is_err(), "{bad:?}");
        }
    }
}
