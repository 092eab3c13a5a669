//! The service's records and their queries: tenants, API keys, runs, violations, sessions.
//! Admission (every quota that the database counts) is one transaction per request.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use stockade_protocol::result::Violation;
use stockade_protocol::RunResult;

use crate::audit::{self, Entry};
use crate::config::{QuotaOverrides, Quotas};
use crate::functions::{self, StoredFunction};
use crate::roles::Role;
use crate::store::{now_ms, opt_i64, Page, Store, StoreError, StoreResult};

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Tenant {
    /// Its id (chosen at creation: lowercase letters, digits, `-`).
    pub id: String,
    /// A display name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// The quotas set for this tenant (absent: the server's defaults).
    pub quotas: QuotaOverrides,
    /// The quotas in force.
    pub effective_quotas: Quotas,
    /// Whether the tenant has its own policy.
    pub has_policy: bool,
}

/// A tenant's row (policy included).
#[derive(Debug, Clone)]
pub struct TenantRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Created.
    pub created_at: i64,
    /// Policy TOML, if set.
    pub policy: Option<String>,
    /// Quota overrides.
    pub quotas: QuotaOverrides,
    /// Host functions (webhooks), with their signing secrets.
    pub functions: Vec<StoredFunction>,
}

/// Current usage against the quotas.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TenantUsage {
    /// Runs queued or running now.
    pub running: i64,
    /// Runs started in the last 60 s.
    pub runs_last_minute: i64,
    /// CPU seconds used today (UTC).
    pub cpu_seconds_today: f64,
    /// Open sessions.
    pub sessions: i64,
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApiKey {
    /// `k_` + 12 hex digits; the token starts `sk_<these digits>_`.
    pub id: String,
    /// The tenant it acts in.
    pub tenant: String,
    /// Its role.
    pub role: Role,
    /// A label.
    pub name: String,
    /// Created, ms since the epoch.
    pub created_at: i64,
    /// Who created it (a key id).
    pub created_by: String,
    /// When it stops working.
    pub expires_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<i64>,
}

/// A key row with its hash (for authentication).
pub struct KeyRow {
    /// The listed fields.
    pub key: ApiKey,
    /// SHA-256 of the secret.
    pub hash: String,
}

/// Where a run is in its life.
pub mod state {
    /// Accepted, waiting for a worker.
    pub const QUEUED: &str = "queued";
    /// Executing.
    pub const RUNNING: &str = "running";
    /// Finished: `status` and `result` are set.
    pub const DONE: &str = "done";
    /// Accepted by a server that crashed before it finished: no result will come.
    pub const LOST: &str = "lost";
}

/// A run as listed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunSummary {
    /// `r_` + 24 hex digits.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// The key (or `jwt:<sub>`) that started it.
    pub key_id: String,
    /// The session it ran in, if any.
    pub session_id: Option<String>,
    /// `queued`, `running`, `done` or `lost`.
    pub state: String,
    /// The result's status once done (`killed` for runs stopped by a shutdown).
    pub status: Option<String>,
    /// Accepted, ms since the epoch.
    pub created_at: i64,
    /// Started executing.
    pub started_at: Option<i64>,
    /// Finished.
    pub finished_at: Option<i64>,
    /// SHA-256 of the code.
    pub code_sha256: String,
    /// Wall time as measured by the supervisor.
    pub wall_ms: Option<i64>,
    /// CPU time (user + system).
    pub cpu_ms: i64,
    /// Number of guard violations.
    pub violations: i64,
}

/// A run with its code and result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunRecord {
    /// The listed fields.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The code (secrets masked).
    pub code: String,
    /// The result document (the same schema as `stockade.run`), once done.
    pub result: Option<RunResult>,
}

/// A guard violation of a run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ViolationRecord {
    /// `<run id>.<n>`.
    pub id: String,
    /// The run.
    pub run_id: String,
    /// Its tenant.
    pub tenant: String,
    /// The key that started the run.
    pub key_id: String,
    /// When the run finished.
    pub at: i64,
    /// The rule.
    pub rule: String,
    /// The audit event.
    pub event: String,
    /// The decision.
    pub decision: String,
    /// The whole violation as the result reports it.
    pub detail: Violation,
}

/// A session as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionRecord {
    /// `s_` + 24 hex digits.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// The key that opened it.
    pub key_id: String,
    /// `open` or `closed`.
    pub state: String,
    /// Opened.
    pub created_at: i64,
    /// Last cell.
    pub last_used_at: i64,
    /// Closed.
    pub closed_at: Option<i64>,
    /// Why it closed (`deleted`, `idle`, `lost`, `shutdown`, `failed`).
    pub reason: Option<String>,
    /// The server instance holding its jail.
    pub instance: String,
}

/// A quota that refused a request, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `concurrent_runs`, `runs_per_minute`, `cpu_seconds_per_day`, `sessions`.
    pub quota: &'static str,
    /// What to tell the client.
    pub message: String,
    /// Seconds until it may pass.
    pub retry_after: u64,
}

