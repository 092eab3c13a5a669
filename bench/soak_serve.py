#!/usr/bin/env python3
"""Soak `stockade serve` with ordinary and hostile code, and watch the server's memory and fds.

    target/pyvenv/bin/python bench/soak_serve.py                  # 10 minutes, 4 clients, SQLite
    target/pyvenv/bin/python bench/soak_serve.py --minutes 1 --clients 2 --json soak.json
    STOCKADE_BENCH_PG=postgres://... target/pyvenv/bin/python bench/soak_serve.py --database pg

One server (pool_size 2, max_concurrent_runs 4, quotas out of the way) and --clients threads,
each with one persistent keep-alive connection, sending POST /v1/runs back to back for --minutes.
Each request picks a program at random: ordinary ones (--hostile-share of the requests are not)

  arith      a sum over a random range            ok, stdout the right number
  json       a dict through json dumps/loads      ok, stdout the right text
  dataclass  a frozen dataclass, asdict, replace  ok, stdout the right text
  scratch    a file sent in `files`, read, a new file written to the scratch and read back
                                                  ok, stdout the right text

must all answer 200 with status "ok" and exactly the expected stdout (inputs are random per
request); hostile ones must answer 200 with a result (the status listed is the one expected, a
different one is reported but is not a failure):

  loop       while True: pass, timeout_ms 500                  timeout
  membomb    16 MiB bytes objects kept forever, timeout 10 s   memory_limit or killed
  forkbomb   os.fork() in a loop, timeout 2 s                  any
  shadow     open('/etc/shadow')                               error
  socket     socket.create_connection to the server's port     error
  rawsocket  _socket.socket().connect to the server's port     error
  output     endless writes to stdout, timeout 5 s             output_limit
  kill1      os.kill(1, 9)                                     any

Every --sample-seconds the server process's VmRSS and Threads (/proc/PID/status), its open fds
(/proc/PID/fd) and the number of its descendant processes are sampled. Memory is flat when the
median RSS of the last quarter of the samples is at most the first quarter's median × 1.2 +
10 MiB. Exit status 1 when an ordinary run failed, a request got a 5xx, no answer, a connection
error or a hang (no answer in --request-timeout), or memory was not flat; every such failure is
printed with its exact request and response.
"""
import argparse
import base64
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python", "tests"))
import serve_util  # noqa: E402  (python/tests/serve_util.py: starts and stops `stockade serve`)

MIB = 1 << 20


# --- the programs: each returns (request body, expected statuses, expected stdout or None) ---

def arith(rng, port):
    n = rng.randrange(1_000, 200_000)
    code = f"n = {n}\nprint(sum(i * i for i in range(n)) % 1000003)\n"
    return {"code": code}, {"ok"}, f"{sum(i * i for i in range(n)) % 1000003}\n"


def json_prog(rng, port):
    data = {"ints": [rng.randrange(-10**12, 10**12) for _ in range(8)], "s": "é☃" + str(rng.random()),
            "nested": {"ok": True, "none": None, "f": rng.random()}}
    code = (f"import json\ndata = json.loads({json.dumps(json.dumps(data))})\n"
            "print(json.dumps(json.loads(json.dumps(data)), sort_keys=True))\n")
    return {"code": code}, {"ok"}, json.dumps(data, sort_keys=True) + "\n"


def dataclass_prog(rng, port):
    x, y = rng.randrange(10**6), rng.randrange(10**6)
    code = ("from dataclasses import dataclass, asdict, replace\n\n"
            "@dataclass(frozen=True)\nclass Point:\n    x: int\n    y: int\n\n"
            f"p = Point({x}, {y})\nprint(asdict(p), replace(p, x=0), p == Point({x}, {y}))\n")
    return {"code": code}, {"ok"}, f"{{'x': {x}, 'y': {y}}} Point(x=0, y={y}) True\n"


def scratch(rng, port):
    token = uuid.UUID(int=rng.getrandbits(128)).hex
    code = ("import os\nsrc = open('in.txt').read()\n"
            "with open('notes.txt', 'w') as f:\n    f.write(src * 3)\n"
            "print(os.path.getsize('notes.txt'), open('notes.txt').read())\n")
    files = {"in.txt": base64.b64encode(token.encode()).decode()}
    return {"code": code, "files": files}, {"ok"}, f"{len(token) * 3} {token * 3}\n"


def fixed(code, statuses, timeout_ms=None):
    def prog(rng, port):
        body = {"code": code.replace("PORT", str(port))}
        if timeout_ms:
            body["timeout_ms"] = timeout_ms
        return body, statuses, None
    return prog


