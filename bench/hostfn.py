#!/usr/bin/env python3
"""Host functions: the round trip of a trivial call (`f(i)` returning `i + 1`) from code in a
warm stockade pool, next to pydantic-monty's external function call, in one run.

    PYTHONPATH=<dir with the stockade package> python3 bench/hostfn.py [--rounds 8] [--calls 2000]

Each round (variants in a shuffled order) makes `--calls` sequential calls inside one run and
times each inside the sandboxed code (so neither sandbox's start-up is counted), then reports
p50 and p99 of the round trip and calls/s over the whole loop; medians and spread over rounds.
pydantic-monty comes from PyPI into target/bench-venv (as bench/pool.py installs it) and runs
there, in a monty worker of its own pool.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys

import stockade

PY = "/usr/bin/python3.11"
VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "bench-venv")

LOOP = """
import time
samples = []
t0 = time.perf_counter()
for i in range(N):
    t = time.perf_counter()
    f(i)
    samples.append(time.perf_counter() - t)
total = time.perf_counter() - t0
samples.sort()
result = [samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.99)] * 1e6, N / total]
"""

# pydantic-monty runs a Python subset: the same loop without imports and comprehensions of note.
MONTY = r"""
import json, sys
import pydantic_monty as pm

def f(i):
    return i + 1

rounds, n = int(sys.argv[1]), int(sys.argv[2])
loop = sys.argv[3]
# Each external call suspends the monty VM; its default limit is 1000 per session.
limits = pm.ResourceLimits(max_suspensions=10 * n + 100)
with pm.Monty(min_processes=1, max_processes=1) as pool:
    with pool.checkout(limits=limits) as s:
        s.feed_run(loop.replace("N", "20"), external_lookup={"f": f})
    for _ in range(rounds):
        with pool.checkout(limits=limits) as s:
            out = s.feed_run(loop.replace("N", str(n)) + "\nresult", external_lookup={"f": f})
        print(json.dumps(out), flush=True)
"""


def monty_rounds(rounds, calls):
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([PY, "-m", "venv", VENV], check=True)
    if subprocess.run([py, "-c", "import pydantic_monty"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "pydantic-monty"], check=True)
    version = subprocess.run([py, "-c", "import pydantic_monty; print(pydantic_monty.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    proc = subprocess.Popen([py, "-c", MONTY, str(rounds), str(calls), LOOP], stdout=subprocess.PIPE, text=True)
    return version, proc


def stat(values):
    return f"{statistics.median(values):9.1f} ({min(values):.1f}-{max(values):.1f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--no-monty", action="store_true")
    args = ap.parse_args()
    policy = f'version = 1\n[python]\ninterpreter = "{PY}"\n[limits]\nwall-time = "120s"\ncpu-time = "120s"\n'
    fns = stockade.HostFunctions({"f": lambda i: i + 1}, max_calls=10**7)
    samples = {"stockade pool": [], "pydantic-monty": []}
    monty = None if args.no_monty else monty_rounds(args.rounds, args.calls)
    print(f"stockade from {os.path.dirname(stockade.__file__)}; {args.rounds} rounds x {args.calls} calls"
          + (f"; pydantic-monty {monty[0]}" if monty else ""), file=sys.stderr)
    with stockade.Pool(size=1, policy=policy) as pool:
        pool.run(LOOP.replace("N", "20"), functions=fns)
        for rnd in range(args.rounds):
            order = ["stockade", "monty"] if monty else ["stockade"]
            random.shuffle(order)
            for v in order:
                if v == "stockade":
                    r = pool.run(LOOP.replace("N", str(args.calls)), functions=fns)
                    if not r.ok:
                        sys.exit(f"stockade run failed: {r.status} {r.error}")
                    samples["stockade pool"].append(r.value)
                else:
                    samples["pydantic-monty"].append(json.loads(monty[1].stdout.readline()))
            print(f"round {rnd + 1}: " + ", ".join(f"{k} {v[-1]}" for k, v in samples.items() if v), file=sys.stderr)
    if monty:
        monty[1].wait()
    print(f"\n{'variant':<16}{'p50 µs':>26}{'p99 µs':>26}{'calls/s':>30}")
    for name, rows in samples.items():
        if rows:
            print(f"{name:<16}{stat([r[0] for r in rows]):>26}{stat([r[1] for r in rows]):>26}{stat([r[2] for r in rows]):>30}")


if __name__ == "__main__":
    main()
