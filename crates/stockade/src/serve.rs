//! `stockade serve` and `stockade audit`: thin over `stockade-server` (the audit store) and
//! `stockade-audit` (the dependency audit).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use stockade_runner::client::Launcher;
use stockade_server::Settings;

/// Flags of `stockade serve` (each overrides the file and the environment).
#[derive(Args)]
pub struct ServeArgs {
    /// Settings file (TOML; see docs/serve.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8321).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Database URL: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Data directory of the default SQLite database.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// This server's name in the store.
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    /// Warm workers per (tenant, policy) pool.
    #[arg(long, value_name = "N")]
    pool_size: Option<usize>,
    /// Runs executing at once across all tenants.
    #[arg(long, value_name = "N")]
    max_concurrent_runs: Option<usize>,
    /// Runs waiting for a slot beyond that.
    #[arg(long, value_name = "N")]
    queue: Option<usize>,
    /// Seconds running runs may take to finish after SIGTERM.
    #[arg(long, value_name = "SECS")]
    drain_seconds: Option<u64>,
    /// Any other setting, as KEY=VALUE with a dotted key (`quotas.sessions=8`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Load and check the settings, print them (the database URL without its password), and
    /// exit without serving.
    #[arg(long)]
    check: bool,
}

/// `stockade audit [PATH ...]` audits dependencies; its subcommands work on the service's audit
/// store, or fetch the advisory database.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    #[command(flatten)]
    deps: DepsAuditArgs,
}

/// `stockade audit …` subcommands.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the service's audit chain: exit 0 if every record is intact, 1 naming the first that is not.
    Verify(StoreArgs),
    /// Write the service's audit trail as JSON Lines to stdout.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// Download OSV's PyPI advisories (the export zip) to the database file; needs a network.
    UpdateDb {
        /// Where to write the zip (default: $STOCKADE_AUDIT_DB, else ~/.cache/stockade/osv-pypi.zip).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
    },
}

/// Flags of the dependency audit (docs/audit.md).
#[derive(Args)]
pub struct DepsAuditArgs {
    /// requirements files, pylock.toml, uv.lock, poetry.lock, venvs or project directories
    /// (default: the current directory's lock and requirements files, else its .venv or venv).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Advisory database: a directory of OSV JSON files or the PyPI export zip (default:
    /// $STOCKADE_AUDIT_DB, else ~/.cache/stockade/osv-pypi.zip, written by `update-db`).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Output format: text, json or sarif (2.1.0).
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif"])]
    format: String,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Ignore file: TOML `[[ignore]]` entries with id, reason and expires (a date).
    #[arg(long, value_name = "FILE")]
    ignore: Option<PathBuf>,
    /// Exit 1 when an unignored finding is at or above this severity (low, medium, high,
    /// critical); a finding of unknown severity always counts.
    #[arg(long, default_value = "low", value_name = "LEVEL", value_parser = ["low", "medium", "high", "critical"])]
    fail_on: String,
}

/// Which store (the same settings as `stockade serve`).
#[derive(Args)]
pub struct StoreArgs {
    /// Settings file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Data directory of the default SQLite database.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn load(config: Option<&PathBuf>, flags: &[(String, String)]) -> Result<Settings, String> {
    Settings::load(config.map(PathBuf::as_path), std::env::vars(), flags).map_err(|e| e.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// `stockade serve`.
pub fn cmd_serve(a: ServeArgs) -> Result<u8, String> {
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            flags.push((k.into(), toml_string(&v)));
        }
    };
    put("listen", a.listen);
    put("database", a.database);
    put("data_dir", a.data_dir.map(|d| d.display().to_string()));
    put("instance", a.instance);
    for (k, v) in [
        ("pool_size", a.pool_size.map(|n| n.to_string())),
        ("max_concurrent_runs", a.max_concurrent_runs.map(|n| n.to_string())),
        ("queue", a.queue.map(|n| n.to_string())),
        ("drain_seconds", a.drain_seconds.map(|n| n.to_string())),
    ] {
        if let Some(v) = v {
            flags.push((k.into(), v));
        }
    }
    for kv in &a.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
        flags.push((k.trim().to_string(), v.to_string()));
    }
    let settings = load(a.config.as_ref(), &flags)?;
    if a.check {
        let mut shown = settings.clone();
        shown.database = stockade_server::store::redact_url(&shown.database);
        let text = toml::to_string(&shown).map_err(|e| e.to_string())?;
        let _ = writeln!(std::io::stdout(), "{text}");
        return Ok(0);
    }
    // The service's warnings (a store write retried, a database error behind a 503) on stderr.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .try_init();
    let launcher = Launcher::this_executable().map_err(|e| format!("cannot find this executable: {e}"))?;
    runtime()?
        .block_on(stockade_server::serve(settings, launcher))
        .map_err(|e| e.to_string())?;
    Ok(0)
}

