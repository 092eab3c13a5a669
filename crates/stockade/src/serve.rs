//! `stockade serve` and `stockade audit`: thin over `stockade-server`.

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
}

/// `stockade audit …`.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the audit chain: exit 0 if every record is intact, 1 naming the first that is not.
    Verify(StoreArgs),
    /// Write the audit trail as JSON Lines to stdout.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
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

/// `stockade audit`.
pub fn cmd_audit(c: AuditCommand) -> Result<u8, String> {
    let (store_args, after) = match &c {
        AuditCommand::Verify(s) => (s, None),
        AuditCommand::Export { store, after } => (store, Some(*after)),
    };
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
