//! The HTTP API: authentication and the permission check (one middleware, driven by the
//! route table), and the handlers. Handlers are thin: they check scope, decode, and call the
//! store and the engine.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stockade_protocol::caller::RunSpec;
use stockade_protocol::calls::{Call, Functions, Reply};
use stockade_protocol::result::SetupFailure;
use stockade_protocol::{redact, RunResult, Status};
use stockade_runner::client::{ClientError, Event};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::audit::{AuditQuery, Entry};
use crate::auth::{self, AuthFailure, Identity, JwtVerifier};
use crate::config::{QuotaOverrides, Quotas, Settings};
use crate::engine::{Engine, StartError, Target};
use crate::error::{decode, decode_query, ApiError};
use crate::functions::{FunctionRequest, FunctionView, RegisteredFunction, StoredFunction};
use crate::metrics::Metrics;
use crate::policy::{self, Effective};
use crate::records::{ApiKey, KeyRow, NewRun, RunQuery, Scope, SessionRecord, TenantRow, ViolationQuery};
use crate::roles::{self, Permission, Role};
use crate::store::{now_ms, Store, StoreError};

/// Everything a handler needs.
pub struct App {
    /// Settings in force.
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// Pools and sessions.
    pub engine: Engine,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// JWT verification, when configured.
    pub jwt: Option<JwtVerifier>,
    /// This server's instance name.
    pub instance: String,
    /// The default policy's TOML.
    pub default_policy: String,
    /// Run tasks in flight (the drain waits for them).
    pub tasks: TaskTracker,
    /// Set once shutdown begins.
    pub draining: AtomicBool,
    /// Traces, when `otlp_endpoint` is set.
    pub telemetry: Option<crate::telemetry::Telemetry>,
    /// Tenants' host functions: vetting endpoints and calling them.
    pub hooks: Arc<crate::functions::Webhooks>,
    /// The dashboard's signed-in sessions.
    pub dashboard: crate::dashboard::Sessions,
    /// Forwards session requests to the server holding the session.
    pub peers: reqwest::Client,
    touched: Mutex<HashMap<String, i64>>,
    keys: KeyCache,
    effective_cache: Mutex<HashMap<(Option<String>, Quotas), Effective>>,
}

impl App {
    /// Assemble the app. Fails when the functions' resolver cannot be set up (an unreadable
    /// `STOCKADE_EGRESS_HOSTS` file).
    pub fn new(
        settings: Settings,
        store: Store,
        engine: Engine,
        metrics: Arc<Metrics>,
        jwt: Option<JwtVerifier>,
        instance: String,
        default_policy: String,
    ) -> Result<App, String> {
        let hooks = Arc::new(crate::functions::Webhooks::new(&settings.functions)?);
        Ok(App {
            hooks,
            peers: crate::replicas::client()?,
            settings,
            store,
            engine,
            metrics,
            jwt,
            instance,
            default_policy,
            tasks: TaskTracker::new(),
            dashboard: crate::dashboard::Sessions,
            draining: AtomicBool::new(false),
            telemetry: None,
            touched: Mutex::new(HashMap::new()),
            keys: KeyCache::default(),
            effective_cache: Mutex::new(HashMap::new()),
        })
    }

    fn quotas(&self, t: &TenantRow) -> Quotas {
        t.quotas.apply(&self.settings.quotas)
    }

    /// The effective policy, parsed once per (policy text, quotas): every run needs it and
    /// parsing, validating and rendering a policy costs more than the rest of admission.
    fn effective(&self, t: &TenantRow) -> Result<Effective, ApiError> {
        let quotas = self.quotas(t);
        let key = (t.policy.clone(), quotas.clone());
        if let Some(e) = self
            .effective_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(e.clone());
        }
        let e =
            policy::effective(t.policy.as_deref(), &self.default_policy, &quotas).map_err(|e| ApiError::policy(&e))?;
        let mut cache = self
            .effective_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(key, e.clone());
        Ok(e)
    }
}

type AppState = Arc<App>;

/// How long authentication trusts an API key and its tenant as last read from the store. A
/// revocation, or a change of a tenant's quotas or policy, made through this server empties the
/// cache at once; one made through another server sharing the database takes effect here within
/// this time.
const KEY_CACHE: Duration = Duration::from_secs(1);

/// A key and its tenant, as the store gave them.
type KnownKey = (KeyRow, Option<TenantRow>);

/// API keys (with their tenant) as the store last gave them, so that a run's authentication
/// costs no store read. Unknown keys are never kept.
#[derive(Default)]
struct KeyCache {
    entries: Mutex<HashMap<String, (Instant, Arc<KnownKey>)>>,
    /// Bumped by every [`KeyCache::forget`]: a read that began before it is not kept.
    generation: std::sync::atomic::AtomicU64,
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<KnownKey>)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, id: &str) -> Option<Arc<KnownKey>> {
        self.lock()
            .get(id)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE)
            .map(|(_, e)| e.clone())
    }

    /// The key from the store, unless it changed since `generation` was read.
    fn put(&self, id: &str, generation: u64, e: Arc<KnownKey>) {
        let mut entries = self.lock();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= 4096 {
            entries.retain(|_, (at, _)| at.elapsed() < KEY_CACHE);
            if entries.len() >= 4096 {
                entries.clear();
            }
        }
        entries.insert(id.to_string(), (Instant::now(), e));
    }

    /// Drop everything (a key was revoked, a tenant changed).
    fn forget(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

/// The router: every route of [`roles::ROUTES`], behind the authentication middleware.
pub fn router(app: AppState) -> Router {
    use axum::routing::{delete, post};
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/roles", get(list_roles))
        .route("/v1/runs", post(create_run).get(list_runs))
        .route("/v1/runs/{id}", get(get_run))
        .route("/v1/sessions", post(create_session))
        .route("/v1/sessions/{id}", get(get_session).delete(close_session))
        .route("/v1/sessions/{id}/runs", post(run_in_session))
        .route("/v1/violations", get(list_violations))
        .route("/v1/audit", get(list_audit))
        .route("/v1/tenants", get(list_tenants).post(create_tenant))
        .route("/v1/tenants/{id}", get(get_tenant).patch(update_tenant))
        .route("/v1/tenants/{id}/policy", get(get_policy).put(put_policy))
        .route("/v1/tenants/{id}/functions", get(list_functions))
        .route(
            "/v1/tenants/{id}/functions/{name}",
            axum::routing::put(put_function).delete(delete_function),
        )
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{id}", delete(revoke_key))
        .merge(crate::dashboard::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(app.clone(), authenticate))
        .layer(axum::middleware::from_fn(crate::dashboard::layer))
        .with_state(app)
}

// ----- authentication and permission -----

async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    // A NUL in an id cannot be stored or looked up as text (PostgreSQL refuses it).
    if req.uri().path().to_ascii_lowercase().contains("%00") {
        return ApiError::bad_request("invalid_request", "a NUL character is not allowed in the path").into_response();
    }
    let path = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    // axum answers HEAD with a route's GET handler: it needs the GET's permission too.
    let method = if req.method() == Method::HEAD {
        "GET"
    } else {
        req.method().as_str()
    };
    let Some(route) = path.as_deref().and_then(|p| roles::route(method, p)) else {
        // Unknown route or method: the fallbacks answer (fail closed: no handler runs).
        return next.run(req).await;
    };
    let span = app.telemetry.as_ref().map(|t| t.request(route.method, route.path));
    if let Some(s) = &span {
        req.extensions_mut().insert(crate::telemetry::context_of(s));
    }
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let resp = authorized(&app, route, req, next).await;
    let resp = finish_metrics(&app, route.path, started, resp);
    if let Some(s) = span {
        crate::telemetry::end(
            s,
            vec![opentelemetry::KeyValue::new(
                "http.response.status_code",
                i64::from(resp.status().as_u16()),
            )],
        );
    }
    // A refusal may leave the body unread, and then the connection cannot carry another
    // request: say so, rather than let the client find a closed socket.
    let mut resp = resp;
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        resp.headers_mut()
            .insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    resp
}

