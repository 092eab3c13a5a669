//! Settings: built-in defaults, then a TOML file, then `STOCKADE_SERVE_*` environment
//! variables, then command-line flags — each layer overrides the one before. Every key is
//! documented in `docs/serve.md` (a test keeps the two in step).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Per-tenant quotas; a tenant's own values override these defaults key by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Quotas {
    /// Runs (and session cells) of the tenant at the same time.
    pub concurrent_runs: u32,
    /// Runs started per rolling minute.
    pub runs_per_minute: u32,
    /// CPU seconds (user + system) per UTC day.
    pub cpu_seconds_per_day: u64,
    /// Cap on a run's wall time, milliseconds (a policy or request asking more gets this).
    pub max_wall_time_ms: u64,
    /// Cap on a run's memory, bytes (a policy asking more is refused).
    pub max_memory_bytes: u64,
    /// Open sessions.
    pub sessions: u32,
    /// Largest request body, bytes (413 above).
    pub max_body_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            concurrent_runs: 4,
            runs_per_minute: 600,
            cpu_seconds_per_day: 3600,
            max_wall_time_ms: 60_000,
            max_memory_bytes: 1 << 30,
            sessions: 4,
            max_body_bytes: 8 << 20,
        }
    }
}

/// Quota overrides stored per tenant: absent keys take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct QuotaOverrides {
    /// See [`Quotas::concurrent_runs`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub concurrent_runs: Option<u32>,
    /// See [`Quotas::runs_per_minute`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub runs_per_minute: Option<u32>,
    /// See [`Quotas::cpu_seconds_per_day`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cpu_seconds_per_day: Option<u64>,
    /// See [`Quotas::max_wall_time_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10))]
    pub max_wall_time_ms: Option<u64>,
    /// See [`Quotas::max_memory_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 16777216))]
    pub max_memory_bytes: Option<u64>,
    /// See [`Quotas::sessions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u32>,
    /// See [`Quotas::max_body_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024))]
    pub max_body_bytes: Option<u64>,
}

impl QuotaOverrides {
    /// These overrides on top of `defaults`.
    #[must_use]
    pub fn apply(&self, d: &Quotas) -> Quotas {
        Quotas {
            concurrent_runs: self.concurrent_runs.unwrap_or(d.concurrent_runs),
            runs_per_minute: self.runs_per_minute.unwrap_or(d.runs_per_minute),
            cpu_seconds_per_day: self.cpu_seconds_per_day.unwrap_or(d.cpu_seconds_per_day),
            max_wall_time_ms: self.max_wall_time_ms.unwrap_or(d.max_wall_time_ms),
            max_memory_bytes: self.max_memory_bytes.unwrap_or(d.max_memory_bytes),
            sessions: self.sessions.unwrap_or(d.sessions),
            max_body_bytes: self.max_body_bytes.unwrap_or(d.max_body_bytes),
        }
    }

    /// Every value in range; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let checks: [(&str, Option<u64>, u64); 7] = [
            ("concurrent_runs", self.concurrent_runs.map(u64::from), 1),
            ("runs_per_minute", self.runs_per_minute.map(u64::from), 1),
            ("cpu_seconds_per_day", self.cpu_seconds_per_day, 1),
            ("max_wall_time_ms", self.max_wall_time_ms, 10),
            ("max_memory_bytes", self.max_memory_bytes, 16 << 20),
            ("sessions", self.sessions.map(u64::from), 0),
            ("max_body_bytes", self.max_body_bytes, 1024),
        ];
        for (name, value, min) in checks {
            if let Some(v) = value {
                if v < min {
                    return Err((format!("quotas.{name}"), format!("must be at least {min}")));
                }
            }
        }
        Ok(())
    }
}

/// JWT bearer tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct JwtSettings {
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// The HS256 secret is read from this environment variable (never from a file in the repo).
    pub hs256_secret_env: Option<String>,
    /// A PEM file with an RSA public key (RS256).
    pub rs256_public_key: Option<PathBuf>,
    /// A PEM file with an Ed25519 public key (EdDSA).
    pub eddsa_public_key: Option<PathBuf>,
    /// A JWKS file (keys chosen by `kid`; each key's own `alg`).
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL, fetched at start and every `jwks_refresh_seconds`.
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_seconds: u64,
    /// The claim naming the tenant.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// The claim naming the role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
}

impl Default for JwtSettings {
    fn default() -> JwtSettings {
        JwtSettings {
            issuer: None,
            audience: None,
            hs256_secret_env: None,
            rs256_public_key: None,
            eddsa_public_key: None,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_seconds: default_jwks_refresh(),
            tenant_claim: default_tenant_claim(),
            role_claim: default_role_claim(),
        }
    }
}

