"""Rate limiting: a token bucket and a sliding window, kept in memory, in SQLite or in
PostgreSQL. Every backend decides atomically: under threads (memory, SQLite, PostgreSQL) and
under several processes or hosts sharing one database (SQLite, PostgreSQL), no more is admitted
than the limit allows.

* :class:`TokenBucket` ``(rate, burst)``: ``burst`` tokens at most, refilled at ``rate`` per
  second; an acquire of ``cost`` takes that many or is refused (nothing taken).
* :class:`SlidingWindow` ``(limit, window)``: at most ``limit`` admitted in any ``window``
  seconds, exactly (each admission is logged with its time, so this keeps up to ``limit``
  entries per key; for large limits a token bucket is cheaper).

Backends: :class:`MemoryStore` (one process), :class:`SQLiteStore` (a file; ``BEGIN
IMMEDIATE`` serialises writers across processes), :class:`PostgresStore` (a connection
factory for any DB-API driver: psycopg 3, psycopg2, pg8000; the bucket is one statement that
locks its row, the window takes a transaction-scoped advisory lock on its key). The database
backends keep one connection per thread and commit after each decision, so give them
connections of their own, not ones carrying your transactions.

Times are the caller's clock (``time.time()`` unless ``now=`` is passed), so hosts sharing a
database need synchronised clocks; a clock running behind never refills a bucket backwards.
"""
from __future__ import annotations

import math
import sqlite3
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .sql import quote_identifier


@dataclass(frozen=True)
class Decision:
    """The answer to one acquire: ``allowed``; ``remaining`` (tokens left, or admissions left in
    the window); ``retry_after`` (seconds until the same request could pass; 0 when allowed)."""

    allowed: bool
    remaining: float
    retry_after: float

    def __bool__(self) -> bool:
        return self.allowed


class RateLimited(Exception):
    """Raised by ``check``: the limit is reached; ``retry_after`` seconds until it may pass
    (for a ``Retry-After`` header)."""

    def __init__(self, key: str, retry_after: float):
        super().__init__(f"rate limit reached for {key!r}; retry after {retry_after:.3f}s")
        self.key = key
        self.retry_after = retry_after


def _bucket_math(tokens: float, ts: float, now: float, rate: float, burst: float, cost: float) -> Tuple[bool, float]:
    """(allowed, tokens after) for a bucket last seen with `tokens` at `ts`."""
    avail = min(burst, tokens + max(0.0, now - ts) * rate)
    return (True, avail - cost) if avail >= cost else (False, avail)


def _window_math(entries: List[Tuple[float, float]], now: float, limit: float, window: float, cost: float) -> Tuple[bool, float, float]:
    """(allowed, remaining after, retry_after) for the live `entries` (ts, n), oldest first."""
    used = sum(n for _, n in entries)
    if used + cost <= limit:
        return True, limit - used - cost, 0.0
    # the earliest time enough old entries have expired for `cost` to fit
    need, freed = used + cost - limit, 0.0
    for ts, n in entries:
        freed += n
        if freed >= need:
            return False, max(0.0, limit - used), max(0.0, ts + window - now)
    return False, max(0.0, limit - used), window  # cost > limit: never


def _store_key(name: str, key: str) -> str:
    """One string per (limiter name, key), never the same for two pairs: the name's length
    first, and the key's backslashes and NULs escaped (PostgreSQL text cannot hold NUL)."""
    if not isinstance(key, str):
        raise TypeError(f"a rate-limit key is a str, not {type(key).__name__}")
    return f"{len(name)}:{name}:" + key.replace("\\", "\\\\").replace("\0", "\\0")