ORDINARY = {"arith": arith, "json": json_prog, "dataclass": dataclass_prog, "scratch": scratch}
ANY = None  # any status is fine, as long as there is a result
HOSTILE = {
    "loop": fixed("while True:\n    pass\n", {"timeout"}, 500),
    "membomb": fixed("chunks = []\nwhile True:\n    chunks.append(b'x' * (16 << 20))\n",
                     {"memory_limit", "killed"}, 10_000),
    "forkbomb": fixed("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", ANY, 2_000),
    "shadow": fixed("print(open('/etc/shadow').read())\n", {"error"}),
    "socket": fixed("import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=1)\nprint('connected')\n",
                    {"error"}),
    "rawsocket": fixed("import _socket\ns = _socket.socket()\ns.settimeout(1)\ns.connect(('127.0.0.1', PORT))\n"
                       "print('connected')\n", {"error"}),
    "output": fixed("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", {"output_limit"}, 5_000),
    "kill1": fixed("import os\nos.kill(1, 9)\nprint('alive')\n", ANY),
}


class Client:
    """One persistent keep-alive connection."""

    def __init__(self, port, key, timeout):
        self.port, self.timeout = port, timeout
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = None
        self.stale_retries = 0

    def post(self, body):
        """(HTTP status, body bytes); raises on a connection error or a hang."""
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", "/v1/runs", body=body, headers=self.headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if fresh or attempt:
                    raise
                # The server closed an idle keep-alive connection before our request: retry once.
                self.stale_retries += 1
                continue
            except BaseException:
                self.conn.close()
                self.conn = None
                raise
            if resp.will_close:
                self.conn.close()
                self.conn = None
            return resp.status, data
        raise AssertionError("unreachable")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_prog = {}  # name -> {"n", "statuses": {status: count}, "ms": []}
        self.failures = []  # (kind, name, request, response)
        self.failure_counts = {}
        self.unexpected = {}  # hostile name -> {status: count}
        self.unexpected_examples = []
        self.ordinary_errors = 0
        self.ordinary_runs = 0
        self.stale_retries = 0

    def record(self, name, status, ms, why=None):
        with self.lock:
            p = self.by_prog.setdefault(name, {"n": 0, "statuses": {}, "ms": [], "why": {}})
            p["n"] += 1
            p["statuses"][status] = p["statuses"].get(status, 0) + 1
            p["ms"].append(ms)
            if why:
                p["why"][why] = p["why"].get(why, 0) + 1

    def fail(self, kind, name, request, response, keep=20):
        with self.lock:
            self.failure_counts[kind] = self.failure_counts.get(kind, 0) + 1
            if len(self.failures) < keep:
                self.failures.append((kind, name, request, response))


def client_loop(i, args, port, key, deadline, tally, stop):
    rng = random.Random(f"{args.seed}-{i}")
    client = Client(port, key, args.request_timeout)
    ordinary, hostile = list(ORDINARY.items()), list(HOSTILE.items())
    while time.monotonic() < deadline and not stop.is_set():
        is_hostile = rng.random() < args.hostile_share
        name, prog = rng.choice(hostile if is_hostile else ordinary)
        body, statuses, stdout = prog(rng, port)
        raw = json.dumps(body).encode()
        shown = json.dumps(body)
        t = time.perf_counter()
        try:
            code, data = client.post(raw)
        except socket.timeout:
            tally.record(name, "hang", (time.perf_counter() - t) * 1e3)
            tally.fail("hang", name, shown, f"no answer within {args.request_timeout} s")
            continue
        except (OSError, http.client.HTTPException) as e:
            tally.record(name, "connection error", (time.perf_counter() - t) * 1e3)
            tally.fail("connection error", name, shown, repr(e))
            if not is_hostile:
                with tally.lock:
                    tally.ordinary_runs += 1
                    tally.ordinary_errors += 1
            time.sleep(0.5)
            continue
        ms = (time.perf_counter() - t) * 1e3
        text = data.decode("utf-8", "replace")
        excerpt = text if len(text) <= 2000 else text[:1000] + f" ...[{len(text)} chars]... " + text[-500:]
        result = None
        if code == 200:
            try:
                result = json.loads(data)
            except ValueError:
                pass
        status = result.get("status", "?") if isinstance(result, dict) else f"HTTP {code}"
        tally.record(name, status, ms, why(result) if is_hostile else None)
        if code >= 500:
            tally.fail("5xx", name, shown, f"HTTP {code} {excerpt}")
        elif code != 200 or not isinstance(result, dict) or "status" not in result:
            tally.fail("no result", name, shown, f"HTTP {code} {excerpt}")
        if not is_hostile:
            bad = code != 200 or status != "ok" or result.get("stdout") != stdout
            with tally.lock:
                tally.ordinary_runs += 1
                tally.ordinary_errors += bad
            if bad and code == 200:
                tally.fail("ordinary run wrong", name, shown,
                           f"HTTP {code} status {status!r}, stdout {result.get('stdout')!r} (expected {stdout!r}); {excerpt}")
        elif statuses is not None and code == 200 and status not in statuses:
            with tally.lock:
                u = tally.unexpected.setdefault(name, {})
                u[status] = u.get(status, 0) + 1
                if len(tally.unexpected_examples) < 10:
                    tally.unexpected_examples.append((name, shown, excerpt))
    with tally.lock:
        tally.stale_retries += client.stale_retries


