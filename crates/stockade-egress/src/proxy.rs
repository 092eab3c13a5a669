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

use crate::ca::Ca;
use crate::flows::{OpenTask, RunLedger};
use crate::resolve::Resolver;
use crate::rules::{self, Rules, Target};
use crate::secrets::{self, Secrets};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest ClientHello read before the SNI is judged.
const MAX_CLIENT_HELLO: usize = 16 * 1024;
const MAX_REQUEST_HEAD: usize = 64 * 1024;
/// Read size of a tunnel's copies.
const COPY_BUFFER: usize = 64 * 1024;

/// What every connection of a jail shares.
pub(crate) struct Shared {
    pub rules: Rules,
    pub resolver: Resolver,
    pub ca: Option<Arc<Ca>>,
    /// How upstream servers are verified when the proxy terminates TLS (secrets only).
    pub upstream_tls: Option<Arc<rustls::ClientConfig>>,
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
    /// Refused after it started (a ClientHello, a request inside it, a leak).
    denied: std::sync::atomic::AtomicBool,
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
            denied: std::sync::atomic::AtomicBool::new(false),
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

    /// The flow was refused after it started: it is recorded as denied, with this rule.
    fn deny(&self, rule: &str, reason: &str) {
        if !self.denied.swap(true, Ordering::AcqRel) {
            Self::set(&self.rule, rule);
            Self::set(&self.reason, reason);
        }
    }