/// A run being admitted.
pub struct NewRun<'a> {
    /// Id.
    pub id: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// Key id.
    pub key_id: &'a str,
    /// Session.
    pub session_id: Option<&'a str>,
    /// This server.
    pub instance: &'a str,
    /// SHA-256 of the code.
    pub code_sha256: &'a str,
    /// The code, secrets masked.
    pub code: &'a str,
}

/// A run the store has admitted: what recording its end needs.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// The key that started it.
    pub key_id: String,
    /// When it was admitted (its CPU counts against that day).
    pub created_at: i64,
}

const DAY_MS: i64 = 86_400_000;

fn tenant_row(row: &AnyRow) -> StoreResult<TenantRow> {
    let quotas: String = row.try_get("quotas")?;
    Ok(TenantRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        policy: row.try_get("policy")?,
        quotas: serde_json::from_str(&quotas).unwrap_or_default(),
        functions: functions::decode_list(row.try_get::<Option<String>, _>("functions")?.as_deref()),
    })
}

fn key_row(row: &AnyRow) -> StoreResult<KeyRow> {
    let role: String = row.try_get("role")?;
    Ok(KeyRow {
        key: ApiKey {
            id: row.try_get("id")?,
            tenant: row.try_get("tenant")?,
            role: Role::parse(&role).unwrap_or(Role::Auditor),
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            expires_at: opt_i64(row, "expires_at")?,
            revoked_at: opt_i64(row, "revoked_at")?,
            last_used_at: opt_i64(row, "last_used_at")?,
        },
        hash: row.try_get("hash")?,
    })
}

const RUN_COLUMNS: &str = "id, tenant, key_id, session_id, state, status, created_at, started_at, finished_at, \
                           code_sha256, wall_ms, cpu_ms, violations";

fn run_summary(row: &AnyRow) -> StoreResult<RunSummary> {
    Ok(RunSummary {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        key_id: row.try_get("key_id")?,
        session_id: row.try_get("session_id")?,
        state: row.try_get("state")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        started_at: opt_i64(row, "started_at")?,
        finished_at: opt_i64(row, "finished_at")?,
        code_sha256: row.try_get("code_sha256")?,
        wall_ms: opt_i64(row, "wall_ms")?,
        cpu_ms: row.try_get("cpu_ms")?,
        violations: row.try_get("violations")?,
    })
}

fn session_record(row: &AnyRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        key_id: row.try_get("key_id")?,
        state: row.try_get("state")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        closed_at: opt_i64(row, "closed_at")?,
        reason: row.try_get("reason")?,
        instance: row.try_get("instance")?,
    })
}

/// Filters of `GET /v1/runs`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// Only this status (`ok`, `error`, `timeout`, ...).
    pub status: Option<String>,
    /// Only this state (`queued`, `running`, `done`, `lost`).
    pub state: Option<String>,
    /// Created at or after (ms since the epoch).
    pub since: Option<i64>,
    /// Created before (ms since the epoch).
    pub until: Option<i64>,
    /// Only runs of this key id.
    pub key: Option<String>,
    /// Only runs with (true) or without (false) violations.
    pub has_violations: Option<bool>,
    /// An admin's choice of tenant (others: always their own).
    pub tenant: Option<String>,
    /// At most this many (1–200; default 50).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Filters of `GET /v1/violations`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViolationQuery {
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this run.
    pub run_id: Option<String>,
    /// At or after (ms since the epoch).
    pub since: Option<i64>,
    /// Before.
    pub until: Option<i64>,
    /// An admin's choice of tenant.
    pub tenant: Option<String>,
    /// At most this many (1–200; default 50).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Who may see what: the tenant (None: all, for admins) and the key (runners: their own).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The tenant, or all.
    pub tenant: Option<String>,
    /// Only this key's runs.
    pub key_id: Option<String>,
}

/// A query string with `$N` placeholders and its bound values, built in order.
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

