//! `stockade`: run untrusted Python inside a Linux jail.
//!
//! Exit codes (also in the README): the script's own; 128+n when it was killed by signal n;
//! 124 wall-clock timeout; 125 stockade failed to build the jail; 126/127 the interpreter could
//! not be executed / was not found; 123 invalid policy; 122 a required layer is missing on this
//! host (rerun with --allow-degraded); 121 refused by the pre-screen (`[check] prescreen`);
//! 2 bad usage.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use stockade_jail::{HostSupport, Program, Request, RunResult, SetupError, StdinMode};
use stockade_policy::{parse_duration, parse_size, Policy};

use crate::check;
use crate::learn;

mod exit {
    pub const POLICY: u8 = 123;
    pub const REFUSED: u8 = 121;
    pub const LAYER_MISSING: u8 = 122;
    pub const SETUP: u8 = 125;
    pub const NOT_FOUND: u8 = 127;
    pub const USAGE: u8 = 2;
}

#[derive(Parser)]
#[command(name = "stockade", version, about = "Run untrusted Python inside a Linux jail", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Python script (or -c CODE, or - for stdin) inside the jail.
    Run(RunArgs),
    /// Show what this host supports and what stockade would use.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Static security analysis of Python: an OWASP-style audit (default) or, with --prescreen,
    /// the fail-closed pre-screen of untrusted code.
    Check(Box<check::CheckArgs>),
    /// (For the Python API.) Read a request `{"code", "inputs", "files"}` on stdin, run the code
    /// with its inputs bound, and print the result document with the returned value.
    #[command(hide = true)]
    Exec(ExecArgs),
    /// (For the Python API's Pool.) Start a long-lived jail whose zygote serves runs: one JSON
    /// request per line on stdin, one JSON response per line on stdout.
    #[command(hide = true)]
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Modules the zygote imports before serving (comma-separated).
    #[arg(long, value_delimiter = ',')]
    preload: Vec<String>,
    /// The jail's whole lifetime in seconds (default: until stdin closes).
    #[arg(long, value_parser = parse_duration)]
    lifetime: Option<std::time::Duration>,
    /// Session mode: run every request in one persistent interpreter (shared state).
    #[arg(long)]
    session: bool,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the effective policy (profile + file + flags) as TOML.
    Show(PolicyArgs),
    /// Validate a policy file.
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Run SCRIPT with the guard in audit mode and print the smallest policy that allows it.
    Learn(LearnArgs),
    /// Print the guard's compiled configuration (JSON) for this policy and interpreter, to run
    /// the guard in an ordinary Python process (see docs/guard.md).
    GuardConfig(PolicyArgs),
}

#[derive(Args)]
struct ExecArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Write the audit trail (JSON Lines) to FILE, or `-` for stderr.
    #[arg(long = "audit-log", value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

#[derive(Args)]
struct LearnArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The script and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "SCRIPT [ARGS]"
    )]
    rest: Vec<String>,
}

#[derive(Args, Clone)]
struct PolicyArgs {
    /// Policy file (TOML).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Built-in profile to start from when no file is given (strict, data).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Python interpreter (default: the policy's, else python3 from PATH).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Virtualenv whose packages are importable (read-only).
    #[arg(long, value_name = "PATH")]
    venv: Option<PathBuf>,
    /// Wall-clock limit, e.g. 10, 2.5, 500ms.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    timeout: Option<std::time::Duration>,
    /// CPU-time limit.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    cpu: Option<std::time::Duration>,
    /// Memory limit, e.g. 128M.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Processes + threads.
    #[arg(long, value_name = "N")]
    pids: Option<u32>,
    /// Largest file the code may write.
    #[arg(long = "file-size", value_name = "SIZE", value_parser = parse_size)]
    file_size: Option<u64>,
    /// Scratch (/tmp) size.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    scratch: Option<u64>,
    /// Open file descriptors.
    #[arg(long = "open-files", value_name = "N")]
    open_files: Option<u64>,
    /// Bytes kept per output stream; more stops the run.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    output: Option<u64>,
    /// Run even if a layer cannot be applied on this host (reported in the result).
    #[arg(long)]
    allow_degraded: bool,
    /// Run without the in-interpreter guard (the jail alone; same as `guard.enabled = false`).
    #[arg(long)]
    no_guard: bool,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print one JSON result document instead of passing output through.
    #[arg(long)]
    json: bool,
    /// Write the audit trail (JSON Lines) to FILE, or `-` for stderr.
    #[arg(long = "audit-log", value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Program passed in as a string.
    #[arg(short = 'c', value_name = "CODE")]
    code: Option<String>,
    /// SCRIPT (or - to read the program from stdin) and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SCRIPT | - [ARGS]"
    )]
    rest: Vec<String>,
}