    fn record(&self, ledger: &RunLedger, decision: &str) {
        let decision = if self.denied.load(Ordering::Acquire) {
            "denied"
        } else {
            decision
        };
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
    let resp = refusal(flow, status, rule, reason);
    flow.record(ledger, "denied");
    resp
}

/// The response for a refusal (the flow is marked denied; the caller records it).
fn refusal(flow: &FlowState, status: StatusCode, rule: &str, reason: &str) -> Response<Body> {
    flow.deny(rule, reason);
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
        let task_shared = shared.clone();
        tokio::spawn(async move {
            let _open = open;
            let cancel = task_ledger.cancel.clone();
            let work = async {
                // With secrets, every named host's TLS is terminated: the hosts that get a value
                // get it swapped in, and a placeholder on its way anywhere else is seen and
                // refused (inside a tunnel it could not be).
                match sni.as_deref() {
                    Some(name) if !task_ledger.secrets.is_empty() => {
                        intercept(req, upstream, name, &flow, &task_shared, &task_ledger.secrets).await;
                    }
                    _ => tunnel(req, upstream, sni, &flow, &task_ledger.secrets).await,
                }
            };
            tokio::select! {
                () = work => {}
                () = cancel.cancelled() => flow.end_early("run", "the run ended"),
            }
            flow.record(&task_ledger, "allowed");
        });
        return Ok(Response::new(full(String::new())));
    }
    let target_name = match &target {
        Target::Name(n) => n.clone(),
        Target::Ip(ip) => ip.to_string(),
    };
    let secrets = ledger.secrets.clone();
    Ok(forward(req, upstream, &host, port, flow, ledger, &secrets, &target_name).await)
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
async fn tunnel(req: Request<Incoming>, upstream: Metered, sni: Option<String>, flow: &FlowState, secrets: &Secrets) {
    let Ok(upgraded) = hyper::upgrade::on(req).await else {
        flow.end_early("network.request", "the client went away before the tunnel opened");
        return;
    };
    let client = TokioIo::new(upgraded);
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let down = async {
        // 64 KiB reads: a tunnel's bytes cross two sockets here, and each read is also metered.
        let mut ur = tokio::io::BufReader::with_capacity(COPY_BUFFER, &mut ur);
        let _ = tokio::io::copy_buf(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    let up = async {
        let mut first = Vec::with_capacity(4096);
        match read_first(&mut cr, &mut first).await {
            Ok(0) => {}
            Ok(_) => {
                if first[0] == 0x16 {
                    if let Err(why) = check_client_hello(&mut cr, &mut first, sni.as_deref()).await {
                        flow.deny("network.sni", &why);
                        return false;
                    }
                }
                if let Err(leak) = copy_scanning(&mut cr, &mut uw, first, secrets).await {
                    flow.deny(leak.rule, &leak.reason);
                    return false;
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
#[allow(clippy::too_many_arguments)]
async fn forward(
    mut req: Request<Incoming>,
    upstream: Metered,
    host: &str,
    port: u16,
    flow: Arc<FlowState>,
    ledger: Arc<RunLedger>,
    secrets: &Secrets,
    target: &str,
) -> Response<Body> {
    // Plain HTTP is never given a value (it would travel in clear to an unverified server), so
    // a placeholder in it is refused even on its way to one of its secret's hosts.
    let _ = target;
    if let Some(leak) = secrets.leak(&request_head(&req), None) {
        return refuse(&ledger, &flow, StatusCode::FORBIDDEN, leak.rule, &leak.reason);
    }
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
    let req = checked(req, secrets, None, flow.clone());
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
        Ok(resp) => scrub_response(resp, secrets, false, &flow),
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

/// The request's target and headers, as the leak check reads them.
fn request_head<B>(req: &Request<B>) -> Vec<u8> {
    let mut head = req.uri().to_string().into_bytes();
    head.push(b'\n');
    for (name, value) in req.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.push(b':');
        head.extend_from_slice(value.as_bytes());
        head.push(b'\n');
    }
    head
}

/// Put each secret's value in place of its placeholder in the request's headers, for the
/// secrets `host` may receive (only inside TLS the proxy terminated). Returns whether a value
/// went in.
fn swap_in(req: &mut Request<Incoming>, secrets: &Secrets, host: &str) -> bool {
    let mut swapped = false;
    for s in secrets.all().iter().filter(|s| s.sent_to(host)) {
        for value in req.headers_mut().values_mut() {
            if secrets::contains(value.as_bytes(), s.placeholder.as_bytes()) {
                let new = secrets::replace(value.as_bytes(), s.placeholder.as_bytes(), s.value.as_bytes());
                if let Ok(v) = HeaderValue::from_bytes(&new) {
                    *value = v;
                    swapped = true;
                }
            }
        }
    }
    swapped
}

/// The request with its body checked for leaks as it streams (`to`: the host the proxy
/// terminated TLS for, where placeholders of its secrets may go).
fn checked(req: Request<Incoming>, secrets: &Secrets, to: Option<&str>, flow: Arc<FlowState>) -> Request<Checked> {
    let (parts, body) = req.into_parts();
    Request::from_parts(
        parts,
        Checked {
            inner: body,
            secrets: secrets.clone(),
            to: to.map(str::to_owned),
            keep: secrets.longest_needle().saturating_sub(1),
            carry: Vec::new(),
            done: false,
            flow,
        },
    )
}

/// A request body on its way out, stopped (the request fails) when it carries a value or a
/// placeholder it may not; the last bytes of each chunk wait for the next, since a value may
/// continue there.
struct Checked {
    inner: Incoming,
    secrets: Secrets,
    to: Option<String>,
    keep: usize,
    carry: Vec<u8>,
    done: bool,
    flow: Arc<FlowState>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl hyper::body::Body for Checked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let this = &mut *self;
            let end = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.carry.extend_from_slice(&data);
                        false
                    }
                    Err(_) => continue,
                },
                Poll::Ready(None) => {
                    this.done = true;
                    true
                }
            };
            if let Some(leak) = this.secrets.leak(&this.carry, this.to.as_deref()) {
                this.flow.deny(leak.rule, &leak.reason);
                this.done = true;
                return Poll::Ready(Some(Err(leak.reason.into())));
            }
            let cut = if end {
                this.carry.len()
            } else {
                this.carry.len().saturating_sub(this.keep)
            };
            let rest = this.carry.split_off(cut);
            let out = std::mem::replace(&mut this.carry, rest);
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(out)))));
            }
        }
    }
}