def why(result):
    """What stopped a hostile run: the error's type and the first words of its message, or the reason."""
    if not isinstance(result, dict):
        return None
    err = (result.get("answer") or {}).get("error") or {}
    if err.get("type") and err.get("type") != "NoResult":
        return f"{err['type']}: {err.get('message', '')[:60]}"
    return (result.get("reason") or "")[:60] or None


def descendants(pid):
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = 0, [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out += 1
            todo.append(c)
    return out


def sample_proc(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return {
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "descendants": descendants(pid),
    }


def pg_database(base):
    name = f"stockade_soak_{uuid.uuid4().hex[:10]}"
    subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True, timeout=60)

    def drop():
        subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name}"], capture_output=True, timeout=60)

    return base.rsplit("/", 1)[0] + "/" + name, drop


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--hostile-share", type=float, default=0.3, help="share of requests that are hostile")
    ap.add_argument("--sample-seconds", type=float, default=3)
    ap.add_argument("--request-timeout", type=float, default=120, help="seconds without an answer = a hang")
    ap.add_argument("--database", choices=["sqlite", "pg"], default="sqlite",
                    help="pg: a fresh database on the server named by $STOCKADE_BENCH_PG")
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the samples and counts here")
    args = ap.parse_args()
    serve_util.BIN = os.path.abspath(args.bin)
    kind = next((k for k in ("release", "debug") if f"/target/{k}/" in serve_util.BIN), "unknown")

    database, drop = None, None
    if args.database == "pg":
        if not os.environ.get("STOCKADE_BENCH_PG"):
            sys.exit("soak_serve.py: --database pg needs $STOCKADE_BENCH_PG (a postgres:// URL)")
        database, drop = pg_database(os.environ["STOCKADE_BENCH_PG"])
    server = serve_util.Server(database=database, env=guard_env(serve_util.BIN), settings={
        "pool_size": 2,
        "max_concurrent_runs": 4,
        "quotas.concurrent_runs": 64,
        "quotas.runs_per_minute": 100_000_000,
        "quotas.cpu_seconds_per_day": 100_000_000,
    })
    tally, samples, stop = Tally(), [], threading.Event()
    leftovers = None
    try:
        server.start()
        pid = server.proc.pid
        t0 = time.monotonic()
        samples.append({"t": 0.0, **sample_proc(pid)})

        def sampler():
            while not stop.wait(args.sample_seconds):
                try:
                    samples.append({"t": time.monotonic() - t0, **sample_proc(pid)})
                except OSError:
                    return  # the server is gone; the clients will say so

        deadline = t0 + args.minutes * 60
        threads = [threading.Thread(target=client_loop, args=(i, args, server.port, server.admin_key, deadline, tally, stop))
                   for i in range(args.clients)]
        st = threading.Thread(target=sampler, daemon=True)
        st.start()
        last_report = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() - last_report >= 60:
                last_report = time.monotonic()
                s = samples[-1]
                with tally.lock:
                    n = sum(p["n"] for p in tally.by_prog.values())
                    bad = sum(tally.failure_counts.values())
                print(f"{(last_report - t0) / 60:.1f} min: {n} requests, {bad} failures, RSS {s['rss_kib'] / 1024:.1f} MiB, "
                      f"{s['fds']} fds, {s['descendants']} descendants", file=sys.stderr, flush=True)
        for t in threads:
            t.join()
        stop.set()
        st.join()
        samples.append({"t": time.monotonic() - t0, **sample_proc(pid)})
        elapsed = time.monotonic() - t0
        health = server.req("GET", "/healthz").status
        rc = server.stop()
        time.sleep(0.5)
        leftovers = [d for d in os.listdir("/proc") if d.isdigit() and _pgid(d) == pid]
    finally:
        stop.set()
        if server.proc and server.proc.poll() is None:
            server.stop()
        if drop:
            drop()

    rss = [s["rss_kib"] / 1024 for s in samples]
    q = max(1, len(rss) // 4)
    first_q, last_q = statistics.median(rss[:q]), statistics.median(rss[-q:])
    flat = last_q <= first_q * 1.2 + 10
    fds = [s["fds"] for s in samples]
    total = sum(p["n"] for p in tally.by_prog.values())
    load = os.getloadavg()
    print(f"# bench/soak_serve.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {os.cpu_count()} cores  "
          f"load {load[0]:.2f} {load[1]:.2f}")
    print(f"# binary {serve_util.BIN} ({kind} build), store {database or 'SQLite'}; {args.clients} clients, "
          f"hostile share {args.hostile_share:.0%}, {elapsed / 60:.1f} min, {total} requests "
          f"({total / elapsed:.1f}/s), seed {args.seed}")
    print()
    print("| program | kind | requests | statuses | p50 ms | p99 ms | why (hostile, most frequent) |")
    print("|:--|:--|--:|:--|--:|--:|:--|")
    for name in list(ORDINARY) + list(HOSTILE):
        p = tally.by_prog.get(name)
        if not p:
            continue
        ms = sorted(p["ms"])
        sts = ", ".join(f"{k} {v}" for k, v in sorted(p["statuses"].items(), key=lambda kv: -kv[1]))
        print(f"| {name} | {'ordinary' if name in ORDINARY else 'hostile'} | {p['n']} | {sts} | "
              f"{ms[len(ms) // 2]:.1f} | {ms[min(len(ms) - 1, int(0.99 * len(ms)))]:.1f} | "
              f"{max(p['why'], key=p['why'].get).replace('|', '/') if p['why'] else ''} |")
    print()
    print(f"Server process (pid {pid}), {len(samples)} samples every {args.sample_seconds:g} s:")
    print(f"  RSS MiB: start {rss[0]:.1f}, first-quarter median {first_q:.1f}, last-quarter median {last_q:.1f}, "
          f"max {max(rss):.1f}  -> {'flat' if flat else '**GREW**'} (limit {first_q * 1.2 + 10:.1f})")
    print(f"  open fds: start {fds[0]}, last {fds[-1]}, max {max(fds)}; threads: start {samples[0]['threads']}, "
          f"last {samples[-1]['threads']}, max {max(s['threads'] for s in samples)}; descendant processes: "
          f"start {samples[0]['descendants']}, last {samples[-1]['descendants']}, max {max(s['descendants'] for s in samples)}")
    print(f"  /healthz after the soak: {health}; SIGTERM exit status {rc}; processes left in its group: "
          f"{len(leftovers) if leftovers is not None else '?'}")
    print(f"  stale keep-alive retries: {tally.stale_retries}")
    print()
    print(f"Ordinary runs: {tally.ordinary_runs}, errors: {tally.ordinary_errors}")
    for kind_, n in sorted(tally.failure_counts.items()):
        print(f"Failures '{kind_}': {n}")
    for name, counts in tally.unexpected.items():
        print(f"Hostile '{name}' with an unexpected status (not a failure): {counts}")
    for kind_, name, request, response in tally.failures:
        print(f"\n[{kind_}] {name}\n  request:  POST /v1/runs {request}\n  response: {response}")
    for name, request, response in tally.unexpected_examples[:3]:
        print(f"\n[unexpected status] {name}\n  request:  POST /v1/runs {request}\n  response: {response[:1500]}")
    failed = tally.ordinary_errors > 0 or bool(tally.failure_counts) or not flat
    if server.dir:
        err = open(server.err_path).read() if os.path.exists(server.err_path) else ""
        if err.strip():
            print(f"\nserver stderr (last 1500 chars):\n{err[-1500:]}")
        if not failed:
            shutil.rmtree(server.dir, ignore_errors=True)
        else:
            print(f"\nserver logs kept in {server.dir}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": samples, "programs": tally.by_prog, "failure_counts": tally.failure_counts,
                       "ordinary_runs": tally.ordinary_runs, "ordinary_errors": tally.ordinary_errors,
                       "rss_first_quarter_mib": first_q, "rss_last_quarter_mib": last_q, "flat": flat}, f)
    print(f"\n{'FAIL' if failed else 'PASS'}")
    return 1 if failed else 0


def _pgid(d):
    try:
        return os.getpgid(int(d))
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