async fn authorized(app: &AppState, route: &'static roles::Route, mut req: Request, next: Next) -> Response {
    if route.permission != Permission::Public {
        // A dashboard session (a cookie, and no Authorization header) or a key or token.
        let found = match crate::dashboard::identify(app, req.method(), req.headers()).await {
            Some(session) => session.map(|i| (i, None)),
            None => identify(app, req.headers()).await,
        };
        let (identity, tenant) = match found {
            Ok(i) => i,
            Err(e) => return e.into_response(),
        };
        if !identity.role.allows(route.permission) {
            app.metrics.auth_failures.with_label_values(&["forbidden"]).inc();
            let e = ApiError::forbidden(format!(
                "the role {} does not hold {} ({} {})",
                identity.role,
                route.permission.name(),
                route.method,
                route.path
            ));
            return e.into_response();
        }
        req.extensions_mut().insert(identity);
        // The caller's tenant as read with its key: the run handlers need no second lookup.
        if let Some(t) = tenant {
            req.extensions_mut().insert(CallerTenant(t));
        }
    }
    next.run(req).await
}

fn finish_metrics(app: &App, route: &str, started: Instant, resp: Response) -> Response {
    app.metrics
        .requests
        .with_label_values(&[route, resp.status().as_str()])
        .inc();
    app.metrics
        .request_duration
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    resp
}

pub(crate) async fn identify(app: &App, headers: &HeaderMap) -> Result<(Identity, Option<TenantRow>), ApiError> {
    let outcome = identify_inner(app, headers).await;
    if let Err((failure, key_id)) = &outcome {
        app.metrics.auth_failures.with_label_values(&[failure.name()]).inc();
        let entry = Entry {
            tenant: None,
            actor: "anonymous".into(),
            action: "auth.failed".into(),
            target: key_id.clone(),
            detail: serde_json::json!({ "reason": failure.name() }),
        };
        if let Err(e) = app.store.audit(entry).await {
            return Err(e.into());
        }
    }
    outcome.map_err(|(f, _)| match f {
        AuthFailure::Missing => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <API key or JWT>",
        ),
        AuthFailure::Revoked => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the key was revoked"),
        AuthFailure::Expired => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the key or token has expired"),
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the key or token is not valid",
        ),
    })
}

async fn identify_inner(
    app: &App,
    headers: &HeaderMap,
) -> Result<(Identity, Option<TenantRow>), (AuthFailure, Option<String>)> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or((AuthFailure::Missing, None))?
        .to_str()
        .map_err(|_| (AuthFailure::Malformed, None))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or((AuthFailure::Malformed, None))?
        .trim();
    if let Some((id, secret)) = auth::parse_key(token) {
        let found = match app.keys.get(&id) {
            Some(e) => e,
            None => {
                let generation = app.keys.generation.load(Ordering::SeqCst);
                match app.store.key_with_tenant(&id).await {
                    Ok(r) => {
                        let r = Arc::new(r);
                        app.keys.put(&id, generation, r.clone());
                        r
                    }
                    Err(_) => return Err((AuthFailure::UnknownKey, Some(id))),
                }
            }
        };
        let (row, tenant) = (&found.0, found.1.clone());
        if !auth::secret_matches(secret, &row.hash) {
            return Err((AuthFailure::UnknownKey, Some(id)));
        }
        if row.key.revoked_at.is_some() {
            return Err((AuthFailure::Revoked, Some(id)));
        }
        let now = now_ms();
        if row.key.expires_at.is_some_and(|e| e <= now) {
            return Err((AuthFailure::Expired, Some(id)));
        }
        let stale = {
            let mut t = app.touched.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let last = t.get(&id).copied().unwrap_or(0);
            if now - last > 60_000 {
                t.insert(id.clone(), now);
                true
            } else {
                false
            }
        };
        if stale {
            let _ = app.store.touch_key(&id, now).await;
        }
        return Ok((
            Identity {
                tenant: row.key.tenant.clone(),
                role: row.key.role,
                key_id: id,
            },
            tenant,
        ));
    }
    if token.matches('.').count() == 2 {
        let Some(jwt) = &app.jwt else {
            return Err((AuthFailure::BadToken, None));
        };
        let claims = jwt.verify(token).map_err(|f| (f, None))?;
        if app.store.tenant(&claims.tenant).await.is_err() {
            return Err((AuthFailure::BadClaims, Some(format!("jwt:{}", claims.subject))));
        }
        return Ok((
            Identity {
                tenant: claims.tenant,
                role: claims.role,
                key_id: format!("jwt:{}", claims.subject),
            },
            None,
        ));
    }
    Err((AuthFailure::Malformed, None))
}

/// The caller's own tenant row, read together with its API key.
#[derive(Clone)]
struct CallerTenant(TenantRow);

