//! The audit store: append-only records, each chained to the one before by SHA-256.
//!
//! `hash = SHA-256(prev_hash ‖ "\n" ‖ canonical JSON of {seq, at, tenant, actor, action,
//! target, detail})`. Appending locks the chain's head row (`audit_head`), so servers sharing
//! one PostgreSQL extend one chain. Retention removes the oldest records and keeps the hash of
//! the last removed one as the chain's anchor, so what remains still verifies. `verify` finds a
//! changed record (its hash), a removed one (a gap, or a `prev` that does not match) and a
//! truncated tail (the head's seq and hash).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use crate::records::{page_end, Arg, Sql};
use crate::store::{now_ms, Page, Store, StoreResult};

/// A record to append.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The tenant concerned (None: the service as a whole).
    pub tenant: Option<String>,
    /// Who did it: a key id, `jwt:<sub>`, `anonymous`, or `server`.
    pub actor: String,
    /// What: `run.finished`, `run.lost`, `key.created`, `auth.failed`, ...
    pub action: String,
    /// The object: a run, key, tenant or session id.
    pub target: Option<String>,
    /// Details (secrets already masked).
    pub detail: serde_json::Value,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    /// Position in the chain (1, 2, ...).
    pub seq: i64,
    /// When, ms since the epoch.
    pub at: i64,
    /// The tenant concerned.
    pub tenant: Option<String>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The object.
    pub target: Option<String>,
    /// Details.
    #[schemars(with = "serde_json::Value")]
    pub detail: serde_json::Value,
    /// The previous record's hash (the anchor for the first).
    pub prev: String,
    /// This record's hash.
    pub hash: String,
}

#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    at: i64,
    tenant: Option<&'a str>,
    actor: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    detail: &'a str,
}

const SEQ_PREFIX: &str = "{\"seq\":";

/// The canonical JSON of a record after its seq: `{"seq":` + seq + this is the hashed body.
/// (PostgreSQL's one-statement append finishes the hash in SQL from it, once the head's lock
/// has given it the seq and the previous hash; a test checks it against serde's whole body.)
pub(crate) fn hashed_suffix(
    at: i64,
    tenant: Option<&str>,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: &str,
) -> String {
    let body = serde_json::to_string(&Hashed {
        seq: 0,
        at,
        tenant,
        actor,
        action,
        target,
        detail,
    })
    .unwrap_or_default();
    body[SEQ_PREFIX.len() + 1..].to_string()
}

/// `SHA-256(prev ‖ "\n" ‖ {"seq":<seq><suffix>)`.
fn chain_hash(prev: &str, seq: i64, suffix: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(SEQ_PREFIX.as_bytes());
    h.update(seq.to_string().as_bytes());
    h.update(suffix.as_bytes());
    hex::encode(h.finalize())
}

/// A record ready to be chained: its time, detail text and hashed suffix.
pub(crate) struct Prepared {
    pub(crate) at: i64,
    pub(crate) detail: String,
    pub(crate) suffix: String,
}

/// Serialise `e` for appending now.
pub(crate) fn prepare(e: &Entry) -> Prepared {
    let at = now_ms();
    let detail = serde_json::to_string(&e.detail).unwrap_or_else(|_| "null".into());
    let suffix = hashed_suffix(
        at,
        e.tenant.as_deref(),
        &e.actor,
        &e.action,
        e.target.as_deref(),
        &detail,
    );
    Prepared { at, detail, suffix }
}

