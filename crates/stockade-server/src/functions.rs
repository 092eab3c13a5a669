//! A tenant's host functions, served by webhooks. A tenant-admin registers a name and an HTTPS
//! (or HTTP) endpoint; code in the tenant's runs calls the name like any Python function; the
//! call crosses the jail boundary as data to this server, which POSTs it, signed, to the
//! endpoint and hands the answer back. The endpoint's URL and its signing secret never enter
//! the jail.
//!
//! The server makes these requests from the host, so where they may go is the operator's
//! decision, not the tenant's: an endpoint must match an entry of the server's
//! `functions.allow` (the same syntax and the same vetting as a policy's `network.allow`). Names
//! resolve on this host through a resolver that hands the HTTP client only addresses that pass
//! the special-range check (loopback, private, link-local, metadata… refused unless an address
//! entry names them), so the client connects to a vetted address and nothing resolves twice.
//! Redirects are not followed and no proxy from the environment is used.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use stockade_egress::rules::{self, Target};
use stockade_egress::{Resolver, Rules};
use stockade_policy::NetAllow;
use stockade_protocol::calls::{Call, Reply};

/// Functions one tenant may register.
pub const MAX_PER_TENANT: usize = 64;
/// The longest a tenant may let one call take.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The server's `[functions]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunctionSettings {
    /// Where function endpoints may be (`host:port` entries as in `network.allow`). Empty: no
    /// tenant can register a function.
    pub allow: Vec<String>,
    /// Calls per run, all functions together.
    pub max_calls: u32,
    /// The largest call or answer, encoded, in bytes.
    pub max_bytes: u32,
}

impl Default for FunctionSettings {
    fn default() -> FunctionSettings {
        FunctionSettings {
            allow: Vec::new(),
            max_calls: 100,
            max_bytes: 1 << 20,
        }
    }
}

impl FunctionSettings {
    /// The allow entries, parsed (the error names the entry).
    pub fn rules(&self) -> Result<Rules, String> {
        let allow = self
            .allow
            .iter()
            .map(|e| NetAllow::parse(e).map_err(|m| format!("functions.allow: {m}")))
            .collect::<Result<Vec<_>, _>>()?;
        if self.max_calls == 0 || self.max_bytes < 1024 {
            return Err("functions: max_calls must be more than 0 and max_bytes at least 1024".into());
        }
        Ok(Rules {
            allow,
            max_connections: u64::MAX,
            max_bytes: u64::MAX,
        })
    }
}

/// A registered function as the store keeps it (its signing secret included).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFunction {
    /// The name code calls (a Python identifier).
    pub name: String,
    /// The endpoint.
    pub url: String,
    /// How long one call may take.
    pub timeout_ms: u64,
    /// What it does (for people and for agents listing the tools).
    #[serde(default)]
    pub description: String,
    /// The HMAC-SHA256 key that signs every request to the endpoint.
    pub secret: String,
    /// When it was last registered, ms since the epoch.
    pub updated_at: i64,
}

impl std::fmt::Debug for StoredFunction {
    // Never the secret, nor the URL's path or query (they may hold a credential): rows end up
    // in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredFunction")
            .field("name", &self.name)
            .field("endpoint", &authority(&self.url))
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// A function as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FunctionView {
    /// The name code calls.
    pub name: String,
    /// Where its endpoint is: `host:port` only (a URL's path or query may hold a credential,
    /// and runners and auditors may list functions; the registration's answer has the URL).
    pub endpoint: String,
    /// How long one call may take, in ms.
    pub timeout_ms: u64,
    /// What it does.
    pub description: String,
    /// When it was last registered, ms since the epoch.
    pub updated_at: i64,
}

impl From<&StoredFunction> for FunctionView {
    fn from(f: &StoredFunction) -> FunctionView {
        FunctionView {
            name: f.name.clone(),
            endpoint: authority(&f.url),
            timeout_ms: f.timeout_ms,
            description: f.description.clone(),
            updated_at: f.updated_at,
        }
    }
}

