#!/usr/bin/env python3
"""`stockade serve` against the direct `stockade.Pool`, for trivial runs, on loopback.

    target/pyvenv/bin/python bench/serve.py                                # 10 rounds, clients 1,2,4
    target/pyvenv/bin/python bench/serve.py --rounds 15 --runs-per-round 300 --json out.json
    STOCKADE_BENCH_PG=postgres://stockade@127.0.0.1:PORT/stockade target/pyvenv/bin/python bench/serve.py

Variants, all with the same number of warm workers (--workers) and the same policy (the default
one with the interpreter pinned to /usr/bin/python3.11, given to both as a file):

  direct              stockade.Pool(size=W).run(CODE) in this process
  service (SQLite)    `stockade serve` (pool_size=W, its default SQLite store in a temporary
                      directory), POST /v1/runs {"code": CODE} with the admin key
  service (PostgreSQL) the same on a fresh database of the server named by $STOCKADE_BENCH_PG
                      (only when it is set; the database is created and dropped here, with psql)

For each client count N (--clients), N threads each issue their share of --runs-per-round runs
back to back; a service client is one persistent keep-alive http.client connection per thread,
a direct client calls the shared Pool. A sample is one run's round trip (perf_counter_ns around
the call, JSON decoding of the answer included), throughput is all of the sample's runs over
its wall time. Rounds interleave the variants in a freshly shuffled order for every N, so slow
drift on a shared machine hits every variant alike; the first --warmup rounds are discarded.

Every answer is checked (HTTP 200, status "ok"); anything else stops the benchmark with the
request and the response. The binary measured is $STOCKADE_BIN or --bin, else
target/release/stockade when it exists, else target/debug/stockade; the output says which,
and which build of the Python extension the direct Pool loaded.
"""
import argparse
import filecmp
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import stockade
import stockade._stockade

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python", "tests"))
import serve_util  # noqa: E402  (python/tests/serve_util.py: starts and stops `stockade serve`)

CODE = "x = 1"
BARE = "/usr/bin/python3.11" if os.path.exists("/usr/bin/python3.11") else None
DIRECT = "direct"


def percentile(sorted_xs, q):
    """Linear interpolation between closest ranks (numpy's default), as bench/cold_start.py."""
    if not sorted_xs:
        return float("nan")
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def build_kind(path, name):
    """'release' or 'debug' when `path` is (a copy of) target/<profile>/<name>, else 'unknown'."""
    real = os.path.realpath(path)
    for kind in ("release", "debug"):
        ref = os.path.join(ROOT, "target", kind, name)
        if os.path.exists(ref) and (real == os.path.realpath(ref) or filecmp.cmp(real, ref, shallow=False)):
            return kind
    return "unknown"


def guard_env(binary):
    """The server needs libstockade_guard.so next to its binary or $STOCKADE_GUARD_LIB; a build of
    only `-p stockade -p stockade-python` has none, but the Python extension carries the same
    guard (the package's supervisors use it so), so point the server at it then."""
    d = os.path.dirname(binary)
    if os.environ.get("STOCKADE_GUARD_LIB") or os.path.exists(os.path.join(d, "libstockade_guard.so")):
        return {}
    ext = os.path.join(d, "lib_stockade.so")
    return {"STOCKADE_GUARD_LIB": ext} if os.path.exists(ext) else {}


def default_bin():
    if os.environ.get("STOCKADE_BIN"):
        return os.environ["STOCKADE_BIN"]
    release = os.path.join(ROOT, "target", "release", "stockade")
    return release if os.path.exists(release) else os.path.join(ROOT, "target", "debug", "stockade")


def fs_type(path):
    out = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return out.stdout.strip() or "?"


class BenchError(Exception):
    pass