/// A failure with its own exit code.
struct Failure {
    code: u8,
    message: String,
}

fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// Run the CLI with these arguments (the first is the program name); returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let outcome = match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Doctor { json } => cmd_doctor(json),
        Command::Check(args) => check::cmd_check(*args)
            .map_err(|(code, check::CheckFailure(message))| fail(code, format!("check: {message}"))),
        Command::Exec(args) => cmd_exec(args),
        Command::Serve(args) => cmd_serve(args),
        Command::Policy(PolicyCommand::Show(args)) => effective_policy(&args).map(|p| {
            print!("{}", p.to_toml());
            0
        }),
        Command::Policy(PolicyCommand::Learn(args)) => cmd_learn(args),
        Command::Policy(PolicyCommand::GuardConfig(args)) => cmd_guard_config(&args),
        Command::Policy(PolicyCommand::Check { file }) => Policy::load(&file)
            .map(|_| {
                println!("{}: ok", file.display());
                0
            })
            .map_err(|e| fail(exit::POLICY, format!("invalid policy: {e}"))),
    };
    match outcome {
        Ok(code) => code,
        Err(f) => {
            eprintln!("stockade: {}", f.message);
            f.code
        }
    }
}

fn effective_policy(args: &PolicyArgs) -> Result<Policy, Failure> {
    let mut policy = match (&args.policy, &args.profile) {
        (Some(file), _) => Policy::load(file).map_err(|e| fail(exit::POLICY, format!("invalid policy: {e}")))?,
        (None, Some(name)) => Policy::profile(name).ok_or_else(|| {
            fail(
                exit::USAGE,
                format!("unknown profile {name:?} (known: {})", Policy::PROFILES.join(", ")),
            )
        })?,
        (None, None) => Policy::strict(),
    };
    if args.policy.is_some() && args.profile.is_some() {
        return Err(fail(
            exit::USAGE,
            "--profile and --policy cannot be combined (use `extends` in the file)",
        ));
    }
    let l = &mut policy.limits;
    if let Some(v) = args.timeout {
        l.wall_time = v;
    }
    if let Some(v) = args.cpu {
        l.cpu_time = v;
    }
    if let Some(v) = args.memory {
        l.memory = v;
    }
    if let Some(v) = args.pids {
        l.processes = v;
    }
    if let Some(v) = args.file_size {
        l.file_size = v;
    }
    if let Some(v) = args.scratch {
        l.scratch = v;
    }
    if let Some(v) = args.open_files {
        l.open_files = v;
    }
    if let Some(v) = args.output {
        l.output = v;
    }
    if let Some(p) = &args.python {
        policy.python.interpreter = Some(absolute(p));
    }
    if let Some(v) = &args.venv {
        policy.python.venv = Some(absolute(v));
    }
    if args.allow_degraded {
        policy.isolation.allow_degraded = true;
    }
    if args.no_guard {
        policy.guard.enabled = false;
    }
    policy
        .validate()
        .map_err(|e| fail(exit::POLICY, format!("invalid option: {e}")))?;
    Ok(policy)
}

/// `--audit-log FILE` (or `-` for stderr).
fn audit_sink(path: Option<&std::path::Path>) -> Option<stockade_jail::plan::AuditSink> {
    path.map(|p| {
        if p.as_os_str() == "-" {
            stockade_jail::plan::AuditSink::Stderr
        } else {
            stockade_jail::plan::AuditSink::File(absolute(p))
        }
    })
}

fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() || p.components().count() == 1 && !p.to_string_lossy().contains('/') && !p.exists() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn cmd_run(args: RunArgs) -> Result<u8, Failure> {
    let policy = effective_policy(&args.policy)?;
    let (program, rest, stdin) = match (&args.code, args.rest.split_first()) {
        (Some(code), _) => (Program::Code(code.clone()), args.rest.clone(), StdinMode::Forward),
        (None, Some((first, rest))) if first == "-" => {
            let mut source = Vec::new();
            std::io::stdin()
                .read_to_end(&mut source)
                .map_err(|e| fail(exit::USAGE, format!("cannot read the program from stdin: {e}")))?;
            (
                Program::Script {
                    name: "stdin.py".into(),
                    source,
                },
                rest.to_vec(),
                StdinMode::Null,
            )
        }
        (None, Some((first, rest))) => {
            let source =
                std::fs::read(first).map_err(|e| fail(exit::USAGE, format!("cannot read script {first}: {e}")))?;
            (
                Program::Script {
                    name: first.clone(),
                    source,
                },
                rest.to_vec(),
                StdinMode::Forward,
            )
        }
        (None, None) => {
            return Err(fail(
                exit::USAGE,
                "nothing to run: give SCRIPT, -c CODE, or - (read the program from stdin)",
            ))
        }
    };
    if let Some(refusal) = prescreen_refusal(&policy, &program) {
        if args.json {
            print_json(&refusal);
        }
        return Err(fail(
            exit::REFUSED,
            refusal["reason"].as_str().unwrap_or("refused").to_string(),
        ));
    }
    let audit_log = audit_sink(args.audit_log.as_deref());
    let request = Request {
        policy,
        program,
        args: rest,
        passthrough: !args.json,
        stdin,
        audit_log,
        extra_files: Vec::new(),
        internal_files: Vec::new(),
        serve: None,
    };
    match stockade_jail::run(&request) {
        Ok(result) => {
            if args.json {
                let mut out = std::io::stdout().lock();
                let _ = serde_json::to_writer_pretty(&mut out, &result);
                let _ = writeln!(out);
            } else {
                report_to_stderr(&result);
            }
            Ok(u8::try_from(result.cli_exit_code() & 0xff).unwrap_or(255))
        }
        Err(e) => {
            let code = match &e {
                SetupError::LayerMissing { .. } => exit::LAYER_MISSING,
                SetupError::Interpreter(stockade_jail::interpreter::InterpreterError::NotFound(_)) => exit::NOT_FOUND,
                _ => exit::SETUP,
            };
            let message = error_chain(&e);
            if args.json {
                print_json(&serde_json::json!({
                    "schema": stockade_jail::outcome::SCHEMA,
                    "status": "setup_failed",
                    "exit_code": null,
                    "signal": null,
                    "stdout": "", "stderr": "",
                    "stdout_truncated": false, "stderr_truncated": false,
                    "error": {"step": e.step().name(), "message": message},
                }));
            }
            Err(fail(code, message))
        }
    }
}

/// Only the policy flags, for [`prescreen_request`].
#[derive(Parser)]
struct PolicyOnly {
    #[command(flatten)]
    policy: PolicyArgs,
}

/// For the Python API's Pool and Session, whose runs do not pass through this binary: the
/// `refused` result document for `code` under the policy these flags select, or None when the
/// policy has no `[check] prescreen` or the code passes. Err when the flags or policy are invalid.
pub fn prescreen_request(policy_flags: &[String], code: &str) -> Result<Option<String>, String> {
    let policy = policy_from_flags(policy_flags)?;
    Ok(prescreen_refusal(&policy, &Program::Code(code.to_string())).map(|doc| doc.to_string()))
}

/// Whether the policy these flags select has `[check] prescreen = true`.
pub fn policy_prescreens(policy_flags: &[String]) -> Result<bool, String> {
    Ok(policy_from_flags(policy_flags)?.check.prescreen)
}

fn policy_from_flags(policy_flags: &[String]) -> Result<Policy, String> {
    let parsed = PolicyOnly::try_parse_from(std::iter::once("stockade").chain(policy_flags.iter().map(String::as_str)))
        .map_err(|e| e.to_string())?;
    effective_policy(&parsed.policy).map_err(|f| f.message)
}

