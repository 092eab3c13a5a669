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
use stockade_jail::{HostSupport, JailMode, Program, Request, RunResult, SetupError, StdinMode};
use stockade_policy::{parse_duration, parse_size, Policy};
use stockade_protocol::result::SetupFailure;
use stockade_protocol::Status;
use stockade_runner::prepare::{self, Overrides, PolicyFailure, PolicySource};

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
    /// (For front ends.) Supervise one jail, driven by typed frames on stdin/stdout
    /// (stockade-protocol): what the Python package and the HTTP service start per jail.
    #[command(hide = true)]
    Supervise,
    /// The multi-tenant HTTP service (docs/serve.md).
    Serve(Box<crate::serve::ServeArgs>),
    /// Known vulnerabilities in dependencies (OSV, PyPI) of a lock file, requirements or venv;
    /// `update-db` fetches the database; `verify` and `export` work on the service's audit store.
    Audit(Box<crate::serve::AuditArgs>),
    /// A Model Context Protocol server with tools to run Python in jails (docs/mcp.md).
    Mcp(Box<McpArgs>),
    /// Keep a jail built ahead for `stockade run` (docs/pipeline.md#jails-built-ahead): each
    /// run still gets a fresh jail and interpreter, without waiting for the jail to be built.
    Helper(HelperArgs),
}

/// `stockade run` alone, the command of every cold run: clap building the whole command tree
/// (every subcommand's arguments) cost each run's start ~60 µs warm and more cold, against
/// ~15 µs for this. Anything it does not accept (help, a mistake) is parsed again by [`Cli`], so
/// what users see is the same.
#[derive(Parser)]
#[command(name = "stockade")]
struct RunOnly {
    #[command(subcommand)]
    command: RunCommand,
}

#[derive(Subcommand)]
enum RunCommand {
    Run(RunArgs),
}

/// Flags of `stockade helper`.
#[derive(Args)]
struct HelperArgs {
    /// The policy of the jails it builds ahead (a run under another policy gets a jail built on
    /// the spot).
    #[command(flatten)]
    policy: PolicyArgs,
    /// The socket to serve (default: $STOCKADE_HELPER, else /run/stockade/helper.sock).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Replace a jail built ahead that has waited this long, so the files it bound are never
    /// older (e.g. 60, 500ms).
    #[arg(long = "max-age", value_name = "TIME", default_value = "60", value_parser = parse_duration)]
    max_age: std::time::Duration,
}

/// Flags of `stockade mcp`.
#[derive(Args)]
struct McpArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// `stdio` (one client on stdin/stdout) or `http` (streamable HTTP on --listen).
    #[arg(long, default_value = "stdio", value_parser = ["stdio", "http"])]
    transport: String,
    /// Address for `--transport http`; off loopback, STOCKADE_MCP_TOKEN must be set.
    #[arg(long, default_value = "127.0.0.1:8322", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// Warm workers for run_python.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pool_size: usize,
    /// Sessions one client may have open at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    max_sessions: usize,
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

#[derive(Args, Clone, Debug)]
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

#[derive(Args, Debug)]
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
    /// Never use a `stockade helper` (by default a run goes to the helper of $STOCKADE_HELPER
    /// or /run/stockade/helper.sock when one of this user's serves there).
    #[arg(long)]
    no_helper: bool,
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
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    if args.get(1).is_some_and(|a| a == "run") {
        if let Ok(RunOnly {
            command: RunCommand::Run(run),
        }) = RunOnly::try_parse_from(&args)
        {
            return finish(cmd_run(run));
        }
    }
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
        Command::Supervise => Ok(stockade_runner::supervisor::main()),
        Command::Serve(args) => crate::serve::cmd_serve(*args).map_err(|m| fail(exit::SETUP, format!("serve: {m}"))),
        Command::Audit(a) => crate::serve::cmd_audit(*a).map_err(|(code, m)| fail(code, format!("audit: {m}"))),
        Command::Mcp(args) => cmd_mcp(*args),
        Command::Helper(args) => cmd_helper(&args),
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
    finish(outcome)
}