/// Append `e` inside `tx` (the caller's transaction, so a record and what it records commit
/// together).
pub async fn append(tx: &mut Transaction<'_, Any>, e: Entry) -> StoreResult<i64> {
    let row = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await?;
    let (seq, prev): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
    let p = prepare(&e);
    let hash = chain_hash(&prev, seq, &p.suffix);
    sqlx::query(
        "INSERT INTO audit (seq, at, tenant, actor, action, target, detail, prev, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(p.at)
    .bind(e.tenant.as_deref())
    .bind(&e.actor)
    .bind(&e.action)
    .bind(e.target.as_deref())
    .bind(&p.detail)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1, prev = $2 WHERE id = 1")
        .bind(&hash)
        .bind(&prev)
        .execute(&mut **tx)
        .await?;
    Ok(seq)
}

/// [`append`] on SQLite's own connection (inside the caller's `BEGIN IMMEDIATE` transaction).
pub(crate) fn append_sqlite(tx: &rusqlite::Transaction<'_>, e: &Entry) -> StoreResult<i64> {
    let (seq, prev): (i64, String) = tx
        .prepare_cached("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let p = prepare(e);
    let hash = chain_hash(&prev, seq, &p.suffix);
    tx.prepare_cached(
        "INSERT INTO audit (seq, at, tenant, actor, action, target, detail, prev, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(rusqlite::params![
        seq, p.at, e.tenant, e.actor, e.action, e.target, p.detail, prev, hash
    ])?;
    tx.prepare_cached("UPDATE audit_head SET hash = ?1, prev = ?2 WHERE id = 1")?
        .execute(rusqlite::params![hash, prev])?;
    Ok(seq)
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Records checked.
    pub records: u64,
    /// The head's seq.
    pub head_seq: i64,
    /// The first problem, if any.
    pub problem: Option<String>,
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this action (`run.finished`, `key.created`, `auth.failed`, ...).
    pub action: Option<String>,
    /// An admin's choice of tenant (others: their own).
    pub tenant: Option<String>,
    /// At most this many (1–500; default 100).
    pub limit: Option<u32>,
    /// Records after this seq (a previous page's `next_cursor`).
    pub cursor: Option<String>,
}

fn record(row: &sqlx::any::AnyRow) -> StoreResult<(AuditRecord, String)> {
    let detail: String = row.try_get("detail")?;
    Ok((
        AuditRecord {
            seq: row.try_get("seq")?,
            at: row.try_get("at")?,
            tenant: row.try_get("tenant")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            prev: row.try_get("prev")?,
            hash: row.try_get("hash")?,
        },
        detail,
    ))
}

const COLUMNS: &str = "seq, at, tenant, actor, action, target, detail, prev, hash";

impl Store {
    /// Append one record in its own transaction.
    pub async fn audit(&self, e: Entry) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let seq = append(&mut tx, e).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Records in chain order after `cursor` (tenant None: all).
    pub async fn audit_page(&self, q: &AuditQuery, tenant: Option<&str>) -> StoreResult<Page<AuditRecord>> {
        let after: i64 = q.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 500));
        let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM audit WHERE 1 = 1"));
        sql.and("seq", ">", Some(Arg::I(after)));
        sql.and("tenant", "=", tenant.map(|t| Arg::S(t.into())));
        sql.and("action", "=", q.action.clone().map(Arg::S));
        let l = sql.arg(Arg::I(limit + 1));
        sql.push(&format!(" ORDER BY seq LIMIT {l}"));
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut items = rows
            .iter()
            .map(|r| record(r).map(|(a, _)| a))
            .collect::<StoreResult<Vec<_>>>()?;
        let next = page_end(&mut items, limit, |a| a.seq.to_string());
        Ok(Page {
            items,
            next_cursor: next,
        })
    }

    /// Walk the whole chain.
    pub async fn verify_audit(&self) -> StoreResult<Verification> {
        let head = sqlx::query("SELECT seq, hash, pruned_seq, pruned_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let (head_seq, head_hash, pruned_seq, pruned_hash): (i64, String, i64, String) =
            (head.try_get(0)?, head.try_get(1)?, head.try_get(2)?, head.try_get(3)?);
        let mut expect_seq = pruned_seq + 1;
        let mut prev = pruned_hash;
        let mut records = 0u64;
        let mut after = pruned_seq;
        let fail = |records, problem: String| Verification {
            records,
            head_seq,
            problem: Some(problem),
        };
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT 1000"
            ))
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let (r, detail) = record(row)?;
                if r.seq != expect_seq {
                    return Ok(fail(
                        records,
                        format!("record {expect_seq} is missing (next is {})", r.seq),
                    ));
                }
                if r.prev != prev {
                    return Ok(fail(
                        records,
                        format!("record {} does not follow record {}", r.seq, r.seq - 1),
                    ));
                }
                let suffix = hashed_suffix(
                    r.at,
                    r.tenant.as_deref(),
                    &r.actor,
                    &r.action,
                    r.target.as_deref(),
                    &detail,
                );
                let h = chain_hash(&prev, r.seq, &suffix);
                if h != r.hash {
                    return Ok(fail(
                        records,
                        format!("record {} was changed (its hash does not match)", r.seq),
                    ));
                }
                prev = r.hash;
                expect_seq += 1;
                records += 1;
                after = r.seq;
            }
        }
        if expect_seq - 1 != head_seq || prev != head_hash {
            return Ok(fail(
                records,
                format!(
                    "the chain ends at record {} but its head says {head_seq}: records were removed from the end",
                    expect_seq - 1
                ),
            ));
        }
        Ok(Verification {
            records,
            head_seq,
            problem: None,
        })
    }

    /// Remove records older than `before` (ms), keeping the chain verifiable.
    pub async fn prune_audit(&self, before: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        // Lock the head, find the last record to drop, anchor on it, drop.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT seq, hash FROM audit WHERE at < $1 ORDER BY seq DESC LIMIT 1")
            .bind(before)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(0) };
        let (seq, hash): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
        let n = sqlx::query("DELETE FROM audit WHERE seq <= $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE audit_head SET pruned_seq = $1, pruned_hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Every record after `after`, in chain order, as JSON Lines to `out`.
    pub async fn export_audit(&self, after: i64, out: &mut dyn std::io::Write) -> StoreResult<u64> {
        let mut after = after;
        let mut n = 0;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT 1000"
            ))
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(n);
            }
            for row in &rows {
                let (r, _) = record(row)?;
                after = r.seq;
                n += 1;
                let line = serde_json::to_string(&r).unwrap_or_default();
                writeln!(out, "{line}").map_err(|e| crate::store::StoreError::Unavailable(e.to_string()))?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{chain_hash, hashed_suffix, Hashed};
    use sha2::{Digest, Sha256};

    #[test]
    fn the_suffix_hash_is_the_hash_of_the_whole_canonical_body() {
        for (seq, tenant, target, detail) in [
            (1, Some("t"), Some("r_1"), r#"{"a":"\"quoted\"\n"}"#),
            (9_876_543_210, None, None, "null"),
            (42, Some("ü-tenant"), Some("x"), "{\"k\":\"\u{2028} é\"}"),
        ] {
            let body = serde_json::to_string(&Hashed {
                seq,
                at: 1_700_000_000_123,
                tenant,
                actor: "k_1",
                action: "run.finished",
                target,
                detail,
            })
            .unwrap();
            let mut h = Sha256::new();
            h.update(b"prevhash\n");
            h.update(body.as_bytes());
            let suffix = hashed_suffix(1_700_000_000_123, tenant, "k_1", "run.finished", target, detail);
            assert_eq!(chain_hash("prevhash", seq, &suffix), hex::encode(h.finalize()));
        }
    }
}
