//! The dashboard under `/ui/`: HTML shells, embedded CSS and JavaScript modules, and the
//! sign-in that turns an API key or a JWT into a server-side session (docs/dashboard.md).
//!
//! The pages hold no data: their scripts read the `/v1` API like any client, with the session
//! cookie as the credential, so the API's own permission checks and scoping decide what a page
//! shows. A page that needs a permission is refused by the same middleware as its API routes
//! (`roles::ROUTES`), so an auditor asking for `/ui/admin` gets a 403 from the server, not a
//! hidden link.
//!
//! The cookie authenticates a request only when no `Authorization` header is sent, and a
//! request that changes anything must also carry the session's CSRF token in `X-CSRF-Token`
//! (a synchronizer token: it lives in the session and is handed to the page's script by
//! `GET /ui/session`, which another origin cannot read).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use rand::RngCore;
use schemars::gen::SchemaGenerator;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::api::App;
use crate::audit::Entry;
use crate::auth::Identity;
use crate::error::{decode, ApiError, ErrorBody};
use crate::roles::{self, Role, Route};
use crate::store::{now_ms, Store, StoreResult};

/// A session ends this long after sign-in at the latest (sooner when its key or token expires).
const LIFETIME_MS: i64 = 8 * 3_600_000;
/// … and after this long without a request.
const IDLE_MS: i64 = 30 * 60_000;
/// Sessions kept at most; beyond it the longest idle one is dropped.
const MAX_SESSIONS: usize = 10_000;

/// The cookie on plain HTTP (loopback only).
const COOKIE: &str = "stockade_session";
/// The cookie over HTTPS: the `__Host-` prefix makes the browser refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`, so no sibling host can plant or shadow it.
const COOKIE_TLS: &str = "__Host-stockade_session";
/// The header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The Content-Security-Policy of every `/ui` response: scripts and styles from this server
/// only, no inline script, no framing, no `<base>`, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The signed-in sessions, kept in the store by SHA-256 of their id (the id itself is only ever
/// in the browser's cookie), so that every replica sharing the database knows them: a load
/// balancer may send a browser's next request anywhere.
#[derive(Default)]
pub struct Sessions;

#[derive(Clone)]
struct Session {
    identity: Identity,
    csrf: String,
    expires_at: i64,
    last_seen: i64,
    /// The API key it was opened with, checked again on every request (revoking the key ends
    /// the session); None for a JWT, which cannot be revoked and bounds `expires_at` instead.
    key: Option<String>,
}

fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn random() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The idle clock is written back at most this often (a dashboard polls every few seconds).
const TOUCH_MS: i64 = 60_000;

