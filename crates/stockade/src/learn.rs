//! `stockade policy learn`: run a script with the guard in audit mode and turn what it did
//! (every event the base policy would have denied) into the smallest policy that allows it,
//! annotated for a person to review.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use stockade_jail::audit::Violation;
use stockade_jail::RunResult;

/// What the learned policy must add, by key.
#[derive(Default)]
struct Additions {
    imports: BTreeMap<String, String>,
    read: BTreeMap<String, String>,
    write: BTreeMap<String, String>,
    connect: BTreeMap<String, String>,
    bind: BTreeMap<String, String>,
    rules: BTreeMap<String, Vec<String>>,
}

/// The first `"..."` in `text`, unescaped.
fn quoted(text: &str) -> Option<String> {
    let start = text.find('"')?;
    let rest = &text[start..];
    let mut end = 1;
    let bytes = rest.as_bytes();
    while end < bytes.len() {
        match bytes[end] {
            b'\\' => end += 2,
            b'"' => break,
            _ => end += 1,
        }
    }
    serde_json::from_str(rest.get(..=end)?).ok()
}

fn note(v: &Violation) -> String {
    let args = v.args.iter().take(2).cloned().collect::<Vec<_>>().join(", ");
    let times = if v.count > 1 {
        format!(" ×{}", v.count)
    } else {
        String::new()
    };
    format!("{}({args}){times}", v.event)
}

fn collect(violations: &[Violation]) -> Additions {
    let mut add = Additions::default();
    for v in violations {
        match v.rule.as_str() {
            "guard.imports" => {
                if let Some(m) = quoted(&v.reason) {
                    add.imports.entry(m).or_insert_with(|| note(v));
                }
            }
            "guard.files.read" => {
                if let Some(p) = quoted(&v.reason) {
                    add.read.entry(p).or_insert_with(|| note(v));
                }
            }
            "guard.files.write" => {
                if let Some(p) = quoted(&v.reason) {
                    add.write.entry(p).or_insert_with(|| note(v));
                }
            }
            "guard.network.connect" | "guard.network.bind" => {
                let target = v.reason.split(" is not in ").next().unwrap_or("").to_string();
                let target = if target.contains(':') {
                    target
                } else {
                    format!("{target}:*")
                };
                let map = if v.rule.ends_with("bind") {
                    &mut add.bind
                } else {
                    &mut add.connect
                };
                map.entry(target).or_insert_with(|| note(v));
            }
            rule => {
                if let Some(class) = rule.strip_prefix("guard.rules.") {
                    add.rules.entry(class.to_string()).or_default().push(note(v));
                }
            }
        }
    }
    add
}

fn toml_list(out: &mut String, key: &str, items: &BTreeMap<String, String>) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{key} = [");
    for (item, why) in items {
        let _ = writeln!(out, "    {},  # {why}", serde_json::to_string(item).unwrap_or_default());
    }
    let _ = writeln!(out, "]");
}

/// Render the learned policy.
pub fn render(script: &str, extends: &str, result: &RunResult) -> String {
    let add = collect(&result.violations);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Learned by `stockade policy learn` from {script}: the run ended with status {}.",
        result.status.name()
    );
    let _ = writeln!(
        out,
        "# Each entry below is something the script did that the {extends:?} profile denies."
    );
    let _ = writeln!(
        out,
        "# Review every line before use: this is what the code did, not what it should be allowed to do."
    );
    let _ = writeln!(out, "version = 1");
    let _ = writeln!(out, "extends = {}", serde_json::to_string(extends).unwrap_or_default());
    if !add.imports.is_empty() {
        let _ = writeln!(out, "\n[guard.imports]");
        toml_list(&mut out, "allow", &add.imports);
    }
    if !add.read.is_empty() || !add.write.is_empty() {
        let _ = writeln!(out, "\n[guard.files]");
        toml_list(&mut out, "read", &add.read);
        toml_list(&mut out, "write", &add.write);
    }
    if !add.connect.is_empty() || !add.bind.is_empty() {
        let _ = writeln!(out, "\n[guard.network]");
        toml_list(&mut out, "connect", &add.connect);
        toml_list(&mut out, "bind", &add.bind);
    }
    if !add.rules.is_empty() {
        let _ = writeln!(out, "\n[guard.rules]");
        for (class, notes) in &add.rules {
            let mut shown: Vec<&String> = notes.iter().take(3).collect();
            shown.dedup();
            let more = if notes.len() > 3 {
                format!(" and {} more", notes.len() - 3)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{class} = \"allow\"  # {}{more}",
                shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
            );
        }
    }
    if result.violations.is_empty() {
        let _ = writeln!(
            out,
            "\n# The script did nothing the profile denies: the profile as it is allows it."
        );
    }
    out
}
