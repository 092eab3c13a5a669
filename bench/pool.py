#!/usr/bin/env python3
"""Warm pool latency and throughput: stockade.Pool.run against bare CPython, a cold
stockade.run, and a plain (unjailed) Python fork-server.

    target/pyvenv/bin/python bench/pool.py                 # defaults: 40 rounds, table on stdout
    target/pyvenv/bin/python bench/pool.py --rounds 100 --json out.json

Workloads (each variant runs the same code):
  a  print(sum(range(10)))
  b  result = sum(i*i for i in range(200000))
  c  import json, re, math, datetime

Variants per workload, interleaved round-robin in a shuffled order per round:
  bare-subprocess   /usr/bin/python3.11 -c CODE (a fresh interpreter per run)
  cold-run          stockade.run(CODE) (a fresh jail per run)
  forkserver        a parent process that forks one child per request (no jail), over pipes
  prefork           the pool's design without the jail, guard or protocol: a warmed parent keeps
                    one child forked ahead; the child reads the request, runs it, answers, exits
                    (the floor of "a fresh process per run" on this machine)
  pool              stockade.Pool(size=1, python=BARE).run(CODE)
  monty             pydantic-monty's subprocess pool, a fresh session per run (a Python subset
                    in Rust; timed in its own process, the bench venv's)
  smolagents        smolagents' LocalPythonExecutor, a fresh executor per run (an AST
                    interpreter in the caller's process, not isolation; its slow (b) is sampled
                    in --slow-rounds rounds only)
Plus, for (b), the computation timed in this process (bare CPython compute, no process at all).

Throughput, workload (a), --seconds each: Pool(size=2) driven by 2 client threads (with the page
faults and CPU per run of the zygotes and of the runs' processes, from /proc/<zygote>/stat); the
same for two fork-servers, two prefork servers and a monty pool of 2 workers.

monty and smolagents are installed from PyPI into target/bench-venv (created on first use, shared
with bench/check.py); --no-anchors skips them, and they are skipped with a message when the
registry cannot be reached.
"""
import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time

import stockade

WORKLOADS = {
    "a": "print(sum(range(10)))",
    "b": "result = sum(i*i for i in range(200000))",
    "c": "import json, re, math, datetime",
}
BARE = "/usr/bin/python3.11" if os.path.exists("/usr/bin/python3.11") else sys.executable

# A minimal fork-server: the parent reads one JSON request per line, forks a child that execs the
# code with stdout captured into a pipe, waits, and answers with one JSON line. No jail, no guard.
FORKSERVER = r"""
import io, json, os, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
out.write(b"ready\n"); out.flush()
for line in inp:
    req = json.loads(line)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        buf = io.StringIO()
        sys.stdout = buf
        ns = {"__name__": "__main__"}
        ok = True
        try:
            exec(compile(req["code"], "<run>", "exec"), ns)
        except BaseException as e:
            ok = False
        sys.stdout = sys.__stdout__
        os.write(w, json.dumps({"ok": ok, "stdout": buf.getvalue(), "value": ns.get("result")}).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    os.waitpid(pid, 0)
    out.write(b"".join(chunks) + b"\n"); out.flush()
"""


# The pool's design without the jail: the parent (warmed, frozen) keeps one child forked ahead of
# the request; the child reads the framed request itself, runs it, answers and exits; the parent
# reaps it and forks the next one.
PREFORK = r"""
import gc, io, json, os, sys
exec(compile("print(sum(range(10)))", "<warm>", "exec"), {"print": lambda *a: None})
gc.collect(); gc.freeze()
os.write(1, b"ready\n")
def child():
    head = os.read(0, 16)
    if len(head) != 16:
        os._exit(3)  # end of input: the parent stops too
    n, body = int(head), b""
    while len(body) < n:
        body += os.read(0, n - len(body))
    req = json.loads(body)
    buf = io.StringIO()
    sys.stdout = buf
    ns = {"__name__": "__main__"}
    ok = True
    try:
        exec(compile(req["code"], "<run>", "exec"), ns)
    except BaseException:
        ok = False
    sys.stdout = sys.__stdout__
    os.write(1, json.dumps({"ok": ok, "stdout": buf.getvalue(), "value": ns.get("result")}).encode() + b"\n")
    os._exit(0)
while True:
    pid = os.fork()
    if pid == 0:
        child()
    _, status = os.waitpid(pid, 0)
    if status:
        break
"""