class HttpClient:
    """One persistent keep-alive connection; POST /v1/runs and the decoded answer."""

    def __init__(self, port, key):
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.reconnects = 0
        self.used = False
        self.last = 0.0

    def fresh(self):
        """Reconnect, outside the timing, when the server may have closed the idle connection
        (it does after header_timeout_ms, 10 s by default)."""
        if time.monotonic() - self.last > 5:
            self.conn.close()
            self.conn.connect()
            self.used = False

    def post(self, body):
        for attempt in (0, 1):
            try:
                self.conn.request("POST", "/v1/runs", body=body, headers=self.headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection: retry once on a fresh one.
                self.conn.close()
                if attempt or not self.used:
                    raise
                self.reconnects += 1
                continue
            self.used = True
            self.last = time.monotonic()
            if resp.will_close:
                self.conn.close()
                self.reconnects += 1
            return resp.status, data
        raise AssertionError("unreachable")

    def get(self, path):
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        data = resp.read()
        self.last = time.monotonic()
        if resp.will_close:
            self.conn.close()
            self.reconnects += 1
        return resp.status, data

    def run(self, body):
        status, data = self.post(body)
        if status != 200:
            raise BenchError(f"POST /v1/runs {body.decode()} -> HTTP {status}: {data[:2000]!r}")
        r = json.loads(data)
        if r.get("status") != "ok":
            raise BenchError(f"POST /v1/runs {body.decode()} -> 200 but status {r.get('status')!r}: {data[:2000]!r}")
        return r

    def close(self):
        self.conn.close()


class Direct:
    name = DIRECT

    def __init__(self, policy, workers):
        self.pool = stockade.Pool(policy=policy, size=workers)

    def callers(self, n):
        def call():
            r = self.pool.run(CODE)
            if not r.ok:
                raise BenchError(f"Pool.run({CODE!r}) -> {r.status}: {r.raw}")
        return [call] * n

    def probe(self, code):
        r = self.pool.run(code)
        return {"status": r.status, "stdout": r.stdout, "limits": r.limits}

    def close(self):
        self.pool.close()


class Service:
    def __init__(self, name, policy, workers, max_clients, database=None):
        self.name = name
        self.server = serve_util.Server(database=database, env=guard_env(serve_util.BIN), settings={
            "pool_size": workers,
            "max_concurrent_runs": max(workers, max_clients),
            "default_policy": f'"{policy}"',
            "quotas.concurrent_runs": 1024,
            "quotas.runs_per_minute": 100_000_000,
            "quotas.cpu_seconds_per_day": 100_000_000,
        }).start()
        if not self.server.admin_key:
            raise BenchError(f"{name}: the server printed no admin key (a store that already has keys?)")
        self.body = json.dumps({"code": CODE}).encode()
        self.clients = [HttpClient(self.server.port, self.server.admin_key) for _ in range(max_clients)]

    def callers(self, n):
        for c in self.clients[:n]:
            c.fresh()
        return [lambda c=c: c.run(self.body) for c in self.clients[:n]]

    def probe(self, code):
        r = self.clients[0].run(json.dumps({"code": code}).encode())
        return {"status": r["status"], "stdout": r["stdout"], "limits": r["limits"]}

    def cpu_seconds(self):
        """User + system CPU of the server process, all its threads (its jails are other processes)."""
        total = 0
        for t in os.listdir(f"/proc/{self.server.proc.pid}/task"):
            with open(f"/proc/{self.server.proc.pid}/task/{t}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def floor(self, n=200):
        """GET /healthz on a keep-alive connection: HTTP and the server's routing, no auth, no store."""
        xs = []
        self.clients[0].fresh()
        for _ in range(n):
            t = time.perf_counter_ns()
            status, _ = self.clients[0].get("/healthz")
            xs.append((time.perf_counter_ns() - t) / 1e6)
            assert status == 200, status
        return sorted(xs)

    @property
    def reconnects(self):
        return sum(c.reconnects for c in self.clients)

    def close(self):
        for c in self.clients:
            c.close()
        self.server.stop()
        shutil.rmtree(self.server.dir, ignore_errors=True)


def sample(variant, n, runs):
    """n client threads share `runs` runs; latencies in ms and runs/s."""
    callers = variant.callers(n)
    per = max(1, runs // n)
    lat = [[] for _ in range(n)]
    errors = []
    barrier = threading.Barrier(n + 1)

    def client(i):
        call, out = callers[i], lat[i]
        barrier.wait()
        try:
            for _ in range(per):
                t = time.perf_counter_ns()
                call()
                out.append((time.perf_counter_ns() - t) / 1e6)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return [x for xs in lat for x in xs], n * per / elapsed


def pg_database(base):
    """A fresh database on the PostgreSQL server of `base` (its URL and a dropper)."""
    name = f"stockade_bench_{uuid.uuid4().hex[:10]}"
    subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True, timeout=60)

    def drop():
        subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name}"], capture_output=True, timeout=60)

    return base.rsplit("/", 1)[0] + "/" + name, drop


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs-per-round", type=int, default=200,
                    help="runs per (variant, client count) per round, split between the clients")
    ap.add_argument("--clients", default="1,2,4", help="comma-separated client counts")
    ap.add_argument("--workers", type=int, default=2, help="warm workers of the Pool and the server's pool_size")
    ap.add_argument("--warmup", type=int, default=1, help="rounds discarded first")
    ap.add_argument("--bin", default=default_bin(), help="the stockade binary to serve with")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write every sample here")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    serve_util.BIN = os.path.abspath(args.bin)
    bin_kind = build_kind(serve_util.BIN, "stockade")
    ext = stockade._stockade.__file__
    ext_kind = build_kind(ext, "lib_stockade.so")

    tmp = tempfile.mkdtemp(prefix="stockade-bench-serve-")
    policy = os.path.join(tmp, "policy.toml")
    with open(policy, "w") as f:
        f.write("version = 1\n" + (f'\n[python]\ninterpreter = "{BARE}"\n' if BARE else ""))

    variants, cleanups = [], []
    try:
        variants.append(Direct(policy, args.workers))
        variants.append(Service("service (SQLite)", policy, args.workers, max(clients)))
        pg = os.environ.get("STOCKADE_BENCH_PG")
        if pg:
            url, drop = pg_database(pg)
            cleanups.append(drop)
            variants.append(Service("service (PostgreSQL)", policy, args.workers, max(clients), database=url))

        # Same policy, interpreter and limits on both sides, or the comparison means nothing.
        probe = "import sys; print(sys.executable, sys.version.split()[0])"
        seen = {v.name: v.probe(probe) for v in variants}
        ref = seen[DIRECT]
        for name, got in seen.items():
            if got["status"] != "ok" or got["stdout"] != ref["stdout"] or got["limits"] != ref["limits"]:
                raise BenchError(f"{name} does not run like the direct Pool:\n{got}\nvs\n{ref}")

        rng = random.Random(args.seed)
        lat = {(v.name, n): [] for v in variants for n in clients}
        round_p50 = {k: [] for k in lat}
        round_p99 = {k: [] for k in lat}
        tput = {k: [] for k in lat}
        server_cpu = {v.name: [0.0, 0] for v in variants}  # seconds, runs (timed samples only)
        for r in range(args.warmup + args.rounds):
            for n in clients:
                for v in rng.sample(variants, len(variants)):
                    cpu0 = v.cpu_seconds() if isinstance(v, Service) else 0
                    xs, rate = sample(v, n, args.runs_per_round)
                    if r < args.warmup:
                        continue
                    k = (v.name, n)
                    if isinstance(v, Service):
                        server_cpu[v.name][0] += v.cpu_seconds() - cpu0
                        server_cpu[v.name][1] += len(xs)
                    lat[k] += xs
                    xs.sort()
                    round_p50[k].append(percentile(xs, 0.5))
                    round_p99[k].append(percentile(xs, 0.99))
                    tput[k].append(rate)
            print(f"round {r + 1}/{args.warmup + args.rounds}{' (warm-up)' if r < args.warmup else ''} done",
                  file=sys.stderr, flush=True)
        floors = {v.name: v.floor() for v in variants if isinstance(v, Service)}
        reconnects = {v.name: v.reconnects for v in variants if isinstance(v, Service)}
        stores = {v.name: (v.server.database or f"sqlite in {v.server.dir} ({fs_type(v.server.dir)})")
                  for v in variants if isinstance(v, Service)}
    finally:
        for v in variants:
            v.close()
        for c in cleanups:
            c()
        shutil.rmtree(tmp, ignore_errors=True)

    load = os.getloadavg()
    print(f"# bench/serve.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {os.cpu_count()} cores  "
          f"kernel {os.uname().release}  load {load[0]:.2f} {load[1]:.2f}")
    guard = guard_env(serve_util.BIN).get("STOCKADE_GUARD_LIB")
    print(f"# binary: {serve_util.BIN} ({bin_kind} build){f', guard library {guard}' if guard else ''}; "
          f"direct Pool's extension: {ext} ({ext_kind} build)"
          + ("" if bin_kind == ext_kind else "  ** builds differ: not like for like **"))
    print(f"# code {CODE!r}, {args.workers} workers on each side, interpreter {ref['stdout'].strip()}; "
          f"{args.rounds} rounds (+{args.warmup} warm-up), {args.runs_per_round} runs per sample, seed {args.seed}")
    for name, where in stores.items():
        cpu, runs = server_cpu[name]
        print(f"# {name}: {where}; reconnects inside the timing: {reconnects[name]}; GET /healthz (no auth, no store) "
              f"p50 {percentile(floors[name], 0.5):.2f} ms, p99 {percentile(floors[name], 0.99):.2f} ms; "
              f"the server's CPU per run {cpu / max(runs, 1) * 1000:.3f} ms (its own threads, over the timed samples)")
    print()
    print("| clients | variant | p50 ms | p99 ms | spread of round p50s | first → last round p50 | runs > 100 ms | runs/s | spread of rounds |")
    print("|--:|:--|--:|--:|--:|--:|--:|--:|--:|")
    for n in clients:
        for v in variants:
            k = (v.name, n)
            xs = sorted(lat[k])
            print(f"| {n} | {v.name} | {percentile(xs, 0.5):.2f} | {percentile(xs, 0.99):.2f} | "
                  f"{min(round_p50[k]):.2f}-{max(round_p50[k]):.2f} | {round_p50[k][0]:.2f} → {round_p50[k][-1]:.2f} | "
                  f"{sum(x > 100 for x in xs)} of {len(xs)} | {statistics.median(tput[k]):.0f} | "
                  f"{min(tput[k]):.0f}-{max(tput[k]):.0f} |")
    print()
    print("Service against direct, paired by round (median over rounds, min-max in brackets):\n")
    print("| clients | variant | added p50 ms | target ≤ 0.5 | added p99 ms | throughput ratio | target ≥ 80 % |")
    print("|--:|:--|--:|:--|--:|--:|:--|")
    for n in clients:
        d = (DIRECT, n)
        for v in variants:
            if v.name == DIRECT:
                continue
            k = (v.name, n)
            dp50 = [a - b for a, b in zip(round_p50[k], round_p50[d])]
            dp99 = [a - b for a, b in zip(round_p99[k], round_p99[d])]
            ratio = [a / b * 100 for a, b in zip(tput[k], tput[d])]
            m50, mr = statistics.median(dp50), statistics.median(ratio)
            ok50, okr = m50 <= 0.5, mr >= 80
            print(f"| {n} | {v.name} | {m50:+.2f} ({min(dp50):+.2f} to {max(dp50):+.2f}) | {'met' if ok50 else '**not met**'} | "
                  f"{statistics.median(dp99):+.2f} | {mr:.0f} % ({min(ratio):.0f}-{max(ratio):.0f}) | "
                  f"{'met' if okr else '**not met**'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "binary": serve_util.BIN, "binary_build": bin_kind, "extension": ext, "extension_build": ext_kind,
                "workers": args.workers, "rounds": args.rounds, "runs_per_round": args.runs_per_round,
                "latency_ms": {f"{a} | {n}": xs for (a, n), xs in lat.items()},
                "round_p50_ms": {f"{a} | {n}": xs for (a, n), xs in round_p50.items()},
                "runs_per_s": {f"{a} | {n}": xs for (a, n), xs in tput.items()},
                "reconnects": reconnects,
            }, f)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench/serve.py: {e}", file=sys.stderr)
        sys.exit(1)
