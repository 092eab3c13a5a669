//! pip's requirements files: one requirement per line (PEP 508, with pip's per-requirement
//! options such as `--hash`), `\` continuations, `#` comments, `-r`/`-c` includes, and global
//! options (`--index-url`, …) that do not change what is installed.
//!
//! Environment markers are kept but not evaluated: the same file may be installed on another
//! platform or Python, so every pin in it is audited.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{Inventory, Location};
use crate::version;
use crate::Error;

/// Global options pip accepts in a requirements file that change where packages come from or how
/// they are built, not which versions are chosen. With a value (`-i URL`) or without.
const OPTIONS_WITH_VALUE: &[&str] = &[
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "--only-binary",
    "--no-binary",
    "--use-feature",
    "--config-settings",
    "--global-option",
];
const FLAG_OPTIONS: &[&str] = &["--no-index", "--pre", "--prefer-binary", "--require-hashes"];

pub(super) fn read(path: &Path, inv: &mut Inventory) -> Result<(), Error> {
    let mut reader = Reader {
        stack: Vec::new(),
        constraints: HashMap::new(),
        unpinned: Vec::new(),
    };
    reader.file(path, inv, false)?;
    // A requirement left open here but pinned by a constraints file is installed at that pin.
    for (name, spec, location) in reader.unpinned {
        match reader.constraints.get(&version::normalize_name(&name)) {
            Some((v, at)) => inv.pinned(&name, v, at.clone()),
            None => {
                let reason = if spec.is_empty() {
                    "unpinned (no version given)".to_string()
                } else {
                    format!("unpinned ({spec})")
                };
                inv.skip(&name, reason, location)
            }
        }
    }
    Ok(())
}

struct Reader {
    /// Files being read, to refuse an include cycle.
    stack: Vec<PathBuf>,
    /// Pins from `-c` files, by normalised name.
    constraints: HashMap<String, (String, Location)>,
    /// Requirements without a pin: (name, specifier, where).
    unpinned: Vec<(String, String, Location)>,
}

impl Reader {
    fn file(&mut self, path: &Path, inv: &mut Inventory, constraints: bool) -> Result<(), Error> {
        let canonical = path.canonicalize().map_err(|e| Error::io(path, e))?;
        if self.stack.contains(&canonical) {
            return Err(Error::malformed(path, None, "included from itself (an -r/-c cycle)"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        self.stack.push(canonical);
        for (line_no, line) in logical_lines(&text) {
            self.line(path, line_no, &line, inv, constraints)?;
        }
        self.stack.pop();
        Ok(())
    }

    fn line(
        &mut self,
        path: &Path,
        line_no: usize,
        line: &str,
        inv: &mut Inventory,
        constraints: bool,
    ) -> Result<(), Error> {
        let at = Location {
            file: path.to_path_buf(),
            line: Some(line_no),
        };
        let bad = |message: String| Error::malformed(path, Some(line_no), message);
        if line.starts_with('-') {
            let (option, value) = split_option(line);
            return match option {
                "-r" | "--requirement" | "-c" | "--constraint" => {
                    let value = value.ok_or_else(|| bad(format!("{option} needs a file name")))?;
                    let included = path.parent().unwrap_or(Path::new(".")).join(value);
                    let as_constraints = constraints || option == "-c" || option == "--constraint";
                    if !included.is_file() {
                        return Err(bad(format!("{option} {value}: no such file")));
                    }
                    self.file(&included, inv, as_constraints)
                }
                "-e" | "--editable" => {
                    let value = value.ok_or_else(|| bad(format!("{option} needs a path or URL")))?;
                    inv.skip(value, "editable (local or VCS source, not a release)", at);
                    Ok(())
                }
                o if OPTIONS_WITH_VALUE.contains(&o) => match value {
                    Some(_) => Ok(()),
                    None => Err(bad(format!("{o} needs a value"))),
                },
                o if FLAG_OPTIONS.contains(&o) => Ok(()),
                o => {
                    inv.warnings.push(format!(
                        "{at}: unknown option {o} (ignored; it may change what pip installs)"
                    ));
                    Ok(())
                }
            };
        }
        let req = parse_requirement(line).map_err(bad)?;
        match req {
            Requirement::NotNamed(what) => inv.skip(what.trim(), "a path or URL, not a named requirement", at),
            Requirement::Named { name, kind } => match kind {
                Pin::DirectReference => inv.skip(&name, "a direct reference (name @ URL), not a release", at),
                Pin::Exact(v) if constraints => {
                    self.constraints
                        .entry(version::normalize_name(&name))
                        .or_insert((v, at));
                }
                Pin::Exact(v) => inv.pinned(&name, &v, at),
                // An open constraint says nothing about what is installed.
                Pin::Open(_) if constraints => {}
                Pin::Open(spec) => self.unpinned.push((name, spec, at)),
            },
        }
        Ok(())
    }
}

/// `--opt=value`, `--opt value`, `-ovalue`, `-o value`.
fn split_option(line: &str) -> (&str, Option<&str>) {
    if let Some(rest) = line.strip_prefix("--") {
        let end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let option = &line[..end + 2];
        let value = rest[end..].trim_start_matches('=').trim();
        return (option, (!value.is_empty()).then_some(value));
    }
    // `-` and one character (which may be multi-byte in a broken file).
    let end = line.char_indices().nth(2).map_or(line.len(), |(i, _)| i);
    let option = &line[..end];
    let value = line[end..].trim();
    (option, (!value.is_empty()).then_some(value))
}

/// Physical lines joined at trailing backslashes, comments removed, blanks dropped; each with the
/// number of the line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
        }
        let line = strip_comment(raw);
        if let Some(body) = line.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let done = std::mem::take(&mut current);
        if !done.trim().is_empty() {
            out.push((start, done.trim().to_string()));
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_string()));
    }
    out
}

