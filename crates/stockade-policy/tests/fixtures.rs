//! One snapshot per file in `resources/{valid,invalid}`: the effective policy printed by
//! `to_toml` for valid files, the error message for invalid ones.

use std::fs;
use std::path::{Path, PathBuf};

use stockade_policy::Policy;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("resources").join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .expect("fixture has a file name")
        .to_string_lossy()
        .into_owned();
    let src = fs::read_to_string(path).expect("readable fixture");
    (name, src)
}

#[test]
fn valid_policies() {
    let files = fixtures("valid");
    assert!(files.len() >= 5);
    for path in files {
        let (name, src) = read(&path);
        let policy = Policy::from_toml(&src, &name).unwrap_or_else(|e| panic!("{name} should be valid: {e}"));
        policy.validate().expect("a parsed policy validates");
        let printed = policy.to_toml();
        let again = Policy::from_toml(&printed, "printed.toml")
            .unwrap_or_else(|e| panic!("printed {name} should re-parse: {e}\n{printed}"));
        assert_eq!(policy, again, "{name}: round trip through to_toml");
        insta::assert_snapshot!(format!("valid__{}", name.trim_end_matches(".toml")), printed, &src);
    }
}

#[test]
fn invalid_policies() {
    let files = fixtures("invalid");
    assert!(files.len() >= 12);
    for path in files {
        let (name, src) = read(&path);
        let error = match Policy::from_toml(&src, &name) {
            Ok(policy) => panic!("{name} should be rejected, got {policy:#?}"),
            Err(e) => e,
        };
        insta::assert_snapshot!(
            format!("invalid__{}", name.trim_end_matches(".toml")),
            error.to_string(),
            &src
        );
    }
}
