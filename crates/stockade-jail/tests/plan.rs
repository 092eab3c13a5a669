//! Snapshots of compiled plans: `plan::compile` is pure, so the same request and inputs always
//! give the same plan, and any change to what the jail does shows up here for review.

use std::collections::BTreeMap;
use std::path::PathBuf;

use stockade_jail::interpreter::{Manifest, RootEntry};
use stockade_jail::plan::{self, Inputs, JailMode, Program, Request, ResolvedBind, StdinMode};
use stockade_jail::HostSupport;
use stockade_policy::Policy;

fn manifest() -> Manifest {
    let bind = |p: &str, dir| RootEntry::Bind {
        path: PathBuf::from(p),
        dir,
    };
    Manifest {
        executable: PathBuf::from("/opt/py/bin/python3.11"),
        version: "3.11".into(),
        site_paths: vec![PathBuf::from("/opt/py/lib/python3.11/site-packages")],
        stdlib_paths: vec![
            PathBuf::from("/opt/py/lib/python3.11"),
            PathBuf::from("/opt/py/lib/python3.11/lib-dynload"),
        ],
        venv_site_paths: Vec::new(),
        venv: None,
        entries: vec![
            RootEntry::Symlink {
                path: PathBuf::from("/lib"),
                target: PathBuf::from("usr/lib"),
            },
            bind("/opt/py/bin/python3.11", false),
            bind("/opt/py/lib/python3.11", true),
            bind("/usr/lib/x86_64-linux-gnu/libc.so.6", false),
            bind("/usr/lib/x86_64-linux-gnu/libgcc_s.so.1", false),
            // Under the host's /tmp: relocated to /run/host in the jail.
            bind("/tmp/venvs/x/lib/python3.11/site-packages", true),
        ],
        library_source: "ldd".into(),
    }
}

fn inputs(euid: u32) -> Inputs {
    Inputs {
        host: HostSupport::fixed_for_tests(euid),
        manifest: manifest(),
        guard_lib: Some(PathBuf::from("/opt/stockade/libstockade_guard.so")),
        env: BTreeMap::from([("TOKEN".to_string(), "s3cr3t-value".to_string())]),
        binds: vec![ResolvedBind {
            requested: PathBuf::from("/srv/data-link"),
            real: PathBuf::from("/srv/datasets"),
            jail: PathBuf::from("/data"),
        }],
        supervisor_pid: 4242,
    }
}

fn request(policy: Policy, program: Program, mode: JailMode) -> Request {
    Request {
        policy,
        program,
        args: vec!["--flag".into()],
        passthrough: false,
        stdin: StdinMode::Null,
        audit_log: None,
        extra_files: Vec::new(),
        internal_files: Vec::new(),
        mode,
        preload: vec!["json".into()],
    }
}

fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml, "plan.toml").expect("valid policy")
}

const POLICY: &str = r#"
version = 1
[env]
pass = ["TOKEN"]
secret = ["TOKEN"]
set = { TZ = "UTC" }
[filesystem]
read-only = [ { host = "/srv/data-link", jail = "/data" } ]
"#;

#[test]
fn strict_script_as_root() {
    let req = request(
        policy(POLICY),
        Program::Script {
            name: "job.py".into(),
            source: b"print(1)\n".to_vec(),
        },
        JailMode::Script,
    );
    let plan = plan::compile(&req, &inputs(0)).expect("compiles");
    insta::assert_snapshot!(plan.describe());
}

#[test]
fn code_without_guard_as_a_user() {
    let mut p = policy(POLICY);
    p.guard.enabled = false;
    let req = request(p, Program::Code("print(2)".into()), JailMode::Script);
    let plan = plan::compile(&req, &inputs(1000)).expect("compiles");
    insta::assert_snapshot!(plan.describe());
}

#[test]
fn warm_pool_jail() {
    let req = request(policy(POLICY), Program::Code("pass".into()), JailMode::Pool);
    let plan = plan::compile(&req, &inputs(0)).expect("compiles");
    insta::assert_snapshot!(plan.describe());
}

#[test]
fn api_run_and_session() {
    let req = request(
        policy(POLICY),
        Program::Code("pass".into()),
        JailMode::Api {
            request: b"frame".to_vec(),
        },
    );
    insta::assert_snapshot!("api_run", plan::compile(&req, &inputs(0)).expect("compiles").describe());
    let req = request(policy(POLICY), Program::Code("pass".into()), JailMode::Session);
    insta::assert_snapshot!("session", plan::compile(&req, &inputs(0)).expect("compiles").describe());
}

#[test]
fn compile_is_pure() {
    let req = request(policy(POLICY), Program::Code("pass".into()), JailMode::Script);
    let a = plan::compile(&req, &inputs(0)).expect("compiles").describe();
    let b = plan::compile(&req, &inputs(0)).expect("compiles").describe();
    assert_eq!(a, b);
}

#[test]
fn missing_layers_are_refused_or_recorded() {
    let mut host = inputs(0);
    host.host.landlock_abi = None;
    let req = request(policy(POLICY), Program::Code("pass".into()), JailMode::Script);
    let err = plan::compile(&req, &host).expect_err("landlock missing");
    assert!(err.to_string().contains("landlock"), "{err}");
    let mut p = policy(POLICY);
    p.isolation.allow_degraded = true;
    let plan = plan::compile(&request(p, Program::Code("pass".into()), JailMode::Script), &host).expect("degraded");
    assert!(plan.landlock.is_none());
    assert_eq!(plan.degradation.missing[0].0, "landlock");
}
