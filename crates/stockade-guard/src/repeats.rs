//! Repeated records, counted instead of written.
//!
//! Code that calls `exec` in a loop would otherwise write one identical line per call to the
//! supervisor: a system call each, and a flood the supervisor must read. The first occurrence
//! of a record is always written at once (a run killed right after still reports it); later
//! identical ones are counted and written as one line carrying `"repeat": n` — when the count
//! reaches a power of two, when 100 ms have passed since that record's last line, when the
//! runner ends a run or a cell (`sys.audit("stockade.flush")`), and when the interpreter
//! finalises. A run killed mid-loop therefore loses at most the last 100 ms of a count, never
//! a kind of event.
//!
//! The table is fixed (no allocation on the hot path) and cleared in a forked child, so a warm
//! run never inherits the zygote's history. When it is full, records are written as before.

#![allow(unsafe_code, reason = "pthread_atfork registration (libc FFI)")]

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Mutex, OnceLock};

use crate::decide::Value;

const SLOTS: usize = 1024;
/// A record's line is written again when this much time passed since its last one.
const FLUSH_AFTER_MS: u64 = 100;

struct Slot {
    /// A hash of the record's identity; 0 marks an empty slot.
    key: u64,
    total: u64,
    pending: u64,
    last_ms: u64,
    /// The record's line as first written, to write its count at a flush.
    line: Option<String>,
}

const EMPTY: Slot = Slot {
    key: 0,
    total: 0,
    pending: 0,
    last_ms: 0,
    line: None,
};

/// How far a key is looked for from its home slot: a longer probe means a crowded table, and
/// then records are written rather than searched for.
const PROBE: usize = 17;

static TABLE: Mutex<[Slot; SLOTS]> = Mutex::new([EMPTY; SLOTS]);

/// The slot of `key`, or the empty one it would take; `None` when the table is too crowded.
fn slot_of(slots: &mut [Slot; SLOTS], key: u64) -> Option<&mut Slot> {
    let start = usize::try_from(key % SLOTS as u64).unwrap_or(0);
    let at = (0..PROBE)
        .map(|i| (start + i) % SLOTS)
        .find(|&i| slots[i].key == key || slots[i].key == 0)?;
    Some(&mut slots[at])
}

/// What to do with a record.
pub enum Seen {
    /// Write it (the first time, or the table is full).
    Write,
    /// Write it with `"repeat": n`: it stands for `n` occurrences since its last line.
    Repeat(u64),
    /// Counted; nothing to write.
    Counted,
}

/// The identity of a record: the event, the decision, the rule and the arguments as the trail
/// shows them (strings past 600 bytes are told apart by their length only, as the trail cuts
/// them at 200 characters). Keyed SipHash with a per-process random key: code in the run
/// chooses the arguments, and with an unkeyed hash it could craft a record that collides with
/// an earlier one and so is only counted under that one's description.
#[must_use]
pub fn key(event: &str, decision: &str, rule: Option<&str>, values: &[Value]) -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    let mut h = KEYS.get_or_init(RandomState::new).build_hasher();
    h.write(event.as_bytes());
    h.write_u8(0xff);
    h.write(decision.as_bytes());
    h.write_u8(0xff);
    h.write(rule.unwrap_or("").as_bytes());
    h.write_u8(0xff);
    for v in values {
        value(&mut h, v);
    }
    h.finish().max(1)
}

fn value(h: &mut impl Hasher, v: &Value) {
    match v {
        Value::None => h.write_u8(b'N'),
        Value::Str(s) => {
            let b = s.as_bytes();
            h.write_u8(b'S');
            h.write(&b[..b.len().min(600)]);
            h.write_usize(b.len());
        }
        Value::Int(i) => {
            h.write_u8(b'I');
            h.write_i64(*i);
        }
        Value::Tuple(items) => {
            h.write_u8(b'T');
            h.write_usize(items.len());
            for i in items {
                value(h, i);
            }
        }
        Value::Object { type_name, .. } => {
            h.write_u8(b'O');
            h.write(type_name.as_bytes());
            h.write_u8(0xff);
        }
    }
}

