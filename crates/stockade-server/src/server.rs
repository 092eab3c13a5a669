//! `stockade serve`: open the store, recover from a crash, start the engine, listen, and on
//! SIGTERM drain. The order of the steps is the order below.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use stockade_runner::client::Launcher;
use tokio::net::TcpListener;

use crate::api::{self, App};
use crate::audit::Entry;
use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::policy;
use crate::roles::Role;
use crate::store::{redact_url, Store, StoreError};

/// Why the service could not start (each names its step).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is wrong.
    #[error("settings: {0}")]
    Settings(String),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The default policy is invalid.
    #[error("default policy: {0}")]
    Policy(String),
    /// The address could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The tenant created on first start, holding the first admin key.
pub const DEFAULT_TENANT: &str = "default";

/// Open the store named by `settings` (creating the data directory for the default SQLite).
pub async fn open_store(settings: &Settings) -> Result<Store, ServeError> {
    if settings.database.is_empty() {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| ServeError::Settings(format!("data_dir {}: {e}", settings.data_dir.display())))?;
    }
    Ok(Store::open(&settings.database_url()).await?)
}

/// Run the service until SIGTERM or SIGINT; `launcher` starts supervisors.
pub async fn serve(settings: Settings, launcher: Launcher) -> Result<(), ServeError> {
    // 1. store (migrations run here)
    let store = open_store(&settings).await?;
    // 2. default policy, JWT keys
    let default_policy = match &settings.default_policy {
        Some(p) => std::fs::read_to_string(p).map_err(|e| ServeError::Policy(format!("{}: {e}", p.display())))?,
        None => "version = 1\n".to_string(),
    };
    stockade_policy::Policy::from_toml(&default_policy, "default policy")
        .map_err(|e| ServeError::Policy(e.to_string()))?;
    let jwt = JwtVerifier::from_settings(&settings.jwt).map_err(ServeError::Settings)?;
    let instance = settings.instance_name();
    let metrics = Arc::new(Metrics::new());
    let engine = Engine::new(
        launcher,
        settings.pool_size,
        Duration::from_secs(settings.pool_idle_seconds),
        settings.max_concurrent_runs,
        settings.queue,
        metrics.clone(),
    );
    let listen = settings.listen.clone();
    let telemetry = match &settings.otlp_endpoint {
        Some(e) if !e.is_empty() => Some(crate::telemetry::Telemetry::start(e).map_err(ServeError::Settings)?),
        _ => None,
    };
    let mut app =
        App::new(settings, store, engine, metrics, jwt, instance, default_policy).map_err(ServeError::Settings)?;
    app.telemetry = telemetry;
    let app = Arc::new(app);
    // JWKS from a URL: fetched now (a failure is a warning: tokens are refused until it works)
    // and again every `jwks_refresh_seconds`.
    if app.jwt.as_ref().is_some_and(|j| j.jwks_url().is_some()) {
        let a = app.clone();
        let every = Duration::from_secs(a.settings.jwt.jwks_refresh_seconds.max(1));
        refresh_jwks(&a).await;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if a.draining.load(Ordering::SeqCst) {
                    return;
                }
                refresh_jwks(&a).await;
            }
        });
    }
    // 3. first start: a tenant and an admin key, shown once
    bootstrap(&app).await?;
    // 4. runs this instance accepted and never finished (a crash): lost, never silently missing
    // — unless another live server has this name, whose runs those are.
    if let Some(address) = crate::replicas::name_in_use(&app).await? {
        return Err(ServeError::Settings(format!(
            "another live server uses the instance name {:?} (it answers at {address}); give each server \
             sharing the database its own `instance`",
            app.instance
        )));
    }
    recover(&app).await?;
    // 5. listen
    let listener = TcpListener::bind(&listen).await.map_err(|source| ServeError::Listen {
        addr: listen.clone(),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: listen.clone(),
        source,
    })?;
    println!(
        "stockade serve: listening on http://{addr} (database {})",
        redact_url(&app.settings.database_url())
    );
    // Peers sharing the database find this server, and notice when it stops.
    let advertised = crate::replicas::advertised(&app, addr);
    app.store.register_instance(&app.instance, &advertised).await?;
    tokio::spawn(crate::replicas::watch(app.clone(), advertised));
    // 6. warm the default tenant's pool; reap idle sessions and pools; prune the audit trail
    if app.settings.prewarm {
        let a = app.clone();
        tokio::spawn(async move {
            if let Ok(t) = a.store.tenant(DEFAULT_TENANT).await {
                match policy::effective(
                    t.policy.as_deref(),
                    &a.default_policy,
                    &t.quotas.apply(&a.settings.quotas),
                ) {
                    Ok(p) => {
                        if let Err(e) = a.engine.prewarm(&t.id, &p).await {
                            eprintln!("stockade serve: the default pool did not start: {e}");
                        }
                    }
                    Err(e) => eprintln!("stockade serve: the default tenant's policy: {e}"),
                }
            }
        });
    }
    tokio::spawn(housekeeping(app.clone()));
    // 7. serve until a signal, then drain
    accept_loop(app.clone(), listener, addr).await;
    drain(&app).await;
    Ok(())
}