impl Sessions {
    /// Keep `s`; its id (for the cookie).
    async fn open(&self, store: &Store, s: Session) -> StoreResult<String> {
        let id = random();
        let now = now_ms();
        // Sessions that ended unseen go at the next sign-in (sign-ins are rare).
        sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1 OR last_seen <= $2")
            .bind(now)
            .bind(now - IDLE_MS)
            .execute(&store.pool)
            .await?;
        let kept: i64 = sqlx::query("SELECT COUNT(*) FROM dashboard_sessions")
            .fetch_one(&store.pool)
            .await?
            .try_get(0)?;
        if usize::try_from(kept).unwrap_or(usize::MAX) >= MAX_SESSIONS {
            sqlx::query(
                "DELETE FROM dashboard_sessions WHERE digest IN \
                 (SELECT digest FROM dashboard_sessions ORDER BY last_seen LIMIT 1)",
            )
            .execute(&store.pool)
            .await?;
        }
        sqlx::query(
            "INSERT INTO dashboard_sessions (digest, tenant, role, key_id, csrf, expires_at, last_seen, api_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(digest(&id))
        .bind(&s.identity.tenant)
        .bind(s.identity.role.name())
        .bind(&s.identity.key_id)
        .bind(&s.csrf)
        .bind(s.expires_at)
        .bind(s.last_seen)
        .bind(s.key.as_deref())
        .execute(&store.pool)
        .await?;
        Ok(id)
    }

    /// The live session `id`, its idle clock reset; an ended one is dropped.
    async fn get(&self, store: &Store, id: &str) -> StoreResult<Option<Session>> {
        let key = digest(id);
        let row = sqlx::query(
            "SELECT tenant, role, key_id, csrf, expires_at, last_seen, api_key FROM dashboard_sessions \
             WHERE digest = $1",
        )
        .bind(&key)
        .fetch_optional(&store.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role")?;
        let Some(role) = Role::parse(&role) else {
            return Ok(None);
        };
        let mut s = Session {
            identity: Identity {
                tenant: row.try_get("tenant")?,
                role,
                key_id: row.try_get("key_id")?,
            },
            csrf: row.try_get("csrf")?,
            expires_at: row.try_get("expires_at")?,
            last_seen: row.try_get("last_seen")?,
            key: row.try_get("api_key")?,
        };
        let now = now_ms();
        if !live(&s, now) {
            self.close(store, id).await?;
            return Ok(None);
        }
        if now - s.last_seen >= TOUCH_MS {
            sqlx::query("UPDATE dashboard_sessions SET last_seen = $1 WHERE digest = $2")
                .bind(now)
                .bind(&key)
                .execute(&store.pool)
                .await?;
            s.last_seen = now;
        }
        Ok(Some(s))
    }

    async fn close(&self, store: &Store, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE digest = $1")
            .bind(digest(id))
            .execute(&store.pool)
            .await?;
        Ok(())
    }
}

fn live(s: &Session, now: i64) -> bool {
    now < s.expires_at && now - s.last_seen < IDLE_MS
}

/// Whether the request reached us over TLS: this server speaks plain HTTP, so TLS is a proxy's
/// in front of it, which says so with `X-Forwarded-Proto`. A client forging the header only
/// gets a cookie its browser keeps for HTTPS.
fn over_tls(h: &HeaderMap) -> bool {
    h.get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Whether the browser addressed a loopback name (`Host`).
fn loopback_host(h: &HeaderMap) -> bool {
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

fn cookie_name(h: &HeaderMap) -> &'static str {
    if over_tls(h) {
        COOKIE_TLS
    } else {
        COOKIE
    }
}

/// The session id from the cookie of the request's transport.
fn session_cookie(h: &HeaderMap) -> Option<String> {
    let name = cookie_name(h);
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(h: &HeaderMap, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if over_tls(h) { "; Secure" } else { "" };
    let c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}",
        cookie_name(h)
    );
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("stockade_session=; Max-Age=0"))
}

fn ended() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the dashboard session has ended; sign in again",
    )
}

fn safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The identity of a request carrying a session cookie and no `Authorization` header (None:
/// not a session request; the caller authenticates the header as usual). Called by the API's
/// authentication middleware for every route.
pub async fn identify(app: &App, method: &Method, headers: &HeaderMap) -> Option<Result<Identity, ApiError>> {
    if headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    let id = session_cookie(headers)?;
    Some(check(app, &id, method, headers).await.map(|s| s.identity))
}

/// The session `id` if it is live, its key still good, and — for a method that changes
/// anything — the request carries its CSRF token.
async fn check(app: &App, id: &str, method: &Method, headers: &HeaderMap) -> Result<Session, ApiError> {
    let Some(s) = app.dashboard.get(&app.store, id).await? else {
        app.metrics.auth_failures.with_label_values(&["session"]).inc();
        return Err(ended());
    };
    if !safe_method(method) {
        let sent = headers.get(CSRF_HEADER).map_or(&b""[..], HeaderValue::as_bytes);
        if !bool::from(sent.ct_eq(s.csrf.as_bytes())) {
            app.metrics.auth_failures.with_label_values(&["csrf"]).inc();
            app.store
                .audit(Entry {
                    tenant: Some(s.identity.tenant.clone()),
                    actor: s.identity.key_id.clone(),
                    action: "auth.failed".into(),
                    target: None,
                    detail: json!({ "reason": "csrf", "method": method.as_str() }),
                })
                .await?;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                format!("a dashboard request that changes anything must carry the session's {CSRF_HEADER} header"),
            ));
        }
    }
    if let Some(key) = &s.key {
        let row = match app.store.key(key).await {
            Ok(r) => Some(r),
            Err(crate::store::StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let good = row.is_some_and(|r| r.key.revoked_at.is_none() && r.key.expires_at.is_none_or(|e| e > now_ms()));
        if !good {
            app.dashboard.close(&app.store, id).await?;
            app.metrics.auth_failures.with_label_values(&["session"]).inc();
            return Err(ended());
        }
    }
    Ok(s)
}

// ----- routes -----

/// The dashboard's routes (each also in [`roles::ROUTES`], behind the API's middleware).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/ui", get(|| async { axum::response::Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { page("signin") }))
        .route("/ui/runs", get(|| async { page("runs") }))
        .route("/ui/runs/{id}", get(|| async { page("run") }))
        .route("/ui/charts", get(|| async { page("charts") }))
        .route("/ui/admin", get(|| async { page("admin") }))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/session", get(get_session).post(sign_in).delete(sign_out))
}

