#!/usr/bin/env python3
"""Warm pool before and after, in the same run: stockade.Pool of this checkout against the same
Pool of a baseline commit, with the unjailed prefork as the anchor.

    target/pyvenv/bin/python bench/pool_ab.py                       # baseline d5d04dc (before issue 11)
    target/pyvenv/bin/python bench/pool_ab.py --baseline-ref <commit> --rounds 15 --seconds 5

The baseline is built once into target/bench-baseline/<commit> (a git worktree) and installed
into target/bench-baseline/<commit>-venv with pip (a few minutes on 2 cores). Each side runs in a
driver process of its own venv, over the same pipe protocol, so both pay the same harness cost:

  latency     Pool(size=1, python=/usr/bin/python3.11), N sequential runs of the workload
  throughput  Pool(size=2), two client threads, for --seconds

Rounds interleave baseline, current and prefork in a shuffled order (latency) and then the three
throughputs in a shuffled order; the table shows medians over rounds and the spread (min-max of
the round medians). Workload: print(sum(range(10))).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BARE = "/usr/bin/python3.11"
CODE = "print(sum(range(10)))"

DRIVER = r"""
import json, sys, threading, time
import stockade
BARE, CODE = sys.argv[1], sys.argv[2]
solo = stockade.Pool(size=1, python=BARE)
duo = stockade.Pool(size=2, python=BARE)
for p in (solo, duo):
    for _ in range(20):
        assert p.run(CODE).stdout == "45\n"
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "latency":
        xs = []
        for _ in range(req["n"]):
            t = time.perf_counter_ns()
            r = solo.run(CODE)
            xs.append((time.perf_counter_ns() - t) / 1e6)
            assert r.ok, r
        print(json.dumps({"ms": xs}), flush=True)
    else:
        count, stop = [0, 0], time.monotonic() + req["seconds"]
        def client(i):
            while time.monotonic() < stop:
                assert duo.run(CODE).ok
                count[i] += 1
        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(json.dumps({"runs_per_s": sum(count) / (time.monotonic() - t0)}), flush=True)
"""


class Driver:
    def __init__(self, python):
        self.proc = subprocess.Popen([python, "-c", DRIVER, BARE, CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert json.loads(self.proc.stdout.readline())["ready"]

    def ask(self, **req):
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def baseline_python(ref):
    base = os.path.join(ROOT, "target", "bench-baseline")
    tree, venv = os.path.join(base, ref), os.path.join(base, f"{ref}-venv")
    py = os.path.join(venv, "bin", "python")
    if os.path.exists(py) and subprocess.run([py, "-c", "import stockade"], capture_output=True).returncode == 0:
        return py
    os.makedirs(base, exist_ok=True)
    if not os.path.isdir(tree):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-f", tree, ref], check=True)
    subprocess.run([BARE, "-m", "venv", venv], check=True)
    print(f"building the baseline {ref} into {venv} (pip install, a few minutes)", file=sys.stderr)
    subprocess.run([py, "-m", "pip", "install", "-q", tree], check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(tree, "target")))
    return py


def prefork_driver():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pool  # bench/pool.py: the prefork server (no jail)

    servers = [pool.ForkServer(pool.PREFORK, framed=True) for _ in range(3)]

    class Prefork:
        def ask(self, **req):
            if req["op"] == "latency":
                xs = []
                for _ in range(req["n"]):
                    t = time.perf_counter_ns()
                    r = servers[0].run(CODE)
                    xs.append((time.perf_counter_ns() - t) / 1e6)
                    assert r["ok"], r
                return {"ms": xs}
            import threading

            count, stop = [0, 0], time.monotonic() + req["seconds"]

            def client(i):
                while time.monotonic() < stop:
                    servers[1 + i].run(CODE)
                    count[i] += 1

            t0 = time.monotonic()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            return {"runs_per_s": sum(count) / (time.monotonic() - t0)}

        def close(self):
            for s in servers:
                s.close()

    return Prefork()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-ref", default="d5d04dc")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=100, help="sequential runs per latency sample")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write every sample here")
    args = ap.parse_args()
    sides = {
        f"baseline {args.baseline_ref}": Driver(baseline_python(args.baseline_ref)),
        "current": Driver(sys.executable),
        "prefork (no jail)": prefork_driver(),
    }
    rng = random.Random(args.seed)
    lat = {k: [] for k in sides}
    lat_all = {k: [] for k in sides}
    tput = {k: [] for k in sides}
    for _ in range(args.rounds):
        for k in rng.sample(list(sides), len(sides)):
            xs = sides[k].ask(op="latency", n=args.runs)["ms"]
            lat[k].append(statistics.median(xs))
            lat_all[k] += xs
        for k in rng.sample(list(sides), len(sides)):
            tput[k].append(sides[k].ask(op="throughput", seconds=args.seconds)["runs_per_s"])
    for d in sides.values():
        d.close()
    base = f"baseline {args.baseline_ref}"
    print(f"# bench/pool_ab.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {os.cpu_count()} cores  "
          f"kernel {os.uname().release}  rounds={args.rounds} runs={args.runs} seconds={args.seconds}\n")
    print("| variant | p50 ms | p90 ms | spread of round p50s | runs/s (2 workers, 2 threads) | spread | runs/s vs baseline |")
    print("|:--|--:|--:|--:|--:|--:|--:|")
    for k in sides:
        xs = sorted(lat_all[k])
        p90 = xs[int(0.9 * (len(xs) - 1))]
        t = statistics.median(tput[k])
        print(f"| {k} | {statistics.median(lat[k]):.2f} | {p90:.2f} | {min(lat[k]):.2f}-{max(lat[k]):.2f} | "
              f"{t:.0f} | {min(tput[k]):.0f}-{max(tput[k]):.0f} | {t / statistics.median(tput[base]) * 100 - 100:+.0f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"latency_ms": lat_all, "round_p50_ms": lat, "runs_per_s": tput}, f)


if __name__ == "__main__":
    main()
