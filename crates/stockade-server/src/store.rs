//! The store: one schema on SQLite (the embedded default) and PostgreSQL, through sqlx's `Any`
//! driver. Every query uses `$N` placeholders in increasing order (SQLite numbers named
//! parameters by first appearance) and only the types both backends share (BIGINT, TEXT).
//!
//! What must hold across several server processes on one PostgreSQL is decided inside one
//! transaction that first locks a row: admission (concurrency, rate, CPU per day, sessions)
//! locks the tenant's row, and an audit append locks the chain's head. On SQLite the first write
//! of a transaction takes the database's write lock, which serialises the same way.
//!
//! The three transactions of every run (authentication, admission, the run's end) have a
//! faster path per backend, because statement-by-statement they cost more than the HTTP
//! service around them: on SQLite they run as one call each on a connection of their own, on
//! its own thread ([`SqliteConn`]), on PostgreSQL as one round trip each (a function for admission, one
//! statement for the end). Everything else goes through sqlx statement by
//! statement.

use std::time::Duration;

use std::sync::Arc;

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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                StoreError::Conflict
            }
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
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
    /// SQLite: the connection of the hot paths, on its own thread.
    pub(crate) sqlite: Option<Arc<SqliteConn>>,
}

type Job = Box<dyn FnOnce(&mut rusqlite::Connection) + Send>;

/// The SQLite connection of the hot paths, owned by one thread: a call runs a whole transaction
/// there — one hand-off between threads per transaction, where sqlx's SQLite driver sends each
/// statement to its worker thread and back (42 % of the server's samples were those context
/// switches). Running the calls on the calling thread instead saved the hand-off (~75 µs a
/// call) but spread SQLite's allocations (the C library's, per thread) over every thread, and
/// the server's memory grew in a soak; one thread keeps it flat.
///
/// Two connections write the file, this one and sqlx's (for everything but the hot paths):
/// this one starts every transaction with `BEGIN IMMEDIATE`, and every sqlx transaction's first
/// statement writes, so each waits for the other under `busy_timeout`; neither ever upgrades a
/// read lock, the case that fails at once with `SQLITE_BUSY`.
///
/// Its commits never checkpoint the WAL themselves (a checkpoint inside a commit is
/// milliseconds on that run's path): another thread does, with a connection of its own, every
/// 50 ms after writes, without blocking the writers (`PASSIVE`).
pub(crate) struct SqliteConn {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Dropped with this: the checkpointer then stops.
    _checkpoints: std::sync::mpsc::Sender<()>,
}

impl SqliteConn {
    fn open(path: &str) -> StoreResult<SqliteConn> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0")?;
        conn.set_prepared_statement_cache_capacity(64);
        let checkpointer = rusqlite::Connection::open(path)?;
        checkpointer.busy_timeout(Duration::from_secs(10))?;
        let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let counted = writes.clone();
        std::thread::Builder::new()
            .name("stockade-sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("stockade-sqlite-checkpoint".into())
            .spawn(move || {
                // After 200 commits, or a second after the last checkpoint when any is unsaved: a checkpoint
                // copies each page once however often it changed, so the hot pages (the audit
                // head, the tenant's row, the indexes' roots) are copied a few times a second,
                // not at every commit (every 50 ms cost ~6 % of the server's CPU per run).
                let (mut seen, mut since) = (0, std::time::Instant::now());
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_millis(50))
                {
                    let now = writes.load(std::sync::atomic::Ordering::Relaxed);
                    if now >= seen + 200 || (now != seen && since.elapsed() >= Duration::from_secs(1)) {
                        seen = now;
                        since = std::time::Instant::now();
                        if let Err(e) = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                            tracing::warn!("SQLite checkpoint: {e}");
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteConn {
            jobs: tx,
            _checkpoints: stop,
        })
    }

    /// Run `f` (one transaction) on the connection's thread.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| StoreError::Unavailable("the SQLite connection is closed".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the SQLite connection is closed".into()))?
    }
}

/// Run a blocking engine call (it waits on a worker's answer). On the multi-threaded runtime it
/// runs right here, on this worker thread, while tokio hands the thread's other tasks to
/// another: no hand-off to a blocking thread and back (two wake-ups, a measurable part of what
/// the service adds to a run). On a current-thread runtime (tests) it goes to a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        Ok(tokio::task::block_in_place(f))
    } else {
        tokio::task::spawn_blocking(f).await
    }
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
    (
        4,
        &[
            // The hash before the head's: PostgreSQL's one-statement append sets it from the
            // old hash in the UPDATE that locks the head, and RETURNING hands it to the INSERT.
            "ALTER TABLE audit_head ADD COLUMN prev TEXT NOT NULL DEFAULT ''",
            "UPDATE audit_head SET prev = COALESCE((SELECT a.prev FROM audit a WHERE a.seq = audit_head.seq), '')",
        ],
    ),
    (
        5,
        &[
            // A tenant's host functions (JSON), on the row authentication reads anyway: a run
            // learns its functions without a query of its own.
            "ALTER TABLE tenants ADD COLUMN functions TEXT",
        ],
    ),
    (
        6,
        &[
            // The servers sharing this database: where each is reached, and its heartbeat
            // (replicas.rs).
            "CREATE TABLE IF NOT EXISTS instances (name TEXT PRIMARY KEY, address TEXT NOT NULL, \
             started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL)",
        ],
    ),
    (
        7,
        &[
            // The dashboard's signed-in sessions, by the SHA-256 of their id, shared by every
            // replica (dashboard.rs).
            "CREATE TABLE IF NOT EXISTS dashboard_sessions (digest TEXT PRIMARY KEY, tenant TEXT NOT NULL, \
             role TEXT NOT NULL, key_id TEXT NOT NULL, csrf TEXT NOT NULL, expires_at BIGINT NOT NULL, \
             last_seen BIGINT NOT NULL, api_key TEXT)",
        ],
    ),
];

