//! The egress proxy: how a jail whose policy says `network.mode = "proxy"` reaches the network.
//!
//! The jail's network namespace has only loopback. During its setup the jail binds a listening
//! socket on 127.0.0.1:3128 *in that namespace* and hands it to the supervisor; this crate
//! serves it from the host, on threads of the supervisor process. Nothing of the proxy runs in
//! the jail, and the jail has no other way out: no interface but `lo`, no resolver, seccomp
//! allows only TCP sockets, and Landlock lets it connect to port 3128 only.
//!
//! Every request is decided on the host ([`rules`]): the allow list, resolution, the resolved
//! address; the proxy then connects to that address. Each flow is counted against the run's
//! limits and recorded ([`stockade_protocol::result::Flow`]).

pub mod ca;
mod flows;
mod proxy;
mod resolve;
pub mod rules;
pub mod secrets;
mod tls;

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use ca::Ca;
pub use resolve::{Resolver, HOSTS_ENV};
pub use rules::Rules;
pub use secrets::Secrets;
use stockade_protocol::result::NetworkUse;

/// Where the jail finds the CA bundle it trusts (the host's roots, plus the jail's own CA when
/// the proxy terminates TLS for secrets).
pub const JAIL_BUNDLE_PATH: &str = stockade_policy::JAIL_BUNDLE;

/// Everything the proxy of one jail needs, made with the jail's plan.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// The allow list and limits.
    pub rules: Rules,
    /// `[secrets]` with their values and this jail's placeholders.
    pub secrets: Secrets,
    /// The jail's CA, when there are secrets (their hosts' TLS is terminated).
    pub ca: Option<Arc<Ca>>,
}

impl EgressConfig {
    /// The proxy of a policy with `network.mode = "proxy"`; secret values come from `env` (the
    /// caller's environment).
    pub fn new(
        policy: &stockade_policy::Policy,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<EgressConfig, String> {
        let secrets = Secrets::resolve(policy, env)?;
        let ca = if secrets.is_empty() {
            None
        } else {
            Some(Arc::new(Ca::generate().map_err(|e| format!("the jail's CA: {e}"))?))
        };
        Ok(EgressConfig {
            rules: Rules::from_policy(&policy.network),
            secrets,
            ca,
        })
    }

    /// The CA bundle the jail trusts (PEM).
    #[must_use]
    pub fn jail_bundle(&self) -> String {
        ca::jail_bundle(self.ca.as_ref().map(|c| c.cert_pem()).as_deref())
    }

    /// Variables the jail's environment gets: the proxy, the CA bundle, each secret's placeholder.
    #[must_use]
    pub fn jail_env(&self) -> Vec<(String, String)> {
        let proxy = format!("http://127.0.0.1:{}", stockade_policy::PROXY_PORT);
        let mut env: Vec<(String, String)> = [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ]
        .iter()
        .map(|k| ((*k).to_owned(), proxy.clone()))
        .collect();
        for k in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT"] {
            env.push((k.to_owned(), JAIL_BUNDLE_PATH.to_owned()));
        }
        for s in self.secrets.all() {
            env.push((s.name.clone(), s.placeholder.clone()));
        }
        env
    }

    /// The values to mask wherever output leaves the jail.
    #[must_use]
    pub fn secret_values(&self) -> Vec<String> {
        self.secrets.all().iter().map(|s| s.value.clone()).collect()
    }
}

use flows::RunLedger;
use proxy::Shared;

/// How long the end of a run waits for its flows to be recorded after cancelling them.
const DRAIN: Duration = Duration::from_millis(500);

/// A running proxy for one jail.
pub struct Egress {
    runtime: Option<tokio::runtime::Runtime>,
    current: Arc<Mutex<Arc<RunLedger>>>,
    rules: Rules,
}

impl Egress {
    /// Serve `listener` (the jail's listening socket) with `config`, on a small runtime of its own.
    /// The first run's account starts now.
    pub fn start(listener: OwnedFd, config: &EgressConfig) -> std::io::Result<Egress> {
        let rules = config.rules.clone();
        let resolver = Resolver::from_env()?;
        let upstream_tls = if config.secrets.is_empty() {
            None
        } else {
            Some(ca::upstream_config().map_err(std::io::Error::other)?)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("stockade-egress")
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::from(listener);
        std_listener.set_nonblocking(true)?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let current = Arc::new(Mutex::new(RunLedger::new(
            rules.max_connections,
            rules.max_bytes,
            config.secrets.clone(),
        )));
        let shared = Arc::new(Shared {
            rules: rules.clone(),
            resolver,
            ca: config.ca.clone(),
            upstream_tls,
        });
        let accept_current = current.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // EMFILE and friends: back off rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let ledger = accept_current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let n = ledger.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Connections that never send a request cost the host a task and an fd each:
                // past a few times the flow limit, they are closed unread.
                if ledger.cancel.is_cancelled() || n >= ledger.max_connections.saturating_mul(4) {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                tokio::spawn(proxy::serve(stream, shared.clone(), ledger));
            }
        });
        Ok(Egress {
            runtime: Some(runtime),
            current,
            rules,
        })
    }

    /// Start a new run's account: limits counted from zero, no flows, and `secrets` (new
    /// placeholders for a pool's run; None keeps the last run's, as a session's cells do). The
    /// previous run's flows are cut off (call [`Egress::end_run`] first to keep them).
    pub fn begin_run(&self, secrets: Option<Secrets>) {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let secrets = secrets.unwrap_or_else(|| current.secrets.clone());
        let fresh = RunLedger::new(self.rules.max_connections, self.rules.max_bytes, secrets);
        let old = std::mem::replace(&mut *current, fresh);
        old.cancel.cancel();
    }

    /// End the current run: cut its open flows and return its network use. Connections the
    /// code opens after this belong to no run and are closed unread, until the next
    /// [`Egress::begin_run`].
    pub fn end_run(&self) -> NetworkUse {
        let ledger = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        ledger.cancel.cancel();
        if let Some(rt) = &self.runtime {
            let waiting = ledger.clone();
            rt.block_on(async move {
                let _ = tokio::time::timeout(DRAIN, async {
                    loop {
                        let idle = waiting.idle.notified();
                        if waiting.open.load(std::sync::atomic::Ordering::Acquire) == 0 {
                            return;
                        }
                        idle.await;
                    }
                })
                .await;
            });
        }
        ledger.snapshot()
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
