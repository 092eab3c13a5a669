//! The proxy itself: one HTTP/1.1 server connection per connection the code opens to
//! 127.0.0.1:3128 in its jail. It speaks `CONNECT host:port` (a tunnel; TLS inside it must name
//! the CONNECT host in its SNI) and absolute-URI HTTP (`GET http://host/path`), nothing else.
//! Each request is decided before anything leaves the host: the allow list, then resolution on
//! the host, then the resolved address; the proxy connects to that vetted address and never
//! resolves again.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use stockade_protocol::result::Flow;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::flows::{OpenTask, RunLedger};
use crate::resolve::Resolver;
use crate::rules::{self, Rules, Target};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest ClientHello read before the SNI is judged.
const MAX_CLIENT_HELLO: usize = 16 * 1024;
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// What every connection of a jail shares.
pub(crate) struct Shared {
    pub rules: Rules,
    pub resolver: Resolver,
}

type Body = BoxBody<Bytes, hyper::Error>;

/// Serve one connection from the jail until it closes or its run ends.
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>, ledger: Arc<RunLedger>) {
    let _open = OpenTask::new(&ledger);
    let cancel = ledger.cancel.clone();
    let service = hyper::service::service_fn(move |req| handle(req, shared.clone(), ledger.clone()));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::select! {
        _ = conn => {}
        () = cancel.cancelled() => {}
    }
}

/// A flow being served: its identity, its counters, and how it ended.
struct FlowState {
    host: String,
    port: u16,
    method: String,
    start: Instant,
    address: Mutex<Option<String>>,
    rule: Mutex<String>,
    reason: Mutex<String>,
    up: AtomicU64,
    down: AtomicU64,
}

impl FlowState {
    fn new(host: String, port: u16, method: &Method) -> Arc<FlowState> {
        Arc::new(FlowState {
            host,
            port,
            method: method.as_str().to_owned(),
            start: Instant::now(),
            address: Mutex::new(None),
            rule: Mutex::new(String::new()),
            reason: Mutex::new(String::new()),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
        })
    }

    fn set(field: &Mutex<String>, value: &str) {
        *field.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = value.to_owned();
    }

    /// Note why the flow ended early (the first reason wins).
    fn end_early(&self, rule: &str, reason: &str) {
        let mut r = self.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.is_empty() {
            *r = reason.to_owned();
            Self::set(&self.rule, rule);
        }
    }