/// The response with every secret value swapped back for its placeholder, in headers and body
/// (streamed; its length may change, so it goes without Content-Length). When a value went out
/// in the request (`value_sent`), a compressed response is refused: the value could hide in it.
fn scrub_response(resp: Response<Incoming>, secrets: &Secrets, value_sent: bool, flow: &FlowState) -> Response<Body> {
    if secrets.is_empty() {
        return resp.map(BodyExt::boxed);
    }
    let encoding = resp
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty() && v != "identity");
    if let (true, Some(enc)) = (value_sent, &encoding) {
        let why = format!("the response is {enc}-encoded, so it cannot be checked for the secret's value");
        return refusal(flow, StatusCode::BAD_GATEWAY, "secrets.value", &why);
    }
    if encoding.is_some() {
        // No value went out; nothing of it can come back, however it is encoded.
        return resp.map(BodyExt::boxed);
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = secrets
        .all()
        .iter()
        .map(|s| (s.value.clone().into_bytes(), s.placeholder.clone().into_bytes()))
        .collect();
    let (mut parts, body) = resp.into_parts();
    for value in parts.headers.values_mut() {
        let mut bytes = value.as_bytes().to_vec();
        for (from, to) in &pairs {
            bytes = secrets::replace(&bytes, from, to);
        }
        if let Ok(v) = HeaderValue::from_bytes(&bytes) {
            *value = v;
        }
    }
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    let keep = pairs.iter().map(|(f, _)| f.len()).max().unwrap_or(1) - 1;
    let body = Scrubbed {
        inner: body,
        pairs,
        carry: Vec::new(),
        keep,
        done: false,
    };
    Response::from_parts(parts, BodyExt::boxed(body))
}

/// A response body with values swapped for placeholders across chunk boundaries: the last
/// `keep` bytes of each chunk wait for the next, since a value may continue there.
struct Scrubbed {
    inner: Incoming,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    carry: Vec<u8>,
    keep: usize,
    done: bool,
}

impl hyper::body::Body for Scrubbed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    let this = &mut *self;
                    let mut buf = std::mem::take(&mut this.carry);
                    buf.extend_from_slice(&data);
                    for (from, to) in &this.pairs {
                        buf = secrets::replace(&buf, from, to);
                    }
                    let cut = buf.len().saturating_sub(this.keep);
                    this.carry = buf.split_off(cut);
                    if !buf.is_empty() {
                        return Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(buf)))));
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let rest = std::mem::take(&mut self.carry);
                    if !rest.is_empty() {
                        return Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(rest)))));
                    }
                }
            }
        }
    }
}

/// Copy the code's bytes upstream through a tunnel the proxy does not terminate (starting with
/// `first`), stopping at a value or a placeholder (in plaintext; inside TLS nothing can be
/// read, and with secrets every named host's TLS is terminated instead).
async fn copy_scanning<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    first: Vec<u8>,
    secrets: &Secrets,
) -> Result<(), secrets::Leak> {
    let keep = secrets.longest_needle().saturating_sub(1);
    let mut tail: Vec<u8> = Vec::new();
    let mut chunk = first;
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        if chunk.is_empty() {
            return Ok(());
        }
        if !secrets.is_empty() {
            let mut window = std::mem::take(&mut tail);
            window.extend_from_slice(&chunk);
            if let Some(leak) = secrets.leak(&window, None) {
                return Err(leak);
            }
            tail = window[window.len().saturating_sub(keep)..].to_vec();
        }
        if w.write_all(&chunk).await.is_err() {
            return Ok(());
        }
        let n = match r.read(&mut buf).await {
            Ok(n) => n,
            Err(_) => return Ok(()),
        };
        chunk = buf[..n].to_vec();
    }
}

/// Whether a request inside a tunnel to `host` names only `host` (its target, if absolute, and
/// its Host header): a shared front end routes by them, so a value for `host` must not travel
/// under another name.
fn names_only(req: &Request<Incoming>, host: &str) -> Result<(), String> {
    if let Some(a) = req.uri().authority() {
        if !a.host().trim_end_matches('.').eq_ignore_ascii_case(host) {
            return Err(format!("the request inside the tunnel to {host} names {}", a.host()));
        }
    }
    for value in req.headers().get_all(HOST) {
        let text = value.to_str().unwrap_or("");
        let name = match text.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => text.rsplit_once(':').map_or(text, |(h, _)| h),
        };
        if !name.trim_end_matches('.').eq_ignore_ascii_case(host) {
            return Err(format!("the request inside the tunnel to {host} has Host: {text}"));
        }
    }
    Ok(())
}

