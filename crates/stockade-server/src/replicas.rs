//! Replicas that share nothing but the database. Each server records itself in `instances`
//! (its name, the address its peers reach it at, a heartbeat). A server whose heartbeat is older
//! than `peer_timeout_ms` is dead: the first peer to claim its row (a conditional `DELETE`, so
//! exactly one does) marks its unfinished runs `lost` and its sessions closed, so nothing waits
//! for it. A session lives on the server that opened it; a request for it that reaches another
//! server is forwarded to its owner at the recorded address.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use sqlx::Row;

use crate::api::App;
use crate::audit::Entry;
use crate::error::ApiError;
use crate::store::{now_ms, Backend, Store, StoreResult};

/// Set on a request one server forwards to another: the receiver never forwards it again.
pub const FORWARDED_HEADER: &str = "x-stockade-forwarded-by";

impl Store {
    /// The database's clock, in ms since the epoch, as SQL. Heartbeats are written and judged by
    /// it, never by the servers' own clocks: a replica whose clock ran ahead by more than the
    /// peer timeout took every other replica for dead at each tick (and one behind was taken
    /// for dead by all), losing their runs.
    fn db_now(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        }
    }

    /// Record this server (again, after a restart) with the address peers reach it at.
    pub async fn register_instance(&self, name: &str, address: &str) -> StoreResult<()> {
        let now = self.db_now();
        sqlx::query(&format!(
            "INSERT INTO instances (name, address, started_at, heartbeat_at) VALUES ($1, $2, {now}, {now}) \
             ON CONFLICT (name) DO UPDATE SET address = excluded.address, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at"
        ))
        .bind(name)
        .bind(address)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// This server is alive. False when its row is gone: a peer took it for dead.
    pub async fn heartbeat(&self, name: &str) -> StoreResult<bool> {
        let n = sqlx::query(&format!(
            "UPDATE instances SET heartbeat_at = {} WHERE name = $1",
            self.db_now()
        ))
        .bind(name)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Remove this server's row (a clean stop: its runs and sessions are settled already).
    pub async fn forget_instance(&self, name: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM instances WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Where a live server is reached.
    pub async fn instance_address(&self, name: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT address FROM instances WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// How long ago (ms, by the database's clock) the server of this name last beat; None when
    /// its row is gone.
    pub async fn instance_silence(&self, name: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query(&format!(
            "SELECT {} - heartbeat_at FROM instances WHERE name = $1",
            self.db_now()
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Sessions of this server closed as lost in the last `within_ms` (by the database's
    /// clock): a peer took this server for dead.
    pub async fn sessions_lost_within(&self, name: &str, within_ms: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(&format!(
            "SELECT id FROM sessions WHERE instance = $1 AND state = 'closed' AND reason = 'lost' \
             AND closed_at >= {} - $2",
            self.db_now()
        ))
        .bind(name)
        .bind(within_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Servers silent for longer than `timeout_ms` (by the database's clock).
    pub async fn silent_instances(&self, timeout_ms: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(&format!(
            "SELECT name FROM instances WHERE heartbeat_at < {} - $1",
            self.db_now()
        ))
        .bind(timeout_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Servers other than `me` that have unfinished runs or open sessions but no row: a peer
    /// claimed them and did not finish settling them (it died in between, or the database
    /// failed it), so no one else ever would.
    pub async fn orphaned_instances(&self, me: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT instance FROM runs r WHERE state IN ('queued', 'running') AND instance <> $1 \
             AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.name = r.instance) \
             UNION SELECT DISTINCT instance FROM sessions s WHERE state = 'open' AND instance <> $1 \
             AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.name = s.instance)",
        )
        .bind(me)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Mark a run lost, with its audit record, if it is still unfinished; whether it was. (Two
    /// peers settling one server at once write one record.)
    async fn lose_run(&self, id: &str, entry: Entry) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE runs SET state = 'lost', finished_at = $1 WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            crate::audit::append(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Close a session as lost, with its audit record, if it is still open.
    async fn lose_session(&self, id: &str, entry: Entry) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The database's clock: a replica taken for dead finds its sessions by it.
        let n = sqlx::query(&format!(
            "UPDATE sessions SET state = 'closed', closed_at = {}, reason = 'lost' WHERE id = $1 AND state = 'open'",
            self.db_now()
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            crate::audit::append(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Take a silent server's row for cleanup; true for exactly one claimant.
    pub async fn claim_instance(&self, name: &str, timeout_ms: i64) -> StoreResult<bool> {
        let n = sqlx::query(&format!(
            "DELETE FROM instances WHERE name = $1 AND heartbeat_at < {} - $2",
            self.db_now()
        ))
        .bind(name)
        .bind(timeout_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

/// The address peers reach this server at: `advertise_url`, else the address it listens on.
#[must_use]
pub fn advertised(app: &App, bound: std::net::SocketAddr) -> String {
    let configured = app.settings.advertise_url.trim_end_matches('/');
    if configured.is_empty() {
        format!("http://{bound}")
    } else {
        configured.to_string()
    }
}

/// Whether a live server already uses this server's instance name: its recorded address
/// answers `/healthz` with the same name. (A restart of this very server finds nothing there:
/// the old process is gone and this one does not listen yet.) Two live servers under one name
/// would take each other's runs for a crashed server's and mark them lost.
pub async fn name_in_use(app: &App) -> Result<Option<String>, crate::store::StoreError> {
    let Some(address) = app.store.instance_address(&app.instance).await? else {
        return Ok(None);
    };
    let probe = app
        .peers
        .get(format!("{address}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let answers = match probe {
        Ok(r) => r
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["instance"] == app.instance.as_str()),
        Err(_) => false,
    };
    Ok(answers.then_some(address))
}

/// Heartbeats, and the cleanup of peers that stopped beating, until the server drains.
pub async fn watch(app: std::sync::Arc<App>, address: String) {
    let every = Duration::from_millis(app.settings.heartbeat_ms.max(100));
    let timeout = i64::try_from(app.settings.peer_timeout_ms).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sweep_every = Duration::from_millis(app.settings.peer_timeout_ms);
    let mut last_sweep = tokio::time::Instant::now();
    let mut last_beat = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if app.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        match app.store.heartbeat(&app.instance).await {
            Ok(true) => last_beat = tokio::time::Instant::now(),
            Ok(false) => {
                // A peer took this server for dead (it could not reach the database for longer
                // than the timeout) and settled its runs; come back under the same name.
                eprintln!("stockade serve: a peer took this server for dead; registering again");
                let _ = app.store.register_instance(&app.instance, &address).await;
                // Its sessions are closed on the record: their jails here go too (else they
                // live on to their idle timeout, outside the tenant's session quota).
                let silent_ms = i64::try_from(last_beat.elapsed().as_millis()).unwrap_or(i64::MAX);
                let within = silent_ms.saturating_add(timeout).saturating_add(60_000);
                if let Ok(lost) = app.store.sessions_lost_within(&app.instance, within).await {
                    for id in lost {
                        if app.engine.session(&id).is_some() {
                            app.engine.close_session(&id).await;
                        }
                    }
                }
                last_beat = tokio::time::Instant::now();
            }
            Err(e) => tracing::warn!("heartbeat: {e}"),
        }
        let Ok(silent) = app.store.silent_instances(timeout).await else {
            continue;
        };
        for name in silent.into_iter().filter(|n| *n != app.instance) {
            if matches!(app.store.claim_instance(&name, timeout).await, Ok(true)) {
                settle(&app, &name).await;
            }
        }
        // A claim is a DELETE, so a claimant that died or failed before it settled everything
        // leaves runs that count against their tenant's quota for ever and sessions that look
        // open: now and then, settle whatever belongs to no registered server.
        if last_sweep.elapsed() >= sweep_every {
            last_sweep = tokio::time::Instant::now();
            if let Ok(orphans) = app.store.orphaned_instances(&app.instance).await {
                for name in orphans {
                    settle(&app, &name).await;
                }
            }
        }
    }
}

/// A dead peer's unfinished runs become `lost` and its sessions closed, on the record.
async fn settle(app: &App, peer: &str) {
    eprintln!("stockade serve: server {peer:?} stopped answering; its runs are lost and its sessions closed");
    if let Ok(runs) = app.store.unfinished(peer).await {
        for run in runs {
            let entry = Entry {
                tenant: Some(run.tenant.clone()),
                actor: "server".into(),
                action: "run.lost".into(),
                target: Some(run.id.clone()),
                detail: serde_json::json!({
                    "key": run.key_id,
                    "why": format!("its server {peer} stopped answering"),
                    "noticed_by": app.instance,
                }),
            };
            let _ = app.store.lose_run(&run.id, entry).await;
        }
    }
    if let Ok(sessions) = app.store.open_sessions(peer).await {
        for id in sessions {
            let entry = Entry {
                tenant: None,
                actor: "server".into(),
                action: "session.closed".into(),
                target: Some(id.clone()),
                detail: serde_json::json!({ "reason": "lost", "why": format!("its server {peer} stopped answering") }),
            };
            let _ = app.store.lose_session(&id, entry).await;
        }
    }
}

/// The HTTP client for forwarding: no proxy from the environment, a short connect timeout (a
/// dead peer is noticed at once), no overall timeout (a cell may run for its whole wall time,
/// or stream: [`forward`] stops waiting when the records say the owner is dead).
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| format!("the forwarding client: {e}"))
}

/// How a forwarded request's owner was found dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dead {
    /// Its row is gone: a peer took it for dead (its sessions are, or are being, closed).
    Gone,
    /// Silent for longer than the peer timeout, not yet claimed.
    Silent,
}

/// Watches the owner of a forwarded request in the records.
#[derive(Clone)]
struct Watch {
    store: Store,
    owner: String,
    every: Duration,
    timeout: i64,
}

impl Watch {
    /// Resolves when the owner is dead by the records; never while it beats.
    async fn dead(self) -> Dead {
        loop {
            tokio::time::sleep(self.every).await;
            match self.store.instance_silence(&self.owner).await {
                Ok(None) => return Dead::Gone,
                Ok(Some(silence)) if silence > self.timeout => return Dead::Silent,
                // Alive, or the database does not answer now (that proves nothing of the owner).
                _ => {}
            }
        }
    }
}

fn gone(message: &str) -> ApiError {
    ApiError::new(StatusCode::GONE, "session_closed", message)
}

/// Send this request for session `id` to `owner`, the server holding it, and relay its answer
/// (streamed: server-sent events pass through as they come).
pub async fn forward(
    app: &App,
    owner: &str,
    id: &str,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if headers.contains_key(FORWARDED_HEADER) {
        // Forwarded here, yet the record names another server: never forwarded again. Not
        // `session_closed`, which a caller may take for "nothing holds it" (a DELETE then closes
        // the record while the jail lives on in its owner, outside the tenant's session quota),
        // and any client can send this header.
        return Err(ApiError::new(
            StatusCode::GONE,
            "session_not_here",
            "the session is held by another server (a forwarded request is not forwarded again)",
        ));
    }
    let Some(base) = app.store.instance_address(owner).await? else {
        let _ = app.store.close_session(id, "lost").await;
        return Err(gone("the session's server is gone (the session is lost)"));
    };
    let mut req = app
        .peers
        .request(method, format!("{base}{path}"))
        .header(FORWARDED_HEADER, app.instance.as_str())
        .body(body);
    for name in [header::AUTHORIZATION, header::ACCEPT, header::CONTENT_TYPE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v);
        }
    }
    let watch = Watch {
        store: app.store.clone(),
        owner: owner.to_string(),
        every: Duration::from_millis(app.settings.heartbeat_ms.max(100)),
        timeout: i64::try_from(app.settings.peer_timeout_ms).unwrap_or(i64::MAX),
    };
    // The owner may stop answering without closing the connection (stopped, hung, cut off
    // after the request went out): the wait ends when the records say it is dead.
    let sent = tokio::select! {
        r = req.send() => r,
        dead = watch.clone().dead() => {
            if dead == Dead::Gone {
                let _ = app.store.close_session(id, "lost").await;
                return Err(gone("the session's server is gone (the session is lost)"));
            }
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session_unreachable",
                format!("the session's server {owner} does not answer"),
            )
            .retry_after(1));
        }
    };
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("forwarding to {owner}: {e}");
            // Not reachable now; if it is dead its peers settle it within the timeout.
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session_unreachable",
                format!("the session's server {owner} does not answer"),
            )
            .retry_after(1));
        }
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER, header::CACHE_CONTROL] {
        if let Some(v) = resp.headers().get(name.as_str()) {
            out = out.header(name, v.as_bytes());
        }
    }
    if let Some(v) = resp.headers().get("stockade-run-id") {
        out = out.header("stockade-run-id", v.as_bytes());
    }
    out = out.header(
        FORWARDED_HEADER,
        HeaderValue::from_str(owner).unwrap_or(HeaderValue::from_static("peer")),
    );
    // The owner's body as it comes; an error ends it (the client sees a cut-off answer, as it
    // would talking to the owner directly), and so does the owner's death.
    let stream = futures_util::stream::unfold(Some((resp, watch)), |state| async move {
        let (mut r, watch) = state?;
        let chunk = tokio::select! {
            c = r.chunk() => c,
            _ = watch.clone().dead() => {
                return Some((Err(std::io::Error::other("the session's server stopped answering")), None));
            }
        };
        match chunk {
            Ok(Some(c)) => Some((Ok::<_, std::io::Error>(c), Some((r, watch)))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    out.body(Body::from_stream(stream))
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "forward_failed", e.to_string()))
}