    fn record(&self, ledger: &RunLedger, decision: &str) {
        let get = |m: &Mutex<String>| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        ledger.record(Flow {
            host: self.host.clone(),
            port: self.port,
            address: self
                .address
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            method: self.method.clone(),
            decision: decision.to_owned(),
            rule: get(&self.rule),
            reason: get(&self.reason),
            bytes_up: self.up.load(Ordering::Relaxed),
            bytes_down: self.down.load(Ordering::Relaxed),
            start_ms: ledger.ms_since_start(self.start),
            duration_ms: u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
}

/// A refusal: the flow is recorded as denied and the code gets `status` with a body that says
/// why.
fn refuse(ledger: &RunLedger, flow: &FlowState, status: StatusCode, rule: &str, reason: &str) -> Response<Body> {
    FlowState::set(&flow.rule, rule);
    FlowState::set(&flow.reason, reason);
    flow.record(ledger, "denied");
    let body = format!(
        "stockade egress proxy: {} {}:{} refused by {rule}: {reason}\n",
        flow.method, flow.host, flow.port
    );
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
    resp.headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    if let Ok(v) = HeaderValue::from_str(rule) {
        resp.headers_mut().insert("x-stockade-refused-by", v);
    }
    resp
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed()
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    ledger: Arc<RunLedger>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    // Where the request wants to go: CONNECT's authority, or an absolute URI's host and port.
    let (host, port) = if method == Method::CONNECT {
        match req.uri().authority() {
            Some(a) => (a.host().to_owned(), a.port_u16()),
            None => (req.uri().to_string(), None),
        }
    } else {
        match (req.uri().scheme_str(), req.uri().authority()) {
            (Some("http"), Some(a)) => (a.host().to_owned(), Some(a.port_u16().unwrap_or(80))),
            (Some(other), Some(a)) => {
                let flow = FlowState::new(a.host().to_owned(), a.port_u16().unwrap_or(0), &method);
                let why =
                    format!("the proxy forwards absolute URIs of http only (got {other}://); use CONNECT for TLS");
                return Ok(refuse(&ledger, &flow, StatusCode::BAD_REQUEST, "network.request", &why));
            }
            _ => {
                let flow = FlowState::new(String::new(), 0, &method);
                let why = "this is a proxy: send CONNECT host:port or an absolute-URI request";
                return Ok(refuse(&ledger, &flow, StatusCode::BAD_REQUEST, "network.request", why));
            }
        }
    };
    let flow = FlowState::new(host.clone(), port.unwrap_or(0), &method);
    if !ledger.take_flow() {
        let why = format!(
            "the run opened its {} connections (network.max-connections)",
            ledger.max_connections
        );
        return Ok(refuse(
            &ledger,
            &flow,
            StatusCode::FORBIDDEN,
            "network.max-connections",
            &why,
        ));
    }
    let Some(port) = port else {
        let why = "CONNECT needs host:port";
        return Ok(refuse(&ledger, &flow, StatusCode::BAD_REQUEST, "network.request", why));
    };
    let target = match rules::parse_host(&host) {
        Ok(t) => t,
        Err(why) => return Ok(refuse(&ledger, &flow, StatusCode::FORBIDDEN, "network.allow", &why)),
    };
    let Some(entry) = rules::matching(&shared.rules, &target, port) else {
        let why = format!("{target}:{port} is not in network.allow");
        return Ok(refuse(&ledger, &flow, StatusCode::FORBIDDEN, "network.allow", &why));
    };
    FlowState::set(&flow.rule, &entry.text);
    let addr = match vetted_address(&shared, &target, port).await {
        Ok(a) => a,
        Err((rule, why)) => return Ok(refuse(&ledger, &flow, StatusCode::FORBIDDEN, rule, &why)),
    };
    *flow.address.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(addr.ip().to_string());
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = format!("connecting to {addr}: {e}");
            return Ok(refuse(
                &ledger,
                &flow,
                StatusCode::BAD_GATEWAY,
                "network.upstream",
                &why,
            ));
        }
        Err(_) => {
            let why = format!("connecting to {addr} took over {}s", CONNECT_TIMEOUT.as_secs());
            return Ok(refuse(
                &ledger,
                &flow,
                StatusCode::GATEWAY_TIMEOUT,
                "network.upstream",
                &why,
            ));
        }
    };
    let _ = upstream.set_nodelay(true);
    let upstream = Metered {
        inner: upstream,
        flow: flow.clone(),
        ledger: ledger.clone(),
    };
    if method == Method::CONNECT {
        let sni = match &target {
            Target::Name(n) => Some(n.clone()),
            Target::Ip(_) => None,
        };
        let task_ledger = ledger.clone();
        let open = OpenTask::new(&ledger);
        tokio::spawn(async move {
            let _open = open;
            let cancel = task_ledger.cancel.clone();
            tokio::select! {
                () = tunnel(req, upstream, sni, &flow) => {}
                () = cancel.cancelled() => flow.end_early("run", "the run ended"),
            }
            flow.record(&task_ledger, "allowed");
        });
        return Ok(Response::new(full(String::new())));
    }
    Ok(forward(req, upstream, &host, port, flow, ledger).await)
}

/// The address to connect to: the literal, or the first address the name resolves to that the
/// rules accept. Errors are (rule, reason).
async fn vetted_address(shared: &Shared, target: &Target, port: u16) -> Result<SocketAddr, (&'static str, String)> {
    let candidates: Vec<IpAddr> = match target {
        Target::Ip(ip) => vec![*ip],
        Target::Name(name) => shared
            .resolver
            .lookup(name, port)
            .await
            .map_err(|e| ("network.upstream", e))?,
    };
    let mut first_error = None;
    for ip in candidates {
        match rules::vet_address(&shared.rules, ip, port) {
            Ok(()) => return Ok(SocketAddr::new(stockade_policy::canonical_ip(ip), port)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err((
        "network.address",
        match (target, first_error) {
            (Target::Name(n), Some(e)) => format!("{n} resolved to {e}"),
            (_, Some(e)) => e,
            (t, None) => format!("{t} resolved to no address"),
        },
    ))
}

/// A CONNECT tunnel: bytes both ways, except that a TLS ClientHello must name the CONNECT host
/// (no SNI when the host is an address) before any of it goes upstream.
async fn tunnel(req: Request<Incoming>, upstream: Metered, sni: Option<String>, flow: &FlowState) {
    let Ok(upgraded) = hyper::upgrade::on(req).await else {
        flow.end_early("network.request", "the client went away before the tunnel opened");
        return;
    };
    let client = TokioIo::new(upgraded);
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let down = async {
        let _ = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    let up = async {
        let mut first = Vec::with_capacity(4096);
        match read_first(&mut cr, &mut first).await {
            Ok(0) => {}
            Ok(_) => {
                if first[0] == 0x16 {
                    if let Err(why) = check_client_hello(&mut cr, &mut first, sni.as_deref()).await {
                        flow.end_early("network.sni", &why);
                        return false;
                    }
                }
                if uw.write_all(&first).await.is_ok() {
                    let _ = tokio::io::copy(&mut cr, &mut uw).await;
                }
            }
            Err(_) => {}
        }
        let _ = uw.shutdown().await;
        true
    };
    // A refused ClientHello ends both directions at once; otherwise each side half-closes.
    tokio::pin!(down);
    tokio::select! {
        ok = up => if ok { down.await },
        () = &mut down => {}
    }
}

async fn read_first<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = r.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Read until the ClientHello is whole (at most [`MAX_CLIENT_HELLO`]) and judge its SNI.
async fn check_client_hello<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    want: Option<&str>,
) -> Result<(), String> {
    loop {
        match crate::tls::client_hello_sni(buf) {
            crate::tls::Hello::Complete(sni) => {
                let sni = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase());
                return match (want, sni.as_deref()) {
                    (Some(w), Some(s)) if w == s => Ok(()),
                    (None, None) => Ok(()),
                    (Some(w), Some(s)) => Err(format!("the TLS ClientHello names {s:?}, not the CONNECT host {w:?}")),
                    (Some(w), None) => Err(format!(
                        "the TLS ClientHello names no server; the CONNECT host is {w:?}"
                    )),
                    (None, Some(s)) => Err(format!(
                        "the TLS ClientHello names {s:?} but the CONNECT host is an address"
                    )),
                };
            }
            crate::tls::Hello::Invalid(why) => return Err(format!("not a valid TLS ClientHello: {why}")),
            crate::tls::Hello::Partial if buf.len() >= MAX_CLIENT_HELLO => {
                return Err(format!("the TLS ClientHello is over {MAX_CLIENT_HELLO} bytes"))
            }
            crate::tls::Hello::Partial => {
                if read_first(r, buf).await.map_err(|e| e.to_string())? == 0 {
                    return Err("the client closed the tunnel inside its ClientHello".into());
                }
            }
        }
    }
}

/// Hop-by-hop headers, not forwarded (RFC 9110 7.6.1), plus the proxy's own.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Forward one absolute-URI request to the vetted address, in origin form, on a connection of
/// its own (closed after the response), and stream the response back.
async fn forward(
    mut req: Request<Incoming>,
    upstream: Metered,
    host: &str,
    port: u16,
    flow: Arc<FlowState>,
    ledger: Arc<RunLedger>,
) -> Response<Body> {
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    *req.uri_mut() = match path.parse() {
        Ok(uri) => uri,
        Err(_) => {
            return refuse(
                &ledger,
                &flow,
                StatusCode::BAD_REQUEST,
                "network.request",
                "bad request path",
            )
        }
    };
    let mut named: Vec<String> = Vec::new();
    if let Some(conn) = req.headers().get("connection").and_then(|v| v.to_str().ok()) {
        named.extend(conn.split(',').map(|s| s.trim().to_ascii_lowercase()));
    }
    for h in HOP_BY_HOP.iter().map(|s| (*s).to_owned()).chain(named) {
        req.headers_mut().remove(h.as_str());
    }
    let host_header = if port == 80 {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    if let Ok(v) = HeaderValue::from_str(&host_header) {
        req.headers_mut().insert(HOST, v);
    }
    req.headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await {
        Ok(pair) => pair,
        Err(e) => {
            let why = format!("HTTP to the destination failed: {e}");
            return refuse(&ledger, &flow, StatusCode::BAD_GATEWAY, "network.upstream", &why);
        }
    };
    // The upstream connection lives until the response body is read; its end records the flow.
    let open = OpenTask::new(&ledger);
    let (task_ledger, task_flow) = (ledger.clone(), flow.clone());
    tokio::spawn(async move {
        let _open = open;
        let cancel = task_ledger.cancel.clone();
        tokio::select! {
            r = conn => if let Err(e) = r { task_flow.end_early("network.upstream", &e.to_string()) },
            () = cancel.cancelled() => task_flow.end_early("run", "the run ended"),
        }
        task_flow.record(&task_ledger, "allowed");
    });
    match sender.send_request(req).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(e) => {
            flow.end_early("network.upstream", &e.to_string());
            let mut resp = Response::new(full(format!("stockade egress proxy: the destination failed: {e}\n")));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            resp
        }
    }
}

/// The upstream socket, counting bytes both ways into the flow and the run, and failing once
/// the run is over `max-bytes`.
struct Metered {
    inner: TcpStream,
    flow: Arc<FlowState>,
    ledger: Arc<RunLedger>,
}

impl Metered {
    fn count(&self, n: usize, counter: &AtomicU64) -> io::Result<()> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        counter.fetch_add(n, Ordering::Relaxed);
        if self.ledger.take_bytes(n) {
            Ok(())
        } else {
            let why = format!("the run moved its {} bytes (network.max-bytes)", self.ledger.max_bytes);
            self.flow.end_early("network.max-bytes", &why);
            Err(io::Error::other(why))
        }
    }
}

impl AsyncRead for Metered {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                let this = &*self;
                Poll::Ready(this.count(n, &this.flow.down))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Metered {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                let this = &*self;
                Poll::Ready(this.count(n, &this.flow.up).map(|()| n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