/// A command's exit code, its failure said on stderr.
fn finish(outcome: Result<u8, Failure>) -> u8 {
    match outcome {
        Ok(code) => code,
        Err(f) => {
            eprintln!("stockade: {}", f.message);
            f.code
        }
    }
}

/// `stockade helper`: thin over `stockade_runner::helper`.
fn cmd_helper(args: &HelperArgs) -> Result<u8, Failure> {
    let policy = effective_policy(&args.policy)?;
    if args.max_age < std::time::Duration::from_millis(500) {
        return Err(fail(exit::USAGE, "helper: --max-age must be at least 500ms"));
    }
    let socket = args
        .socket
        .clone()
        .or_else(stockade_runner::helper::socket_path)
        .ok_or_else(|| fail(exit::USAGE, "helper: no socket (STOCKADE_HELPER is off; give --socket)"))?;
    stockade_runner::helper::serve(&socket, policy, args.max_age, &mut std::io::stderr())
        .map(|()| 0)
        .map_err(|m| fail(exit::SETUP, format!("helper: {m}")))
}

/// `stockade mcp`: thin over `stockade-mcp`.
fn cmd_mcp(args: McpArgs) -> Result<u8, Failure> {
    let policy = effective_policy(&args.policy)?;
    let launcher = stockade_runner::client::Launcher::this_executable()
        .map_err(|e| fail(exit::SETUP, format!("mcp: locating this executable: {e}")))?;
    let engine = std::sync::Arc::new(stockade_mcp::Engine::new(
        launcher,
        policy.to_toml(),
        policy.limits.output,
        args.pool_size,
        args.max_sessions,
    ));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| fail(exit::SETUP, format!("mcp: runtime: {e}")))?;
    let token = std::env::var("STOCKADE_MCP_TOKEN").ok().filter(|t| !t.is_empty());
    let served = runtime.block_on(async {
        match args.transport.as_str() {
            "http" => stockade_mcp::http::serve(engine, args.listen, token).await,
            _ => stockade_mcp::serve_stdio(engine).await,
        }
    });
    served.map(|()| 0).map_err(|m| fail(exit::SETUP, format!("mcp: {m}")))
}

