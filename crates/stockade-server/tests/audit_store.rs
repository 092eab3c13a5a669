//! The audit chain on a real SQLite store: retention keeps what remains verifiable (the last
//! removed record's hash is the anchor), and a change after a prune is still caught.

use stockade_server::audit::Entry;
use stockade_server::store::{now_ms, Store};

fn entry(n: u32) -> Entry {
    Entry {
        tenant: Some("t".into()),
        actor: "test".into(),
        action: "test.record".into(),
        target: Some(format!("x{n}")),
        detail: serde_json::json!({ "n": n }),
    }
}

#[tokio::test]
async fn a_pruned_chain_still_verifies_and_still_detects_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("a.db").display()))
        .await
        .unwrap();
    for n in 0..5 {
        store.audit(entry(n)).await.unwrap();
    }
    // Everything so far is older than `cut`; two more records are not.
    let cut = now_ms() + 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for n in 5..7 {
        store.audit(entry(n)).await.unwrap();
    }
    assert_eq!(store.prune_audit(cut).await.unwrap(), 5);
    let v = store.verify_audit().await.unwrap();
    assert_eq!((v.records, v.head_seq, v.problem.clone()), (2, 7, None), "{v:?}");
    // Control: the anchor is what makes it verify; a record changed after the prune is caught.
    sqlx::query("UPDATE audit SET detail = '{\"n\":99}' WHERE seq = 7")
        .execute(
            &sqlx::AnyPool::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert!(
        v.problem.as_deref().unwrap_or("").contains("record 7 was changed"),
        "{v:?}"
    );
}