class MemoryStore:
    """State in this process's memory, one lock for all keys. Keys whose state is back to
    "nothing used" are dropped every ``sweep_every`` decisions, so idle keys do not pile up."""

    def __init__(self, sweep_every: int = 10000):
        self._lock = threading.Lock()
        self._buckets: Dict[Any, Tuple[float, float]] = {}
        self._windows: Dict[Any, Deque[Tuple[float, float]]] = {}
        self._used: Dict[Any, float] = {}  # the sum of each window's entries
        self._ops = 0
        self._sweep_every = sweep_every

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % self._sweep_every:
            return
        # a bucket is full again after (burst - tokens) / rate; the name carries rate and burst
        for k, (tokens, ts) in list(self._buckets.items()):
            _, rate, burst = k
            if tokens + (now - ts) * rate >= burst:
                del self._buckets[k]
        for k, q in list(self._windows.items()):
            if not q or q[-1][0] <= now - k[1]:
                del self._windows[k]
                self._used.pop(k, None)

    def bucket(self, name: str, key: str, rate: float, burst: float, cost: float, now: float) -> Tuple[bool, float]:
        k = (_store_key(name, key), rate, burst)
        with self._lock:
            tokens, ts = self._buckets.get(k, (burst, now))
            allowed, after = _bucket_math(tokens, ts, now, rate, burst, cost)
            self._buckets[k] = (after, max(ts, now))
            self._sweep(now)
            return allowed, after

    def window(self, name: str, key: str, limit: float, window: float, cost: float, now: float) -> Tuple[bool, float, float]:
        k = (_store_key(name, key), window)
        with self._lock:
            q = self._windows.setdefault(k, deque())
            used = self._used.get(k, 0.0)
            while q and q[0][0] <= now - window:
                used -= q.popleft()[1]
            if used + cost <= limit:
                q.append((now, cost))
                used += cost
                out = (True, limit - used, 0.0)
            else:  # only a refusal walks the entries, for its retry time
                out = _window_math(list(q), now, limit, window, cost)
            self._used[k] = used if q else 0.0
            self._sweep(now)
            return out


class _SQLStore:
    """What the SQLite and PostgreSQL stores share: a connection per thread, table names."""

    def __init__(self, connect: Callable[[], Any], prefix: str, dialect: str):
        self._connect = connect
        self._local = threading.local()
        self._all: List[Any] = []
        self._all_lock = threading.Lock()
        self.buckets = quote_identifier(f"{prefix}_bucket", dialect)
        self.windows = quote_identifier(f"{prefix}_window", dialect)

    def conn(self) -> Any:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = self._connect()
            with self._all_lock:
                self._all.append(c)
            self._setup(c)
        return c

    def _setup(self, c: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except Exception:
                    pass
            self._all.clear()
        self._local = threading.local()


class SQLiteStore(_SQLStore):
    """State in an SQLite file shared by threads and processes. Each decision is one ``BEGIN
    IMMEDIATE`` transaction (the write lock first, so two deciders never read the same state);
    waits for the lock up to ``timeout`` seconds. The file is put in WAL mode with
    ``synchronous=NORMAL``."""

    def __init__(self, path: str, *, prefix: str = "stockade_ratelimit", timeout: float = 30.0):
        def connect() -> sqlite3.Connection:
            return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)

        super().__init__(connect, prefix, "sqlite")
        self._timeout = timeout

    def _setup(self, c: Any) -> None:
        # Switching to WAL takes an exclusive lock, and SQLite answers "database is locked" at
        # once (without its busy handler) when another process is opening the same file; retry
        # within the store's timeout instead of failing the first decision
        deadline = time.monotonic() + self._timeout
        delay = 0.001
        while True:
            try:
                self._setup_once(c)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _setup_once(self, c: Any) -> None:
        (mode,) = c.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            c.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL cannot corrupt; a power cut may forget the last decisions, which for
        # rate-limit state is fine, and it is 10x faster than FULL's fsync per decision
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute(f"CREATE TABLE IF NOT EXISTS {self.buckets} (k TEXT PRIMARY KEY, tokens REAL NOT NULL, ts REAL NOT NULL)")
        c.execute(f"CREATE TABLE IF NOT EXISTS {self.windows} (k TEXT NOT NULL, ts REAL NOT NULL, n REAL NOT NULL)")
        c.execute(f"CREATE INDEX IF NOT EXISTS {quote_identifier(self.windows.strip('`') + '_k_ts', 'sqlite')} "
                  f"ON {self.windows} (k, ts)")

    def _tx(self, fn: Callable[[Any], Any]) -> Any:
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            out = fn(c)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return out

    def bucket(self, name: str, key: str, rate: float, burst: float, cost: float, now: float) -> Tuple[bool, float]:
        k = _store_key(name, key)

        def decide(c: Any) -> Tuple[bool, float]:
            row = c.execute(f"SELECT tokens, ts FROM {self.buckets} WHERE k = ?", (k,)).fetchone()
            tokens, ts = row if row else (burst, now)
            allowed, after = _bucket_math(tokens, ts, now, rate, burst, cost)
            c.execute(f"INSERT INTO {self.buckets} (k, tokens, ts) VALUES (?, ?, ?) "
                      "ON CONFLICT (k) DO UPDATE SET tokens = excluded.tokens, ts = excluded.ts",
                      (k, after, max(ts, now)))
            return allowed, after

        return self._tx(decide)

    def window(self, name: str, key: str, limit: float, window: float, cost: float, now: float) -> Tuple[bool, float, float]:
        k = _store_key(name, key)

        def decide(c: Any) -> Tuple[bool, float, float]:
            c.execute(f"DELETE FROM {self.windows} WHERE k = ? AND ts <= ?", (k, now - window))
            (used,) = c.execute(f"SELECT coalesce(sum(n), 0) FROM {self.windows} WHERE k = ?", (k,)).fetchone()
            if used + cost <= limit:
                c.execute(f"INSERT INTO {self.windows} (k, ts, n) VALUES (?, ?, ?)", (k, now, cost))
                return True, limit - used - cost, 0.0
            entries = c.execute(f"SELECT ts, n FROM {self.windows} WHERE k = ? ORDER BY ts", (k,)).fetchall()
            return _window_math(entries, now, limit, window, cost)

        return self._tx(decide)