/// `PUT /v1/tenants/{id}/functions/{name}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionRequest {
    /// The endpoint (`https://…` or `http://…`; no user or password in it). It must match the
    /// server's `functions.allow`.
    pub url: String,
    /// How long one call may take, in ms (default 10000, at most 60000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
}

/// The answer to a registration: the function and, this once, its signing secret.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RegisteredFunction {
    /// The function.
    #[serde(flatten)]
    pub function: FunctionView,
    /// The endpoint's URL as registered (shown to the one who registered it).
    pub url: String,
    /// The key that signs requests to the endpoint (`X-Stockade-Signature`), shown once; a new
    /// registration of the same name makes a new one.
    pub signing_secret: String,
}

/// A tenant's functions as stored (JSON on the tenant's row); unreadable text is no functions.
#[must_use]
pub fn decode_list(text: Option<&str>) -> Vec<StoredFunction> {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}

/// Check a registration and make the function (a fresh secret). The error says which field.
pub fn make(
    name: &str,
    req: FunctionRequest,
    hooks: &Webhooks,
    now_ms: i64,
) -> Result<StoredFunction, (&'static str, String)> {
    stockade_protocol::names::check_input_name(name).map_err(|e| ("name", format!("function name: {e}")))?;
    if name.starts_with('_') || SHADOWED.contains(&name) {
        // A function named `print` would send every print of the tenant's runs to the endpoint;
        // `result` is the run's answer; `_…` names are the runner's.
        return Err((
            "name",
            format!("function name {name:?} would hide Python's own (a builtin, `result`, or a name starting with _)"),
        ));
    }
    let timeout_ms = req.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
        return Err(("timeout_ms", format!("timeout_ms must be from 1 to {MAX_TIMEOUT_MS}")));
    }
    let description = req.description.unwrap_or_default();
    if description.len() > 4096 {
        return Err(("description", "description is longer than 4096 bytes".into()));
    }
    hooks.vet(&req.url).map_err(|m| ("url", m))?;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    Ok(StoredFunction {
        name: name.to_string(),
        url: req.url,
        timeout_ms,
        description,
        secret: format!("whsec_{}", hex::encode(key)),
        updated_at: now_ms,
    })
}

/// Names a function may not take: Python's builtin functions (3.9–3.13) and the run's `result`.
const SHADOWED: &[&str] = &[
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
    "result",
];

/// Who is calling: sent to the endpoint with every call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The tenant.
    pub tenant: String,
    /// The run.
    pub run: String,
}

/// The client side of the webhooks: vetting and calling.
pub struct Webhooks {
    rules: Rules,
    resolver: Resolver,
    settings: FunctionSettings,
    /// One HTTP client per endpoint authority (its resolver knows the port it vets for).
    clients: Mutex<HashMap<(String, u16), reqwest::Client>>,
}

/// The header with the signature: `v1=` + hex HMAC-SHA256 of `timestamp.body`.
pub const SIGNATURE_HEADER: &str = "x-stockade-signature";
/// The header with the request's time, seconds since the epoch (signed with the body).
pub const TIMESTAMP_HEADER: &str = "x-stockade-timestamp";

