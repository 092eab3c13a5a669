//! Prometheus metrics (`/metrics`).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    /// Runs finished, by status.
    pub runs: IntCounterVec,
    /// Run wall time as the supervisor measured it.
    pub run_duration: Histogram,
    /// Time a run waited for a free slot.
    pub queue_wait: Histogram,
    /// Warm workers, by state (`idle`, `busy`).
    pub pool_workers: IntGaugeVec,
    /// Run slots taken now (runs and session cells executing on this server).
    pub runs_in_progress: IntGauge,
    /// Runs waiting for a slot now.
    pub runs_queued: IntGauge,
    /// Guard violations, by rule.
    pub violations: IntCounterVec,
    /// Authentication failures, by reason.
    pub auth_failures: IntCounterVec,
    /// Requests refused by a quota, by quota.
    pub rate_limited: IntCounterVec,
    /// Host-function calls answered, by outcome (`returned` or the exception's kind).
    pub function_calls: IntCounterVec,
    /// HTTP requests, by route and status code.
    pub requests: IntCounterVec,
    /// HTTP request latency, by route.
    pub request_duration: HistogramVec,
}

const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl Metrics {
    /// Register every metric.
    ///
    /// # Panics
    /// Only if a metric is defined twice (a programming error caught by every test).
    #[must_use]
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("stockade".into()), None).expect("registry");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
            registry.register(Box::new(c.clone())).expect("register");
            c
        };
        let histogram = |name: &str, help: &str| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec())).expect("metric");
            registry.register(Box::new(h.clone())).expect("register");
            h
        };
        let pool_workers =
            IntGaugeVec::new(Opts::new("pool_workers", "Warm workers by state"), &["state"]).expect("metric");
        registry.register(Box::new(pool_workers.clone())).expect("register");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("metric");
            registry.register(Box::new(g.clone())).expect("register");
            g
        };
        let runs_in_progress = gauge(
            "runs_in_progress",
            "Run slots taken now (runs and session cells executing)",
        );
        let runs_queued = gauge("runs_queued", "Runs waiting for a slot now");
        let request_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(BUCKETS.to_vec()),
            &["route"],
        )
        .expect("metric");
        registry.register(Box::new(request_duration.clone())).expect("register");
        Metrics {
            runs: counter("runs_total", "Runs finished, by status", &["status"]),
            run_duration: histogram("run_duration_seconds", "Run wall time as the supervisor measured it"),
            queue_wait: histogram("queue_wait_seconds", "Time runs waited for a free slot"),
            violations: counter("violations_total", "Guard violations, by rule", &["rule"]),
            auth_failures: counter("auth_failures_total", "Authentication failures, by reason", &["reason"]),
            rate_limited: counter(
                "rate_limited_total",
                "Requests refused by a quota, by quota",
                &["quota"],
            ),
            function_calls: counter(
                "function_calls_total",
                "Host-function calls answered, by outcome",
                &["outcome"],
            ),
            requests: counter(
                "http_requests_total",
                "HTTP requests, by route and status code",
                &["route", "code"],
            ),
            pool_workers,
            runs_in_progress,
            runs_queued,
            request_duration,
            registry,
        }
    }

    /// The text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