class PostgresStore(_SQLStore):
    """State in PostgreSQL (11 or later), shared by every process and host that uses the
    database. ``connect`` makes a new DB-API connection (``lambda: psycopg.connect(url)``); a
    URL string is accepted when psycopg 3 is installed. Tables are created on first use."""

    def __init__(self, connect: Any, *, prefix: str = "stockade_ratelimit"):
        if isinstance(connect, str):
            url = connect

            def connect() -> Any:
                import psycopg

                return psycopg.connect(url)

        super().__init__(connect, prefix, "postgresql")

    def _param(self, sql: str, c: Any) -> str:
        style = getattr(sys.modules.get(type(c).__module__.split(".")[0]), "paramstyle", "format")
        return sql.replace("%s", "?") if style == "qmark" else sql

    def _run(self, fn: Callable[[Any, Callable[[str, tuple], Any]], Any]) -> Any:
        c = self.conn()
        cur = c.cursor()

        def q(sql: str, args: tuple = ()) -> Any:
            cur.execute(self._param(sql, c), args)
            return cur

        try:
            out = fn(c, q)
        except BaseException:
            c.rollback()
            raise
        c.commit()
        return out

    def _setup(self, c: Any) -> None:
        def create(_c: Any, q: Callable[..., Any]) -> None:
            # concurrent first uses may race on CREATE TABLE IF NOT EXISTS (a unique violation
            # in pg_type); one lock for the setup avoids it
            q("SELECT pg_advisory_xact_lock(7236716950212985921)")
            q(f"CREATE TABLE IF NOT EXISTS {self.buckets} (k text PRIMARY KEY, tokens double precision NOT NULL, "
              "ts double precision NOT NULL)")
            q(f"CREATE TABLE IF NOT EXISTS {self.windows} (k text NOT NULL, ts double precision NOT NULL, "
              "n double precision NOT NULL)")
            q(f"CREATE INDEX IF NOT EXISTS {quote_identifier(self.windows.strip(chr(34)) + '_k_ts', 'postgresql')} "
              f"ON {self.windows} (k, ts)")

        self._run(create)

    def bucket(self, name: str, key: str, rate: float, burst: float, cost: float, now: float) -> Tuple[bool, float]:
        k = _store_key(name, key)

        def decide(_c: Any, q: Callable[..., Any]) -> Tuple[bool, float]:
            q(f"INSERT INTO {self.buckets} (k, tokens, ts) VALUES (%s, %s, %s) ON CONFLICT (k) DO NOTHING", (k, burst, now))
            # one statement: lock the row (FOR UPDATE re-reads the newest version after waiting),
            # refill, take or refuse
            row = q(
                f"WITH cur AS (SELECT least(%s, tokens + greatest(0, %s - ts) * %s) AS avail, ts FROM {self.buckets} "
                f"WHERE k = %s FOR UPDATE) UPDATE {self.buckets} b SET tokens = CASE WHEN cur.avail >= %s "
                "THEN cur.avail - %s ELSE cur.avail END, ts = greatest(cur.ts, %s) FROM cur WHERE b.k = %s "
                "RETURNING cur.avail >= %s, b.tokens",
                (burst, now, rate, k, cost, cost, now, k, cost),
            ).fetchone()
            return bool(row[0]), float(row[1])

        return self._run(decide)

    def window(self, name: str, key: str, limit: float, window: float, cost: float, now: float) -> Tuple[bool, float, float]:
        k = _store_key(name, key)

        def decide(_c: Any, q: Callable[..., Any]) -> Tuple[bool, float, float]:
            # one decider per key at a time; a hash collision only serialises two keys
            q("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (k,))
            q(f"DELETE FROM {self.windows} WHERE k = %s AND ts <= %s", (k, now - window))
            used = float(q(f"SELECT coalesce(sum(n), 0) FROM {self.windows} WHERE k = %s", (k,)).fetchone()[0])
            if used + cost <= limit:
                q(f"INSERT INTO {self.windows} (k, ts, n) VALUES (%s, %s, %s)", (k, now, cost))
                return True, limit - used - cost, 0.0
            entries = [(float(t), float(n)) for t, n in
                       q(f"SELECT ts, n FROM {self.windows} WHERE k = %s ORDER BY ts", (k,)).fetchall()]
            return _window_math(entries, now, limit, window, cost)

        return self._run(decide)


_default_store: Optional[MemoryStore] = None


def _memory() -> MemoryStore:
    global _default_store
    if _default_store is None:
        _default_store = MemoryStore()
    return _default_store


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second, per key. ``name`` keeps limiters that
    share a store apart."""

    def __init__(self, rate: float, burst: float, *, store: Any = None, name: str = "bucket"):
        if not (rate > 0 and math.isfinite(rate)) or not (burst >= 1 and math.isfinite(burst)):
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.name = float(rate), float(burst), name
        self.store = store if store is not None else _memory()

    def acquire(self, key: str = "", cost: float = 1, *, now: Optional[float] = None) -> Decision:
        if cost <= 0:
            raise ValueError("cost must be > 0")
        t = time.time() if now is None else now
        allowed, after = self.store.bucket(self.name, key, self.rate, self.burst, float(cost), t)
        retry = 0.0 if allowed else (math.inf if cost > self.burst else (cost - after) / self.rate)
        return Decision(allowed, after, retry)

    def check(self, key: str = "", cost: float = 1, *, now: Optional[float] = None) -> Decision:
        d = self.acquire(key, cost, now=now)
        if not d.allowed:
            raise RateLimited(key, d.retry_after)
        return d


class SlidingWindow:
    """At most ``limit`` admissions in any ``window`` seconds, per key."""

    def __init__(self, limit: float, window: float, *, store: Any = None, name: str = "window"):
        if not (limit >= 1 and math.isfinite(limit)) or not (window > 0 and math.isfinite(window)):
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit, self.window, self.name = float(limit), float(window), name
        self.store = store if store is not None else _memory()

    def acquire(self, key: str = "", cost: float = 1, *, now: Optional[float] = None) -> Decision:
        if cost <= 0:
            raise ValueError("cost must be > 0")
        t = time.time() if now is None else now
        allowed, remaining, retry = self.store.window(self.name, key, self.limit, self.window, float(cost), t)
        return Decision(allowed, remaining, retry)

    def check(self, key: str = "", cost: float = 1, *, now: Optional[float] = None) -> Decision:
        d = self.acquire(key, cost, now=now)
        if not d.allowed:
            raise RateLimited(key, d.retry_after)
        return d