class ForkServer:
    def __init__(self, script=FORKSERVER, framed=False):
        self.framed = framed
        self.proc = subprocess.Popen([BARE, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout.readline() == b"ready\n"

    def run(self, code):
        body = json.dumps({"code": code}).encode()
        self.proc.stdin.write(b"%16d" % len(body) + body if self.framed else body + b"\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "bench-venv")

# Runs in the bench venv: one request per line, each timed there around the executor's own call.
ANCHORS = r"""
import json, sys, threading, time
import pydantic_monty, smolagents
from pydantic_monty import CollectString, Monty
from smolagents.local_python_executor import LocalPythonExecutor

pool = Monty(min_processes=2, max_processes=2)
pool.__enter__()

def monty(code):
    with pool.checkout() as session:
        session.feed_run(code, print_callback=CollectString())

def smol(code):
    ex = LocalPythonExecutor(additional_authorized_imports=["json", "re", "math", "datetime"])
    ex.send_tools({})
    ex(code)

def throughput(code, seconds):
    count, stop = [0, 0], time.monotonic() + seconds
    def client(i):
        while time.monotonic() < stop:
            monty(code)
            count[i] += 1
    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return sum(count) / (time.monotonic() - t0)

run = {"monty": monty, "smolagents": smol}
print(json.dumps({"monty": pydantic_monty.__version__, "smolagents": smolagents.__version__}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if "throughput" in req:
        print(json.dumps({"runs_per_s": throughput(req["code"], req["throughput"])}), flush=True)
        continue
    t = time.perf_counter_ns()
    error = None
    try:
        run[req["variant"]](req["code"])
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    print(json.dumps({"ms": (time.perf_counter_ns() - t) / 1e6, "error": error}), flush=True)
"""


class Anchors:
    """pydantic-monty and smolagents, in the bench venv's interpreter."""

    def __init__(self):
        py = os.path.join(VENV, "bin", "python")
        if not os.path.exists(py):
            subprocess.run(["python3.11", "-m", "venv", VENV], check=True)
        have = subprocess.run([py, "-c", "import pydantic_monty, smolagents"], capture_output=True)
        if have.returncode != 0:
            subprocess.run([py, "-m", "pip", "install", "-q", "pydantic-monty", "smolagents"], check=True)
        self.proc = subprocess.Popen([py, "-c", ANCHORS], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.versions = json.loads(self.proc.stdout.readline())

    def ask(self, req):
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def _is_zygote_or_run(pid):
    """A pool worker's interpreter (runner.py in pool mode) or a run forked from it."""
    cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    return any(a.endswith(b"__stockade_runner__.py") for a in cmd) and b"pool" in cmd


def zygote_costs():
    """Page faults and CPU ticks of every zygote on the machine and of its reaped children (the
    runs and their namespaces' inits), from /proc/<pid>/stat: minflt, cminflt, utime+stime,
    cutime+cstime."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not _is_zygote_or_run(pid):
                continue
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            parent = fields[1]
            if _is_zygote_or_run(parent):
                continue  # a run, not a zygote
        except OSError:
            continue
        f = [int(x) for x in fields[7:15]]  # fields 10..17 of stat(5)
        out[pid] = (f[0], f[1], f[4] + f[5], f[6] + f[7])
    return out


def pct(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


TIMED_B = (
    "import time\n_t = time.perf_counter_ns()\nsum(i*i for i in range(200000))\n"
    "result = (time.perf_counter_ns() - _t) / 1e6"
)


def bare_compute():
    t = time.perf_counter_ns()
    sum(i * i for i in range(200000))
    return (time.perf_counter_ns() - t) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0, help="throughput measurement length")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write summary and samples here")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold stockade.run variant")
    ap.add_argument("--no-anchors", action="store_true", help="skip pydantic-monty and smolagents")
    ap.add_argument("--slow-rounds", type=int, default=5, help="rounds for smolagents' (b) (~2 s per run)")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    pool = stockade.Pool(size=1, python=BARE)  # the same interpreter as the anchors
    fs = ForkServer()
    pf = ForkServer(PREFORK, framed=True)
    anchors = None
    if not args.no_anchors:
        try:
            anchors = Anchors()
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"pydantic-monty / smolagents skipped: {exc}", file=sys.stderr)
    devnull = open(os.devnull, "wb")

    def v_bare(code):
        subprocess.run([BARE, "-c", code], stdout=devnull, check=True)

    def v_cold(code):
        r = stockade.run(code, python=BARE)
        assert r.ok, r

    def v_fork(code):
        r = fs.run(code)
        assert r["ok"], r

    def v_prefork(code):
        r = pf.run(code)
        assert r["ok"], r

    def anchor(name):
        def run(code):
            r = anchors.ask({"variant": name, "code": code})
            if r["error"]:
                raise RuntimeError(f"{name}: {r['error']}")
            return r["ms"]  # timed in its own process

        return run

    def v_pool(code):
        r = pool.run(code)
        assert r.ok, r
        usage_wall.setdefault(code, []).append(r.usage.get("wall_ms", 0))

    usage_wall = {}
    variants = {"bare-subprocess": v_bare, "forkserver": v_fork, "prefork": v_prefork, "pool": v_pool}
    if not args.no_cold:
        variants["cold-run"] = v_cold
    if anchors:
        variants["monty"] = anchor("monty")
        variants["smolagents"] = anchor("smolagents")
    slow = {("b", "smolagents")}
    failed = {}
    # correctness first
    assert pool.run(WORKLOADS["a"]).stdout == "45\n"
    assert fs.run(WORKLOADS["a"])["stdout"] == "45\n"
    assert pf.run(WORKLOADS["a"])["stdout"] == "45\n"

    samples = {(w, v): [] for w in WORKLOADS for v in variants}
    samples.update({("b", "in-process"): []})
    for rnd in range(args.warmup + args.rounds):
        order = [(w, v) for w in WORKLOADS for v in variants] + [("b", "in-process")]
        rng.shuffle(order)
        for w, v in order:
            if (w, v) in failed or ((w, v) in slow and rnd >= args.warmup + args.slow_rounds):
                continue
            if v == "in-process":
                ms = bare_compute()
            else:
                t = time.perf_counter_ns()
                try:
                    own = variants[v](WORKLOADS[w])
                except RuntimeError as exc:  # an anchor that cannot run this workload
                    failed[(w, v)] = str(exc)
                    continue
                ms = own if own is not None else (time.perf_counter_ns() - t) / 1e6
            if rnd >= args.warmup:
                samples[(w, v)].append(ms)

    # (b)'s computation timed inside each runner, interleaved: in this process, in the pool's run,
    # in the fork-server's child.
    compute = {"in-process": [], "pool": [], "forkserver": []}
    for rnd in range(args.warmup + args.rounds):
        order = list(compute)
        rng.shuffle(order)
        for v in order:
            if v == "in-process":
                ns = {}
                exec(compile(TIMED_B, "<run>", "exec"), ns)
                ms = ns["result"]
            elif v == "pool":
                ms = pool.run(TIMED_B).value
            else:
                ms = fs.run(TIMED_B)["value"]
            if rnd >= args.warmup:
                compute[v].append(ms)

    # throughput: Pool(size=2), 2 client threads, workload (a)
    pool.close()
    tp_pool = stockade.Pool(size=2, python=BARE)
    for _ in range(10):
        tp_pool.run(WORKLOADS["a"])

    def two_clients(runs):
        """Runs per second of two threads, each calling its own `runs[i]()` for --seconds."""
        count = [0, 0]
        stop = time.monotonic() + args.seconds

        def client(i):
            while time.monotonic() < stop:
                runs[i]()
                count[i] += 1

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(count) / (time.monotonic() - t0)

    def pool_run():
        assert tp_pool.run(WORKLOADS["a"]).ok

    before = zygote_costs()
    tp_pool_runs = [0]

    def pool_run_counted():
        pool_run()
        tp_pool_runs[0] += 1

    tp = two_clients([pool_run_counted, pool_run_counted])
    after = zygote_costs()
    tp_pool.close()
    n, tick = max(tp_pool_runs[0], 1), 1e6 / os.sysconf("SC_CLK_TCK")
    cost = [sum(after[z][i] - before[z][i] for z in before if z in after) / n for i in range(4)]

    # the anchors' throughput: 2 servers of each kind, 2 threads
    def server_throughput(servers):
        rate = two_clients([lambda s=s: s.run(WORKLOADS["a"]) for s in servers])
        for s in servers:
            s.close()
        return rate

    fs.close()
    pf.close()
    ftp = server_throughput([ForkServer(), ForkServer()])
    ptp = server_throughput([ForkServer(PREFORK, framed=True), ForkServer(PREFORK, framed=True)])
    mtp = None
    if anchors:
        mtp = anchors.ask({"throughput": args.seconds, "code": WORKLOADS["a"]})["runs_per_s"]
        anchors.close()

    # report
    print(f"# bench/pool.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {os.cpu_count()} cores  "
          f"{platform.processor() or platform.machine()}  kernel {platform.release()}  rounds={args.rounds}")
    print()
    print("| workload | variant | p50 ms | p10 | p90 | p99 | IQR | x bare-subprocess | x forkserver | x prefork |")
    print("|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|")
    summary = {}
    for w in WORKLOADS:
        base = statistics.median(samples[(w, "bare-subprocess")])
        fsm = statistics.median(samples[(w, "forkserver")])
        pfm = statistics.median(samples[(w, "prefork")])
        names = list(variants) + (["in-process"] if w == "b" else [])
        for v in names:
            xs = samples[(w, v)]
            if not xs:
                print(f"| {w} | {v} | {failed.get((w, v), 'no sample')} | | | | | | | |")
                continue
            med = statistics.median(xs)
            row = dict(p50=med, p10=pct(xs, 0.1), p90=pct(xs, 0.9), p99=pct(xs, 0.99), iqr=pct(xs, 0.75) - pct(xs, 0.25))
            summary[f"{w}/{v}"] = row
            print(f"| {w} | {v} | {med:.2f} | {row['p10']:.2f} | {row['p90']:.2f} | {row['p99']:.2f} | {row['iqr']:.2f} | "
                  f"{med / base:.2f}x | {med / fsm:.2f}x | {med / pfm:.2f}x |")
    print()
    a_pool = summary["a/pool"]["p50"]
    b_pool = summary["b/pool"]["p50"]
    b_bare = summary["b/in-process"]["p50"]
    fixed = a_pool  # the pool's fixed per-run cost: the trivial workload
    print(f"Pool fixed overhead (p50 of (a), client round trip): {a_pool:.2f} ms  (target <= 0.5 ms)")
    serve = statistics.median(usage_wall[WORKLOADS['a']])
    print(f"  of which from the request handed to the worker to its process's exit, as the supervisor "
          f"observed it (usage.wall_ms, p50): {serve:.0f} ms")
    cb = {v: statistics.median(xs) for v, xs in compute.items()}
    print(f"(b) computation timed inside the runner (p50): in-process {cb['in-process']:.2f} ms, "
          f"pool run {cb['pool']:.2f} ms ({(cb['pool'] / cb['in-process'] - 1) * 100:+.1f}%), "
          f"fork-server child {cb['forkserver']:.2f} ms ({(cb['forkserver'] / cb['in-process'] - 1) * 100:+.1f}%)")
    print(f"(b) end to end: pool p50 - fixed = {b_pool - fixed:.2f} ms vs bare in-process {b_bare:.2f} ms "
          f"-> {((b_pool - fixed) / b_bare - 1) * 100:+.1f}%  (target within 5%)")
    print(f"Throughput, Pool(size=2), 2 client threads, (a): {tp:.0f} runs/s  (target >= 2000); "
          f"plain fork-server x2: {ftp:.0f} runs/s; prefork x2: {ptp:.0f} runs/s"
          + (f"; monty pool of 2: {mtp:.0f} runs/s" if mtp else ""))
    print(f"  per run in that test (/proc/<zygote>/stat): zygote {cost[0]:.0f} page faults, {cost[2] * tick:.0f} us CPU; "
          f"the run's process {cost[1]:.0f} page faults, {cost[3] * tick:.0f} us CPU")
    if anchors:
        print(f"Anchors from PyPI: pydantic-monty {anchors.versions['monty']}, smolagents {anchors.versions['smolagents']} "
              f"(timed in their own process; smolagents (b) over {args.slow_rounds} rounds)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "compute_b": compute, "throughput": tp, "forkserver_throughput": ftp,
                       "prefork_throughput": ptp, "monty_throughput": mtp,
                       "samples": {f"{w}/{v}": xs for (w, v), xs in samples.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
