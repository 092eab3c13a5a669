//! The store: one schema on SQLite (the embedded default) and PostgreSQL, through sqlx's `Any`
//! driver. Every query uses `$N` placeholders in increasing order (SQLite numbers named
//! parameters by first appearance) and only the types both backends share (BIGINT, TEXT).
//!
//! What must hold across several server processes on one PostgreSQL is decided inside one
//! transaction that first locks a row: admission (concurrency, rate, CPU per day, sessions)
//! locks the tenant's row, and an audit append locks the chain's head. On SQLite the first write
//! of a transaction takes the database's write lock, which serialises the same way.

use std::time::Duration;

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or failed; a 503 for the client.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row that should exist does not.
    #[error("not found")]
    NotFound,
    /// A row that must be unique already exists.
    #[error("already exists")]
    Conflict,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The database.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// Which backend.
    pub backend: Backend,
}

/// The schema, in order; each step runs once (recorded in `schema_migrations`).
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL, \
         policy TEXT, quotas TEXT NOT NULL, admit_seq BIGINT NOT NULL DEFAULT 0)",
            "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, role TEXT NOT NULL, \
         name TEXT NOT NULL, hash TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL, \
         expires_at BIGINT, revoked_at BIGINT, last_used_at BIGINT)",
            "CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant)",
            "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, key_id TEXT NOT NULL, \
         session_id TEXT, instance TEXT NOT NULL, state TEXT NOT NULL, status TEXT, created_at BIGINT NOT NULL, \
         started_at BIGINT, finished_at BIGINT, code_sha256 TEXT NOT NULL, wall_ms BIGINT, \
         cpu_ms BIGINT NOT NULL DEFAULT 0, violations BIGINT NOT NULL DEFAULT 0, code TEXT NOT NULL, result TEXT)",
            "CREATE INDEX IF NOT EXISTS runs_tenant_created ON runs (tenant, created_at)",
            "CREATE INDEX IF NOT EXISTS runs_state ON runs (state, instance)",
            "CREATE TABLE IF NOT EXISTS violations (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, tenant TEXT NOT NULL, \
         key_id TEXT NOT NULL, at BIGINT NOT NULL, rule TEXT NOT NULL, event TEXT NOT NULL, decision TEXT NOT NULL, \
         detail TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS violations_tenant_at ON violations (tenant, at)",
            "CREATE INDEX IF NOT EXISTS violations_run ON violations (run_id)",
            "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, key_id TEXT NOT NULL, \
         instance TEXT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT NOT NULL, \
         closed_at BIGINT, reason TEXT)",
            "CREATE INDEX IF NOT EXISTS sessions_tenant_state ON sessions (tenant, state)",
            "CREATE TABLE IF NOT EXISTS audit (seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, tenant TEXT, \
         actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT, detail TEXT NOT NULL, prev TEXT NOT NULL, \
         hash TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS audit_tenant ON audit (tenant, seq)",
            "CREATE TABLE IF NOT EXISTS audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, \
         pruned_seq BIGINT NOT NULL, pruned_hash TEXT NOT NULL)",
            "INSERT INTO audit_head (id, seq, hash, pruned_seq, pruned_hash) \
         VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, \
         '0000000000000000000000000000000000000000000000000000000000000000') ON CONFLICT DO NOTHING",
        ],
    ),
    (
        2,
        &[
            // Admission counts a tenant's runs in progress: without this index that read walks
            // every run the tenant ever had.
            "CREATE INDEX IF NOT EXISTS runs_tenant_state ON runs (tenant, state)",
            // CPU per tenant and UTC day, kept as a counter so admission reads one row.
            "CREATE TABLE IF NOT EXISTS usage_days (tenant TEXT NOT NULL, day BIGINT NOT NULL, \
             cpu_ms BIGINT NOT NULL, runs BIGINT NOT NULL, PRIMARY KEY (tenant, day))",
            "INSERT INTO usage_days (tenant, day, cpu_ms, runs) \
             SELECT tenant, created_at - (created_at % 86400000), CAST(SUM(cpu_ms) AS BIGINT), COUNT(*) FROM runs \
             GROUP BY tenant, created_at - (created_at % 86400000) ON CONFLICT DO NOTHING",
        ],
    ),
    (
        3,
        &[
            // The rate window lives on the tenant's row, which admission locks anyway: runs
            // admitted in this minute and the one before (a sliding-window estimate), O(1).
            "ALTER TABLE tenants ADD COLUMN rate_minute BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tenants ADD COLUMN rate_cur BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tenants ADD COLUMN rate_prev BIGINT NOT NULL DEFAULT 0",
        ],
    ),
];

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Connect (creating a SQLite file if needed) and bring the schema up to date.
    pub async fn open(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL (use sqlite://PATH or postgres://...): {}",
                redact_url(url)
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let opts = AnyPoolOptions::new()
            // SQLite: one connection. Its writers serialise on the file lock anyway, and a
            // deferred transaction on a second connection can fail at once with SQLITE_BUSY
            // (busy_timeout does not cover a read lock's upgrade); one connection never does.
            .max_connections(match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            });
        let pool = opts
            .connect(&url)
            .await
            .map_err(|e| StoreError::Unavailable(redact_url(&e.to_string())))?;
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            // Two servers starting together on one database: one migrates, the other waits.
            sqlx::query("SELECT pg_advisory_lock(7263540211)")
                .execute(&mut *conn)
                .await?;
        }
        let outcome = async {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *conn)
            .await?;
            for (version, steps) in MIGRATIONS {
                let done: i64 = sqlx::query("SELECT COUNT(*) FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                if done > 0 {
                    continue;
                }
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                for step in *steps {
                    sqlx::query(step).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(*version)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock(7263540211)")
                .execute(&mut *conn)
                .await?;
        }
        outcome.map_err(StoreError::from)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database URL with any password replaced (for messages and logs).
#[must_use]
pub fn redact_url(s: &str) -> String {
    // postgres://user:password@host → postgres://user:***@host, wherever it appears in `s`.
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', ' ', '"', '\'']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        } else {
            out.push_str(authority);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Read an optional BIGINT column.
pub(crate) fn opt_i64(row: &AnyRow, col: &str) -> StoreResult<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

/// A page of query results and the cursor for the next.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Page<T> {
    /// The items, newest first (audit: oldest first).
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("error connecting to postgres://u:p@h/db: refused"),
            "error connecting to postgres://u:***@h/db: refused"
        );
        assert_eq!(redact_url("sqlite:///x/y.db"), "sqlite:///x/y.db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