/// The caller's own tenant: from authentication when it came with the key, else the store.
async fn caller_tenant(
    app: &App,
    who: &Identity,
    known: Option<Extension<CallerTenant>>,
) -> Result<TenantRow, ApiError> {
    match known {
        Some(Extension(CallerTenant(t))) if t.id == who.tenant => Ok(t),
        _ => own_tenant(app, who, &who.tenant).await,
    }
}

/// Who may see what the caller asks about.
fn scope(who: &Identity, asked_tenant: Option<&String>) -> Result<Scope, ApiError> {
    match who.role {
        Role::Admin => Ok(Scope {
            tenant: asked_tenant.cloned(),
            key_id: None,
        }),
        _ if asked_tenant.is_some_and(|t| t != &who.tenant) => {
            Err(ApiError::forbidden("only an admin may name another tenant"))
        }
        Role::Runner => Ok(Scope {
            tenant: Some(who.tenant.clone()),
            key_id: Some(who.key_id.clone()),
        }),
        _ => Ok(Scope {
            tenant: Some(who.tenant.clone()),
            key_id: None,
        }),
    }
}

/// The tenant `id` if `who` may act on it (others' tenants look absent).
async fn own_tenant(app: &App, who: &Identity, id: &str) -> Result<TenantRow, ApiError> {
    if who.role != Role::Admin && who.tenant != id {
        return Err(ApiError::not_found("tenant"));
    }
    app.store.tenant(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("tenant"),
        e => e.into(),
    })
}

async fn read_body(body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.is::<http_body_util::LengthLimitError>() {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is larger than {limit} bytes"),
                );
            }
            if s.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    "the body did not arrive in time",
                );
            }
            source = s.source();
        }
        ApiError::bad_request("bad_body", format!("could not read the body: {e}"))
    })
}

// ----- public routes -----

async fn healthz(State(app): State<AppState>) -> Json<serde_json::Value> {
    // The instance name lets a server starting under the same name see that this one is alive.
    Json(serde_json::json!({ "status": "ok", "instance": app.instance }))
}

async fn readyz(State(app): State<AppState>) -> Response {
    if app.draining.load(Ordering::SeqCst) {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "shutting down").into_response();
    }
    if !app.engine.observe() {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "no warm worker is idle").into_response();
    }
    if !app.store.ping().await {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        )
        .into_response();
    }
    Json(serde_json::json!({ "status": "ready" })).into_response()
}

async fn metrics(State(app): State<AppState>) -> Response {
    app.engine.observe();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

/// A role and what it may do.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleInfo {
    /// The role.
    pub role: Role,
    /// Its permissions.
    pub permissions: Vec<String>,
}

async fn list_roles() -> Json<Vec<RoleInfo>> {
    Json(
        Role::ALL
            .iter()
            .map(|r| RoleInfo {
                role: *r,
                permissions: roles::PERMISSIONS
                    .iter()
                    .filter(|p| r.allows(**p))
                    .map(|p| p.name().to_string())
                    .collect(),
            })
            .collect(),
    )
}

// ----- runs -----

/// `POST /v1/runs` and `POST /v1/sessions/{id}/runs`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The code.
    pub code: String,
    /// Variables bound in the code's namespace (typed value encoding).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Files placed in the scratch: name → base64.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Standard input, base64.
    #[serde(default)]
    pub stdin: Option<String>,
    /// A wall-time limit for this run, at most the tenant's policy's.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Return 202 with the run's id at once; fetch the result with `GET /v1/runs/{id}`.
    #[serde(default, rename = "async")]
    pub asynchronous: bool,
    /// The tenant's host functions this run may call, by name; absent: all of them.
    #[serde(default)]
    pub functions: Option<Vec<String>>,
}

/// The answer to an asynchronous run.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Accepted {
    /// The run's id.
    pub id: String,
    /// `queued`.
    pub state: String,
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

async fn create_run(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    known: Option<Extension<CallerTenant>>,
    trace: Option<Extension<opentelemetry::trace::SpanContext>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = caller_tenant(&app, &who, known).await?;
    let quotas = app.quotas(&tenant);
    let body = read_body(body, quotas.max_body_bytes.min(app.settings.max_body_bytes)).await?;
    let req: RunRequest = decode(&body)?;
    let policy = app.effective(&tenant)?;
    let target = Target::Pool {
        tenant: tenant.id.clone(),
        policy,
    };
    let trace = trace.map(|Extension(t)| t);
    let hosted = tenant.functions;
    start_run(
        app,
        who,
        &quotas,
        req,
        target,
        None,
        wants_stream(&headers),
        trace,
        hosted,
    )
    .await
}

async fn run_in_session(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    known: Option<Extension<CallerTenant>>,
    trace: Option<Extension<opentelemetry::trace::SpanContext>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = caller_tenant(&app, &who, known).await?;
    let quotas = app.quotas(&tenant);
    let body = read_body(body, quotas.max_body_bytes.min(app.settings.max_body_bytes)).await?;
    let live = match live_session(&app, &who, &id).await? {
        Held::Here(live) => live,
        Held::Elsewhere(owner) => {
            let path = format!("/v1/sessions/{id}/runs");
            return crate::replicas::forward(&app, &owner, &id, Method::POST, &path, &headers, body).await;
        }
    };
    let req: RunRequest = decode(&body)?;
    start_run(
        app,
        who,
        &quotas,
        req,
        Target::Session(live),
        Some(id),
        wants_stream(&headers),
        trace.map(|Extension(t)| t),
        tenant.functions,
    )
    .await
}

