//! The streamable HTTP transport: `POST /mcp` (and its SSE streams) on a listening address,
//! one [`StockadeMcp`] per MCP session. A bearer token is required when one is configured, and
//! always off loopback: code execution is never served to the network unauthenticated.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::{Engine, StockadeMcp};

/// The largest request body, in bytes.
pub const MAX_BODY: usize = 16 << 20;

/// Serve on `listen` until SIGINT/SIGTERM. `token`: the bearer token clients must send.
pub async fn serve(engine: Arc<Engine>, listen: SocketAddr, token: Option<String>) -> Result<(), String> {
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(format!(
            "refusing to serve code execution on {listen} without a token: set STOCKADE_MCP_TOKEN, or listen on loopback"
        ));
    }
    let cancel = CancellationToken::new();
    let service: StreamableHttpService<StockadeMcp, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(StockadeMcp::new(engine.clone())),
        Arc::default(),
        StreamableHttpServerConfig::default().with_cancellation_token(cancel.child_token()),
    );
    let token = Arc::new(token);
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        // A request body is capped before anything reads it (a run's code and files fit easily).
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move { authorize(token.as_ref().as_deref(), req, next).await }
        }));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listening on {listen}: {e}"))?;
    eprintln!("stockade mcp: streamable HTTP on http://{listen}/mcp");
    let stop = cancel.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop.cancel();
        })
        .await
        .map_err(|e| format!("serving on {listen}: {e}"))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The bearer token, compared in constant time.
async fn authorize(token: Option<&str>, req: Request, next: Next) -> Response {
    if let Some(want) = token {
        let got = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same: bool = subtle::ConstantTimeEq::ct_eq(got.as_bytes(), want.as_bytes()).into();
        if !same {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a valid bearer token is required\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}
