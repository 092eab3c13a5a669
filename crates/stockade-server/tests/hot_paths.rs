//! The store's per-run paths (admission, a run's end) under concurrency: on SQLite they run on a
//! connection of their own while sqlx's connection writes too, on PostgreSQL as one round trip
//! each. Every run is kept, the counters add up, and the audit chain verifies.
//!
//! SQLite always; PostgreSQL too when `STOCKADE_TEST_PG` names a server
//! (`STOCKADE_TEST_PG=$(scripts/postgres start /tmp/pg) cargo test -p stockade-server`): each
//! test makes its own database there and drops it.

use stockade_protocol::result::Status;
use stockade_protocol::RunResult;
use stockade_server::audit::Entry;
use stockade_server::config::{QuotaOverrides, Quotas};
use stockade_server::records::{Admitted, NewRun, RunQuery, Scope};
use stockade_server::store::Store;

/// A SQLite store in a temporary directory, and the PostgreSQL one when configured.
async fn stores(test: &str) -> Vec<(String, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let mut out = vec![("sqlite".to_string(), sqlite, Some(dir))];
    if let Ok(base) = std::env::var("STOCKADE_TEST_PG") {
        let name = format!("hot_{test}_{}", std::process::id());
        let admin = sqlx::AnyPool::connect(&base).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        let url = match base.rsplit_once('/') {
            Some((head, _)) => format!("{head}/{name}"),
            None => unreachable!("a postgres:// URL has a path"),
        };
        out.push((url.clone(), Store::open(&url).await.unwrap(), None));
    }
    out
}

fn violation(n: usize) -> serde_json::Value {
    serde_json::json!({"event": "os.system", "rule": "guard.rules.process", "reason": format!("r{n}"),
                       "decision": "denied", "args": ["'echo \"x\"\n'"], "count": 1})
}