/// Validate, admit, then hand the run to a task of its own; answer as the client asked.
#[allow(clippy::too_many_arguments)]
async fn start_run(
    app: AppState,
    who: Identity,
    quotas: &Quotas,
    req: RunRequest,
    target: Target,
    session: Option<String>,
    stream: bool,
    trace: Option<opentelemetry::trace::SpanContext>,
    hosted: Vec<StoredFunction>,
) -> Result<Response, ApiError> {
    if app.draining.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .retry_after(5));
    }
    let (wall, secrets) = match &target {
        Target::Pool { policy, .. } => (policy.wall_time_ms, policy.secrets.clone()),
        Target::Session(s) => (quotas.max_wall_time_ms, s.secrets.clone()),
    };
    if let Some(t) = req.timeout_ms {
        if t > wall {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "override_not_allowed",
                format!("timeout_ms {t} is more than the tenant's policy allows ({wall} ms)"),
            )
            .field("timeout_ms"));
        }
    }
    let hosted = run_functions(hosted, req.functions.as_deref())?;
    let spec = RunSpec {
        code: req.code,
        inputs: req.inputs,
        files: req.files,
        stdin: req.stdin,
        timeout_ms: req.timeout_ms.or(Some(wall)),
        stream,
        functions: (!hosted.is_empty()).then(|| {
            let limits = app.hooks.settings();
            Functions {
                names: hosted.iter().map(|f| f.name.clone()).collect(),
                max_calls: limits.max_calls,
                max_bytes: limits.max_bytes,
                // The endpoint's own timeout answers first; this is the supervisor's backstop.
                timeout_ms: hosted.iter().map(|f| f.timeout_ms).max().unwrap_or(0) + 2_000,
            }
        }),
    };
    spec.validate().map_err(|m| {
        let field = ["inputs", "files", "stdin", "timeout"]
            .into_iter()
            .find(|f| m.contains(f.trim_end_matches('s')))
            .map(|f| if f == "timeout" { "timeout_ms" } else { f });
        let e = ApiError::bad_request("invalid_request", m);
        match field {
            Some(f) => e.field(f),
            None => e,
        }
    })?;
    let run_id = auth::new_id("r_");
    let code_sha256 = hex::encode(Sha256::digest(spec.code.as_bytes()));
    let masked_code = redact::text(&spec.code, &secrets);
    let new = NewRun {
        id: &run_id,
        tenant: &who.tenant,
        key_id: &who.key_id,
        session_id: session.as_deref(),
        instance: &app.instance,
        code_sha256: &code_sha256,
        code: &masked_code,
    };
    // A free slot taken before admission lets the run be recorded `running` in the same
    // commit (one write less per run); a refusal gives it back.
    let slot = app.engine.try_slot();
    // No slot and no room to wait: refuse now, before anything is recorded (an asynchronous
    // run would otherwise be accepted only to end `killed`).
    if slot.is_none() && app.engine.queue_full() {
        app.metrics.rate_limited.with_label_values(&["global_queue"]).inc();
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "server_busy",
            "every run slot is taken and the queue is full",
        )
        .retry_after(1));
    }
    let created_at = match app.store.admit_run(&new, quotas, slot.is_some()).await? {
        Ok(at) => at,
        Err(r) => {
            app.metrics.rate_limited.with_label_values(&[r.quota]).inc();
            return Err(
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", r.message)
                    .field(r.quota)
                    .retry_after(r.retry_after),
            );
        }
    };
    let (events_tx, events_rx) = if stream {
        let (tx, rx) = mpsc::unbounded_channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let (done_tx, done_rx) = oneshot::channel();
    let job = RunJob {
        app: app.clone(),
        admitted: crate::records::Admitted {
            id: run_id.clone(),
            tenant: who.tenant.clone(),
            key_id: who.key_id.clone(),
            created_at,
        },
        who,
        run_id: run_id.clone(),
        code_sha256,
        target,
        spec,
        secrets,
        session,
        trace,
        slot,
        hosted,
    };
    app.tasks.spawn(async move {
        let outcome = job.run(events_tx).await;
        let _ = done_tx.send(outcome);
    });
    if req.asynchronous {
        let mut r = (
            StatusCode::ACCEPTED,
            Json(Accepted {
                id: run_id.clone(),
                state: "queued".into(),
            }),
        )
            .into_response();
        if let Ok(v) = format!("/v1/runs/{run_id}").parse() {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(r);
    }
    if let Some(rx) = events_rx {
        return Ok(sse(run_id, rx, done_rx).into_response());
    }
    let outcome = done_rx.await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "run_lost",
            "the run's task ended without a result",
        )
    })?;
    let result = outcome?;
    let mut r = Json(result).into_response();
    if let Ok(v) = run_id.parse() {
        r.headers_mut().insert("stockade-run-id", v);
    }
    Ok(r)
}

fn sse(
    run_id: String,
    events: mpsc::UnboundedReceiver<Event>,
    done: oneshot::Receiver<Result<RunResult, ApiError>>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    use futures_util::StreamExt;
    let first = futures_util::stream::once(async move {
        Ok(SseEvent::default()
            .event("run")
            .data(serde_json::json!({ "id": run_id }).to_string()))
    });
    let b64 = base64::engine::general_purpose::STANDARD;
    let middle = tokio_stream::wrappers::UnboundedReceiverStream::new(events).map(move |e| {
        Ok(match e {
            Event::Stdout(b) => SseEvent::default()
                .event("stdout")
                .data(serde_json::json!({ "data": b64.encode(b) }).to_string()),
            Event::Stderr(b) => SseEvent::default()
                .event("stderr")
                .data(serde_json::json!({ "data": b64.encode(b) }).to_string()),
            Event::Violation(v) => SseEvent::default()
                .event("violation")
                .data(serde_json::to_string(&v).unwrap_or_default()),
        })
    });
    let last = futures_util::stream::once(async move {
        Ok(match done.await {
            Ok(Ok(result)) => SseEvent::default()
                .event("result")
                .data(serde_json::to_string(&result).unwrap_or_default()),
            Ok(Err(e)) => SseEvent::default().event("error").data(serde_json::to_string(&e.body).unwrap_or_default()),
            Err(_) => SseEvent::default()
                .event("error")
                .data(serde_json::json!({"code": "run_lost", "message": "the run's task ended without a result", "field": null}).to_string()),
        })
    });
    Sse::new(first.chain(middle).chain(last)).keep_alive(KeepAlive::default())
}

/// One admitted run: waits for a slot, executes, records — all of it whether or not the
/// client is still there.
struct RunJob {
    app: AppState,
    admitted: crate::records::Admitted,
    who: Identity,
    run_id: String,
    code_sha256: String,
    target: Target,
    spec: RunSpec,
    secrets: Vec<String>,
    session: Option<String>,
    trace: Option<opentelemetry::trace::SpanContext>,
    /// A slot taken at admission (the run's row already says `running`).
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The host functions it may call.
    hosted: Vec<StoredFunction>,
}

impl RunJob {
    async fn run(self, events: Option<mpsc::UnboundedSender<Event>>) -> Result<RunResult, ApiError> {
        let span = self
            .app
            .telemetry
            .as_ref()
            .map(|t| t.run(self.trace.as_ref(), &self.run_id, &self.who.tenant));
        let started = Instant::now();
        let outcome = self.run_traced(events).await;
        if let Some(span) = span {
            use opentelemetry::KeyValue;
            let status = match &outcome {
                Ok(r) => r.status.name().to_string(),
                Err(e) => e.body.code.clone(),
            };
            let (wall, violations) = outcome
                .as_ref()
                .map_or((0, 0), |r| (r.usage.wall_ms, r.violations.len()));
            crate::telemetry::end(
                span,
                vec![
                    KeyValue::new("stockade.run.status", status),
                    KeyValue::new("stockade.run.wall_ms", i64::try_from(wall).unwrap_or(i64::MAX)),
                    KeyValue::new("stockade.run.violations", i64::try_from(violations).unwrap_or(i64::MAX)),
                    KeyValue::new(
                        "stockade.run.total_ms",
                        i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                    ),
                ],
            );
        }
        outcome
    }