/// pip's rule: `#` starts a comment at the start of a line or after whitespace (so a URL fragment
/// `…#egg=x` is not one).
fn strip_comment(line: &str) -> &str {
    let line = line.trim_end_matches('\r');
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return line[..i].trim_end();
        }
        prev_space = c.is_whitespace();
    }
    line.trim_end()
}

enum Requirement<'a> {
    NotNamed(&'a str),
    Named { name: String, kind: Pin },
}

enum Pin {
    Exact(String),
    Open(String),
    DirectReference,
}

const OPERATORS: &[&str] = &["===", "==", "!=", "~=", "<=", ">=", "<", ">"];

/// A requirement line: `name[extras] specifiers ; marker  --hash=…`. Errors say what is wrong.
fn parse_requirement(line: &str) -> Result<Requirement<'_>, String> {
    // Per-requirement options start at the first ` --`; only `--hash` needs checking.
    let (req, options) = match line.find(" --") {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    check_hashes(options)?;
    let req = req.trim();
    let looks_like_path = req.starts_with('.')
        || req.starts_with('/')
        || req.starts_with('~')
        || req.contains("://")
        || req.starts_with("git+")
        || req.ends_with(".whl")
        || req.ends_with(".tar.gz")
        || req.ends_with(".zip");
    let name_end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(req.len());
    let name = &req[..name_end];
    if looks_like_path && !req[name_end..].trim_start().starts_with('@') {
        return Ok(Requirement::NotNamed(req));
    }
    if !version::is_valid_name(name) {
        return Err(format!("{req:?} is not a requirement (PEP 508 name expected)"));
    }
    let mut rest = req[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or("extras: `[` without `]`")?;
        for extra in after[..close].split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !version::is_valid_name(extra) {
                return Err(format!("extra {extra:?} is not a valid name"));
            }
        }
        rest = after[close + 1..].trim_start();
    }
    if let Some(url) = rest.strip_prefix('@') {
        if url.trim().is_empty() {
            return Err("`@` without a URL".into());
        }
        return Ok(Requirement::Named {
            name: name.to_string(),
            kind: Pin::DirectReference,
        });
    }
    let spec = match rest.find(';') {
        Some(i) => &rest[..i],
        None => rest,
    }
    .trim();
    let spec = spec
        .strip_prefix('(')
        .map(|s| s.strip_suffix(')').ok_or("specifier: `(` without `)`"))
        .transpose()?
        .unwrap_or(spec)
        .trim();
    let mut exact = None;
    if !spec.is_empty() {
        for clause in spec.split(',').map(str::trim) {
            let op = OPERATORS
                .iter()
                .find(|op| clause.starts_with(**op))
                .ok_or_else(|| format!("specifier {clause:?} has no comparison operator"))?;
            let v = clause[op.len()..].trim();
            if v.is_empty() {
                return Err(format!("specifier {clause:?} has no version"));
            }
            // `===` compares strings and may name a version PEP 440 cannot parse; the others are
            // PEP 440 specifiers, whose rules (`~=` needs two release numbers, `.*` only after
            // `==` and `!=`, no local version with `<`) pep440_rs applies.
            if *op == "===" {
                exact = Some(v.to_string());
                continue;
            }
            let parsed =
                pep440_rs::VersionSpecifier::from_str(clause).map_err(|e| format!("specifier {clause:?}: {e}"))?;
            if *parsed.operator() == pep440_rs::Operator::Equal {
                exact = Some(v.to_string());
            }
        }
    }
    Ok(Requirement::Named {
        name: name.to_string(),
        kind: match exact {
            Some(v) => Pin::Exact(v),
            None => Pin::Open(spec.to_string()),
        },
    })
}

