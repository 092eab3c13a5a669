//! The service's side of the run engine: warm pools keyed by (tenant, effective policy) — so
//! no worker ever serves two tenants or two policies — sessions, the global concurrency cap
//! with its bounded queue, and the drain on shutdown.
//!
//! The engine's client calls block (they drive supervisor processes), so they run on tokio's
//! blocking threads; everything the service records happens in a task of its own, so a client
//! that goes away never loses a run's result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stockade_protocol::caller::{Mode, RunSpec, Start};
use stockade_protocol::calls::{Call, Reply};
use stockade_protocol::RunResult;
use stockade_runner::client::{self, ClientError, Event, Launcher};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;
use crate::policy::Effective;
use crate::store::{blocking, now_ms};

struct PoolSlot {
    pool: tokio::sync::OnceCell<client::Pool>,
    last_used: AtomicI64,
    running: AtomicUsize,
}

/// A live session.
pub struct LiveSession {
    session: Arc<client::Session>,
    /// Its tenant.
    pub tenant: String,
    /// Its secrets (masked in what is stored and returned).
    pub secrets: Vec<String>,
    last_used: AtomicI64,
    idle_ms: i64,
}

/// Answers a run's host-function calls (on the blocking thread that drives the run).
pub type OnCall = Box<dyn FnMut(&Call) -> Reply + Send>;

/// Why a run could not be started.
#[derive(Debug)]
pub enum StartError {
    /// Every slot is taken and the queue is full.
    Busy,
    /// The service is shutting down.
    Closing,
    /// The engine refused (policy, setup, layer missing, lost).
    Engine(ClientError),
}

/// Where a run executes.
pub enum Target {
    /// A warm pool of the tenant's.
    Pool {
        /// The tenant.
        tenant: String,
        /// The policy.
        policy: Effective,
    },
    /// A session.
    Session(Arc<LiveSession>),
}

/// Pools, sessions and the global cap.
pub struct Engine {
    launcher: Launcher,
    pool_size: usize,
    pool_idle_ms: i64,
    pools: Mutex<HashMap<(String, String), Arc<PoolSlot>>>,
    sessions: Mutex<HashMap<String, Arc<LiveSession>>>,
    permits: Arc<Semaphore>,
    slots: usize,
    queue: usize,
    waiting: AtomicUsize,
    metrics: Arc<Metrics>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    /// An engine starting supervisors with `launcher`.
    #[must_use]
    pub fn new(
        launcher: Launcher,
        pool_size: usize,
        pool_idle: Duration,
        max_concurrent: usize,
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> Engine {
        Engine {
            launcher,
            pool_size,
            pool_idle_ms: i64::try_from(pool_idle.as_millis()).unwrap_or(i64::MAX),
            pools: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(max_concurrent)),
            slots: max_concurrent,
            queue,
            waiting: AtomicUsize::new(0),
            metrics,
        }
    }