async fn refresh_jwks(app: &Arc<App>) {
    let a = app.clone();
    let outcome = tokio::task::spawn_blocking(move || a.jwt.as_ref().map(JwtVerifier::refresh)).await;
    if let Ok(Some(Err(e))) = outcome {
        tracing::warn!("{e}");
        eprintln!("stockade serve: {e}");
    }
}

async fn bootstrap(app: &App) -> Result<(), ServeError> {
    if app.store.tenant(DEFAULT_TENANT).await.is_err() {
        match app
            .store
            .create_tenant(DEFAULT_TENANT, "Default", &Default::default())
            .await
        {
            Ok(_) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if !app.store.any_key().await? {
        let k = api::make_key(app, DEFAULT_TENANT, Role::Admin, "first admin", None, "server").await?;
        println!(
            "stockade serve: first start — an admin API key for tenant {DEFAULT_TENANT:?} (shown once, store it now):"
        );
        println!("{}", k.token);
    }
    Ok(())
}

async fn recover(app: &App) -> Result<(), ServeError> {
    for run in app.store.unfinished(&app.instance).await? {
        let (id, tenant, key) = (run.id, run.tenant, run.key_id);
        let entry = Entry {
            tenant: Some(tenant),
            actor: "server".into(),
            action: "run.lost".into(),
            target: Some(id.clone()),
            detail: serde_json::json!({ "key": key, "why": "the server stopped before the run finished" }),
        };
        app.store.mark_lost(&id, entry).await?;
    }
    for id in app.store.open_sessions(&app.instance).await? {
        app.store.close_session(&id, "lost").await?;
    }
    Ok(())
}

async fn housekeeping(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut last_prune = 0i64;
    loop {
        tick.tick().await;
        if app.draining.load(Ordering::SeqCst) {
            return;
        }
        for (id, why) in app.engine.reap().await {
            let _ = app.store.close_session(&id, why).await;
            let _ = app
                .store
                .audit(Entry {
                    tenant: None,
                    actor: "server".into(),
                    action: "session.closed".into(),
                    target: Some(id),
                    detail: serde_json::json!({ "reason": why }),
                })
                .await;
        }
        let days = app.settings.audit_retention_days;
        let now = crate::store::now_ms();
        if days > 0 && now - last_prune > 3_600_000 {
            last_prune = now;
            let before = now - i64::try_from(days).unwrap_or(0).saturating_mul(86_400_000);
            let _ = app.store.prune_audit(before).await;
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

async fn accept_loop(app: Arc<App>, listener: TcpListener, addr: SocketAddr) {
    let router = api::router(app.clone()).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        Duration::from_millis(app.settings.body_timeout_ms),
    ));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = Duration::from_millis(app.settings.header_timeout_ms);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut signal => break,
        }
    }
    drop(listener);
    eprintln!("stockade serve: stopping: no new connections on {addr}; draining runs");
    app.draining.store(true, Ordering::SeqCst);
    // Connections close as their responses end; runs are drained separately (their tasks
    // record results even when no connection waits for them).
    tokio::spawn(async move {
        graceful.shutdown().await;
    });
}

async fn drain(app: &Arc<App>) {
    app.tasks.close();
    let deadline = Duration::from_secs(app.settings.drain_seconds);
    if tokio::time::timeout(deadline, app.tasks.wait()).await.is_err() {
        eprintln!(
            "stockade serve: drain deadline passed; killing {} running runs",
            app.engine.running()
        );
        app.engine.kill_running();
        let _ = tokio::time::timeout(Duration::from_secs(15), app.tasks.wait()).await;
    }
    app.engine.close_slots();
    for id in app.engine.shutdown().await {
        let _ = app.store.close_session(&id, "shutdown").await;
    }
    // Anything still unfinished (a task that could not record): killed, on the record.
    if let Ok(rest) = app.store.unfinished(&app.instance).await {
        for run in rest {
            let (id, tenant, key) = (run.id.clone(), run.tenant.clone(), run.key_id.clone());
            let result = stockade_protocol::RunResult::not_run(
                stockade_protocol::Status::Killed,
                Some("the server shut down before the run finished".into()),
                None,
            );
            let entry = Entry {
                tenant: Some(tenant),
                actor: "server".into(),
                action: "run.finished".into(),
                target: Some(id.clone()),
                detail: serde_json::json!({ "status": "killed", "key": key, "why": "shutdown" }),
            };
            let _ = app.store.finish_run(&run, &result, entry).await;
        }
    }
    let _ = app.store.forget_instance(&app.instance).await;
    app.store.close().await;
    let a = app.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(t) = &a.telemetry {
            t.shutdown();
        }
    })
    .await;
    eprintln!("stockade serve: stopped");
}