    async fn run_traced(mut self, events: Option<mpsc::UnboundedSender<Event>>) -> Result<RunResult, ApiError> {
        let app = self.app.clone();
        if let Some(permit) = self.slot.take() {
            app.metrics.queue_wait.observe(0.0);
            return self.execute(permit, events).await;
        }
        let (permit, waited) = match app.engine.slot().await {
            Ok(p) => p,
            Err(e) => {
                let (api, why) = match e {
                    StartError::Busy => (
                        ApiError::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            "server_busy",
                            "every run slot is taken and the queue is full",
                        )
                        .retry_after(1),
                        "the server's queue was full",
                    ),
                    _ => (
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "shutting_down",
                            "the server is shutting down",
                        )
                        .retry_after(5),
                        "the server was shutting down",
                    ),
                };
                if matches!(e, StartError::Busy) {
                    app.metrics.rate_limited.with_label_values(&["global_queue"]).inc();
                }
                let result = RunResult::not_run(Status::Killed, Some(why.into()), None);
                self.record(&result).await;
                return Err(api);
            }
        };
        app.metrics.queue_wait.observe(waited.as_secs_f64());
        // Not awaited: the run need not wait for its row to say it started (a late update
        // cannot undo `done`: it only moves `queued` rows).
        let (store, id) = (app.store.clone(), self.run_id.clone());
        tokio::spawn(async move {
            let _ = store.run_started(&id).await;
        });
        self.execute(permit, events).await
    }

    async fn execute(
        self,
        permit: tokio::sync::OwnedSemaphorePermit,
        events: Option<mpsc::UnboundedSender<Event>>,
    ) -> Result<RunResult, ApiError> {
        let app = self.app.clone();
        let on_call = (!self.hosted.is_empty()).then(|| {
            let (hooks, hosted) = (app.hooks.clone(), self.hosted.clone());
            let ctx = crate::functions::CallContext {
                tenant: self.who.tenant.clone(),
                run: self.run_id.clone(),
            };
            let handle = tokio::runtime::Handle::current();
            let metrics = app.metrics.clone();
            // No call outlives the run: a pending one is cut at the run's own deadline, so the
            // answer (and the run's slot) never waits for an endpoint longer than the run may.
            let deadline = Instant::now() + Duration::from_millis(self.spec.timeout_ms.unwrap_or(0));
            Box::new(move |call: &Call| {
                let reply = match hosted.iter().find(|f| f.name == call.name) {
                    Some(f) => hooks.call_before(&handle, f, call, &ctx, deadline),
                    // The supervisor lets only registered names through; this is the backstop.
                    None => Reply::error(call.id, "UnknownFunction", format!("no function {:?}", call.name)),
                };
                let outcome = reply.error.as_ref().map_or("returned", |e| e.kind.as_str());
                metrics.function_calls.with_label_values(&[outcome]).inc();
                reply
            }) as crate::engine::OnCall
        });
        let outcome = app
            .engine
            .execute(&self.target, self.spec.clone(), events, on_call)
            .await;
        drop(permit);
        let (result, error) = match outcome {
            Ok(r) => (r, None),
            Err(e) => {
                let (status, code, step) = match &e {
                    ClientError::Policy(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy", "policy".to_string())
                    }
                    ClientError::Request(_) => (StatusCode::BAD_REQUEST, "invalid_request", "request".to_string()),
                    ClientError::LayerMissing { step, .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "layer_missing", step.clone())
                    }
                    ClientError::Setup { step, .. } => (StatusCode::SERVICE_UNAVAILABLE, "setup_failed", step.clone()),
                    ClientError::Lost(_) | ClientError::Spawn(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "setup_failed",
                        "supervisor".to_string(),
                    ),
                };
                let message = redact::text(&e.to_string(), &self.secrets);
                let r = RunResult::not_run(
                    Status::SetupFailed,
                    Some(message.clone()),
                    Some(SetupFailure {
                        step: step.clone(),
                        message: message.clone(),
                    }),
                );
                (r, Some(ApiError::new(status, code, message).field(step)))
            }
        };
        let result = mask(result, &self.secrets);
        self.record(&result).await;
        if let Some(s) = &self.session {
            let _ = app.store.session_used(s).await;
        }
        match error {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// Store the result and its audit record; retried while the database is away, so a
    /// finished run is never left `running` behind a passing outage.
    async fn record(&self, result: &RunResult) {
        let app = &self.app;
        app.metrics.runs.with_label_values(&[result.status.name()]).inc();
        #[allow(clippy::cast_precision_loss)]
        app.metrics.run_duration.observe(result.usage.wall_ms as f64 / 1000.0);
        for v in &result.violations {
            app.metrics.violations.with_label_values(&[&v.rule]).inc();
        }
        let entry = Entry {
            tenant: Some(self.who.tenant.clone()),
            actor: self.who.key_id.clone(),
            action: "run.finished".into(),
            target: Some(self.run_id.clone()),
            detail: serde_json::json!({
                "status": result.status.name(),
                "code_sha256": self.code_sha256,
                "session": self.session,
                "usage": result.usage,
                "violations": result.violations.iter().map(|v| serde_json::json!({"rule": v.rule, "event": v.event, "decision": v.decision})).collect::<Vec<_>>(),
                // Every egress flow (host, port, address, bytes, duration, decision, rule) and
                // every host-function call is in the audit chain as the supervisor saw it.
                "flows": result.network.as_ref().map(|n| &n.flows),
                "calls": &result.calls,
            }),
        };
        for attempt in 0..30u32 {
            match app.store.finish_run(&self.admitted, result, entry.clone()).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("recording run {}: {e} (attempt {attempt})", self.run_id);
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(10) + 1))).await;
                }
            }
        }
    }
}