/// With `[check] prescreen = true`, the result document of a run the pre-screen refuses (status
/// `refused`, the reasons as findings); None when the policy does not ask or the code passes.
fn prescreen_refusal(policy: &Policy, program: &Program) -> Option<serde_json::Value> {
    if !policy.check.prescreen {
        return None;
    }
    let (name, source) = match program {
        Program::Code(code) => ("<string>", code.as_bytes()),
        Program::Script { name, source } => (name.as_str(), source.as_slice()),
    };
    let findings = check::prescreen(name, source, policy);
    if findings.is_empty() {
        return None;
    }
    let reasons: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{}: {} {}: {}",
                f.path,
                f.line,
                f.column,
                f.rule.meta().id,
                f.rule.meta().name,
                f.message
            )
        })
        .collect();
    let reason = format!(
        "refused by the pre-screen ([check] prescreen = true), nothing was run:\n  {}",
        reasons.join("\n  ")
    );
    Some(serde_json::json!({
        "schema": stockade_jail::outcome::SCHEMA,
        "status": "refused",
        "reason": reason,
        "exit_code": null,
        "signal": null,
        "stdout": "", "stderr": "",
        "stdout_truncated": false, "stderr_truncated": false,
        "prescreen": findings,
    }))
}

const ZYGOTE: &str = include_str!("zygote.py");
const ZYGOTE_PATH: &str = "/sandbox/__stockade_zygote__.py";

/// The runner's configuration (`/sandbox/zygote.json`).
fn runner_conf(mode: &str, policy: &Policy, preload: &[String]) -> serde_json::Value {
    let l = &policy.limits;
    serde_json::json!({
        "mode": mode,
        "preload": preload,
        "files_limit": l.output,
        "limits": {
            "timeout": l.wall_time.as_secs_f64(),
            "cpu": l.cpu_time.as_secs_f64(),
            "memory": l.memory,
            "output": l.output,
        },
    })
}

fn cmd_serve(args: ServeArgs) -> Result<u8, Failure> {
    let policy = effective_policy(&args.policy)?;
    let conf = runner_conf(if args.session { "session" } else { "pool" }, &policy, &args.preload);
    let request = Request {
        policy,
        program: Program::Script {
            name: "__stockade_zygote__.py".into(),
            source: ZYGOTE.as_bytes().to_vec(),
        },
        args: Vec::new(),
        passthrough: true,
        stdin: StdinMode::Forward,
        audit_log: None,
        extra_files: vec![stockade_jail::GeneratedFile {
            path: PathBuf::from("/sandbox/zygote.json"),
            contents: conf.to_string().into_bytes(),
            mode: 0o444,
        }],
        internal_files: vec![ZYGOTE_PATH.into()],
        serve: Some(stockade_jail::Serve {
            lifetime: args.lifetime,
            isolate_runs: !args.session,
        }),
    };
    match stockade_jail::run(&request) {
        Ok(result) => {
            let line = serde_json::json!({"type": "exit", "status": result.status.name(), "reason": result.reason,
                "exit_code": result.exit_code, "signal": result.signal});
            println!("{line}");
            Ok(0)
        }
        Err(e) => {
            let message = error_chain(&e);
            println!(
                "{}",
                serde_json::json!({"type": "error", "step": e.step().name(), "message": message})
            );
            Err(fail(exit::SETUP, message))
        }
    }
}