    /// A slot now, if one is free.
    #[must_use]
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Whether a run that found no free slot would be refused for a full queue.
    #[must_use]
    pub fn queue_full(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) >= self.queue
    }

    /// Wait for a slot (at most `queue` others may wait; then `Busy`). Returns the wait.
    pub async fn slot(&self) -> Result<(OwnedSemaphorePermit, Duration), StartError> {
        let t = Instant::now();
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok((p, t.elapsed()));
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(StartError::Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = permit.map_err(|_| StartError::Closing)?;
        Ok((permit, t.elapsed()))
    }

    async fn pool(&self, tenant: &str, policy: &Effective) -> Result<(Arc<PoolSlot>, client::Pool), ClientError> {
        let slot = lock(&self.pools)
            .entry((tenant.to_string(), policy.hash.clone()))
            .or_insert_with(|| {
                Arc::new(PoolSlot {
                    pool: tokio::sync::OnceCell::new(),
                    last_used: AtomicI64::new(now_ms()),
                    running: AtomicUsize::new(0),
                })
            })
            .clone();
        slot.last_used.store(now_ms(), Ordering::Relaxed);
        let launcher = self.launcher.clone();
        let size = self.pool_size;
        let start = Start {
            mode: Mode::Pool,
            policy: policy.toml.clone(),
            preload: Vec::new(),
            lifetime_ms: None,
        };
        let output = policy.output;
        let pool = slot
            .pool
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || client::Pool::new(launcher, start, output, size))
                    .await
                    .map_err(|e| ClientError::Spawn(e.to_string()))?
            })
            .await?
            .clone();
        Ok((slot, pool))
    }

    /// Start the pool of `tenant` under `policy` now (so `/readyz` can pass).
    pub async fn prewarm(&self, tenant: &str, policy: &Effective) -> Result<(), ClientError> {
        self.pool(tenant, policy).await.map(|_| ())
    }

    /// Run `spec` on `target`, sending stdout, stderr and violations to `events` as they come,
    /// and the run's host-function calls to `on_call`. The caller holds a slot.
    pub async fn execute(
        &self,
        target: &Target,
        spec: RunSpec,
        events: Option<mpsc::UnboundedSender<Event>>,
        on_call: Option<OnCall>,
    ) -> Result<RunResult, ClientError> {
        let mut on_event = move |e: Event| {
            if let Some(tx) = &events {
                let _ = tx.send(e);
            }
        };
        let mut on_call = on_call.unwrap_or_else(|| {
            Box::new(|call: &Call| Reply::error(call.id, "UnknownFunction", "this run has no host functions"))
        });
        match target {
            Target::Pool { tenant, policy } => {
                let (slot, pool) = self.pool(tenant, policy).await?;
                slot.running.fetch_add(1, Ordering::SeqCst);
                let outcome = blocking(move || pool.run_with_calls(&spec, &mut on_event, &mut *on_call)).await;
                slot.running.fetch_sub(1, Ordering::SeqCst);
                slot.last_used.store(now_ms(), Ordering::Relaxed);
                outcome.map_err(|e| ClientError::Lost(e.to_string()))?
            }
            Target::Session(s) => {
                s.last_used.store(now_ms(), Ordering::Relaxed);
                let session = s.session.clone();
                let outcome = blocking(move || session.run_with_calls(&spec, &mut on_event, &mut *on_call)).await;
                s.last_used.store(now_ms(), Ordering::Relaxed);
                outcome.map_err(|e| ClientError::Lost(e.to_string()))?
            }
        }
    }

    /// Open a session under `policy`.
    pub async fn open_session(
        &self,
        id: &str,
        tenant: &str,
        policy: &Effective,
        idle: Duration,
    ) -> Result<Arc<LiveSession>, ClientError> {
        let launcher = self.launcher.clone();
        let start = Start {
            mode: Mode::Session,
            policy: policy.toml.clone(),
            preload: Vec::new(),
            lifetime_ms: None,
        };
        let output = policy.output;
        let session = tokio::task::spawn_blocking(move || client::Session::new(&launcher, &start, output))
            .await
            .map_err(|e| ClientError::Spawn(e.to_string()))??;
        let live = Arc::new(LiveSession {
            session: Arc::new(session),
            tenant: tenant.to_string(),
            secrets: policy.secrets.clone(),
            last_used: AtomicI64::new(now_ms()),
            idle_ms: i64::try_from(idle.as_millis()).unwrap_or(i64::MAX),
        });
        lock(&self.sessions).insert(id.to_string(), live.clone());
        Ok(live)
    }

    /// A live session of this server.
    #[must_use]
    pub fn session(&self, id: &str) -> Option<Arc<LiveSession>> {
        let s = lock(&self.sessions).get(id).cloned()?;
        (!s.session.closed_now()).then_some(s)
    }

    /// Close a session (its jail ends).
    pub async fn close_session(&self, id: &str) {
        let s = lock(&self.sessions).remove(id);
        if let Some(s) = s {
            let _ = tokio::task::spawn_blocking(move || s.session.close()).await;
        }
    }

    /// Sessions idle past their timeout or lost, and pools with no run for a while: closed.
    /// Returns the ids of the sessions closed, with why.
    pub async fn reap(&self) -> Vec<(String, &'static str)> {
        let now = now_ms();
        let stale: Vec<(String, &'static str)> = lock(&self.sessions)
            .iter()
            .filter_map(|(id, s)| {
                if s.session.closed_now() {
                    Some((id.clone(), "lost"))
                } else if now - s.last_used.load(Ordering::Relaxed) > s.idle_ms && s.session.try_idle() {
                    Some((id.clone(), "idle"))
                } else {
                    None
                }
            })
            .collect();
        for (id, _) in &stale {
            self.close_session(id).await;
        }
        let idle_pools: Vec<Arc<PoolSlot>> = {
            let mut pools = lock(&self.pools);
            let keys: Vec<_> = pools
                .iter()
                .filter(|(_, p)| {
                    p.running.load(Ordering::SeqCst) == 0
                        && now - p.last_used.load(Ordering::Relaxed) > self.pool_idle_ms
                        && p.pool.initialized()
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| pools.remove(k)).collect()
        };
        for p in idle_pools {
            if let Some(pool) = p.pool.get().cloned() {
                let _ = tokio::task::spawn_blocking(move || pool.close()).await;
            }
        }
        stale
    }

    /// Close the tenant's pools other than the one for `keep` (its policy or quotas changed):
    /// a tenant cannot pile up warm workers by changing its policy again and again.
    pub fn retire(&self, tenant: &str, keep: &str) {
        let old: Vec<Arc<PoolSlot>> = {
            let mut pools = lock(&self.pools);
            let keys: Vec<_> = pools
                .keys()
                .filter(|(t, h)| t == tenant && h != keep)
                .cloned()
                .collect();
            keys.iter().filter_map(|k| pools.remove(k)).collect()
        };
        for p in old {
            if let Some(pool) = p.pool.get().cloned() {
                // Idle workers stop now; busy ones when their run ends.
                tokio::task::spawn_blocking(move || pool.close());
            }
        }
    }

    /// Refresh the pool gauges; whether any worker is idle.
    pub fn observe(&self) -> bool {
        let (mut idle, mut busy) = (0, 0);
        for p in lock(&self.pools).values() {
            if let Some(pool) = p.pool.get() {
                idle += pool.idle();
                busy += pool.busy();
            }
        }
        self.metrics
            .pool_workers
            .with_label_values(&["idle"])
            .set(i64::try_from(idle).unwrap_or(0));
        self.metrics
            .pool_workers
            .with_label_values(&["busy"])
            .set(i64::try_from(busy).unwrap_or(0));
        // What an autoscaler scales on: slots taken (runs and cells executing) and runs waiting.
        let taken = self.slots.saturating_sub(self.permits.available_permits());
        self.metrics.runs_in_progress.set(i64::try_from(taken).unwrap_or(0));
        self.metrics
            .runs_queued
            .set(i64::try_from(self.waiting.load(Ordering::SeqCst)).unwrap_or(0));
        idle > 0
    }

    /// Runs executing now.
    #[must_use]
    pub fn running(&self) -> usize {
        lock(&self.pools)
            .values()
            .map(|p| p.running.load(Ordering::SeqCst))
            .sum()
    }

    /// Refuse new slots; kill every run still executing (drain deadline).
    pub fn kill_running(&self) {
        self.permits.close();
        for p in lock(&self.pools).values() {
            if let Some(pool) = p.pool.get() {
                pool.kill_busy();
            }
        }
        for s in lock(&self.sessions).values() {
            s.session.kill();
        }
    }

    /// Stop accepting slots (shutdown begins).
    pub fn close_slots(&self) {
        self.permits.close();
    }

    /// Close every pool and session. Returns the ids of the sessions closed.
    pub async fn shutdown(&self) -> Vec<String> {
        self.permits.close();
        let sessions: Vec<(String, Arc<LiveSession>)> = lock(&self.sessions).drain().collect();
        let pools: Vec<Arc<PoolSlot>> = lock(&self.pools).drain().map(|(_, p)| p).collect();
        let ids = sessions.iter().map(|(id, _)| id.clone()).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for (_, s) in sessions {
                s.session.close();
            }
            for p in pools {
                if let Some(pool) = p.pool.get() {
                    pool.close();
                }
            }
        })
        .await;
        ids
    }
}