/// Mask secrets in everything of a result that holds text.
fn mask(mut r: RunResult, secrets: &[String]) -> RunResult {
    if secrets.is_empty() {
        return r;
    }
    r.stdout = redact::text(&r.stdout, secrets);
    r.stderr = redact::text(&r.stderr, secrets);
    r.reason = r.reason.map(|s| redact::text(&s, secrets));
    if let Some(a) = &mut r.answer {
        if let Some(e) = &mut a.error {
            e.message = redact::text(&e.message, secrets);
            e.traceback = redact::text(&e.traceback, secrets);
        }
        a.value = serde_json::from_str(&redact::text(&a.value.to_string(), secrets)).unwrap_or(serde_json::Value::Null);
    }
    for v in &mut r.violations {
        v.args = v.args.iter().map(|a| redact::text(a, secrets)).collect();
    }
    r
}

/// A listing's store error: `NotFound` there means a cursor that does not parse.
fn cursor_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::bad_request("invalid_query", "the cursor is not valid").field("cursor"),
        e => e.into(),
    }
}

async fn get_run(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = scope(&who, None)?;
    let run = app.store.run(&id, &scope).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("run"),
        e => e.into(),
    })?;
    Ok(Json(run).into_response())
}

async fn list_runs(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q: RunQuery = decode_query(q.as_deref())?;
    let scope = scope(&who, q.tenant.as_ref())?;
    let page = app.store.runs(&q, &scope).await.map_err(cursor_error)?;
    Ok(Json(page).into_response())
}

async fn list_violations(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q: ViolationQuery = decode_query(q.as_deref())?;
    let scope = scope(&who, q.tenant.as_ref())?;
    let page = app.store.violations(&q, &scope).await.map_err(cursor_error)?;
    Ok(Json(page).into_response())
}

async fn list_audit(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q: AuditQuery = decode_query(q.as_deref())?;
    if q.cursor.as_deref().is_some_and(|c| c.parse::<i64>().is_err()) {
        return Err(cursor_error(StoreError::NotFound));
    }
    let scope = scope(&who, q.tenant.as_ref())?;
    Ok(Json(app.store.audit_page(&q, scope.tenant.as_deref()).await?).into_response())
}

// ----- sessions -----

/// `POST /v1/sessions`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// Close the session after this long without a cell (at most the server's setting).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
}

async fn create_session(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = own_tenant(&app, &who, &who.tenant).await?;
    let quotas = app.quotas(&tenant);
    let body = read_body(body, quotas.max_body_bytes.min(app.settings.max_body_bytes)).await?;
    let req: SessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SessionRequest::default()
    } else {
        decode(&body)?
    };
    let max_idle = app.settings.session_idle_seconds.saturating_mul(1000);
    let idle = req.idle_timeout_ms.unwrap_or(max_idle);
    if idle == 0 || idle > max_idle {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "override_not_allowed",
            format!("idle_timeout_ms must be 1..={max_idle}"),
        )
        .field("idle_timeout_ms"));
    }
    let policy = app.effective(&tenant)?;
    let now = now_ms();
    let record = SessionRecord {
        id: auth::new_id("s_"),
        tenant: tenant.id.clone(),
        key_id: who.key_id.clone(),
        state: "open".into(),
        created_at: now,
        last_used_at: now,
        closed_at: None,
        reason: None,
        instance: app.instance.clone(),
    };
    if let Err(r) = app.store.admit_session(&record, &app.instance, quotas.sessions).await? {
        app.metrics.rate_limited.with_label_values(&[r.quota]).inc();
        return Err(
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", r.message)
                .field(r.quota)
                .retry_after(r.retry_after),
        );
    }
    if let Err(e) = app
        .engine
        .open_session(&record.id, &tenant.id, &policy, Duration::from_millis(idle))
        .await
    {
        let _ = app.store.close_session(&record.id, "failed").await;
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "setup_failed",
            redact::text(&e.to_string(), &policy.secrets),
        ));
    }
    let _ = app
        .store
        .audit(Entry {
            tenant: Some(tenant.id.clone()),
            actor: who.key_id.clone(),
            action: "session.opened".into(),
            target: Some(record.id.clone()),
            detail: serde_json::json!({ "idle_timeout_ms": idle }),
        })
        .await;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

/// Where an open session is held.
enum Held {
    /// By this server.
    Here(Arc<crate::engine::LiveSession>),
    /// By the server of this name (requests for it are forwarded there).
    Elsewhere(String),
}

async fn live_session(app: &App, who: &Identity, id: &str) -> Result<Held, ApiError> {
    let scope = scope(who, None)?;
    let rec = app.store.session(id, &scope).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("session"),
        e => e.into(),
    })?;
    if rec.state != "open" {
        return Err(ApiError::new(
            StatusCode::GONE,
            "session_closed",
            format!("the session is closed ({})", rec.reason.unwrap_or_default()),
        ));
    }
    match app.engine.session(id) {
        Some(s) => Ok(Held::Here(s)),
        None if rec.instance != app.instance => Ok(Held::Elsewhere(rec.instance)),
        None => {
            let _ = app.store.close_session(id, "lost").await;
            Err(ApiError::new(
                StatusCode::GONE,
                "session_closed",
                "the session's jail is gone (lost)",
            ))
        }
    }
}

async fn get_session(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = scope(&who, None)?;
    let rec = app.store.session(&id, &scope).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("session"),
        e => e.into(),
    })?;
    Ok(Json(rec).into_response())
}

async fn close_session(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = scope(&who, None)?;
    let rec = app.store.session(&id, &scope).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("session"),
        e => e.into(),
    })?;
    if rec.state == "open" && rec.instance != app.instance && app.engine.session(&id).is_none() {
        // Its jail is on another server: that one closes it. A server that is gone has nothing
        // to close, and the record says so.
        let path = format!("/v1/sessions/{id}");
        match crate::replicas::forward(&app, &rec.instance, &id, Method::DELETE, &path, &headers, Bytes::new()).await {
            Ok(r) => return Ok(r),
            Err(e) if e.body.code == "session_closed" => {}
            Err(e) => return Err(e),
        }
    }
    app.engine.close_session(&id).await;
    app.store.close_session(&id, "deleted").await?;
    let _ = app
        .store
        .audit(Entry {
            tenant: Some(rec.tenant),
            actor: who.key_id.clone(),
            action: "session.closed".into(),
            target: Some(id),
            detail: serde_json::json!({ "reason": "deleted" }),
        })
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- tenants and policies -----

/// A tenant with its usage.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TenantView {
    /// The tenant.
    #[serde(flatten)]
    pub tenant: crate::records::Tenant,
    /// Its usage now.
    pub usage: Option<crate::records::TenantUsage>,
}