fn effective_policy(args: &PolicyArgs) -> Result<Policy, Failure> {
    if args.policy.is_some() && args.profile.is_some() {
        return Err(fail(
            exit::USAGE,
            "--profile and --policy cannot be combined (use `extends` in the file)",
        ));
    }
    let source = match (&args.policy, &args.profile) {
        (Some(file), _) => PolicySource::File(file.clone()),
        (None, Some(name)) => PolicySource::Profile(name.clone()),
        (None, None) => PolicySource::Default,
    };
    let overrides = Overrides {
        timeout: args.timeout,
        cpu: args.cpu,
        memory: args.memory,
        pids: args.pids,
        file_size: args.file_size,
        scratch: args.scratch,
        open_files: args.open_files,
        output: args.output,
        python: args.python.clone(),
        venv: args.venv.clone(),
        allow_degraded: args.allow_degraded,
        no_guard: args.no_guard,
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    prepare::effective_policy(&source, &overrides, &cwd).map_err(|e| match e {
        PolicyFailure::Usage(m) => fail(exit::USAGE, m),
        PolicyFailure::Invalid(m) => fail(exit::POLICY, m),
    })
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
    prepare::absolute(p, &std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")))
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
    let (name, source) = match &program {
        Program::Code(code) => ("<string>", code.as_bytes()),
        Program::Script { name, source } => (name.as_str(), source.as_slice()),
    };
    if let Some(refusal) = stockade_runner::prescreen::refusal(&policy, name, source) {
        if args.json {
            print_json(&refusal);
        }
        return Err(fail(exit::REFUSED, refusal.reason.unwrap_or_else(|| "refused".into())));
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
        mode: JailMode::Script,
        preload: Vec::new(),
    };
    let outcome = match helper_run(&request, args.no_helper) {
        Some(answer) => answer,
        None => stockade_jail::run(&request).map_err(|e| {
            let code = match &e {
                SetupError::LayerMissing { .. } => exit::LAYER_MISSING,
                SetupError::Interpreter(stockade_jail::interpreter::InterpreterError::NotFound(_)) => exit::NOT_FOUND,
                _ => exit::SETUP,
            };
            (code, e.step().name().to_string(), error_chain(&e))
        }),
    };
    match outcome {
        Ok(result) => {
            if args.json {
                print_json(&result);
            } else {
                report_to_stderr(&result);
            }
            Ok(u8::try_from(result.cli_exit_code() & 0xff).unwrap_or(255))
        }
        Err((code, step, message)) => {
            if args.json {
                print_json(&RunResult::not_run(
                    Status::SetupFailed,
                    None,
                    Some(SetupFailure {
                        step,
                        message: message.clone(),
                    }),
                ));
            }
            Err(fail(code, message))
        }
    }
}

/// The run through this user's `stockade helper`, when one serves; None to run here.
fn helper_run(request: &Request, no_helper: bool) -> Option<Result<RunResult, (u8, String, String)>> {
    use stockade_runner::helper::{self, Answer, ClientError};
    let socket = helper::socket_path().filter(|_| !no_helper)?;
    let mut pinned = request.clone();
    helper::pin_interpreter(&mut pinned.policy);
    match helper::run_via(&socket, &helper::request_of(&pinned)) {
        Ok(Answer::Ran(result)) => Some(Ok(*result)),
        Ok(Answer::Failed(f)) => {
            let code = match f.kind.as_str() {
                "layer-missing" => exit::LAYER_MISSING,
                "interpreter-not-found" => exit::NOT_FOUND,
                "policy" => exit::POLICY,
                _ => exit::SETUP,
            };
            Some(Err((code, f.step, f.message)))
        }
        // Not served there (another jail than the helper's, or this process is more confined
        // than the helper): run here.
        Ok(Answer::Declined(_)) | Err(ClientError::Absent(_)) => None,
        Err(e @ ClientError::Broken { .. }) => Some(Err((exit::SETUP, "helper".into(), e.to_string()))),
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
        mode: JailMode::Script,
        preload: Vec::new(),
    };
    let result = stockade_jail::run(&request).map_err(|e| fail(exit::SETUP, error_chain(&e)))?;
    eprint!("{}", result.stderr);
    print!("{}", learn::render(script, &extends, &result));
    Ok(0)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    stockade_runner::supervisor::error_chain(e)
}

fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

/// Passthrough mode: the script's output has already been streamed; say why stockade stopped it.
fn report_to_stderr(r: &RunResult) {
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
            r.limits.as_ref().map_or(0, |l| l.output_bytes)
        );
    }
    if let Some(isolation) = r.isolation.as_ref().filter(|i| i.degraded) {
        let missing: Vec<&str> = isolation
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

/// A jail built for real under the default policy: what the static checks cannot see (a
/// container runtime's seccomp or AppArmor profile, a masked /proc, ids the namespace does not
/// map) shows here, at the step that fails.
fn trial_jail() -> Result<u64, (String, String)> {
    let started = std::time::Instant::now();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let policy = prepare::effective_policy(&PolicySource::Default, &Overrides::default(), &cwd)
        .map_err(|_| ("policy".to_string(), "the default policy did not load".to_string()))?;
    let request = Request {
        policy,
        program: Program::Code("import sys".into()),
        args: Vec::new(),
        passthrough: false,
        stdin: StdinMode::Null,
        audit_log: None,
        extra_files: Vec::new(),
        internal_files: Vec::new(),
        mode: JailMode::Script,
        preload: Vec::new(),
    };
    match stockade_jail::run(&request) {
        Ok(r) if r.status == Status::Ok => Ok(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        Ok(r) => Err((
            r.error
                .as_ref()
                .map_or_else(|| r.status.name().to_string(), |e| e.step.clone()),
            r.error
                .map(|e| e.message)
                .or(r.reason)
                .unwrap_or_else(|| format!("the trial ended {}", r.status.name())),
        )),
        Err(e) => Err((e.step().name().to_string(), error_chain(&e))),
    }
}

/// What a Kubernetes pod needs for the step that failed (docs/kubernetes.md).
fn pod_hint(step: &str, message: &str) -> &'static str {
    match step {
        "clone" | "unshare" => {
            "the runtime's seccomp profile refuses namespaces: securityContext.seccompProfile.type: Unconfined"
        }
        "id-maps" => "root in the pod needs capabilities SETUID and SETGID (or run the pod as a non-root user)",
        _ if message.contains("mount /proc") => {
            "/proc is masked: securityContext.procMount: Unmasked (with the pod's hostUsers: false)"
        }
        "build-root" | "mounts" => {
            "the runtime's AppArmor profile refuses mounts: securityContext.appArmorProfile.type: Unconfined"
        }
        _ => "see docs/kubernetes.md",
    }
}

fn cmd_doctor(json: bool) -> Result<u8, Failure> {
    let host = HostSupport::probe();
    let interpreter = stockade_jail::interpreter::resolve(None, None);
    let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let trial = trial_jail();
    if json {
        print_json(&serde_json::json!({
            "host": host,
            "interpreter": interpreter.as_ref().map(|p| p.display().to_string()).map_err(ToString::to_string),
            "kubernetes_pod": in_pod,
            "trial": match &trial {
                Ok(ms) => serde_json::json!({"ok": true, "ms": ms}),
                Err((step, message)) => serde_json::json!({
                    "ok": false, "step": step, "message": message,
                    "hint": in_pod.then(|| pod_hint(step, message)),
                }),
            },
        }));
        return Ok(u8::from(trial.is_err()));
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
    if in_pod {
        let _ = writeln!(
            out,
            "  note    running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set)"
        );
    }
    match &trial {
        Ok(ms) => {
            let _ = writeln!(out, "  ok      a trial jail ran under the default policy ({ms} ms)");
        }
        Err((step, message)) => {
            let _ = writeln!(out, "  FAILED  a trial jail, at {step}: {message}");
            if in_pod {
                let _ = writeln!(out, "          in a pod: {}", pod_hint(step, message));
            }
        }
    }
    let ready = host.user_namespaces.is_ok() && host.landlock_abi.is_some() && host.seccomp && trial.is_ok();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path for `stockade run` accepts exactly what the full command line accepts,
    /// with the same meaning; what it refuses, the full parse explains as it always did.
    #[test]
    fn run_alone_parses_as_the_whole_command_line() {
        let cases: &[&[&str]] = &[
            &["stockade", "run", "-c", "print(1)"],
            &["stockade", "run", "--json", "--no-helper", "-c", "x", "a", "-b"],
            &[
                "stockade",
                "run",
                "--policy",
                "p.toml",
                "--timeout",
                "2s",
                "--memory",
                "64M",
                "s.py",
                "--x",
            ],
            &["stockade", "run", "-", "arg"],
            &["stockade", "run", "--audit-log", "-", "--profile", "strict", "s.py"],
            &[
                "stockade",
                "run",
                "--python",
                "/usr/bin/python3.11",
                "--no-guard",
                "-c",
                "pass",
            ],
            &["stockade", "run", "--help"],
            &["stockade", "run", "--version"],
            &["stockade", "run", "--timeout", "soon", "s.py"],
            &["stockade", "run", "--no-such-flag"],
            &["stockade", "run"],
        ];
        let mut accepted = 0;
        for argv in cases {
            match (Cli::try_parse_from(*argv), RunOnly::try_parse_from(*argv)) {
                (
                    Ok(Cli {
                        command: Command::Run(a),
                    }),
                    Ok(RunOnly {
                        command: RunCommand::Run(b),
                    }),
                ) => {
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{argv:?}");
                    accepted += 1;
                }
                (Err(_), Err(_)) => {}
                (Ok(_), Err(e)) => panic!("{argv:?}: only the full command line accepts it: {e}"),
                (Err(e), Ok(_)) => panic!("{argv:?}: only the fast path accepts it: {e}"),
                (Ok(_), Ok(_)) => panic!("{argv:?}: parsed as another command"),
            }
        }
        // All but `--help` and the bad duration (a hyphenated word goes to SCRIPT's arguments).
        assert_eq!(
            accepted,
            cases.len() - 2,
            "the accepted cases must parse (a flag renamed?)"
        );
    }
}