const SHELL: &str = include_str!("../ui/shell.html");

/// A page: the shell with the page's module. No data is ever put into HTML on the server.
fn page(name: &'static str) -> Response {
    let module = match name {
        "denied" | "missing" => "notice",
        n => n,
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        SHELL.replace("{page}", name).replace("{module}", module),
    )
        .into_response()
}

/// Every file under `/ui/assets/`, embedded in the binary.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css; charset=utf-8", include_str!("../ui/style.css")),
    ("icon.svg", "image/svg+xml", include_str!("../ui/icon.svg")),
    ("dom.js", JS, include_str!("../ui/dom.js")),
    ("api.js", JS, include_str!("../ui/api.js")),
    ("chart.js", JS, include_str!("../ui/chart.js")),
    ("signin.js", JS, include_str!("../ui/signin.js")),
    ("runs.js", JS, include_str!("../ui/runs.js")),
    ("run.js", JS, include_str!("../ui/run.js")),
    ("charts.js", JS, include_str!("../ui/charts.js")),
    ("admin.js", JS, include_str!("../ui/admin.js")),
    ("notice.js", JS, include_str!("../ui/notice.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => (
            [(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "no-cache")],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("asset").into_response(),
    }
}

/// `POST /ui/session`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An API key (`sk_…`) or a JWT. Sent once; the browser keeps only the session cookie.
    pub token: String,
}

/// The signed-in session, for the page's script.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionView {
    /// The tenant the session acts in.
    pub tenant: String,
    /// Its role.
    pub role: Role,
    /// The API key id, or `jwt:<sub>`.
    pub key_id: String,
    /// The permissions of the role.
    pub permissions: Vec<String>,
    /// When the session ends at the latest, ms since the epoch (after 30 idle minutes sooner).
    pub expires_at: i64,
    /// Send as `X-CSRF-Token` with every request that changes anything.
    pub csrf_token: String,
}

