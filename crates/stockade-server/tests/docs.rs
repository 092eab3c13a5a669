//! docs/serve.md is held to the code: the role matrix, every settings key, every route.

use stockade_server::roles::{matrix_markdown, ROUTES};
use stockade_server::Settings;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/serve.md")).unwrap()
}

#[test]
fn the_role_matrix_is_the_codes() {
    assert!(
        doc().contains(&matrix_markdown()),
        "docs/serve.md must hold:\n{}",
        matrix_markdown()
    );
}

fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_table() {
                keys(&name, v, out);
            } else {
                out.push(name);
            }
        }
    }
}

#[test]
fn every_setting_is_documented() {
    // Optional keys are absent from the defaults' serialisation: give them values.
    let s = Settings {
        default_policy: Some("/x".into()),
        otlp_endpoint: Some("x".into()),
        jwt: stockade_server::config::JwtSettings {
            issuer: Some("x".into()),
            audience: Some("x".into()),
            hs256_secret_env: Some("x".into()),
            rs256_public_key: Some("/x".into()),
            eddsa_public_key: Some("/x".into()),
            jwks_file: Some("/x".into()),
            jwks_url: Some("https://x".into()),
            ..Default::default()
        },
        ..Settings::default()
    };
    let mut all = Vec::new();
    keys("", &toml::Value::try_from(&s).unwrap(), &mut all);
    let d = doc();
    for k in &all {
        assert!(
            d.contains(&format!("| `{k}` |")),
            "docs/serve.md does not document the setting {k}"
        );
    }
    assert!(all.len() > 25);
}

#[test]
fn every_route_is_documented() {
    let d = doc();
    for r in ROUTES {
        let p = r.path;
        assert!(d.contains(p), "docs/serve.md does not mention {} {p}", r.method);
        assert!(d.contains(&format!("`{}`", r.permission.name())));
    }
}