fn view(app: &App, t: &TenantRow) -> crate::records::Tenant {
    crate::records::Tenant {
        id: t.id.clone(),
        name: t.name.clone(),
        created_at: t.created_at,
        quotas: t.quotas.clone(),
        effective_quotas: app.quotas(t),
        has_policy: t.policy.is_some(),
    }
}

async fn list_tenants(State(app): State<AppState>, Extension(who): Extension<Identity>) -> Result<Response, ApiError> {
    let rows = if who.role == Role::Admin {
        app.store.tenants().await?
    } else {
        vec![app.store.tenant(&who.tenant).await?]
    };
    Ok(Json(rows.iter().map(|t| view(&app, t)).collect::<Vec<_>>()).into_response())
}

/// `POST /v1/tenants`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    /// Its id: 1–40 of lowercase letters, digits and `-`, starting with a letter or digit.
    pub id: String,
    /// A display name (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Quota overrides.
    #[serde(default, deserialize_with = "crate::error::object")]
    pub quotas: QuotaOverrides,
}

/// `PATCH /v1/tenants/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// A new display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New quota overrides (replacing the old ones).
    #[serde(default, deserialize_with = "crate::error::opt_object")]
    pub quotas: Option<QuotaOverrides>,
}

fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

fn check_name(name: &str, field: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_request", "1–200 characters, no control characters").field(field));
    }
    Ok(())
}

async fn create_tenant(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, 1 << 20).await?;
    let req: TenantRequest = decode(&body)?;
    if !valid_tenant_id(&req.id) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "1–40 of lowercase letters, digits and '-', not starting with '-'",
        )
        .field("id"));
    }
    let name = req.name.clone().unwrap_or_else(|| req.id.clone());
    check_name(&name, "name")?;
    req.quotas
        .validate()
        .map_err(|(k, m)| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_quota", m).field(k))?;
    let row = app
        .store
        .create_tenant(&req.id, &name, &req.quotas)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "a tenant with this id exists").field("id")
            }
            e => e.into(),
        })?;
    app.store
        .audit(Entry {
            tenant: Some(row.id.clone()),
            actor: who.key_id.clone(),
            action: "tenant.created".into(),
            target: Some(row.id.clone()),
            detail: serde_json::json!({ "name": name, "quotas": req.quotas }),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view(&app, &row))).into_response())
}

async fn get_tenant(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = own_tenant(&app, &who, &id).await?;
    let usage = app.store.usage(&t.id).await?;
    Ok(Json(TenantView {
        tenant: view(&app, &t),
        usage: Some(usage),
    })
    .into_response())
}

async fn update_tenant(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, 1 << 20).await?;
    let patch: TenantPatch = decode(&body)?;
    let t = own_tenant(&app, &who, &id).await?;
    let name = patch.name.clone().unwrap_or(t.name.clone());
    check_name(&name, "name")?;
    let quotas = patch.quotas.clone().unwrap_or(t.quotas.clone());
    quotas
        .validate()
        .map_err(|(k, m)| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_quota", m).field(k))?;
    app.store.update_tenant(&id, &name, &quotas).await?;
    app.keys.forget();
    app.store
        .audit(Entry {
            tenant: Some(id.clone()),
            actor: who.key_id.clone(),
            action: "tenant.updated".into(),
            target: Some(id.clone()),
            detail: serde_json::json!({ "name": name, "quotas": quotas }),
        })
        .await?;
    let t = app.store.tenant(&id).await?;
    if let Ok(e) = app.effective(&t) {
        app.engine.retire(&id, &e.hash);
    }
    Ok(Json(view(&app, &t)).into_response())
}

/// A tenant's policy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyView {
    /// The tenant's own policy (TOML), or null: the server's default applies.
    pub policy: Option<String>,
    /// The effective policy runs get (TOML), after the tenant's caps.
    pub effective: String,
    /// SHA-256 of the effective policy.
    pub hash: String,
}

/// `PUT /v1/tenants/{id}/policy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// stockade policy TOML (`docs/policy.md`); null: back to the server's default.
    pub policy: Option<String>,
}

async fn get_policy(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = own_tenant(&app, &who, &id).await?;
    let e = app.effective(&t)?;
    Ok(Json(PolicyView {
        policy: t.policy.as_deref().map(|p| redact::text(p, &e.secrets)),
        effective: redact::text(&e.toml, &e.secrets),
        hash: e.hash,
    })
    .into_response())
}

async fn put_policy(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, 1 << 20).await?;
    let req: PolicyRequest = decode(&body)?;
    let t = own_tenant(&app, &who, &id).await?;
    let quotas = app.quotas(&t);
    if let Some(text) = &req.policy {
        policy::validate(text, &quotas, who.role == Role::Admin).map_err(|e| ApiError::policy(&e))?;
    }
    let effective =
        policy::effective(req.policy.as_deref(), &app.default_policy, &quotas).map_err(|e| ApiError::policy(&e))?;
    let entry = Entry {
        tenant: Some(id.clone()),
        actor: who.key_id.clone(),
        action: "policy.replaced".into(),
        target: Some(id.clone()),
        detail: serde_json::json!({ "hash": effective.hash, "default": req.policy.is_none() }),
    };
    app.store.set_policy(&id, req.policy.as_deref(), entry).await?;
    app.keys.forget();
    app.engine.retire(&id, &effective.hash);
    Ok(Json(PolicyView {
        policy: req.policy.as_deref().map(|p| redact::text(p, &effective.secrets)),
        effective: redact::text(&effective.toml, &effective.secrets),
        hash: effective.hash,
    })
    .into_response())
}

// ----- host functions -----

/// The functions `names` picks out of the tenant's (all of them when absent); an unknown
/// name is a 422 naming it.
fn run_functions(hosted: Vec<StoredFunction>, names: Option<&[String]>) -> Result<Vec<StoredFunction>, ApiError> {
    let Some(names) = names else { return Ok(hosted) };
    if let Some(unknown) = names.iter().find(|n| !hosted.iter().any(|f| &f.name == *n)) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_function",
            format!("the tenant has no function {unknown:?}"),
        )
        .field("functions"));
    }
    Ok(hosted.into_iter().filter(|f| names.contains(&f.name)).collect())
}

async fn list_functions(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = own_tenant(&app, &who, &id).await?;
    let views: Vec<FunctionView> = t.functions.iter().map(FunctionView::from).collect();
    Ok(Json(views).into_response())
}