/// Count one occurrence of the record `key`.
pub fn seen(key: u64, now_ms: u64) -> Seen {
    let Ok(mut slots) = TABLE.lock() else {
        return Seen::Write;
    };
    let Some(slot) = slot_of(&mut slots, key) else {
        return Seen::Write;
    };
    if slot.key == 0 {
        *slot = Slot {
            key,
            total: 1,
            last_ms: now_ms,
            ..EMPTY
        };
        return Seen::Write;
    }
    slot.total += 1;
    slot.pending += 1;
    if slot.total.is_power_of_two() || now_ms.saturating_sub(slot.last_ms) >= FLUSH_AFTER_MS {
        let n = slot.pending;
        slot.pending = 0;
        slot.last_ms = now_ms;
        return Seen::Repeat(n);
    }
    Seen::Counted
}

/// Keep the text of a record whose later occurrences may be counted, to write them at a flush.
pub fn remember(key: u64, line: &str) {
    if let Ok(mut slots) = TABLE.lock() {
        if let Some(slot) = slot_of(&mut slots, key).filter(|s| s.key == key) {
            slot.line = Some(line.to_string());
        }
    }
}

/// The records with uncounted occurrences, as `(line, n)`; their counts are reset.
pub fn drain(now_ms: u64) -> Vec<(String, u64)> {
    let Ok(mut slots) = TABLE.lock() else { return Vec::new() };
    let mut out = Vec::new();
    for slot in slots.iter_mut().filter(|s| s.pending > 0) {
        if let Some(line) = &slot.line {
            out.push((line.clone(), slot.pending));
            slot.pending = 0;
            slot.last_ms = now_ms;
        }
    }
    out
}

fn clear() {
    if let Ok(mut slots) = TABLE.lock() {
        // In place, slot by slot: no 57 KiB temporary on what may be a small thread stack.
        for slot in slots.iter_mut() {
            *slot = EMPTY;
        }
    } else {
        // A poisoned lock in a child: start afresh.
        TABLE.clear_poison();
    }
}

extern "C" fn clear_in_child() {
    clear();
}

/// Clear the table in every forked child (a warm run starts with no history).
pub fn clear_on_fork() {
    // SAFETY: registering a plain function; it runs in the child after fork, single-threaded.
    unsafe { libc::pthread_atfork(None, None, Some(clear_in_child)) };
}

/// Milliseconds of the coarse monotonic clock (a vDSO read; no system call).
#[must_use]
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1000 + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_written_then_counted_at_powers_of_two_and_drained() {
        clear();
        let k = key(
            "exec",
            "allowed",
            None,
            &[Value::Object {
                type_name: "code".into(),
                builtin_type_or_module: false,
            }],
        );
        assert!(matches!(seen(k, 0), Seen::Write));
        remember(k, "{\"event\":\"exec\"}");
        assert!(matches!(seen(k, 0), Seen::Repeat(1))); // total 2
        assert!(matches!(seen(k, 0), Seen::Counted)); // 3
        assert!(matches!(seen(k, 0), Seen::Repeat(2))); // 4
        assert!(matches!(seen(k, 0), Seen::Counted)); // 5
        assert!(matches!(seen(k, 150), Seen::Repeat(2))); // 6: 100 ms passed
        assert!(matches!(seen(k, 150), Seen::Counted)); // 7
        assert_eq!(drain(150), vec![("{\"event\":\"exec\"}".to_string(), 1)]);
        assert!(drain(150).is_empty());
        // Different arguments are different records.
        let other = key("exec", "allowed", None, &[Value::Str("x".into())]);
        assert_ne!(k, other);
        assert!(matches!(seen(other, 0), Seen::Write));
        clear();
        assert!(matches!(seen(k, 0), Seen::Write));
    }
}