impl Webhooks {
    /// From the server's settings (names resolve as the egress proxy's do, with
    /// `STOCKADE_EGRESS_HOSTS` honoured).
    pub fn new(settings: &FunctionSettings) -> Result<Webhooks, String> {
        Ok(Webhooks {
            rules: settings.rules()?,
            resolver: Resolver::from_env().map_err(|e| e.to_string())?,
            settings: settings.clone(),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// Limits of one run's calls.
    #[must_use]
    pub fn settings(&self) -> &FunctionSettings {
        &self.settings
    }

    /// Whether `url` may be an endpoint: its scheme, its form, and the allow list (an address
    /// literal also by the special-range check). Returns the URL and its authority.
    pub fn vet(&self, url: &str) -> Result<(reqwest::Url, String, u16), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(format!("{url:?}: an endpoint is https:// or http://"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("an endpoint's URL may not hold a user or password (the signing secret authenticates)".into());
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("{url:?} has no host"))?
            .to_string();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| format!("{url:?} has no port"))?;
        let target = rules::parse_host(&host)?;
        if rules::matching(&self.rules, &target, port).is_none() {
            return Err(format!(
                "{host}:{port} is not in the server's functions.allow (the operator decides where functions may be)"
            ));
        }
        if let Target::Ip(ip) = target {
            rules::vet_address(&self.rules, ip, port)?;
        }
        Ok((parsed, host, port))
    }

    fn client(&self, host: &str, port: u16) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&(host.to_string(), port)) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(VettedResolver {
                rules: self.rules.clone(),
                resolver: self.resolver.clone(),
                port,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        if clients.len() >= 1024 {
            clients.clear();
        }
        clients.insert((host.to_string(), port), client.clone());
        Ok(client)
    }

    /// Call `f` for `call` and turn whatever happens into the reply the run sees. Runs the
    /// request on `handle` (the caller is a blocking thread).
    pub fn call(&self, handle: &tokio::runtime::Handle, f: &StoredFunction, call: &Call, ctx: &CallContext) -> Reply {
        match handle.block_on(self.call_async(f, call, ctx, None)) {
            Ok(r) => r,
            Err((kind, message)) => Reply::error(call.id, kind, message),
        }
    }

    /// [`Webhooks::call`] for a run that ends at `deadline`: the call is given no longer than
    /// the run has left (the run's supervisor waits for the answer, so a call may otherwise
    /// hold the run, and its slot, up to the function's own timeout past its deadline).
    pub fn call_before(
        &self,
        handle: &tokio::runtime::Handle,
        f: &StoredFunction,
        call: &Call,
        ctx: &CallContext,
        deadline: std::time::Instant,
    ) -> Reply {
        match handle.block_on(self.call_async(f, call, ctx, Some(deadline))) {
            Ok(r) => r,
            Err((kind, message)) => Reply::error(call.id, kind, message),
        }
    }

    async fn call_async(
        &self,
        f: &StoredFunction,
        call: &Call,
        ctx: &CallContext,
        deadline: Option<std::time::Instant>,
    ) -> Result<Reply, (&'static str, String)> {
        let host_error = |m: String| ("HostError", m);
        let mut timeout = Duration::from_millis(f.timeout_ms);
        if let Some(d) = deadline {
            timeout = timeout.min(d.saturating_duration_since(std::time::Instant::now()));
            if timeout.is_zero() {
                return Err((
                    "CallTimeout",
                    format!("the run's time is up: {} was not called", f.name),
                ));
            }
        }
        // Vetted again at each call: the allow list may have changed since registration. Why
        // not goes to the log (host and port, never the URL's path or query); the run learns
        // only that it may not: where the endpoint is is not its business.
        let (url, host, port) = self.vet(&f.url).map_err(|_| {
            tracing::warn!(
                "function {} of tenant {}: its endpoint {} is not allowed now",
                f.name,
                ctx.tenant,
                authority(&f.url)
            );
            host_error(format!(
                "the function {} may not be called (the server no longer allows its endpoint)",
                f.name
            ))
        })?;
        let body = serde_json::to_vec(&serde_json::json!({
            "function": f.name,
            "args": call.args,
            "kwargs": call.kwargs,
            "tenant": ctx.tenant,
            "run": ctx.run,
            "call": call.id,
        }))
        .map_err(|e| host_error(e.to_string()))?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string();
        let client = self.client(&host, port).map_err(host_error)?;
        let request = client
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, sign(&f.secret, &timestamp, &body))
            .body(body);
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                (
                    "CallTimeout",
                    format!("the function {} took over {} ms", f.name, timeout.as_millis()),
                )
            } else {
                // The reason (connection refused, a refused address…) stays in the server's log:
                // the endpoint's whereabouts are not the run's business. Not the URL, though
                // (reqwest's message holds it, and its path or query may hold a credential).
                tracing::warn!("function {} of tenant {}: {}", f.name, ctx.tenant, reason(e));
                host_error(format!("the function {} could not be reached", f.name))
            }
        })?;
        let status = response.status();
        let cap = usize::try_from(self.settings.max_bytes).unwrap_or(usize::MAX);
        let mut answer = Vec::new();
        loop {
            let chunk = response.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    (
                        "CallTimeout",
                        format!("the function {} took over {} ms", f.name, timeout.as_millis()),
                    )
                } else {
                    host_error(format!("the function {}'s answer broke off", f.name))
                }
            })?;
            let Some(chunk) = chunk else { break };
            if answer.len() + chunk.len() > cap {
                return Err((
                    "CallTooLarge",
                    format!("the function {}'s answer is over {cap} bytes", f.name),
                ));
            }
            answer.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(host_error(format!(
                "the function {} failed (its endpoint answered {})",
                f.name,
                status.as_u16()
            )));
        }
        read_answer(&answer, call.id).map_err(|m| host_error(format!("the function {}: {m}", f.name)))
    }
}

