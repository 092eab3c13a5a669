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

mod flows;
mod proxy;
mod resolve;
pub mod rules;
mod tls;

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use resolve::{Resolver, HOSTS_ENV};
pub use rules::Rules;
use stockade_protocol::result::NetworkUse;

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
    /// Serve `listener` (the jail's listening socket) with `rules`, on a small runtime of its own.
    /// The first run's account starts now.
    pub fn start(listener: OwnedFd, rules: Rules) -> std::io::Result<Egress> {
        let resolver = Resolver::from_env()?;
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
        let current = Arc::new(Mutex::new(RunLedger::new(rules.max_connections, rules.max_bytes)));
        let shared = Arc::new(Shared {
            rules: rules.clone(),
            resolver,
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

    /// Start a new run's account: limits counted from zero, no flows. The previous run's flows
    /// are cut off (call [`Egress::end_run`] first to keep them).
    pub fn begin_run(&self) {
        let fresh = RunLedger::new(self.rules.max_connections, self.rules.max_bytes);
        let old = std::mem::replace(
            &mut *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            fresh,
        );
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