fn result(violations: usize) -> RunResult {
    let mut r = RunResult::not_run(Status::Ok, None, None);
    r.usage.user_cpu_ms = 3;
    r.usage.sys_cpu_ms = 2;
    r.violations = (0..violations)
        .map(|n| serde_json::from_value(violation(n)).unwrap())
        .collect();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_are_all_recorded_and_the_chain_verifies() {
    for (name, store, _dir) in stores("concurrent").await {
        store.create_tenant("t", "T", &QuotaOverrides::default()).await.unwrap();
        let quotas = Quotas {
            concurrent_runs: 1000,
            runs_per_minute: 100_000,
            ..Quotas::default()
        };
        let (tasks, per_task) = (8, 25);
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (store, quotas) = (store.clone(), quotas.clone());
            handles.push(tokio::spawn(async move {
                for i in 0..per_task {
                    let id = format!("r_{t}_{i}");
                    let code = format!("print('{t} {i} é \u{2028}')");
                    let new = NewRun {
                        id: &id,
                        tenant: "t",
                        key_id: "k_1",
                        session_id: None,
                        instance: "test",
                        code_sha256: "sha",
                        code: &code,
                    };
                    let created_at = store.admit_run(&new, &quotas, i % 2 == 0).await.unwrap().unwrap();
                    let admitted = Admitted {
                        id: id.clone(),
                        tenant: "t".into(),
                        key_id: "k_1".into(),
                        created_at,
                    };
                    let entry = Entry {
                        tenant: Some("t".into()),
                        actor: "k_1".into(),
                        action: "run.finished".into(),
                        target: Some(id.clone()),
                        detail: serde_json::json!({"n": i, "text": "quote \" newline \n ü"}),
                    };
                    store.finish_run(&admitted, &result(i % 3), entry).await.unwrap();
                    // Another writer at the same time: an administrative record through sqlx.
                    if i % 5 == 0 {
                        store
                            .audit(Entry {
                                tenant: None,
                                actor: "server".into(),
                                action: "test.other".into(),
                                target: None,
                                detail: serde_json::json!({}),
                            })
                            .await
                            .unwrap();
                    }
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let runs = tasks * per_task;
        let v = store.verify_audit().await.unwrap();
        let others = tasks * per_task.div_ceil(5);
        assert_eq!(v.problem, None, "{name}: {v:?}");
        assert_eq!(v.records, u64::try_from(runs + others).unwrap(), "{name}: {v:?}");
        let usage = store.usage("t").await.unwrap();
        assert_eq!(usage.running, 0, "{name}");
        assert!(
            (usage.cpu_seconds_today - 0.005 * f64::from(u32::try_from(runs).unwrap())).abs() < 1e-9,
            "{name}"
        );
        let scope = Scope {
            tenant: Some("t".into()),
            key_id: None,
        };
        let mut seen = 0;
        let mut q = RunQuery {
            limit: Some(200),
            state: Some("done".into()),
            ..RunQuery::default()
        };
        loop {
            let page = store.runs(&q, &scope).await.unwrap();
            seen += page.items.len();
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, runs, "{name}");
        // Each run's violations, as many as its result had.
        let r = store.run("r_3_2", &scope).await.unwrap();
        assert_eq!(r.summary.violations, 2, "{name}");
        assert_eq!(r.code, "print('3 2 é \u{2028}')", "{name}");
        let vq = stockade_server::records::ViolationQuery {
            run_id: Some("r_3_2".into()),
            ..Default::default()
        };
        let vs = store.violations(&vq, &scope).await.unwrap();
        assert_eq!(vs.items.len(), 2, "{name}");
        assert_eq!(vs.items[0].detail.args, vec!["'echo \"x\"\n'".to_string()], "{name}");
        // And the chain still catches a change.
        store.close().await;
    }
}

#[tokio::test]
async fn admission_counts_runs_in_progress_and_refuses_over_the_quota() {
    for (name, store, _dir) in stores("quota").await {
        store.create_tenant("t", "T", &QuotaOverrides::default()).await.unwrap();
        let quotas = Quotas {
            concurrent_runs: 2,
            runs_per_minute: 3,
            ..Quotas::default()
        };
        let new = |id: &'static str| NewRun {
            id,
            tenant: "t",
            key_id: "k",
            session_id: None,
            instance: "i",
            code_sha256: "s",
            code: "c",
        };
        let a = store.admit_run(&new("r1"), &quotas, true).await.unwrap().unwrap();
        store.admit_run(&new("r2"), &quotas, false).await.unwrap().unwrap();
        let refused = store.admit_run(&new("r3"), &quotas, false).await.unwrap().unwrap_err();
        assert_eq!(refused.quota, "concurrent_runs", "{name}: {refused:?}");
        assert!(refused.message.contains("2 runs in progress"), "{name}: {refused:?}");
        let admitted = Admitted {
            id: "r1".into(),
            tenant: "t".into(),
            key_id: "k".into(),
            created_at: a,
        };
        let entry = Entry {
            tenant: Some("t".into()),
            actor: "k".into(),
            action: "run.finished".into(),
            target: Some("r1".into()),
            detail: serde_json::json!({}),
        };
        store.finish_run(&admitted, &result(0), entry).await.unwrap();
        // A refusal did not count against the rate: r1, r2, r4 are the minute's three.
        store.admit_run(&new("r4"), &quotas, false).await.unwrap().unwrap();
        let refused = store.admit_run(&new("r5"), &quotas, false).await.unwrap().unwrap_err();
        assert_eq!(refused.quota, "concurrent_runs", "{name}: {refused:?}");
        let lax = Quotas {
            concurrent_runs: 100,
            ..quotas.clone()
        };
        let refused = store.admit_run(&new("r6"), &lax, false).await.unwrap().unwrap_err();
        assert_eq!(refused.quota, "runs_per_minute", "{name}: {refused:?}");
        assert!(refused.retry_after >= 1, "{name}: {refused:?}");
        let missing = NewRun {
            tenant: "nobody",
            ..new("r7")
        };
        assert!(
            matches!(
                store.admit_run(&missing, &lax, false).await,
                Err(stockade_server::store::StoreError::NotFound)
            ),
            "{name}"
        );
        let scope = Scope {
            tenant: None,
            key_id: None,
        };
        assert_eq!(store.run("r1", &scope).await.unwrap().summary.state, "done", "{name}");
        assert_eq!(store.run("r2", &scope).await.unwrap().summary.state, "queued", "{name}");
        assert!(store.run("r3", &scope).await.is_err(), "{name}");
        store.close().await;
    }
}