/// The endpoint's answer: `{"value": V}` or `{"error": {"kind": K, "message": M}}`.
fn read_answer(body: &[u8], id: u64) -> Result<Reply, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Answer {
        #[serde(default)]
        value: serde_json::Value,
        #[serde(default)]
        error: Option<AnswerError>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AnswerError {
        kind: String,
        message: String,
    }
    // Not the parser's message: it quotes what it read (a string, a field's name), and what an
    // endpoint answers by mistake (an upstream's error, a DSN) is not the run's business.
    let a: Answer = serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "is not {\"value\": …} or {\"error\": {\"kind\": …, \"message\": …}}"
        } else {
            "is not JSON"
        };
        format!("its answer {what} (line {}, column {})", e.line(), e.column())
    })?;
    Ok(match a.error {
        None => Reply {
            id,
            value: a.value,
            error: None,
        },
        Some(e) => {
            // The kind becomes an exception class name in the run: an identifier, or HostError.
            let kind = if stockade_protocol::names::check_input_name(&e.kind).is_ok() && e.kind.len() <= 64 {
                e.kind
            } else {
                "HostError".to_string()
            };
            let message: String = e.message.chars().take(4096).collect();
            Reply::error(id, &kind, message)
        }
    })
}

/// `host:port` of an endpoint's URL, for the log (never its path or query).
fn authority(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| "(not a URL)".into())
}

/// What went wrong with a request, causes included, without its URL.
fn reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `v1=` + hex HMAC-SHA256(secret, `timestamp.body`).
#[must_use]
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Resolves an endpoint's name on this host and hands on only the addresses the rules allow
/// for its port: what the client connects to has been vetted, and is not resolved again.
struct VettedResolver {
    rules: Rules,
    resolver: Resolver,
    port: u16,
}

