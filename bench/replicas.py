#!/usr/bin/env python3
"""Throughput of `stockade serve` replicas sharing one PostgreSQL, behind a round-robin client.

    target/pyvenv/bin/python bench/replicas.py                       # replicas 1,2,3; 5 rounds
    target/pyvenv/bin/python bench/replicas.py --rounds 7 --runs 300 --clients 6

Starts three servers on loopback on one throwaway PostgreSQL (scripts/postgres, as the tests
do; $STOCKADE_TEST_PG names an existing one instead), each with --workers warm workers. For
each replica count R (1..3) a round sends --runs trivial runs (`x = 1`) from --clients threads,
each thread on persistent keep-alive connections, request i to replica i mod R. Rounds
interleave R in a fresh random order each time so drift on a shared machine hits every R alike.
Every answer is checked (200, status "ok").

On a machine with C cores the replicas share those C cores, and every run is a process tree of
its own: past the point where the cores are busy, more replicas cannot add throughput. The
output says how many cores there are, so the numbers read honestly.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python", "tests"))
import serve_util  # noqa: E402


def one_round(servers, key, runs, clients):
    body = json.dumps({"code": "x = 1"})
    counter = iter(range(runs))
    lock = threading.Lock()
    failures = []

    def worker():
        conns = [http.client.HTTPConnection("127.0.0.1", s.port, timeout=60) for s in servers]
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            c = conns[i % len(conns)]
            c.request("POST", "/v1/runs", body=body,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status != 200 or json.loads(data)["status"] != "ok":
                failures.append((r.status, data[:200]))
        for c in conns:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    [t.start() for t in threads]
    [t.join() for t in threads]
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"a run failed: {failures[0]}")
    return runs / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    db = serve_util.postgres_url()
    settings = {"pool_size": a.workers, "max_concurrent_runs": a.workers,
                "quotas.runs_per_minute": 1_000_000, "quotas.concurrent_runs": 1000}
    servers = [serve_util.Server(database=db, settings=settings, instance=f"bench-{i}").start() for i in range(3)]
    try:
        key = next(s.admin_key for s in servers if s.admin_key)
        samples = {r: [] for r in (1, 2, 3)}
        for rnd in range(a.warmup + a.rounds):
            order = [1, 2, 3]
            random.shuffle(order)
            for r in order:
                rate = one_round(servers[:r], key, a.runs, a.clients)
                if rnd >= a.warmup:
                    samples[r].append(rate)
        print(f"# {os.cpu_count()} cores; {a.workers} warm workers per replica; {a.clients} client threads; "
              f"{a.runs} runs per round; {a.rounds} rounds (+{a.warmup} warm-up), interleaved")
        print("replicas  runs/s median  [min, max]   vs 1 replica")
        base = statistics.median(samples[1])
        for r in (1, 2, 3):
            xs = samples[r]
            med = statistics.median(xs)
            print(f"{r:>8}  {med:>13.1f}  [{min(xs):.1f}, {max(xs):.1f}]   {med / base:.2f}x")
    finally:
        for s in servers:
            s.stop()
        serve_util.stop_postgres()


if __name__ == "__main__":
    main()