/// PostgreSQL only: admission as one function call, so one round trip (see `admit_run`).
/// Replaced on every start (under the migration lock), so it always matches this binary; the
/// version in its name changes with its arguments. In a PL/pgSQL function each statement takes
/// a new snapshot, so the counts read after the `UPDATE` that locks the tenant's row see every
/// run admitted by whoever held that lock before — one statement with CTEs would count from
/// before the lock.
/// The decision mirrors `records::check` (same order, same float arithmetic).
const PG_FUNCTIONS: &[&str] = &[r#"
CREATE OR REPLACE FUNCTION stockade_admit_run_v1(
    p_tenant TEXT, p_now BIGINT, p_concurrent BIGINT, p_per_minute BIGINT, p_cpu_ms BIGINT,
    p_id TEXT, p_key TEXT, p_session TEXT, p_instance TEXT, p_state TEXT, p_started BIGINT,
    p_sha TEXT, p_code TEXT)
RETURNS TABLE (o_refused TEXT, o_cur BIGINT, o_prev BIGINT, o_running BIGINT, o_cpu BIGINT)
LANGUAGE plpgsql AS $f$
DECLARE
    v_minute BIGINT := p_now / 60000;
    v_into BIGINT := p_now % 60000;
    v_day BIGINT := p_now - p_now % 86400000;
BEGIN
    -- Lock the tenant's row and count this run in its rate window (undone below if refused).
    UPDATE tenants t SET admit_seq = t.admit_seq + 1,
        rate_prev = CASE WHEN t.rate_minute = v_minute THEN t.rate_prev
                         WHEN t.rate_minute = v_minute - 1 THEN t.rate_cur ELSE 0 END,
        rate_cur = CASE WHEN t.rate_minute = v_minute THEN t.rate_cur + 1 ELSE 1 END,
        rate_minute = v_minute
        WHERE t.id = p_tenant RETURNING t.rate_cur, t.rate_prev INTO o_cur, o_prev;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT (SELECT COUNT(*) FROM runs r WHERE r.tenant = p_tenant AND r.state IN ('queued', 'running')),
           (SELECT CAST(COALESCE(SUM(u.cpu_ms), 0) AS BIGINT) FROM usage_days u
             WHERE u.tenant = p_tenant AND u.day = v_day)
        INTO o_running, o_cpu;
    IF o_running >= p_concurrent THEN
        o_refused := 'concurrent_runs';
    ELSIF CAST(o_cur - 1 AS FLOAT8)
          + CEIL(CAST(o_prev AS FLOAT8) * CAST(60000 - v_into AS FLOAT8) / CAST(60000 AS FLOAT8))
          >= CAST(p_per_minute AS FLOAT8) THEN
        o_refused := 'runs_per_minute';
    ELSIF GREATEST(o_cpu, 0) >= p_cpu_ms THEN
        o_refused := 'cpu_seconds_per_day';
    END IF;
    IF o_refused IS NULL THEN
        INSERT INTO runs (id, tenant, key_id, session_id, instance, state, created_at, started_at, code_sha256, code)
            VALUES (p_id, p_tenant, p_key, p_session, p_instance, p_state, p_now, p_started, p_sha, p_code);
    ELSE
        -- A refusal does not count. (If the minute moved on, the shifted window with nothing
        -- in this minute counts exactly as the old one would have.)
        UPDATE tenants SET rate_cur = rate_cur - 1 WHERE id = p_tenant;
    END IF;
    RETURN NEXT;
END
$f$"#];

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
            // sqlx pings a connection before lending it (and again when it comes back): on
            // PostgreSQL a round trip more on every request's path. Only a connection idle for
            // a while is checked first (after an outage those are the dead ones); one that
            // fails in use is closed by the check on its return.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= Duration::from_secs(1) {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
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
        let mut store = Store {
            pool,
            backend,
            sqlite: None,
        };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            // The file sqlx opened (and migrated), by its absolute path.
            let file: String = sqlx::query("PRAGMA database_list")
                .fetch_all(&store.pool)
                .await?
                .iter()
                .find(|r| r.try_get::<String, _>(1).is_ok_and(|n| n == "main"))
                .and_then(|r| r.try_get::<String, _>(2).ok())
                .unwrap_or_default();
            if file.is_empty() {
                return Err(StoreError::Unavailable(
                    "SQLite needs a file (sqlite://PATH), not an in-memory database".into(),
                ));
            }
            store.sqlite = Some(Arc::new(SqliteConn::open(&file)?));
        }
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
            if self.backend == Backend::Postgres {
                for f in PG_FUNCTIONS {
                    sqlx::raw_sql(f).execute(&mut *conn).await?;
                }
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