pub(crate) enum Arg {
    I(i64),
    S(String),
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }
    pub(crate) fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    pub(crate) fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
    /// `AND col op $n` when there is a value.
    pub(crate) fn and(&mut self, col: &str, op: &str, value: Option<Arg>) {
        if let Some(a) = value {
            let p = self.arg(a);
            self.push(&format!(" AND {col} {op} {p}"));
        }
    }

    /// What `scope` may see: its tenant, and a runner's own key.
    fn scope(&mut self, scope: &Scope) {
        self.and("tenant", "=", scope.tenant.clone().map(Arg::S));
        self.and("key_id", "=", scope.key_id.clone().map(Arg::S));
    }

    /// Newest first by (`time_col`, id), after `cursor`, at most `limit` + 1 rows (the extra
    /// one says whether another page follows).
    fn page(&mut self, time_col: &str, cursor: Option<&str>, limit: i64) -> StoreResult<()> {
        if let Some(c) = cursor {
            let (t, id) = parse_cursor(c)?;
            let a = self.arg(Arg::I(t));
            let b = self.arg(Arg::I(t));
            let c = self.arg(Arg::S(id));
            self.push(&format!(" AND ({time_col} < {a} OR ({time_col} = {b} AND id < {c}))"));
        }
        let l = self.arg(Arg::I(limit + 1));
        self.push(&format!(" ORDER BY {time_col} DESC, id DESC LIMIT {l}"));
        Ok(())
    }

    pub(crate) fn query(&self) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::I(i) => q.bind(*i),
                Arg::S(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

fn limit_of(l: Option<u32>) -> i64 {
    i64::from(l.unwrap_or(50).clamp(1, 200))
}

/// A cursor `"<time>.<id>"` (opaque to clients).
fn parse_cursor(c: &str) -> Result<(i64, String), StoreError> {
    let (t, id) = c.split_once('.').ok_or(StoreError::NotFound)?;
    Ok((t.parse().map_err(|_| StoreError::NotFound)?, id.to_string()))
}

impl Store {
    // ----- tenants -----

    /// Create a tenant.
    pub async fn create_tenant(&self, id: &str, name: &str, quotas: &QuotaOverrides) -> StoreResult<TenantRow> {
        let now = now_ms();
        sqlx::query("INSERT INTO tenants (id, name, created_at, policy, quotas) VALUES ($1, $2, $3, NULL, $4)")
            .bind(id)
            .bind(name)
            .bind(now)
            .bind(serde_json::to_string(quotas).unwrap_or_default())
            .execute(&self.pool)
            .await?;
        Ok(TenantRow {
            id: id.into(),
            name: name.into(),
            created_at: now,
            policy: None,
            quotas: quotas.clone(),
            functions: Vec::new(),
        })
    }

    /// One tenant.
    pub async fn tenant(&self, id: &str) -> StoreResult<TenantRow> {
        let row = sqlx::query("SELECT id, name, created_at, policy, quotas, functions FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant_row(&row)
    }

    /// Every tenant.
    pub async fn tenants(&self) -> StoreResult<Vec<TenantRow>> {
        let rows = sqlx::query("SELECT id, name, created_at, policy, quotas, functions FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_row).collect()
    }

    /// Change a tenant's name and quotas.
    pub async fn update_tenant(&self, id: &str, name: &str, quotas: &QuotaOverrides) -> StoreResult<()> {
        let n = sqlx::query("UPDATE tenants SET name = $1, quotas = $2 WHERE id = $3")
            .bind(name)
            .bind(serde_json::to_string(quotas).unwrap_or_default())
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replace a tenant's policy (None: back to the server's default), with its audit record.
    pub async fn set_policy(&self, id: &str, policy: Option<&str>, entry: Entry) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE tenants SET policy = $1 WHERE id = $2")
            .bind(policy)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Register (`Some`) or remove (`None`) the tenant's function `name`, with its audit
    /// record. Under the tenant's row lock, so two changes at once both land. Returns whether
    /// the function existed before; refuses past [`functions::MAX_PER_TENANT`].
    pub async fn set_function(
        &self,
        tenant: &str,
        name: &str,
        function: Option<StoredFunction>,
        entry: Entry,
    ) -> StoreResult<Result<bool, String>> {
        let mut tx = self.pool.begin().await?;
        lock_tenant(&mut tx, tenant).await?;
        let text: Option<String> = sqlx::query("SELECT functions FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(&mut *tx)
            .await?
            .try_get("functions")?;
        let mut list = functions::decode_list(text.as_deref());
        let existed = list.iter().any(|f| f.name == name);
        list.retain(|f| f.name != name);
        if let Some(f) = function {
            if list.len() >= functions::MAX_PER_TENANT {
                return Ok(Err(format!(
                    "a tenant has at most {} functions",
                    functions::MAX_PER_TENANT
                )));
            }
            list.push(f);
            list.sort_by(|a, b| a.name.cmp(&b.name));
        } else if !existed {
            return Err(StoreError::NotFound);
        }
        let text = serde_json::to_string(&list).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        sqlx::query("UPDATE tenants SET functions = $1 WHERE id = $2")
            .bind(text)
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(Ok(existed))
    }

    /// What the tenant uses now.
    pub async fn usage(&self, tenant: &str) -> StoreResult<TenantUsage> {
        let now = now_ms();
        let running: i64 =
            sqlx::query("SELECT COUNT(*) FROM runs WHERE tenant = $1 AND state IN ('queued', 'running')")
                .bind(tenant)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
        let minute: i64 = sqlx::query("SELECT COUNT(*) FROM runs WHERE tenant = $1 AND created_at > $2")
            .bind(tenant)
            .bind(now - 60_000)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let cpu: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(cpu_ms), 0) AS BIGINT) FROM usage_days WHERE tenant = $1 AND day = $2",
        )
        .bind(tenant)
        .bind(now - now.rem_euclid(DAY_MS))
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        let sessions: i64 = sqlx::query("SELECT COUNT(*) FROM sessions WHERE tenant = $1 AND state = 'open'")
            .bind(tenant)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        #[allow(clippy::cast_precision_loss)]
        Ok(TenantUsage {
            running,
            runs_last_minute: minute,
            cpu_seconds_today: cpu as f64 / 1000.0,
            sessions,
        })
    }

    // ----- keys -----

    /// Store a new key, with its audit record.
    pub async fn create_key(&self, key: &ApiKey, hash: &str, entry: Option<Entry>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant, role, name, hash, created_at, created_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.tenant)
        .bind(key.role.name())
        .bind(&key.name)
        .bind(hash)
        .bind(key.created_at)
        .bind(&key.created_by)
        .bind(key.expires_at)
        .execute(&mut *tx)
        .await?;
        if let Some(e) = entry {
            audit::append(&mut tx, e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A key by id.
    pub async fn key(&self, id: &str) -> StoreResult<KeyRow> {
        let row = sqlx::query(
            "SELECT id, tenant, role, name, hash, created_at, created_by, expires_at, revoked_at, last_used_at \
             FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        key_row(&row)
    }

    /// A key and its tenant in one query (authentication hands the tenant on to the handler,
    /// a store round trip less per request).
    pub async fn key_with_tenant(&self, id: &str) -> StoreResult<(KeyRow, Option<TenantRow>)> {
        if let Some(sqlite) = &self.sqlite {
            let id = id.to_string();
            return sqlite.call(move |c| key_with_tenant_sqlite(c, &id)).await;
        }
        let row = sqlx::query(KEY_WITH_TENANT)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let key = key_row(&row)?;
        let tenant = match row.try_get::<Option<String>, _>("t_id")? {
            Some(tid) => {
                let quotas: String = row.try_get("t_quotas")?;
                Some(TenantRow {
                    id: tid,
                    name: row.try_get("t_name")?,
                    created_at: row.try_get("t_created_at")?,
                    policy: row.try_get("t_policy")?,
                    quotas: serde_json::from_str(&quotas).unwrap_or_default(),
                    functions: functions::decode_list(row.try_get::<Option<String>, _>("t_functions")?.as_deref()),
                })
            }
            None => None,
        };
        Ok((key, tenant))
    }

    /// Whether any key exists (first start).
    pub async fn any_key(&self) -> StoreResult<bool> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n > 0)
    }

    /// Keys of a tenant (None: all).
    pub async fn keys(&self, tenant: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let mut sql = Sql::new(
            "SELECT id, tenant, role, name, hash, created_at, created_by, expires_at, revoked_at, last_used_at \
             FROM api_keys",
        );
        sql.push(" WHERE 1 = 1");
        sql.and("tenant", "=", tenant.map(|t| Arg::S(t.into())));
        sql.push(" ORDER BY created_at, id");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(|r| key_row(r).map(|k| k.key)).collect()
    }

    /// Revoke a key, with its audit record.
    pub async fn revoke_key(&self, id: &str, entry: Entry) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a key's use (callers limit this to once a minute per key).
    pub async fn touch_key(&self, id: &str, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- runs -----

    /// Admit a run against the tenant's quotas and record it as queued (or running, when it
    /// already holds a slot) — one transaction that locks the tenant's row first, so servers
    /// sharing the database count together. Returns when it was admitted.
    pub async fn admit_run(
        &self,
        run: &NewRun<'_>,
        q: &Quotas,
        running_now: bool,
    ) -> StoreResult<Result<i64, Refusal>> {
        let now = now_ms();
        let state = if running_now { state::RUNNING } else { state::QUEUED };
        let started = running_now.then_some(now);
        if let Some(sqlite) = &self.sqlite {
            let (q, row) = (q.clone(), OwnedRun::of(run));
            return sqlite
                .call(move |c| admit_sqlite(c, &row, &q, now, state, started))
                .await;
        }
        // PostgreSQL: one round trip, the function made by `store::PG_FUNCTIONS`.
        let row = sqlx::query(
            "SELECT o_refused, o_cur, o_prev, o_running, o_cpu FROM \
             stockade_admit_run_v1($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(run.tenant)
        .bind(now)
        .bind(i64::from(q.concurrent_runs))
        .bind(i64::from(q.runs_per_minute))
        .bind(i64::try_from(q.cpu_seconds_per_day.saturating_mul(1000)).unwrap_or(i64::MAX))
        .bind(run.id)
        .bind(run.key_id)
        .bind(run.session_id)
        .bind(run.instance)
        .bind(state)
        .bind(started)
        .bind(run.code_sha256)
        .bind(run.code)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let refused: Option<String> = row.try_get(0)?;
        let counts = Counts {
            now,
            cur: row.try_get(1)?,
            prev: row.try_get(2)?,
            running: row.try_get(3)?,
            cpu: row.try_get(4)?,
        };
        Ok(match refused {
            None => Ok(now),
            // The function decided as `check` does; the message and wait come from here.
            Some(quota) => Err(check(&counts, q)
                .filter(|r| r.quota == quota)
                .unwrap_or_else(|| Refusal {
                    quota: match quota.as_str() {
                        "concurrent_runs" => "concurrent_runs",
                        "runs_per_minute" => "runs_per_minute",
                        _ => "cpu_seconds_per_day",
                    },
                    message: format!("the tenant is over its {quota} quota"),
                    retry_after: 1,
                })),
        })
    }

    /// The run started executing.
    pub async fn run_started(&self, id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE runs SET state = 'running', started_at = $1 WHERE id = $2 AND state = 'queued'")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Record a run's result, its CPU in the day's counter, its violations and its audit
    /// record, in one transaction.
    pub async fn finish_run(&self, run: &Admitted, result: &RunResult, entry: Entry) -> StoreResult<()> {
        let end = RunEnd::of(run, result);
        if let Some(sqlite) = &self.sqlite {
            return sqlite.call(move |c| finish_sqlite(c, &end, &entry)).await;
        }
        // PostgreSQL: one statement, so one round trip and its own transaction. Only the audit
        // head's UPDATE reads what another server may be changing, and an UPDATE that waited
        // for the row's lock works on the row as committed, so the chain stays one chain; the
        // hash is finished in SQL from the record's canonical JSON after its seq.
        let p = audit::prepare(&entry);
        let violations = serde_json::Value::Array(
            end.violations
                .iter()
                .map(|v| serde_json::json!({"id": v.0, "rule": v.1, "event": v.2, "decision": v.3, "detail": v.4}))
                .collect(),
        );
        // Every part hangs on `r`: a run settled already (marked lost by a peer) stays so, and
        // nothing of it is counted or recorded twice.
        sqlx::query(
            r#"WITH r AS (
                 UPDATE runs SET state = 'done', status = $4, finished_at = $5, wall_ms = $6, cpu_ms = $7,
                 violations = $8, result = $9, started_at = COALESCE(started_at, $10)
                 WHERE id = $11 AND state IN ('queued', 'running') RETURNING id),
               u AS (
                 INSERT INTO usage_days (tenant, day, cpu_ms, runs) SELECT $1, $2, $3, 1 FROM r
                 ON CONFLICT (tenant, day) DO UPDATE SET cpu_ms = usage_days.cpu_ms + excluded.cpu_ms,
                 runs = usage_days.runs + 1),
               v AS (
                 INSERT INTO violations (id, run_id, tenant, key_id, at, rule, event, decision, detail)
                 SELECT x.id, $12, $13, $14, $15, x.rule, x.event, x.decision, x.detail
                 FROM json_to_recordset(CAST($16 AS JSON)) AS x(id TEXT, rule TEXT, event TEXT, decision TEXT, detail TEXT)
                 WHERE EXISTS (SELECT 1 FROM r)),
               h AS (
                 UPDATE audit_head SET seq = seq + 1, prev = hash,
                 hash = encode(sha256(convert_to(hash || E'\n{"seq":' || CAST(seq + 1 AS TEXT), 'UTF8') || $17), 'hex')
                 WHERE id = 1 AND EXISTS (SELECT 1 FROM r) RETURNING seq, prev, hash)
             INSERT INTO audit (seq, at, tenant, actor, action, target, detail, prev, hash)
             SELECT h.seq, $18, $19, $20, $21, $22, $23, h.prev, h.hash FROM h"#,
        )
        .bind(&end.tenant)
        .bind(end.day)
        .bind(end.cpu)
        .bind(end.status)
        .bind(end.now)
        .bind(end.wall)
        .bind(end.cpu)
        .bind(end.violation_count)
        .bind(&end.result)
        .bind(end.now)
        .bind(&end.id)
        .bind(&end.id)
        .bind(&end.tenant)
        .bind(&end.key_id)
        .bind(end.now)
        .bind(violations.to_string())
        .bind(p.suffix.into_bytes())
        .bind(p.at)
        .bind(entry.tenant.as_deref())
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(entry.target.as_deref())
        .bind(&p.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Runs this instance accepted but did not finish (after a crash: `lost`; at the end of a
    /// drain: `killed`). Returns their ids and tenants.
    pub async fn unfinished(&self, instance: &str) -> StoreResult<Vec<Admitted>> {
        let rows = sqlx::query(
            "SELECT id, tenant, key_id, created_at FROM runs WHERE instance = $1 AND state IN ('queued', 'running')",
        )
        .bind(instance)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Admitted {
                    id: r.try_get(0)?,
                    tenant: r.try_get(1)?,
                    key_id: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Mark an unfinished run lost, with its audit record.
    pub async fn mark_lost(&self, id: &str, entry: Entry) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE runs SET state = 'lost', finished_at = $1 WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Only the one that settled it records it (a restart and a peer may race to).
        if changed == 1 {
            audit::append(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One run, if `scope` may see it.
    pub async fn run(&self, id: &str, scope: &Scope) -> StoreResult<RunRecord> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS}, code, result FROM runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let summary = run_summary(&row)?;
        if !visible(scope, &summary.tenant, &summary.key_id) {
            return Err(StoreError::NotFound);
        }
        let result: Option<String> = row.try_get("result")?;
        Ok(RunRecord {
            summary,
            code: row.try_get("code")?,
            result: result.and_then(|r| serde_json::from_str(&r).ok()),
        })
    }

    /// Runs matching `q` that `scope` may see, newest first.
    pub async fn runs(&self, q: &RunQuery, scope: &Scope) -> StoreResult<Page<RunSummary>> {
        let mut sql = Sql::new(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1"));
        sql.scope(scope);
        sql.and("status", "=", q.status.clone().map(Arg::S));
        sql.and("state", "=", q.state.clone().map(Arg::S));
        sql.and("created_at", ">=", q.since.map(Arg::I));
        sql.and("created_at", "<", q.until.map(Arg::I));
        sql.and("key_id", "=", q.key.clone().map(Arg::S));
        match q.has_violations {
            Some(true) => sql.push(" AND violations > 0"),
            Some(false) => sql.push(" AND violations = 0"),
            None => {}
        }
        let limit = limit_of(q.limit);
        sql.page("created_at", q.cursor.as_deref(), limit)?;
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut items = rows.iter().map(run_summary).collect::<StoreResult<Vec<_>>>()?;
        let next = page_end(&mut items, limit, |r| format!("{}.{}", r.created_at, r.id));
        Ok(Page {
            items,
            next_cursor: next,
        })
    }

    /// Violations matching `q` that `scope` may see, newest first.
    pub async fn violations(&self, q: &ViolationQuery, scope: &Scope) -> StoreResult<Page<ViolationRecord>> {
        let mut sql = Sql::new(
            "SELECT id, run_id, tenant, key_id, at, rule, event, decision, detail FROM violations WHERE 1 = 1",
        );
        sql.scope(scope);
        sql.and("rule", "=", q.rule.clone().map(Arg::S));
        sql.and("run_id", "=", q.run_id.clone().map(Arg::S));
        sql.and("at", ">=", q.since.map(Arg::I));
        sql.and("at", "<", q.until.map(Arg::I));
        let limit = limit_of(q.limit);
        sql.page("at", q.cursor.as_deref(), limit)?;
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut items = rows
            .iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(ViolationRecord {
                    id: r.try_get("id")?,
                    run_id: r.try_get("run_id")?,
                    tenant: r.try_get("tenant")?,
                    key_id: r.try_get("key_id")?,
                    at: r.try_get("at")?,
                    rule: r.try_get("rule")?,
                    event: r.try_get("event")?,
                    decision: r.try_get("decision")?,
                    detail: serde_json::from_str(&detail).map_err(|e| StoreError::Unavailable(e.to_string()))?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let next = page_end(&mut items, limit, |v| format!("{}.{}", v.at, v.id));
        Ok(Page {
            items,
            next_cursor: next,
        })
    }

    // ----- sessions -----

    /// Admit a session against the tenant's quota and record it — one locking transaction.
    pub async fn admit_session(&self, s: &SessionRecord, instance: &str, cap: u32) -> StoreResult<Result<(), Refusal>> {
        let mut tx = self.pool.begin().await?;
        lock_tenant(&mut tx, &s.tenant).await?;
        let open: i64 = sqlx::query("SELECT COUNT(*) FROM sessions WHERE tenant = $1 AND state = 'open'")
            .bind(&s.tenant)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if open >= i64::from(cap) {
            return Ok(Err(Refusal {
                quota: "sessions",
                message: format!("the tenant has {open} open sessions (quota {cap})"),
                retry_after: 5,
            }));
        }
        sqlx::query(
            "INSERT INTO sessions (id, tenant, key_id, instance, state, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, 'open', $5, $6)",
        )
        .bind(&s.id)
        .bind(&s.tenant)
        .bind(&s.key_id)
        .bind(instance)
        .bind(s.created_at)
        .bind(s.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// One session, if `scope` may see it.
    pub async fn session(&self, id: &str, scope: &Scope) -> StoreResult<SessionRecord> {
        let row = sqlx::query(
            "SELECT id, tenant, key_id, state, created_at, last_used_at, closed_at, reason, instance FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let s = session_record(&row)?;
        if !visible(scope, &s.tenant, &s.key_id) {
            return Err(StoreError::NotFound);
        }
        Ok(s)
    }

    /// A cell ran.
    pub async fn session_used(&self, id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Close a session (idempotent).
    pub async fn close_session(&self, id: &str, reason: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET state = 'closed', closed_at = $1, reason = $2 WHERE id = $3 AND state = 'open'",
        )
        .bind(now_ms())
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sessions this instance holds open (closed as `lost` after a crash).
    pub async fn open_sessions(&self, instance: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM sessions WHERE instance = $1 AND state = 'open'")
            .bind(instance)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

const KEY_WITH_TENANT: &str =
    "SELECT k.id, k.tenant, k.role, k.name, k.hash, k.created_at, k.created_by, k.expires_at, k.revoked_at, \
     k.last_used_at, t.id AS t_id, t.name AS t_name, t.created_at AS t_created_at, t.policy AS t_policy, \
     t.quotas AS t_quotas, t.functions AS t_functions FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant WHERE k.id = $1";

/// What admission read under the tenant's lock.
#[derive(Clone, Copy)]
struct Counts {
    now: i64,
    /// This minute's runs, this one included.
    cur: i64,
    /// The previous minute's.
    prev: i64,
    /// Runs queued or running.
    running: i64,
    /// CPU ms of the day.
    cpu: i64,
}

/// Whether a quota refuses the run, checked in this order (PostgreSQL's admission function
/// mirrors it).
fn check(c: &Counts, q: &Quotas) -> Option<Refusal> {
    let Counts {
        now,
        cur,
        prev,
        running,
        cpu,
    } = *c;
    if running >= i64::from(q.concurrent_runs) {
        return Some(Refusal {
            quota: "concurrent_runs",
            message: format!(
                "the tenant already has {running} runs in progress (quota {})",
                q.concurrent_runs
            ),
            retry_after: 1,
        });
    }
    // Runs started in the last 60 s, estimated: this minute's (before this run) plus the
    // previous minute's share of the window still inside it, as if spread evenly, rounded
    // up (so a minute's boundary never lets one more run through).
    let into = now.rem_euclid(60_000);
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let estimate = (cur - 1) as f64 + (prev as f64 * (60_000 - into) as f64 / 60_000.0).ceil();
    let limit = f64::from(q.runs_per_minute);
    if estimate >= limit {
        // When the previous minute's share has slid far enough out, or this minute ends.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let wait_ms = if prev > 0 && (cur - 1) as f64 + 1.0 <= limit {
            let frac_needed = 1.0 - (limit - (cur - 1) as f64 - 1.0).max(0.0) / prev as f64;
            ((frac_needed * 60_000.0) as i64 - into).max(0)
        } else {
            60_000 - into
        };
        #[allow(clippy::cast_possible_truncation)]
        let started = estimate.round() as i64;
        return Some(Refusal {
            quota: "runs_per_minute",
            message: format!(
                "the tenant started about {started} runs in the last minute (quota {})",
                q.runs_per_minute
            ),
            retry_after: u64::try_from(wait_ms / 1000 + 1).unwrap_or(1),
        });
    }
    if u64::try_from(cpu).unwrap_or(0) >= q.cpu_seconds_per_day.saturating_mul(1000) {
        let day_start = now - now.rem_euclid(DAY_MS);
        return Some(Refusal {
            quota: "cpu_seconds_per_day",
            message: format!("the tenant used its {} CPU seconds for today", q.cpu_seconds_per_day),
            retry_after: u64::try_from((day_start + DAY_MS - now) / 1000 + 1).unwrap_or(1),
        });
    }
    None
}

/// A [`NewRun`] owned, to move to SQLite's thread.
struct OwnedRun {
    id: String,
    tenant: String,
    key_id: String,
    session_id: Option<String>,
    instance: String,
    code_sha256: String,
    code: String,
}

impl OwnedRun {
    fn of(r: &NewRun<'_>) -> OwnedRun {
        OwnedRun {
            id: r.id.into(),
            tenant: r.tenant.into(),
            key_id: r.key_id.into(),
            session_id: r.session_id.map(Into::into),
            instance: r.instance.into(),
            code_sha256: r.code_sha256.into(),
            code: r.code.into(),
        }
    }
}

fn admit_sqlite(
    c: &mut rusqlite::Connection,
    run: &OwnedRun,
    q: &Quotas,
    now: i64,
    state: &str,
    started: Option<i64>,
) -> StoreResult<Result<i64, Refusal>> {
    let minute = now.div_euclid(60_000);
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Lock the tenant's row and count this run in its rate window in one statement (every
    // expression on the right reads the row as it was; a refusal rolls the count back).
    let (cur, prev): (i64, i64) = tx
        .prepare_cached(
            "UPDATE tenants SET admit_seq = admit_seq + 1, \
               rate_prev = CASE WHEN rate_minute = ?1 THEN rate_prev WHEN rate_minute = ?2 THEN rate_cur ELSE 0 END, \
               rate_cur = CASE WHEN rate_minute = ?1 THEN rate_cur + 1 ELSE 1 END, \
               rate_minute = ?1 \
             WHERE id = ?3 RETURNING rate_cur, rate_prev",
        )?
        .query_row(rusqlite::params![minute, minute - 1, run.tenant], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (running, cpu): (i64, i64) = tx
        .prepare_cached(
            "SELECT \
               (SELECT COUNT(*) FROM runs WHERE tenant = ?1 AND state IN ('queued', 'running')), \
               (SELECT CAST(COALESCE(SUM(cpu_ms), 0) AS BIGINT) FROM usage_days WHERE tenant = ?1 AND day = ?2)",
        )?
        .query_row(rusqlite::params![run.tenant, now - now.rem_euclid(DAY_MS)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let counts = Counts {
        now,
        cur,
        prev,
        running,
        cpu,
    };
    if let Some(r) = check(&counts, q) {
        return Ok(Err(r));
    }
    tx.prepare_cached(
        "INSERT INTO runs (id, tenant, key_id, session_id, instance, state, created_at, started_at, code_sha256, code) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(rusqlite::params![
        run.id,
        run.tenant,
        run.key_id,
        run.session_id,
        run.instance,
        state,
        now,
        started,
        run.code_sha256,
        run.code
    ])?;
    tx.commit()?;
    Ok(Ok(now))
}

/// What recording a run's end writes (owned, to move to SQLite's thread).
struct RunEnd {
    id: String,
    tenant: String,
    key_id: String,
    /// The UTC day the run was admitted on (its CPU counts against that day, as admission
    /// reads it).
    day: i64,
    now: i64,
    status: &'static str,
    wall: i64,
    cpu: i64,
    violation_count: i64,
    result: String,
    /// Each violation: id, rule, event, decision, the whole violation as JSON.
    violations: Vec<(String, String, String, String, String)>,
}

impl RunEnd {
    fn of(run: &Admitted, result: &RunResult) -> RunEnd {
        let cpu = result.usage.user_cpu_ms.saturating_add(result.usage.sys_cpu_ms);
        RunEnd {
            id: run.id.clone(),
            tenant: run.tenant.clone(),
            key_id: run.key_id.clone(),
            day: run.created_at - run.created_at.rem_euclid(DAY_MS),
            now: now_ms(),
            status: result.status.name(),
            wall: i64::try_from(result.usage.wall_ms).unwrap_or(i64::MAX),
            cpu: i64::try_from(cpu).unwrap_or(i64::MAX),
            violation_count: i64::try_from(result.violations.len()).unwrap_or(i64::MAX),
            result: serde_json::to_string(result).unwrap_or_default(),
            violations: result
                .violations
                .iter()
                .enumerate()
                .map(|(n, v)| {
                    (
                        format!("{}.{n}", run.id),
                        v.rule.clone(),
                        v.event.clone(),
                        v.decision.clone(),
                        serde_json::to_string(v).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}

fn finish_sqlite(c: &mut rusqlite::Connection, end: &RunEnd, entry: &Entry) -> StoreResult<()> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let changed = tx
        .prepare_cached(
            "UPDATE runs SET state = 'done', status = ?1, finished_at = ?2, wall_ms = ?3, cpu_ms = ?4, \
             violations = ?5, result = ?6, started_at = COALESCE(started_at, ?2) \
             WHERE id = ?7 AND state IN ('queued', 'running')",
        )?
        .execute(rusqlite::params![
            end.status,
            end.now,
            end.wall,
            end.cpu,
            end.violation_count,
            end.result,
            end.id
        ])?;
    if changed == 0 {
        // Settled already (marked lost by a peer that took this server for dead): it stays so,
        // and nothing of it is counted twice.
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO usage_days (tenant, day, cpu_ms, runs) VALUES (?1, ?2, ?3, 1) \
         ON CONFLICT (tenant, day) DO UPDATE SET cpu_ms = usage_days.cpu_ms + excluded.cpu_ms, \
         runs = usage_days.runs + 1",
    )?
    .execute(rusqlite::params![end.tenant, end.day, end.cpu])?;
    for (vid, rule, event, decision, detail) in &end.violations {
        tx.prepare_cached(
            "INSERT INTO violations (id, run_id, tenant, key_id, at, rule, event, decision, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(rusqlite::params![
            vid, end.id, end.tenant, end.key_id, end.now, rule, event, decision, detail
        ])?;
    }
    audit::append_sqlite(&tx, entry)?;
    tx.commit()?;
    Ok(())
}

fn key_with_tenant_sqlite(c: &mut rusqlite::Connection, id: &str) -> StoreResult<(KeyRow, Option<TenantRow>)> {
    let mut stmt = c.prepare_cached(&KEY_WITH_TENANT.replace("$1", "?1"))?;
    let row = stmt.query_row([id], |r| {
        let role: String = r.get("role")?;
        let key = KeyRow {
            key: ApiKey {
                id: r.get("id")?,
                tenant: r.get("tenant")?,
                role: Role::parse(&role).unwrap_or(Role::Auditor),
                name: r.get("name")?,
                created_at: r.get("created_at")?,
                created_by: r.get("created_by")?,
                expires_at: r.get("expires_at")?,
                revoked_at: r.get("revoked_at")?,
                last_used_at: r.get("last_used_at")?,
            },
            hash: r.get("hash")?,
        };
        let tenant = match r.get::<_, Option<String>>("t_id")? {
            Some(tid) => {
                let quotas: String = r.get("t_quotas")?;
                Some(TenantRow {
                    id: tid,
                    name: r.get("t_name")?,
                    created_at: r.get("t_created_at")?,
                    policy: r.get("t_policy")?,
                    quotas: serde_json::from_str(&quotas).unwrap_or_default(),
                    functions: functions::decode_list(r.get::<_, Option<String>>("t_functions")?.as_deref()),
                })
            }
            None => None,
        };
        Ok((key, tenant))
    })?;
    Ok(row)
}

async fn lock_tenant(tx: &mut Transaction<'_, Any>, tenant: &str) -> StoreResult<()> {
    let n = sqlx::query("UPDATE tenants SET admit_seq = admit_seq + 1 WHERE id = $1")
        .bind(tenant)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn visible(scope: &Scope, tenant: &str, key_id: &str) -> bool {
    scope.tenant.as_deref().is_none_or(|t| t == tenant) && scope.key_id.as_deref().is_none_or(|k| k == key_id)
}

/// Trim to `limit` and return the cursor of the last item kept when more followed.
pub(crate) fn page_end<T>(items: &mut Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(50);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    }
}