async fn put_function(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((id, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, 64 << 10).await?;
    let req: FunctionRequest = decode(&body)?;
    own_tenant(&app, &who, &id).await?;
    let f = crate::functions::make(&name, req, &app.hooks, now_ms())
        .map_err(|(field, m)| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_function", m).field(field))?;
    let view = FunctionView::from(&f);
    let (url, signing_secret) = (f.url.clone(), f.secret.clone());
    let entry = Entry {
        tenant: Some(id.clone()),
        actor: who.key_id.clone(),
        action: "function.registered".into(),
        target: Some(format!("{id}/{name}")),
        // The URL's host and port only: a URL's path or query may hold what the audit should not.
        detail: serde_json::json!({
            "name": name,
            "endpoint": app.hooks.vet(&f.url).map(|(_, h, p)| format!("{h}:{p}")).unwrap_or_default(),
            "timeout_ms": f.timeout_ms,
        }),
    };
    let existed = app
        .store
        .set_function(&id, &name, Some(f), entry)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("tenant"),
            e => e.into(),
        })?
        .map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_functions", m).field("name"))?;
    app.keys.forget();
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(RegisteredFunction {
            function: view,
            url,
            signing_secret,
        }),
    )
        .into_response())
}

async fn delete_function(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    own_tenant(&app, &who, &id).await?;
    let entry = Entry {
        tenant: Some(id.clone()),
        actor: who.key_id.clone(),
        action: "function.removed".into(),
        target: Some(format!("{id}/{name}")),
        detail: serde_json::json!({ "name": name }),
    };
    app.store
        .set_function(&id, &name, None, entry)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("function"),
            e => e.into(),
        })?
        .map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_function", m))?;
    app.keys.forget();
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- keys -----

/// `POST /v1/keys`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A label.
    pub name: String,
    /// Its role (no one grants more than they hold; only admins make admins).
    pub role: Role,
    /// Its tenant (default: the caller's; only an admin may name another).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Expiry, ms since the epoch (default: never).
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A created key: its secret appears here and nowhere else, ever.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedKey {
    /// The key's listing.
    pub key: ApiKey,
    /// The bearer token. Store it now: it is not kept.
    pub token: String,
}

/// Filters of `GET /v1/keys`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// An admin's choice of tenant.
    pub tenant: Option<String>,
}

async fn list_keys(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q: KeyQuery = decode_query(q.as_deref())?;
    let scope = scope(&who, q.tenant.as_ref())?;
    Ok(Json(app.store.keys(scope.tenant.as_deref()).await?).into_response())
}

/// Create a key for `tenant` (used by the API and by the first start).
pub async fn make_key(
    app: &App,
    tenant: &str,
    role: Role,
    name: &str,
    expires_at: Option<i64>,
    by: &str,
) -> Result<CreatedKey, StoreError> {
    let k = auth::new_key();
    let key = ApiKey {
        id: k.id.clone(),
        tenant: tenant.to_string(),
        role,
        name: name.to_string(),
        created_at: now_ms(),
        created_by: by.to_string(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    let entry = Entry {
        tenant: Some(tenant.to_string()),
        actor: by.to_string(),
        action: "key.created".into(),
        target: Some(k.id.clone()),
        detail: serde_json::json!({ "role": role.name(), "name": name, "expires_at": expires_at }),
    };
    app.store.create_key(&key, &k.hash, Some(entry)).await?;
    Ok(CreatedKey { key, token: k.token })
}

async fn create_key(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, 1 << 20).await?;
    let req: KeyRequest = decode(&body)?;
    check_name(&req.name, "name")?;
    let tenant = req.tenant.clone().unwrap_or(who.tenant.clone());
    if who.role != Role::Admin && tenant != who.tenant {
        return Err(ApiError::forbidden("only an admin may create keys for another tenant").field("tenant"));
    }
    if !who.role.may_grant(req.role) {
        return Err(ApiError::forbidden(format!("a {} may not create a {} key", who.role, req.role)).field("role"));
    }
    if req.expires_at.is_some_and(|e| e <= now_ms()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "expires_at is in the past",
        )
        .field("expires_at"));
    }
    app.store.tenant(&tenant).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("tenant").field("tenant"),
        e => e.into(),
    })?;
    let created = make_key(&app, &tenant, req.role, &req.name, req.expires_at, &who.key_id).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn revoke_key(
    State(app): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = app.store.key(&id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("key"),
        e => e.into(),
    })?;
    if who.role != Role::Admin && row.key.tenant != who.tenant {
        return Err(ApiError::not_found("key"));
    }
    if !who.role.may_grant(row.key.role) {
        return Err(ApiError::forbidden(format!(
            "a {} may not revoke a {} key",
            who.role, row.key.role
        )));
    }
    let entry = Entry {
        tenant: Some(row.key.tenant.clone()),
        actor: who.key_id.clone(),
        action: "key.revoked".into(),
        target: Some(id.clone()),
        detail: serde_json::json!({ "role": row.key.role.name() }),
    };
    app.store.revoke_key(&id, entry).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::new(StatusCode::CONFLICT, "conflict", "the key is already revoked"),
        e => e.into(),
    })?;
    app.keys.forget();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// For the OpenAPI generator: the method of a route as axum's.
#[must_use]
pub fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)
}

#[cfg(test)]
mod tests {
    use super::{KeyCache, KnownKey, KEY_CACHE};
    use crate::records::{ApiKey, KeyRow};
    use crate::roles::Role;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    fn known(id: &str) -> Arc<KnownKey> {
        let key = ApiKey {
            id: id.into(),
            tenant: "t".into(),
            role: Role::Runner,
            name: "n".into(),
            created_at: 0,
            created_by: "x".into(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        };
        Arc::new((KeyRow { key, hash: "h".into() }, None))
    }

    #[test]
    fn the_key_cache_forgets_at_once_and_never_keeps_a_read_from_before_forgetting() {
        let cache = KeyCache::default();
        let g = cache.generation.load(Ordering::SeqCst);
        cache.put("k_1", g, known("k_1"));
        assert!(cache.get("k_1").is_some());
        // A revocation (or a tenant change) on this server: gone at once.
        cache.forget();
        assert!(cache.get("k_1").is_none());
        // A store read that began before the revocation and ends after it is not kept.
        cache.put("k_1", g, known("k_1"));
        assert!(cache.get("k_1").is_none());
        let g = cache.generation.load(Ordering::SeqCst);
        cache.put("k_2", g, known("k_2"));
        assert!(cache.get("k_2").is_some());
        // And nothing is trusted longer than KEY_CACHE.
        std::thread::sleep(KEY_CACHE + std::time::Duration::from_millis(50));
        assert!(cache.get("k_2").is_none());
    }
}