fn view(s: &Session) -> SessionView {
    SessionView {
        tenant: s.identity.tenant.clone(),
        role: s.identity.role,
        key_id: s.identity.key_id.clone(),
        permissions: roles::PERMISSIONS
            .iter()
            .filter(|p| s.identity.role.allows(**p))
            .map(|p| p.name().to_string())
            .collect(),
        expires_at: s.expires_at,
        csrf_token: s.csrf.clone(),
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Whether a browser says the request comes from another site. A sign-in has no session to
/// hold a CSRF token yet, so this is its defence against a page signing the browser in as
/// someone else: browsers send `Origin` with every POST and `Sec-Fetch-Site` with every request.
fn cross_site(h: &HeaderMap) -> bool {
    let text = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return true;
    }
    // Behind a proxy that rewrites Host, the browser's host is in X-Forwarded-Host.
    let host = text("x-forwarded-host")
        .and_then(|h| h.split(',').next())
        .map(str::trim)
        .or_else(|| text("host"));
    match (text("origin"), host) {
        (Some(origin), Some(host)) => {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            rest != Some(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

async fn sign_in(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    if cross_site(&headers) {
        return Err(ApiError::forbidden(
            "a dashboard sign-in must come from the dashboard's own origin",
        ));
    }
    if !over_tls(&headers) && !loopback_host(&headers) {
        return Err(ApiError::forbidden(
            "the dashboard signs in only over HTTPS (a TLS proxy sending X-Forwarded-Proto: https) or on loopback",
        ));
    }
    let body = axum::body::to_bytes(body, 64 << 10)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the body is too large"))?;
    let req: SignIn = decode(&body)?;
    let mut h = HeaderMap::new();
    let bearer = HeaderValue::from_str(&format!("Bearer {}", req.token.trim())).map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the key or token is not valid",
        )
        .field("token")
    })?;
    h.insert(header::AUTHORIZATION, bearer);
    let (identity, _) = crate::api::identify(&app, &h).await?;
    let now = now_ms();
    let mut expires_at = now + LIFETIME_MS;
    let key = if identity.key_id.starts_with("jwt:") {
        // Verified just now by `identify`; only its `exp` is read here.
        if let Some(exp) = jwt_exp(&req.token) {
            expires_at = expires_at.min(exp);
        }
        None
    } else {
        if let Some(exp) = app.store.key(&identity.key_id).await?.key.expires_at {
            expires_at = expires_at.min(exp);
        }
        Some(identity.key_id.clone())
    };
    let session = Session {
        identity: identity.clone(),
        csrf: random(),
        expires_at,
        last_seen: now,
        key,
    };
    let v = view(&session);
    let id = app.dashboard.open(&app.store, session).await?;
    app.store
        .audit(Entry {
            tenant: Some(identity.tenant.clone()),
            actor: identity.key_id.clone(),
            action: "dashboard.signed_in".into(),
            target: None,
            detail: json!({ "role": identity.role.name(), "expires_at": expires_at }),
        })
        .await?;
    let mut r = (StatusCode::CREATED, Json(v)).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&headers, &id, (expires_at - now) / 1000));
    Ok(no_store(r))
}

fn jwt_exp(token: &str) -> Option<i64> {
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()?.checked_mul(1000)
}

async fn get_session(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(id) = session_cookie(&headers) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "not signed in"));
    };
    let s = check(&app, &id, &Method::GET, &headers).await?;
    Ok(no_store(Json(view(&s)).into_response()))
}

async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(id) = session_cookie(&headers) {
        // The CSRF token is checked for a live session only: ending an ended one changes nothing.
        if app.dashboard.get(&app.store, &id).await?.is_some() {
            let s = check(&app, &id, &Method::DELETE, &headers).await?;
            app.dashboard.close(&app.store, &id).await?;
            app.store
                .audit(Entry {
                    tenant: Some(s.identity.tenant.clone()),
                    actor: s.identity.key_id.clone(),
                    action: "dashboard.signed_out".into(),
                    target: None,
                    detail: json!({}),
                })
                .await?;
        }
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, set_cookie(&headers, "", 0));
    Ok(no_store(r))
}

// ----- headers and error pages -----

fn is_page(path: &str) -> bool {
    path.starts_with("/ui") && !path.starts_with("/ui/assets/") && path != "/ui/session"
}

/// The outer middleware of the router: every `/ui` response gets the security headers, and a
/// page that is refused gets a page saying so (the sign-in page for a 401, with that status)
/// instead of the API's JSON.
pub async fn layer(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/ui") {
        return next.run(req).await;
    }
    let page_request = req.method() == Method::GET && is_page(path);
    let mut resp = next.run(req).await;
    if page_request {
        let status = resp.status();
        let replacement = match status {
            StatusCode::UNAUTHORIZED => Some(page("signin")),
            StatusCode::FORBIDDEN => Some(page("denied")),
            StatusCode::NOT_FOUND => Some(page("missing")),
            _ => None,
        };
        if let Some(mut r) = replacement {
            *r.status_mut() = status;
            resp = r;
        }
    }
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