fn cmd_exec(args: ExecArgs) -> Result<u8, Failure> {
    use base64::Engine as _;
    let policy = effective_policy(&args.policy)?;
    let mut raw = Vec::new();
    std::io::stdin()
        .read_to_end(&mut raw)
        .map_err(|e| fail(exit::USAGE, format!("cannot read the request: {e}")))?;
    let request: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| fail(exit::USAGE, format!("malformed request: {e}")))?;
    let code = request["code"]
        .as_str()
        .ok_or_else(|| fail(exit::USAGE, "malformed request: `code` must be a string"))?;
    let inputs = request.get("inputs").cloned().unwrap_or(serde_json::Value::Null);
    if !(inputs.is_null() || inputs.is_object()) {
        return Err(fail(exit::USAGE, "malformed request: `inputs` must be an object"));
    }
    let file = |path: &str, contents: Vec<u8>| stockade_jail::GeneratedFile {
        path: PathBuf::from(path),
        contents,
        mode: 0o444,
    };
    if let Some(files) = request.get("files") {
        let ok = files.is_null()
            || files.as_object().is_some_and(|m| {
                m.iter().all(|(name, data)| {
                    data.as_str()
                        .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_ok())
                        && !name.is_empty()
                        && !name.starts_with('/')
                        && name
                            .split('/')
                            .all(|part| !part.is_empty() && part != "." && part != "..")
                })
            });
        if !ok {
            return Err(fail(
                exit::USAGE,
                "malformed request: `files` must map relative names to base64 strings",
            ));
        }
    }
    if let Some(refusal) = prescreen_refusal(&policy, &Program::Code(code.to_string())) {
        print_json(&refusal);
        return Ok(0);
    }
    let conf = runner_conf("exec", &policy, &[]);
    let run_request = serde_json::json!({"code": code, "inputs": inputs, "files": request.get("files")});
    let extra_files = vec![
        file("/sandbox/zygote.json", conf.to_string().into_bytes()),
        file("/sandbox/request.json", run_request.to_string().into_bytes()),
        // The code under its own name too, so tracebacks show its lines.
        file("/sandbox/main.py", code.as_bytes().to_vec()),
    ];
    let audit_log = audit_sink(args.audit_log.as_deref());
    let request = Request {
        policy,
        program: Program::Script {
            name: "__stockade_zygote__.py".into(),
            source: ZYGOTE.as_bytes().to_vec(),
        },
        args: Vec::new(),
        passthrough: false,
        stdin: StdinMode::Null,
        audit_log,
        extra_files,
        internal_files: vec![ZYGOTE_PATH.into()],
        serve: None,
    };
    match stockade_jail::run(&request) {
        Ok(result) => {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer(&mut out, &result);
            let _ = writeln!(out);
            Ok(0)
        }
        Err(e) => {
            let message = error_chain(&e);
            print_json(&serde_json::json!({
                "schema": stockade_jail::outcome::SCHEMA, "status": "setup_failed",
                "error": {"step": e.step().name(), "message": message},
            }));
            Err(fail(exit::SETUP, message))
        }
    }
}

fn cmd_guard_config(args: &PolicyArgs) -> Result<u8, Failure> {
    let policy = effective_policy(args)?;
    let exe = stockade_jail::interpreter::resolve(policy.python.interpreter.as_deref(), policy.python.venv.as_deref())
        .map_err(|e| fail(exit::NOT_FOUND, e.to_string()))?;
    let manifest = stockade_jail::interpreter::manifest(&exe, policy.python.venv.as_deref(), &[])
        .map_err(|e| fail(exit::SETUP, e.to_string()))?;
    let config = stockade_jail::guard_plan::compile(&policy, &manifest, Vec::new());
    println!("{}", serde_json::to_string_pretty(&config).unwrap_or_default());
    if let Some(lib) = stockade_jail::guard_plan::find_library() {
        eprintln!(
            "stockade: run your app under the guard with:\n  LD_PRELOAD={} STOCKADE_GUARD_CONFIG=<this file> STOCKADE_GUARD_FD=2 {} app.py",
            lib.display(),
            exe.display()
        );
    }
    Ok(0)
}

