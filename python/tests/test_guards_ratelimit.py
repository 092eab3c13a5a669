"""stockade.guards rate limiting: exact answers on a fake clock, then atomicity under threads
and processes in each backend (memory, SQLite, a real PostgreSQL from scripts/postgres), with a
control showing that a read-then-write limiter over-admits under the same load."""
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from stockade.guards.ratelimit import (MemoryStore, PostgresStore, RateLimited, SlidingWindow, SQLiteStore,
                                       TokenBucket)


@pytest.fixture(scope="module")
def pg_url():
    from serve_util import postgres_url

    return postgres_url()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        s = SQLiteStore(str(tmp_path / "rl.db"))
    else:
        pytest.importorskip("psycopg", reason="the PostgreSQL backend's tests drive it with psycopg 3")
        s = PostgresStore(request.getfixturevalue("pg_url"))
    yield s
    s.close()


def test_token_bucket_on_a_fake_clock(store):
    b = TokenBucket(rate=2, burst=5, store=store)
    assert [b.acquire("k", now=100).allowed for _ in range(6)] == [True] * 5 + [False]
    d = b.acquire("k", now=100)
    assert not d and d.retry_after == pytest.approx(0.5) and d.remaining == pytest.approx(0)
    assert b.acquire("other", now=100)  # keys are separate
    assert b.acquire("k", now=100.5) and not b.acquire("k", now=100.5)
    assert b.acquire("k", cost=3, now=102.5).remaining == pytest.approx(1)  # refilled 4 (2/s), took 3
    assert b.acquire("k", now=1000).remaining == pytest.approx(4)  # capped at burst, minus one
    assert not b.acquire("k", cost=6, now=2000) and b.acquire("k", cost=6, now=2000).retry_after == float("inf")
    assert b.acquire("k", now=999).remaining == pytest.approx(4)  # a clock behind does not drain or refill
    with pytest.raises(RateLimited) as e:
        for _ in range(10):
            b.check("k", now=2000)
    assert e.value.retry_after == pytest.approx(0.5)


def test_sliding_window_on_a_fake_clock(store):
    w = SlidingWindow(limit=3, window=10, store=store)
    assert [w.acquire("k", now=t).allowed for t in (0, 1, 2, 3)] == [True, True, True, False]
    d = w.acquire("k", now=3)
    assert d.retry_after == pytest.approx(7) and d.remaining == 0
    assert w.acquire("k", now=10)        # the admission at 0 has left the window
    assert not w.acquire("k", now=10.5)
    assert w.acquire("k", cost=2, now=12) # those at 1 and 2 have left
    assert not w.acquire("k", cost=4, now=100) and w.acquire("k", cost=3, now=100)
    d = w.acquire("k", cost=2, now=105)
    assert not d and d.retry_after == pytest.approx(5)


def test_limiters_sharing_a_store_are_apart(store):
    a = TokenBucket(1, 1, store=store, name="a")
    b = TokenBucket(1, 1, store=store, name="b")
    assert a.acquire("k", now=0) and b.acquire("k", now=0) and not a.acquire("k", now=0)


def test_keys_with_nul_and_lookalikes_are_distinct(store):
    # keys come from clients: NUL must work (PostgreSQL text cannot hold it) and no two keys may
    # share a bucket
    b = TokenBucket(1e-9, 1, store=store)
    keys = ["a\0b", "a\\0b", "a\x1fb", "a\\b", "a\\\\b", "1:a", ""]
    assert all(b.acquire(k, now=0) for k in keys)
    assert not any(b.acquire(k, now=0) for k in keys)
    with pytest.raises(TypeError):
        b.acquire(b"bytes", now=0)


def hammer(limiter, threads=8, each=60):
    allowed = []
    start = threading.Barrier(threads)

    def run():
        start.wait()
        allowed.append(sum(bool(limiter.acquire("hot")) for _ in range(each)))

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(allowed)


def test_threads_never_over_admit(store):
    # no refill to speak of: exactly `burst` / `limit` may pass, whatever the interleaving
    assert hammer(TokenBucket(rate=1e-9, burst=100, store=store)) == 100
    assert hammer(SlidingWindow(limit=100, window=3600, store=store)) == 100


class NaiveSQLiteBucket:
    """The control: read, decide, write back, without a transaction around them."""

    def __init__(self, path):
        self.path, self.local = path, threading.local()
        c = sqlite3.connect(path, isolation_level=None)
        c.execute("CREATE TABLE IF NOT EXISTS b (k TEXT PRIMARY KEY, tokens REAL)")
        c.execute("INSERT OR REPLACE INTO b VALUES ('hot', 100)")

    def acquire(self, key):
        c = getattr(self.local, "c", None) or sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.local.c = c
        (tokens,) = c.execute("SELECT tokens FROM b WHERE k = ?", (key,)).fetchone()
        time.sleep(0.0005)  # any preemption here lets another thread read the same count
        if tokens >= 1:
            c.execute("UPDATE b SET tokens = ? WHERE k = ?", (tokens - 1, key))
            return True
        return False


def test_control_a_read_then_write_limiter_over_admits(tmp_path):
    assert hammer(NaiveSQLiteBucket(str(tmp_path / "naive.db"))) > 100


PROC = r"""
import sys
from stockade.guards.ratelimit import SQLiteStore, PostgresStore, TokenBucket, SlidingWindow
kind, where, which = sys.argv[1:4]
store = SQLiteStore(where) if kind == "sqlite" else PostgresStore(where)
lim = TokenBucket(1e-9, 50, store=store, name="p") if which == "bucket" else SlidingWindow(50, 3600, store=store, name="p")
print(sum(bool(lim.acquire("hot")) for _ in range(40)))
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("which", ["bucket", "window"])
def test_processes_never_over_admit(kind, which, tmp_path, request):
    if kind == "sqlite":
        where = str(tmp_path / "shared.db")
    else:
        pytest.importorskip("psycopg", reason="the PostgreSQL backend's tests drive it with psycopg 3")
        where = request.getfixturevalue("pg_url")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    procs = [subprocess.Popen([sys.executable, "-c", PROC, kind, where, which], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(4)]
    counts = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(counts) == 50, counts  # 160 attempts, 50 allowed, from whichever processes


def test_a_new_sqlite_store_waits_for_a_writer_instead_of_failing(tmp_path):
    # Switching a file to WAL while another connection writes made SQLite answer "database is
    # locked" at once, without its busy handler; four processes starting on one new file hit it
    path = str(tmp_path / "busy.db")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    release.start()
    try:
        started = time.monotonic()
        assert SlidingWindow(5, 60, store=SQLiteStore(path)).acquire("k").allowed
        assert time.monotonic() - started >= 0.25  # it waited for the writer
    finally:
        release.join()
        writer.close()


def test_arguments_checked():
    for bad in ((0, 1), (1, 0), (float("nan"), 1), (1, float("inf"))):
        with pytest.raises(ValueError):
            TokenBucket(*bad)
        with pytest.raises(ValueError):
            SlidingWindow(bad[1], bad[0])
    with pytest.raises(ValueError):
        TokenBucket(1, 1).acquire(cost=0)