/// A flag's value as a TOML string (so `--listen 1.2.3.4:5` is not read as something else).
fn toml_string(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// Exit code of the dependency audit when it could not be done (bad usage, an unreadable file or
/// database, no network for `update-db`); 1 is for findings.
const AUDIT_ERROR: u8 = 2;

/// `stockade audit`: the dependency audit, `update-db`, or the store's `verify` / `export`
/// (whose errors keep exit 125).
pub fn cmd_audit(a: AuditArgs) -> Result<u8, (u8, String)> {
    match a.command {
        None => audit_deps(a.deps).map_err(|e| (AUDIT_ERROR, e.to_string())),
        Some(AuditCommand::UpdateDb { db }) => update_db(db).map_err(|e| (AUDIT_ERROR, e.to_string())),
        Some(AuditCommand::Verify(store)) => audit_store(&store, None).map_err(|m| (125, m)),
        Some(AuditCommand::Export { store, after }) => audit_store(&store, Some(after)).map_err(|m| (125, m)),
    }
}

fn audit_db_path(flag: Option<PathBuf>) -> Result<PathBuf, stockade_audit::Error> {
    flag.or_else(stockade_audit::db::default_path).ok_or_else(|| {
        stockade_audit::Error::Usage("no --db given and no home directory for the default database".into())
    })
}

fn audit_deps(a: DepsAuditArgs) -> Result<u8, stockade_audit::Error> {
    use stockade_audit::{report, Level};
    let threshold = Level::threshold(&a.fail_on).unwrap_or(Level::Low);
    let format = report::Format::parse(&a.format).unwrap_or(report::Format::Text);
    let mut inventory = stockade_audit::Inventory::default();
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        a.paths
    };
    for p in &paths {
        inventory.read(p)?;
    }
    let db = stockade_audit::Database::open_for(&audit_db_path(a.db)?, &inventory.names())?;
    let ignores = match &a.ignore {
        Some(f) => stockade_audit::ignore::load(f)?,
        None => Vec::new(),
    };
    let report = stockade_audit::audit(&inventory, &db, &ignores, stockade_audit::Date::today());
    let text = report::render(&report, format, threshold);
    match &a.output {
        Some(f) => std::fs::write(f, text).map_err(|e| stockade_audit::Error::Io {
            path: f.clone(),
            source: e,
        })?,
        None => print!("{text}"),
    }
    Ok(u8::from(report.failing(threshold) > 0))
}

fn update_db(db: Option<PathBuf>) -> Result<u8, stockade_audit::Error> {
    let path = audit_db_path(db)?;
    // A mirror (or a test's local server) can stand in for OSV's bucket.
    let url = std::env::var("STOCKADE_AUDIT_DB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| stockade_audit::db::PYPI_EXPORT_URL.to_string());
    let got = stockade_audit::db::update(&path, &url)?;
    println!(
        "{}: {} records ({} bytes) from {url}",
        path.display(),
        got.records,
        got.bytes
    );
    Ok(0)
}

/// `verify` (no `after`) or `export`.
fn audit_store(store_args: &StoreArgs, after: Option<i64>) -> Result<u8, String> {
    let mut flags = Vec::new();
    if let Some(d) = &store_args.database {
        flags.push(("database".to_string(), toml_string(d)));
    }
    if let Some(d) = &store_args.data_dir {
        flags.push(("data_dir".to_string(), toml_string(&d.display().to_string())));
    }
    let settings = load(store_args.config.as_ref(), &flags)?;
    runtime()?.block_on(async move {
        let store = stockade_server::open_store(&settings)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(after) = after {
            let mut out = std::io::stdout().lock();
            store.export_audit(after, &mut out).await.map_err(|e| e.to_string())?;
            return Ok(0);
        }
        let v = store.verify_audit().await.map_err(|e| e.to_string())?;
        match v.problem {
            None => {
                println!("audit chain intact: {} records, head {}", v.records, v.head_seq);
                Ok(0)
            }
            Some(p) => {
                println!("audit chain BROKEN after {} intact records: {p}", v.records);
                Ok(1)
            }
        }
    })
}