fn cmd_learn(args: LearnArgs) -> Result<u8, Failure> {
    let mut policy = effective_policy(&args.policy)?;
    if !policy.guard.enabled {
        return Err(fail(
            exit::USAGE,
            "learn needs the guard (remove --no-guard / guard.enabled = false)",
        ));
    }
    policy.guard.mode = stockade_policy::GuardMode::Audit;
    let (script, rest) = args
        .rest
        .split_first()
        .ok_or_else(|| fail(exit::USAGE, "learn needs a SCRIPT"))?;
    let source = std::fs::read(script).map_err(|e| fail(exit::USAGE, format!("cannot read script {script}: {e}")))?;
    let extends = policy.extends.clone();
    let request = Request {
        policy,
        program: Program::Script {
            name: script.clone(),
            source,
        },
        args: rest.to_vec(),
        passthrough: false,
        stdin: StdinMode::Forward,
        audit_log: None,
        extra_files: Vec::new(),
        internal_files: Vec::new(),
        serve: None,
    };
    let result = stockade_jail::run(&request).map_err(|e| fail(exit::SETUP, error_chain(&e)))?;
    eprint!("{}", result.stderr);
    print!("{}", learn::render(script, &extends, &result));
    Ok(0)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

fn print_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

/// Passthrough mode: the script's output has already been streamed; say why stockade stopped it.
fn report_to_stderr(r: &RunResult) {
    use stockade_jail::Status;
    let mut err = std::io::stderr().lock();
    match r.status {
        Status::Ok | Status::Error => {}
        Status::SetupFailed => {
            if let Some(e) = &r.error {
                let _ = writeln!(err, "stockade: sandbox setup failed at {}: {}", e.step, e.message);
            }
        }
        Status::Killed if r.reason.is_none() => {
            let _ = writeln!(err, "stockade: sandbox killed by signal {}", r.signal.unwrap_or(0));
        }
        _ => {
            let _ = writeln!(
                err,
                "stockade: {}: {}",
                r.status.name(),
                r.reason.as_deref().unwrap_or("stopped")
            );
        }
    }
    if r.stdout_truncated || r.stderr_truncated {
        let _ = writeln!(
            err,
            "stockade: output cut at {} bytes per stream",
            r.limits.output_bytes
        );
    }
    if r.isolation.degraded {
        let missing: Vec<&str> = r
            .isolation
            .layers
            .iter()
            .filter(|l| !l.active)
            .map(|l| l.name.as_str())
            .collect();
        let _ = writeln!(
            err,
            "stockade: warning: ran degraded, missing layers: {}",
            missing.join(", ")
        );
    }
}

fn cmd_doctor(json: bool) -> Result<u8, Failure> {
    let host = HostSupport::probe();
    let interpreter = stockade_jail::interpreter::resolve(None, None);
    if json {
        print_json(&serde_json::json!({
            "host": host,
            "interpreter": interpreter.as_ref().map(|p| p.display().to_string()).map_err(ToString::to_string),
        }));
        return Ok(0);
    }
    let mark = |ok: bool| if ok { "ok     " } else { "MISSING" };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "stockade doctor (running as uid {})", host.euid);
    let _ = writeln!(
        out,
        "  {} user namespaces{}",
        mark(host.user_namespaces.is_ok()),
        host.user_namespaces
            .as_ref()
            .err()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  {} mount, pid, net, ipc, uts, cgroup namespaces (inside the user namespace)",
        mark(host.user_namespaces.is_ok())
    );
    let _ = writeln!(
        out,
        "  {} landlock{}",
        mark(host.landlock_abi.is_some()),
        host.landlock_abi
            .map(|a| format!(" ABI {a}"))
            .unwrap_or_else(|| ": not enabled".into())
    );
    let _ = writeln!(out, "  {} seccomp-bpf", mark(host.seccomp));
    let _ = writeln!(out, "  ok      memory limit via {}", host.memory_mechanism);
    let _ = writeln!(
        out,
        "  ok      process limit via {} + rlimit-nproc",
        host.pids_mechanism
    );
    let _ = writeln!(out, "  ok      cpu limit via {}", host.cpu_mechanism);
    for note in &host.cgroup_notes {
        let _ = writeln!(out, "          note: {note}");
    }
    match &interpreter {
        Ok(p) => {
            let _ = writeln!(out, "  ok      default interpreter {}", p.display());
        }
        Err(e) => {
            let _ = writeln!(out, "  MISSING default interpreter: {e}");
        }
    }
    let ready = host.user_namespaces.is_ok() && host.landlock_abi.is_some() && host.seccomp;
    let _ = writeln!(
        out,
        "{}",
        if ready {
            "all layers available"
        } else {
            "some layers are missing: runs are refused unless --allow-degraded"
        }
    );
    Ok(if ready { 0 } else { 1 })
}