fn default_jwks_refresh() -> u64 {
    300
}

fn default_tenant_claim() -> String {
    "tenant".into()
}
fn default_role_claim() -> String {
    "role".into()
}

/// Every setting of `stockade serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// Database URL: `sqlite://PATH` or `postgres://...`; empty: SQLite in `data_dir`.
    pub database: String,
    /// Where the SQLite database lives by default.
    pub data_dir: PathBuf,
    /// This server's name in the store (runs it accepted are marked lost by it after a crash).
    /// Empty: `<hostname>:<port>`.
    pub instance: String,
    /// Warm workers per (tenant, policy) pool.
    pub pool_size: usize,
    /// Start the default tenant's pool at start, so `/readyz` can pass.
    pub prewarm: bool,
    /// Pools with no run for this long are closed.
    pub pool_idle_seconds: u64,
    /// Runs executing at once across all tenants.
    pub max_concurrent_runs: usize,
    /// Runs waiting for a free slot beyond that; more get 429.
    pub queue: usize,
    /// Sessions idle this long are closed.
    pub session_idle_seconds: u64,
    /// On SIGTERM, running runs may finish for this long; the rest are killed.
    pub drain_seconds: u64,
    /// A client must send its request headers within this.
    pub header_timeout_ms: u64,
    /// ... and its body within this.
    pub body_timeout_ms: u64,
    /// Largest body the server reads at all (tenants have their own, smaller, quota).
    pub max_body_bytes: u64,
    /// Audit records older than this are removed (0: kept forever); the chain stays verifiable.
    pub audit_retention_days: u64,
    /// The policy (a TOML file) of tenants that have none; empty: the built-in strict profile.
    pub default_policy: Option<PathBuf>,
    /// Quotas of tenants that set none.
    pub quotas: Quotas,
    /// JWT verification (off unless a key is configured).
    pub jwt: JwtSettings,
    /// OTLP/HTTP endpoint for traces (e.g. `http://127.0.0.1:4318`); empty: off.
    pub otlp_endpoint: Option<String>,
    /// Tenants' host functions (webhooks): where they may be, and per-run limits.
    pub functions: crate::functions::FunctionSettings,
    /// The URL other servers sharing the database reach this one at (forwarded session
    /// requests); empty: `http://` + the address it listens on.
    pub advertise_url: String,
    /// How often this server records that it is alive.
    pub heartbeat_ms: u64,
    /// A server silent for this long is dead: its runs are marked lost, its sessions closed.
    pub peer_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen: "127.0.0.1:8321".into(),
            database: String::new(),
            data_dir: default_data_dir(),
            instance: String::new(),
            pool_size: 2,
            prewarm: true,
            pool_idle_seconds: 300,
            max_concurrent_runs: 8,
            queue: 64,
            session_idle_seconds: 300,
            drain_seconds: 30,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            max_body_bytes: 64 << 20,
            audit_retention_days: 0,
            default_policy: None,
            quotas: Quotas::default(),
            jwt: JwtSettings::default(),
            otlp_endpoint: None,
            functions: crate::functions::FunctionSettings::default(),
            advertise_url: String::new(),
            heartbeat_ms: 2_000,
            peer_timeout_ms: 30_000,
        }
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("stockade");
    }
    if nix_is_root() {
        return PathBuf::from("/var/lib/stockade");
    }
    std::env::var_os("HOME").map_or_else(
        || PathBuf::from(".stockade"),
        |h| PathBuf::from(h).join(".local/share/stockade"),
    )
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The environment prefix: `STOCKADE_SERVE_LISTEN`, `STOCKADE_SERVE_QUOTAS__CONCURRENT_RUNS`.
pub const ENV_PREFIX: &str = "STOCKADE_SERVE_";

/// A settings error: which layer, which key, why.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct SettingsError {
    /// The file, the variable or the flag.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