/// `--hash=algo:hexdigest` (pip's form); anything else in that option is an error, because a
/// malformed hash makes pip refuse the file.
fn check_hashes(options: &str) -> Result<(), String> {
    let mut tokens = options.split_whitespace();
    while let Some(t) = tokens.next() {
        let value = if t == "--hash" {
            tokens.next().ok_or("--hash needs a value")?
        } else if let Some(v) = t.strip_prefix("--hash=") {
            v
        } else {
            continue;
        };
        let (algo, digest) = value
            .split_once(':')
            .ok_or_else(|| format!("--hash {value:?}: expected ALGORITHM:HEXDIGEST"))?;
        let len = match algo {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            other => return Err(format!("--hash {value:?}: pip does not accept the algorithm {other}")),
        };
        if digest.len() != len || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("--hash {value:?}: not a {algo} hex digest"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(line: &str) -> Option<String> {
        match parse_requirement(line).unwrap() {
            Requirement::Named {
                kind: Pin::Exact(v), ..
            } => Some(v),
            _ => None,
        }
    }

    #[test]
    fn pins_are_found_among_specifiers_extras_and_markers() {
        assert_eq!(pin("requests==2.28.1").as_deref(), Some("2.28.1"));
        assert_eq!(pin("requests [socks, security] == 2.28.1").as_deref(), Some("2.28.1"));
        assert_eq!(pin("pywin32==306 ; sys_platform == \"win32\"").as_deref(), Some("306"));
        assert_eq!(pin("Django>=4.2,==4.2.3").as_deref(), Some("4.2.3"));
        assert_eq!(pin("foo===1.0-weird").as_deref(), Some("1.0-weird"));
        assert_eq!(pin("foo (==1.0)").as_deref(), Some("1.0"));
        assert_eq!(pin("foo==1.0.*"), None);
        assert_eq!(pin("foo>=1.0"), None);
        assert_eq!(pin("foo"), None);
        assert_eq!(pin("foo~=1.4.2; python_version < '3.12'"), None);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (line, what) in [
            ("foo=1.0", "no comparison operator"),
            ("foo==", "no version"),
            ("foo==1..0", "1..0"),
            ("foo~=1", "~="),
            ("foo<=1.0.*", "1.0.*"),
            ("foo>=1.0+local", "local"),
            ("foo[bar", "without `]`"),
            ("foo[b ar]==1", "extra"),
            ("@@@", "PEP 508 name"),
            ("foo==1.0 --hash=md5:abc", "algorithm md5"),
            ("foo==1.0 --hash=sha256:abc", "not a sha256 hex digest"),
            ("foo==1.0 --hash=sha256", "ALGORITHM:HEXDIGEST"),
        ] {
            let err = parse_requirement(line)
                .err()
                .unwrap_or_else(|| panic!("{line:?} parsed"));
            assert!(err.contains(what), "{line:?}: {err}");
        }
    }

    #[test]
    fn options_split_on_characters() {
        assert_eq!(split_option("-rfoo.txt"), ("-r", Some("foo.txt")));
        assert_eq!(split_option("-r foo.txt"), ("-r", Some("foo.txt")));
        assert_eq!(
            split_option("--requirement=foo.txt"),
            ("--requirement", Some("foo.txt"))
        );
        assert_eq!(split_option("-é x"), ("-é", Some("x")));
        assert_eq!(split_option("-"), ("-", None));
    }

    #[test]
    fn comments_and_continuations() {
        let text = "# header\nfoo==1.0 \\\n    --hash=sha256:aaaa  # trailing\n\nbar @ https://x/y.whl#egg=bar\n";
        let lines = logical_lines(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, 2);
        assert!(lines[0].1.starts_with("foo==1.0"));
        assert_eq!(lines[1], (5, "bar @ https://x/y.whl#egg=bar".to_string()));
    }
}