// ----- OpenAPI -----

/// The OpenAPI operation of a dashboard route (None for the API's own routes).
pub fn openapi_operation(r: &Route, g: &mut SchemaGenerator) -> Option<Value> {
    if !r.path.starts_with("/ui") {
        return None;
    }
    let error_schema = serde_json::to_value(g.subschema_for::<ErrorBody>()).unwrap_or(Value::Null);
    let error = |why: &str| json!({"description": why, "content": {"application/json": {"schema": error_schema}}});
    let html = |why: &str| json!({"description": why, "content": {"text/html": {"schema": {"type": "string"}}}});
    let mut responses = serde_json::Map::new();
    responses.insert("400".into(), error("A NUL in the path"));
    responses.insert("405".into(), error("The route does not take this method"));
    let mut op = json!({
        "operationId": r.operation,
        "summary": r.summary,
        "x-permission": r.permission.name(),
        "tags": ["dashboard"],
    });
    match r.path {
        "/ui" => {
            responses.insert(
                "308".into(),
                json!({"description": "To /ui/", "headers": {"Location": {"schema": {"type": "string"}}}}),
            );
            responses.insert(
                "200".into(),
                html("The sign-in page, for a client that follows the redirect"),
            );
        }
        "/ui/assets/{file}" => {
            let text = json!({"schema": {"type": "string"}});
            responses.insert(
                "200".into(),
                json!({"description": "The file", "content": {
                    "text/css": text, "text/javascript": text, "image/svg+xml": text}}),
            );
            responses.insert("404".into(), error("No such asset"));
            op["parameters"] = json!([{"name": "file", "in": "path", "required": true, "schema": {"type": "string"}}]);
        }
        "/ui/session" => {
            let session = serde_json::to_value(g.subschema_for::<SessionView>()).unwrap_or(Value::Null);
            let ok = |why: &str| json!({"description": why, "content": {"application/json": {"schema": session}}});
            match r.method {
                "GET" => {
                    responses.insert("200".into(), ok("The session"));
                    responses.insert("401".into(), error("No live session"));
                }
                "POST" => {
                    let body = serde_json::to_value(g.subschema_for::<SignIn>()).unwrap_or(Value::Null);
                    op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": body}}});
                    responses.insert("201".into(), ok("Signed in: the session cookie is set"));
                    responses.insert("400".into(), error("Malformed JSON, a wrong type, an unknown field"));
                    responses.insert("401".into(), error("The key or token is wrong, revoked or expired"));
                    responses.insert(
                        "403".into(),
                        error("From another origin, or over plain HTTP to a name other than loopback"),
                    );
                    responses.insert("413".into(), error("The body is too large"));
                }
                _ => {
                    responses.insert(
                        "204".into(),
                        json!({"description": "Signed out: the cookie is cleared"}),
                    );
                    responses.insert("403".into(), error("A live session without its CSRF token"));
                }
            }
            responses.insert("503".into(), error("The database is unavailable"));
        }
        _ => {
            responses.insert("200".into(), html("The page"));
            responses.insert("401".into(), html("Not signed in: the sign-in page"));
            responses.insert("403".into(), html("The role does not hold the page's permission"));
            if r.path.contains("{id}") {
                op["parameters"] =
                    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
            }
            if r.permission != roles::Permission::Public {
                responses.insert("503".into(), error("The database is unavailable"));
                op["security"] = json!([{"bearer": []}]);
            }
        }
    }
    op["responses"] = Value::Object(responses);
    Some(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_a_same_origin_sign_in_is_taken() {
        assert!(!cross_site(&headers(&[("host", "127.0.0.1:8321")])));
        assert!(!cross_site(&headers(&[
            ("host", "127.0.0.1:8321"),
            ("origin", "http://127.0.0.1:8321"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:8321"),
            ("origin", "http://evil.example"),
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:8321"),
            ("origin", "http://127.0.0.1:8321.evil.example"),
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:8321"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(cross_site(&headers(&[("host", "127.0.0.1:8321"), ("origin", "null")])));
        // a TLS proxy that rewrites Host says where the browser went
        assert!(!cross_site(&headers(&[
            ("host", "127.0.0.1:8321"),
            ("x-forwarded-host", "stockade.example"),
            ("origin", "https://stockade.example"),
        ])));
        assert!(cross_site(&headers(&[
            ("host", "stockade.example"),
            ("x-forwarded-host", "127.0.0.1:8321"),
            ("origin", "https://stockade.example"),
        ])));
    }

    #[test]
    fn loopback_and_tls_decide_the_cookie() {
        for h in ["127.0.0.1:1", "localhost:8321", "[::1]:8321", "127.5.0.1", "LOCALHOST"] {
            assert!(loopback_host(&headers(&[("host", h)])), "{h}");
        }
        for h in ["10.0.0.1:8321", "example.com", "localhost.example.com:1", "[::2]:1", ""] {
            assert!(!loopback_host(&headers(&[("host", h)])), "{h}");
        }
        let plain = headers(&[("host", "127.0.0.1:1")]);
        let c = set_cookie(&plain, "abc", 60);
        assert_eq!(
            c.to_str().unwrap(),
            "stockade_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        let tls = headers(&[("host", "stockade.example"), ("x-forwarded-proto", "https")]);
        let c = set_cookie(&tls, "abc", 60);
        assert_eq!(
            c.to_str().unwrap(),
            "__Host-stockade_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        // Over TLS only the __Host- cookie counts: a plain one could have been planted.
        let mut planted = tls.clone();
        planted.insert(header::COOKIE, HeaderValue::from_static("stockade_session=abc"));
        assert_eq!(session_cookie(&planted), None);
        planted.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; __Host-stockade_session=xyz"),
        );
        assert_eq!(session_cookie(&planted).as_deref(), Some("xyz"));
    }

    #[tokio::test]
    async fn sessions_end_when_idle_or_expired_and_are_kept_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display()))
            .await
            .unwrap();
        let sessions = Sessions;
        let identity = Identity {
            tenant: "t".into(),
            role: Role::Auditor,
            key_id: "k_1".into(),
        };
        let now = now_ms();
        let s = |expires_at, last_seen| Session {
            identity: identity.clone(),
            csrf: "c".into(),
            expires_at,
            last_seen,
            key: None,
        };
        let live_id = sessions.open(&store, s(now + 60_000, now)).await.unwrap();
        let expired = sessions.open(&store, s(now - 1, now)).await.unwrap();
        let idle = sessions
            .open(&store, s(now + LIFETIME_MS, now - IDLE_MS - 1))
            .await
            .unwrap();
        assert!(sessions.get(&store, &live_id).await.unwrap().is_some());
        assert!(sessions.get(&store, &expired).await.unwrap().is_none());
        assert!(sessions.get(&store, &idle).await.unwrap().is_none());
        let kept: Vec<String> = sqlx::query("SELECT digest FROM dashboard_sessions")
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get(0).unwrap())
            .collect();
        assert_eq!(
            kept,
            vec![digest(&live_id)],
            "only the live one, and by digest: the id itself is not kept"
        );
        sessions.close(&store, &live_id).await.unwrap();
        assert!(sessions.get(&store, &live_id).await.unwrap().is_none());
    }

    #[test]
    fn every_asset_of_a_page_is_embedded() {
        for (name, _, body) in ASSETS {
            assert!(!body.is_empty(), "{name}");
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let file = line.rsplit("\"./").next().unwrap().trim_end_matches("\";");
                assert!(ASSETS.iter().any(|(n, _, _)| *n == file), "{name} imports {file}");
            }
        }
        for page in ["signin", "runs", "run", "charts", "admin", "denied", "missing"] {
            let module = if page == "denied" || page == "missing" {
                "notice"
            } else {
                page
            };
            assert!(ASSETS.iter().any(|(n, _, _)| *n == format!("{module}.js")), "{page}");
        }
    }
}