/// A CONNECT to a named host when the jail has secrets: the proxy terminates the code's TLS
/// with a certificate from the jail's CA (the ClientHello must name the host), opens its own
/// TLS to the vetted address (verifying the server normally), and relays HTTP/1.1 requests one
/// by one: each must name only this host; values go into the headers of requests to their
/// secrets' hosts (which then must not answer compressed); nothing carries a value, or a
/// placeholder this host may not get. The first refusal ends the tunnel.
async fn intercept(
    req: Request<Incoming>,
    upstream: Metered,
    host: &str,
    flow: &Arc<FlowState>,
    shared: &Shared,
    secrets: &Secrets,
) {
    let (Some(ca), Some(client_config)) = (&shared.ca, &shared.upstream_tls) else {
        flow.end_early("network.upstream", "no CA for the secrets' hosts");
        return;
    };
    let server_config = match ca.server_config(host) {
        Ok(c) => c,
        Err(e) => {
            flow.end_early("network.upstream", &format!("issuing a certificate for {host}: {e}"));
            return;
        }
    };
    let Ok(upgraded) = hyper::upgrade::on(req).await else {
        flow.end_early("network.request", "the client went away before the tunnel opened");
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
    let client = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(TokioIo::new(upgraded))).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            flow.deny("network.sni", &format!("the code's TLS handshake failed: {e}"));
            return;
        }
        Err(_) => {
            flow.end_early("network.request", "the code sent no TLS handshake");
            return;
        }
    };
    let sni = client.get_ref().1.server_name().map(str::to_ascii_lowercase);
    if sni.as_deref().map(|s| s.trim_end_matches('.')) != Some(host) {
        let why = match sni {
            Some(s) => format!("the TLS ClientHello names {s:?}, not the CONNECT host {host:?}"),
            None => format!("the TLS ClientHello names no server; the CONNECT host is {host:?}"),
        };
        flow.deny("network.sni", &why);
        return;
    }
    let Ok(server_name) = rustls::pki_types::ServerName::try_from(host.to_owned()) else {
        flow.end_early("network.upstream", "not a server name");
        return;
    };
    let connector = tokio_rustls::TlsConnector::from(client_config.clone());
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(server_name, upstream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            flow.end_early("network.upstream", &format!("TLS to {host}: {e}"));
            return;
        }
        Err(_) => {
            flow.end_early(
                "network.upstream",
                &format!("TLS to {host} took over {}s", CONNECT_TIMEOUT.as_secs()),
            );
            return;
        }
    };
    let (sender, conn) = match hyper::client::conn::http1::handshake::<_, Checked>(TokioIo::new(upstream)).await {
        Ok(pair) => pair,
        Err(e) => {
            flow.end_early("network.upstream", &format!("HTTP to {host}: {e}"));
            return;
        }
    };
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let relay = async {
        let service = hyper::service::service_fn(|mut req: Request<Incoming>| {
            let sender = sender.clone();
            async move {
                if flow.denied.load(Ordering::Acquire) {
                    return Ok::<_, Infallible>(refusal(
                        flow,
                        StatusCode::FORBIDDEN,
                        "network.request",
                        "an earlier request on this tunnel was refused",
                    ));
                }
                if let Err(why) = names_only(&req, host) {
                    return Ok(refusal(flow, StatusCode::FORBIDDEN, "network.request", &why));
                }
                if let Some(leak) = secrets.leak(&request_head(&req), Some(host)) {
                    return Ok(refusal(flow, StatusCode::FORBIDDEN, leak.rule, &leak.reason));
                }
                for h in HOP_BY_HOP {
                    req.headers_mut().remove(*h);
                }
                let value_sent = swap_in(&mut req, secrets, host);
                if value_sent {
                    req.headers_mut()
                        .insert(hyper::header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
                }
                let req = checked(req, secrets, Some(host), flow.clone());
                let mut sender = sender.lock().await;
                if sender.ready().await.is_err() {
                    let mut resp =
                        Response::new(full(format!("stockade egress proxy: {host} closed the connection\n")));
                    *resp.status_mut() = StatusCode::BAD_GATEWAY;
                    return Ok(resp);
                }
                Ok(match sender.send_request(req).await {
                    Ok(resp) => scrub_response(resp, secrets, value_sent, flow),
                    Err(e) => {
                        let mut resp = Response::new(full(format!("stockade egress proxy: {host} failed: {e}\n")));
                        *resp.status_mut() = StatusCode::BAD_GATEWAY;
                        resp
                    }
                })
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_REQUEST_HEAD)
            .serve_connection(TokioIo::new(client), service)
            .await;
    };
    tokio::select! {
        () = relay => {}
        r = conn => if let Err(e) = r { flow.end_early("network.upstream", &e.to_string()) },
    }
}