impl reqwest::dns::Resolve for VettedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (rules, resolver, port) = (self.rules.clone(), self.resolver.clone(), self.port);
        let name = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let found: Vec<IpAddr> = resolver.lookup(&name, port).await?;
            let mut refused = None;
            let vetted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|ip| match rules::vet_address(&rules, *ip, port) {
                    Ok(()) => true,
                    Err(m) => {
                        refused = Some(m);
                        false
                    }
                })
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            if vetted.is_empty() {
                return Err(refused.unwrap_or_else(|| format!("{name} has no address")).into());
            }
            Ok(Box::new(vetted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(allow: &[&str]) -> Webhooks {
        Webhooks::new(&FunctionSettings {
            allow: allow.iter().map(ToString::to_string).collect(),
            ..FunctionSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn endpoints_must_be_allowed_and_plain() {
        let h = hooks(&["tools.example.com:443", "127.0.0.1:8080", "*.corp.example:443"]);
        assert!(h.vet("https://tools.example.com/search").is_ok());
        assert!(h.vet("https://a.corp.example/x").is_ok());
        assert!(h.vet("http://127.0.0.1:8080/f").is_ok());
        // Another port, another host, another scheme, a user in the URL.
        assert!(h.vet("https://tools.example.com:8443/x").is_err());
        assert!(h.vet("https://evil.example.com/x").is_err());
        assert!(h.vet("file:///etc/passwd").is_err());
        assert!(h.vet("https://u:p@tools.example.com/x").is_err());
        // 127.0.0.1 spelled otherwise is still 127.0.0.1 (port 8080 only).
        assert!(h.vet("http://0x7f.1:8080/f").is_ok());
        assert!(h.vet("http://0x7f.1:9090/f").is_err());
        // The metadata service is special: a wide entry does not open it.
        let wide = hooks(&["0.0.0.0/0:80"]);
        let e = wide.vet("http://169.254.169.254/latest").unwrap_err();
        assert!(e.contains("169.254.169.254"), "{e}");
        // Nothing allowed: nothing registers.
        assert!(hooks(&[]).vet("https://tools.example.com/").is_err());
    }

    #[test]
    fn answers_are_values_or_named_errors() {
        let r = read_answer(br#"{"value": {"a": [1, 2]}}"#, 7).unwrap();
        assert_eq!(r.id, 7);
        assert_eq!(r.value, serde_json::json!({"a": [1, 2]}));
        let r = read_answer(br#"{"error": {"kind": "KeyError", "message": "no such user"}}"#, 1).unwrap();
        assert_eq!(r.error.unwrap().kind, "KeyError");
        let r = read_answer(br#"{"error": {"kind": "not a name!", "message": "m"}}"#, 1).unwrap();
        assert_eq!(r.error.unwrap().kind, "HostError");
        assert!(read_answer(b"<html>", 1).is_err());
        assert!(read_answer(br#"{"value": 1, "extra": 2}"#, 1).is_err());
        // What a malformed answer held is not quoted back to the run.
        for body in [
            &br#"{"error": "db://admin:pw-leak@10.0.0.5"}"#[..],
            br#"{"value": 1, "pw-leak": 2}"#,
            br#""pw-leak""#,
            br#"{"error": {"kind": "pw-leak", "message": 1}}"#,
            b"<html>pw-leak",
        ] {
            let e = read_answer(body, 1).unwrap_err();
            assert!(!e.contains("pw-leak") && !e.contains("10.0.0.5"), "{e}");
        }
    }

    #[test]
    fn signatures_cover_time_and_body() {
        let s = sign("k", "1700000000", b"{}");
        assert!(s.starts_with("v1=") && s.len() == 3 + 64);
        assert_ne!(s, sign("k", "1700000001", b"{}"));
        assert_ne!(s, sign("k", "1700000000", b"{ }"));
        assert_ne!(s, sign("j", "1700000000", b"{}"));
    }

    #[test]
    fn a_call_gets_no_longer_than_its_run_has_left() {
        // An endpoint that accepts and never answers; the function allows 30 s.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = std::thread::spawn(move || {
            let kept = listener.accept();
            std::thread::sleep(Duration::from_secs(3));
            drop(kept);
        });
        let h = hooks(&[&format!("127.0.0.1:{port}")]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let f = StoredFunction {
            name: "f".into(),
            url: format!("http://127.0.0.1:{port}/f"),
            timeout_ms: 30_000,
            description: String::new(),
            secret: "whsec_k".into(),
            updated_at: 0,
        };
        let call = Call {
            id: 3,
            name: "f".into(),
            args: vec![],
            kwargs: std::collections::BTreeMap::new(),
        };
        let ctx = CallContext {
            tenant: "t".into(),
            run: "r".into(),
        };
        let started = std::time::Instant::now();
        let r = h.call_before(rt.handle(), &f, &call, &ctx, started + Duration::from_millis(300));
        assert_eq!(r.error.unwrap().kind, "CallTimeout");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        // Past the deadline: not called at all.
        let r = h.call_before(rt.handle(), &f, &call, &ctx, std::time::Instant::now());
        assert_eq!(r.error.unwrap().kind, "CallTimeout");
        drop(held);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let f = StoredFunction {
            name: "f".into(),
            url: "https://x.example/hook?token=tokensecret".into(),
            timeout_ms: 1,
            description: String::new(),
            secret: "whsec_topsecret".into(),
            updated_at: 0,
        };
        let shown = format!("{f:?}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("tokensecret"),
            "{shown}"
        );
        assert!(shown.contains("x.example:443"), "{shown}");
    }
}
