//! Request decoding under mutation: every body and query the API decodes, from seeds mutated
//! for a few seconds (`STOCKADE_FUZZ_SECONDS`, default 3). Properties: no panic; a refusal is a
//! 4xx with a code and, for a field error, the field's name; the key parser and the tenant
//! policy validator never panic either.

use std::time::{Duration, Instant};

use stockade_server::api::{
    KeyQuery, KeyRequest, PolicyRequest, RunRequest, SessionRequest, TenantPatch, TenantRequest,
};
use stockade_server::audit::AuditQuery;
use stockade_server::config::Quotas;
use stockade_server::error::{decode, decode_query, ApiError};
use stockade_server::records::{RunQuery, ViolationQuery};

const BODIES: &[&str] = &[
    r#"{"code": "print(1)", "inputs": {"x": 1}, "files": {"a.txt": "aGk="}, "stdin": "aGk=", "timeout_ms": 100, "async": true}"#,
    r#"{"id": "t-1", "name": "T", "quotas": {"concurrent_runs": 2, "max_body_bytes": 4096}}"#,
    r#"{"name": "x", "quotas": {"sessions": 0}}"#,
    r#"{"name": "k", "role": "tenant-admin", "tenant": "t", "expires_at": 1}"#,
    r#"{"policy": "version = 1\n[limits]\nmemory = \"64M\"\n"}"#,
    r#"{"idle_timeout_ms": 5}"#,
    r#"[null, {"a": [1, 2.5e308, "\u0000"]}]"#,
];

const QUERIES: &[&str] = &[
    "status=ok&since=1&until=2&key=k_1&has_violations=true&limit=5&cursor=1.r_x&tenant=t",
    "rule=r&run_id=r_1&limit=0",
    "action=run.finished&cursor=5&limit=999",
    "tenant=%00%ff&limit=-1&x=y",
];

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"\\u0000",
    b"\\ud800",
    b"%",
    b"&",
    b"=",
    b"\xff",
    b"\"code\"",
    b"\"quotas\"",
    b"\"role\"",
    b"\"admin\"",
    b"18446744073709551616",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let end = (at + rng.below(8)).min(v.len());
                v.drain(at.min(v.len())..end);
            }
            1 => v
                .splice(at..at, TOKENS[rng.below(TOKENS.len())].iter().copied())
                .for_each(drop),
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = u8::try_from(rng.next() & 0xff).unwrap_or(0);
            }
            3 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + rng.below(16)).min(v.len());
                let chunk = v[start..end].to_vec();
                v.splice(at..at, chunk).for_each(drop);
            }
            _ => v.splice(at..at, b"{\"a\":[".iter().copied()).for_each(drop),
        }
    }
    v
}

fn refused_well(e: &ApiError) {
    let s = e.status().as_u16();
    assert!((400..500).contains(&s), "status {s}: {e:?}");
    assert!(!e.body.code.is_empty() && !e.body.message.is_empty());
}

fn check_body(b: &[u8]) {
    macro_rules! each {
        ($($t:ty),*) => {$(
            if let Err(e) = decode::<$t>(b) { refused_well(&e); }
        )*};
    }
    each!(
        RunRequest,
        TenantRequest,
        TenantPatch,
        KeyRequest,
        PolicyRequest,
        SessionRequest
    );
    if let Ok(r) = decode::<RunRequest>(b) {
        let _ = r.code.len();
    }
    if let Ok(p) = decode::<PolicyRequest>(b) {
        if let Some(text) = p.policy {
            let _ = stockade_server::policy::validate(&text, &Quotas::default(), false);
        }
    }
    let _ = stockade_server::auth::parse_key(&String::from_utf8_lossy(b));
}

fn check_query(q: &[u8]) {
    let q = String::from_utf8_lossy(q);
    macro_rules! each {
        ($($t:ty),*) => {$(
            if let Err(e) = decode_query::<$t>(Some(&q)) { refused_well(&e); }
        )*};
    }
    each!(RunQuery, ViolationQuery, AuditQuery, KeyQuery);
}

#[test]
fn decoding_never_panics_and_refuses_with_a_4xx() {
    let seconds: u64 = std::env::var("STOCKADE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut n = 0u64;
    for b in BODIES {
        check_body(b.as_bytes());
    }
    for q in QUERIES {
        check_query(q.as_bytes());
    }
    while Instant::now() < until {
        let seed = BODIES[rng.below(BODIES.len())].as_bytes();
        let input = mutate(&mut rng, seed);
        check_body(&input);
        let which = rng.below(QUERIES.len());
        let q = mutate(&mut rng, QUERIES[which].as_bytes());
        check_query(&q);
        n += 1;
    }
    assert!(n > 100, "only {n} inputs in {seconds}s");
}

#[test]
fn field_errors_name_the_field() {
    let e = decode::<RunRequest>(br#"{"code": 5}"#).unwrap_err();
    assert_eq!(e.body.field.as_deref(), Some("code"));
    let e = decode::<TenantRequest>(br#"{"id": "x", "quotas": {"sessions": "many"}}"#).unwrap_err();
    assert!(e.body.field.as_deref().unwrap_or("").starts_with("quotas"), "{e:?}");
    let e = decode_query::<RunQuery>(Some("limit=abc")).unwrap_err();
    assert_eq!(e.body.field.as_deref(), Some("limit"));
    let e = decode::<TenantPatch>(br#"{"quotas": [null, null]}"#).unwrap_err();
    assert_eq!(e.status().as_u16(), 400);
}