impl Settings {
    /// Defaults ← `file` ← environment (`vars`) ← `flags` (`key=value` pairs, dotted keys).
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        flags: &[(String, String)],
    ) -> Result<Settings, SettingsError> {
        let mut table = toml::Table::try_from(Settings::default()).map_err(|e| SettingsError {
            source_name: "defaults".into(),
            message: e.to_string(),
        })?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| SettingsError {
                source_name: path.display().to_string(),
                message: e.to_string(),
            })?;
            let file_table: toml::Table = toml::from_str(&text).map_err(|e| SettingsError {
                source_name: path.display().to_string(),
                message: e.to_string(),
            })?;
            merge(&mut table, file_table);
            check(&table, &path.display().to_string())?;
        }
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let dotted = key.to_ascii_lowercase().replace("__", ".");
            set_dotted(&mut table, &dotted, &value);
            check(&table, &name)?;
        }
        for (key, value) in flags {
            set_dotted(&mut table, key, value);
            check(&table, &format!("--{}", key.replace('_', "-")))?;
        }
        let settings: Settings = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError {
                source_name: "settings".into(),
                message: e.to_string(),
            })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let bad = |k: &str, m: &str| SettingsError {
            source_name: k.into(),
            message: m.into(),
        };
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad("listen", "must be an address:port such as 127.0.0.1:8321"));
        }
        if self.max_concurrent_runs == 0 {
            return Err(bad("max_concurrent_runs", "must be at least 1"));
        }
        if self.pool_size == 0 {
            return Err(bad("pool_size", "must be at least 1"));
        }
        self.functions.rules().map_err(|m| bad("functions", &m))?;
        if self.heartbeat_ms < 100 || self.peer_timeout_ms < self.heartbeat_ms.saturating_mul(3) {
            return Err(bad(
                "peer_timeout_ms",
                "heartbeat_ms must be at least 100 and peer_timeout_ms at least three heartbeats",
            ));
        }
        let overrides = QuotaOverrides {
            concurrent_runs: Some(self.quotas.concurrent_runs),
            runs_per_minute: Some(self.quotas.runs_per_minute),
            cpu_seconds_per_day: Some(self.quotas.cpu_seconds_per_day),
            max_wall_time_ms: Some(self.quotas.max_wall_time_ms),
            max_memory_bytes: Some(self.quotas.max_memory_bytes),
            sessions: Some(self.quotas.sessions),
            max_body_bytes: Some(self.quotas.max_body_bytes),
        };
        overrides.validate().map_err(|(k, m)| bad(&k, &m))
    }

    /// The database URL to use.
    #[must_use]
    pub fn database_url(&self) -> String {
        if self.database.is_empty() {
            format!("sqlite://{}", self.data_dir.join("stockade.db").display())
        } else {
            self.database.clone()
        }
    }

    /// This server's instance name.
    #[must_use]
    pub fn instance_name(&self) -> String {
        if self.instance.is_empty() {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}:{}", host.trim(), self.listen.rsplit(':').next().unwrap_or(""))
        } else {
            self.instance.clone()
        }
    }
}

/// Deserialize the table as it stands so an error names the layer that caused it.
fn check(table: &toml::Table, source_name: &str) -> Result<(), SettingsError> {
    toml::Value::Table(table.clone())
        .try_into::<Settings>()
        .map(|_| ())
        .map_err(|e| SettingsError {
            source_name: source_name.into(),
            message: e.to_string().trim().to_string(),
        })
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Set `a.b.c` to `raw`, read as a TOML value when it is one (numbers, booleans), else a string.
fn set_dotted(table: &mut toml::Table, dotted: &str, raw: &str) {
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut t = table;
    for p in parts {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = entry else { return };
        t = inner;
    }
    t.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("serve.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:9000\"\npool_size = 3\n[quotas]\nsessions = 7\n",
        )
        .unwrap();
        let s = Settings::load(Some(&f), [], &[]).unwrap();
        assert_eq!(
            (s.listen.as_str(), s.pool_size, s.quotas.sessions),
            ("127.0.0.1:9000", 3, 7)
        );
        let env = [
            ("STOCKADE_SERVE_POOL_SIZE".to_string(), "5".to_string()),
            ("STOCKADE_SERVE_QUOTAS__SESSIONS".to_string(), "9".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let s = Settings::load(Some(&f), env.clone(), &[]).unwrap();
        assert_eq!((s.pool_size, s.quotas.sessions), (5, 9));
        let s = Settings::load(Some(&f), env, &[("pool_size".into(), "6".into())]).unwrap();
        assert_eq!((s.listen.as_str(), s.pool_size), ("127.0.0.1:9000", 6));
    }

    #[test]
    fn errors_name_their_layer() {
        let e = Settings::load(
            None,
            [("STOCKADE_SERVE_POOL_SIZE".to_string(), "many".to_string())],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.source_name, "STOCKADE_SERVE_POOL_SIZE");
        let e = Settings::load(None, [("STOCKADE_SERVE_NOPE".to_string(), "1".to_string())], &[]).unwrap_err();
        assert!(e.message.contains("nope"), "{e}");
        let e = Settings::load(None, [], &[("listen".into(), "nowhere".into())]).unwrap_err();
        assert_eq!(e.source_name, "listen");
    }
}
