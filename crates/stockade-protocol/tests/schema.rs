//! `docs/schema/` is generated from the protocol types; this test fails when a type changed and
//! the published schema did not (regenerate with `STOCKADE_BLESS=1 cargo test -p stockade-protocol
//! --test schema`).

use std::path::PathBuf;

use stockade_protocol::schema;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema")
}

#[test]
fn published_schemas_match_the_types() {
    let bless = std::env::var_os("STOCKADE_BLESS").is_some();
    let mut files: Vec<(String, String)> = schema::messages()
        .into_iter()
        .map(|(name, s)| (format!("{name}.json"), schema::render(&s)))
        .collect();
    files.push(("frames.json".into(), schema::render(&schema::frames())));
    if bless {
        std::fs::create_dir_all(dir()).unwrap();
    }
    let mut stale = Vec::new();
    for (name, text) in &files {
        let path = dir().join(name);
        if bless {
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    // No file the generator does not write (a renamed message leaves none behind).
    let mut extra: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !files.iter().any(|(f, _)| f == n))
        .collect();
    extra.sort();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "docs/schema is stale: {stale:?} differ, {extra:?} are not generated; rerun with STOCKADE_BLESS=1"
    );
}

#[test]
fn frames_schema_names_every_kind_once() {
    let frames = schema::frames();
    let kinds = frames["kinds"].as_object().unwrap();
    let mut numbers: Vec<u64> = kinds.values().map(|v| v.as_u64().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<u64>>());
}
