//! Human-readable output with a code frame per finding.

use super::Summary;
use std::fmt::Write;

pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let (bold, red, yellow, blue, reset) = if summary.color {
        ("\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    let mut suppressed = 0;
    let mut baselined = 0;
    let mut shown = 0;
    for f in summary.findings {
        if f.suppression.is_some() {
            suppressed += 1;
            continue;
        }
        if f.baselined {
            baselined += 1;
            continue;
        }
        shown += 1;
        let meta = f.rule.meta();
        let colour = match f.severity {
            crate::Level::High => red,
            crate::Level::Medium => yellow,
            crate::Level::Low => blue,
        };
        let _ = writeln!(
            out,
            "{bold}{}:{}:{}{reset}: {colour}{}{reset} {bold}{}{reset} [severity {}, confidence {}] {}",
            f.path,
            f.line,
            f.column,
            meta.id,
            meta.name,
            f.severity.as_str(),
            f.confidence.as_str(),
            f.message
        );
        let number = f.line.to_string();
        let pad = " ".repeat(number.len());
        let text = f.line_text.replace('\t', " ");
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{number} | {text}");
        let width = if f.end_line == f.line {
            f.end_column.saturating_sub(f.column).max(1)
        } else {
            text.chars().count().saturating_sub(f.column - 1).max(1)
        };
        let _ = writeln!(
            out,
            "{pad} | {}{colour}{}{reset}",
            " ".repeat(f.column - 1),
            "^".repeat(width)
        );
        let mut aliases: Vec<&str> = meta.bandit.iter().chain(meta.ruff.iter()).copied().collect();
        aliases.dedup();
        let also = if aliases.is_empty() {
            String::new()
        } else {
            format!(" · also {}", aliases.join(", "))
        };
        let _ = writeln!(out, "{pad} = CWE-{}{also} · {}", meta.cwe, meta.summary);
        out.push('\n');
    }
    let verdict = if summary.prescreen {
        if shown == 0 {
            "accepted".to_string()
        } else {
            format!("refused ({shown} reason{})", plural(shown))
        }
    } else {
        format!("{shown} finding{}", plural(shown))
    };
    let _ = write!(
        out,
        "{bold}{verdict}{reset} in {} file{}",
        summary.files_checked,
        plural(summary.files_checked)
    );
    let mut notes = Vec::new();
    if suppressed > 0 {
        notes.push(format!("{suppressed} suppressed"));
    }
    if baselined > 0 {
        notes.push(format!("{baselined} in the baseline"));
    }
    if summary.below_threshold > 0 {
        notes.push(format!("{} below the thresholds", summary.below_threshold));
    }
    if !notes.is_empty() {
        let _ = write!(out, " ({})", notes.join(", "));
    }
    out.push('\n');
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
