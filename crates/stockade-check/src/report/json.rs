//! JSON: a list of active findings (suppressed and baselined ones are left out).

use super::Summary;
use serde::Serialize;

#[derive(Serialize)]
struct JsonFinding<'a> {
    path: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    rule: &'static str,
    name: &'static str,
    severity: &'static str,
    confidence: &'static str,
    cwe: String,
    message: &'a str,
    bandit: &'static [&'static str],
    ruff: &'static [&'static str],
    fingerprint: String,
}

fn json_finding(f: &crate::Finding) -> JsonFinding<'_> {
    let meta = f.rule.meta();
    JsonFinding {
        path: &f.path,
        line: f.line,
        column: f.column,
        end_line: f.end_line,
        end_column: f.end_column,
        rule: meta.id,
        name: meta.name,
        severity: f.severity.as_str(),
        confidence: f.confidence.as_str(),
        cwe: format!("CWE-{}", meta.cwe),
        message: &f.message,
        bandit: meta.bandit,
        ruff: meta.ruff,
        fingerprint: crate::baseline::fingerprint(f),
    }
}

pub fn render(summary: &Summary) -> String {
    use rayon::prelude::*;
    // Thousands of findings: each is rendered (and fingerprinted) on its own, in parallel, as
    // `serde_json::to_string_pretty` renders an element of the list, then joined as it joins them.
    let elements: Vec<String> = summary
        .findings
        .par_iter()
        .filter(|f| f.is_active())
        .map(|f| {
            let one = [json_finding(f)];
            // `[\n  {...}\n]`: the element as it appears inside the list, indented one level.
            let list = serde_json::to_string_pretty(&one).unwrap_or_default();
            match list.strip_prefix("[\n").and_then(|l| l.strip_suffix("\n]")) {
                Some(element) => element.to_string(),
                None => list,
            }
        })
        .collect();
    if elements.is_empty() {
        return "[]\n".to_string();
    }
    let mut out = String::with_capacity(elements.iter().map(|e| e.len() + 2).sum::<usize>() + 4);
    out.push_str("[\n");
    for (i, element) in elements.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(element);
    }
    out.push_str("\n]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Finding, RuleId};

    #[test]
    fn joined_elements_are_what_serde_renders_for_the_list() {
        let mut findings: Vec<Finding> = (0..5)
            .map(|i| {
                let mut f = Finding::engine(RuleId::EvalUsage, "a\\b.py", "eval(x)  # \"q\"", "msg \u{e9}\n\t");
                f.line = i + 1;
                f
            })
            .collect();
        findings[2].baselined = true;
        let summary = |findings| Summary {
            findings,
            files_checked: 1,
            below_threshold: 0,
            prescreen: false,
            color: false,
        };
        let expected = |findings: &[Finding]| {
            let list: Vec<JsonFinding> = findings.iter().filter(|f| f.is_active()).map(json_finding).collect();
            serde_json::to_string_pretty(&list).unwrap() + "\n"
        };
        assert_eq!(render(&summary(&findings)), expected(&findings));
        assert_eq!(render(&summary(&findings[..1])), expected(&findings[..1]));
        assert_eq!(render(&summary(&findings[2..3])), "[]\n");
        assert_eq!(render(&summary(&[])), "[]\n");
    }
}
