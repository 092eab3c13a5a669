//! The run's account of its flows: counters the limits are checked against, the flow records,
//! and the tasks still open. One [`RunLedger`] per run; a warm worker starts a new one for
//! each run, so nothing of one run's network state reaches the next.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use stockade_protocol::result::{Flow, NetworkUse};

use crate::secrets::Secrets;
use tokio_util::sync::CancellationToken;

/// Flow records kept per run; more are counted, not kept.
const MAX_FLOWS: usize = 1000;

/// One run's network state.
#[derive(Debug)]
pub(crate) struct RunLedger {
    pub started: Instant,
    /// Cancelled when the run ends: every task serving this run stops.
    pub cancel: CancellationToken,
    pub flows_started: AtomicU64,
    pub connections: AtomicU64,
    pub bytes: AtomicU64,
    pub max_bytes: u64,
    pub max_connections: u64,
    /// The run's secrets (a warm worker's runs each get their own placeholders).
    pub secrets: Secrets,
    records: Mutex<Records>,
    /// Tasks of this run still running (they record their flow when they end).
    pub open: AtomicU64,
    pub idle: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Records {
    flows: Vec<Flow>,
    dropped: u64,
}

impl RunLedger {
    pub fn new(max_connections: u64, max_bytes: u64, secrets: Secrets) -> Arc<RunLedger> {
        Arc::new(RunLedger {
            started: Instant::now(),
            cancel: CancellationToken::new(),
            flows_started: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_bytes,
            max_connections,
            secrets,
            records: Mutex::new(Records::default()),
            open: AtomicU64::new(0),
            idle: tokio::sync::Notify::new(),
        })
    }

    /// Count a flow against `max-connections`; false when the run has used them all.
    pub fn take_flow(&self) -> bool {
        self.flows_started.fetch_add(1, Ordering::Relaxed) < self.max_connections
    }

    /// Count `n` bytes; false once the run is over `max-bytes`.
    pub fn take_bytes(&self, n: u64) -> bool {
        self.bytes.fetch_add(n, Ordering::Relaxed).saturating_add(n) <= self.max_bytes
    }

    pub fn ms_since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    pub fn record(&self, flow: Flow) {
        let mut r = self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.flows.len() < MAX_FLOWS {
            r.flows.push(flow);
        } else {
            r.dropped += 1;
        }
    }

    /// The run's network use so far, flows in the order they started.
    pub fn snapshot(&self) -> NetworkUse {
        let r = self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut flows = r.flows.clone();
        flows.sort_by_key(|f| f.start_ms);
        NetworkUse {
            flows,
            flows_dropped: r.dropped,
            connections: self.connections.load(Ordering::Relaxed),
            bytes: self
                .bytes
                .load(Ordering::Relaxed)
                .min(self.max_bytes.saturating_add(1 << 20)),
        }
    }
}

/// Held by a task serving a run; the run's end waits (briefly) for these to drop.
pub(crate) struct OpenTask(pub Arc<RunLedger>);

impl OpenTask {
    pub fn new(ledger: &Arc<RunLedger>) -> OpenTask {
        ledger.open.fetch_add(1, Ordering::AcqRel);
        OpenTask(ledger.clone())
    }
}

impl Drop for OpenTask {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
