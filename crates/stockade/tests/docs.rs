//! Docs that tests hold to the code: docs/pipeline.md lists the jail's setup steps in the order
//! `child.rs` runs them, and docs/result.md documents every field and status of the result
//! document (and nothing the document does not have).

use std::collections::BTreeSet;

mod common;

fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Consecutive duplicates removed.
fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

#[test]
fn pipeline_md_follows_the_order_of_child_rs() {
    let code = std::fs::read_to_string(common::repo().join("crates/stockade-jail/src/child.rs")).unwrap();
    let start = code.find("fn enter(").expect("enter");
    let end = code.find("/// Init: reap everything").expect("init_reap");
    let body = &code[start..end];
    let mut in_code = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("Step::") {
        rest = &rest[i + 6..];
        let name: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
        in_code.push(kebab(&name));
    }
    let in_code = dedup(in_code);
    let doc = std::fs::read_to_string(common::repo().join("docs/pipeline.md")).unwrap();
    let jail = &doc[doc.find("## Jail side").unwrap()..doc.find("## Supervision").unwrap()];
    let mut in_doc = Vec::new();
    let mut rest = jail;
    while let Some(i) = rest.find("** (`") {
        rest = &rest[i + 5..];
        in_doc.push(rest.chars().take_while(|c| *c != '`').collect::<String>());
    }
    assert_eq!(
        dedup(in_doc),
        in_code,
        "docs/pipeline.md's jail-side steps (the `(step)` after each bold title) are not in child.rs's order"
    );
}

#[test]
fn result_md_documents_every_field_and_status() {
    let doc = std::fs::read_to_string(common::repo().join("docs/result.md")).unwrap();
    // A full document, as the code writes it.
    let mut r = stockade_protocol::RunResult::not_run(stockade_protocol::Status::Ok, None, None);
    r.limits = Some(stockade_protocol::result::AppliedLimits {
        wall_time_ms: 0,
        cpu_time_ms: 0,
        memory_bytes: 0,
        processes: 0,
        file_size_bytes: 0,
        scratch_bytes: 0,
        open_files: 0,
        output_bytes: 0,
        memory_mechanism: String::new(),
        processes_mechanism: String::new(),
        cpu_mechanism: String::new(),
    });
    r.isolation = Some(stockade_protocol::result::Isolation {
        degraded: false,
        layers: Vec::new(),
    });
    r.answer = Some(stockade_protocol::result::Answer::error("x", "y"));
    r.prescreen = Some(serde_json::json!([]));
    r.network = Some(stockade_protocol::result::NetworkUse {
        flows: vec![stockade_protocol::result::Flow {
            host: String::new(),
            port: 0,
            address: None,
            method: String::new(),
            decision: String::new(),
            rule: String::new(),
            reason: String::new(),
            bytes_up: 0,
            bytes_down: 0,
            start_ms: 0,
            duration_ms: 0,
        }],
        ..Default::default()
    });
    r.calls = vec![stockade_protocol::calls::CallRecord {
        name: String::new(),
        call_bytes: 0,
        reply_bytes: 0,
        start_ms: 0,
        duration_ms: 0,
        outcome: String::new(),
    }];
    let value = serde_json::to_value(&r).unwrap();
    let top: BTreeSet<String> = value.as_object().unwrap().keys().cloned().collect();
    // Every key of the document is a row of the field table (`key` in its first cell).
    let table = &doc[doc.find("| key |").unwrap()..doc.find("## Status").unwrap()];
    let documented: BTreeSet<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .flat_map(|l| {
            let cell = l.split(" |").next().unwrap_or("");
            cell.split(", ")
                .map(|k| k.trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(top, documented, "docs/result.md's field table vs the result document");
    for key in value["calls"][0].as_object().unwrap().keys() {
        assert!(
            table.contains(&format!("`{key}`")),
            "docs/result.md does not mention calls[].{key}"
        );
    }
    for key in value["network"]["flows"][0].as_object().unwrap().keys() {
        assert!(
            table.contains(&format!("`{key}`")),
            "docs/result.md does not mention network.flows[].{key}"
        );
    }
    for nested in ["usage", "limits", "answer", "network"] {
        for key in value[nested].as_object().unwrap().keys() {
            assert!(
                table.contains(&format!("`{key}`")),
                "docs/result.md does not mention {nested}.{key}"
            );
        }
    }
    // Every status has a row in the status table.
    let statuses = &doc[doc.find("## Status").unwrap()..];
    for s in stockade_protocol::Status::ALL {
        assert!(
            statuses.contains(&format!("| `{}` |", s.name())),
            "docs/result.md has no row for status {}",
            s.name()
        );
    }
}
