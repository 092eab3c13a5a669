#!/usr/bin/env python3
"""What a fresh process per run costs on this machine, before any jail: the floor under
stockade.Pool's latency and throughput targets.

    python3 bench/fork_floor.py            # /usr/bin/python3.11 by default
    python3 bench/fork_floor.py --rounds 400

Measures, in one run, interleaved:
  cow-fault     a forked child writes one byte in each of 4,000 pages it shares with its parent
                (one copy-on-write fault each); per-page cost
  zero-fault    the same on fresh anonymous pages (one zero-fill fault each); per-page cost
  fork-exit     fork() of a warmed python3.11 (gc.freeze'd) and the child's immediate os._exit,
                reaped by the parent: wall time, the child's page faults
  fork-run      the same child decodes a JSON request, compiles and runs print(sum(range(10)))
                into a StringIO and encodes an answer: wall time, faults, CPU per run; then the
                CPU of parent and child together per cycle, and the runs/s that allows on 2 cores
Each fork variant runs in a child interpreter (the pool's interpreter) so the numbers are those
of the same binary the pool uses.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

PY = "/usr/bin/python3.11" if os.path.exists("/usr/bin/python3.11") else sys.executable

PROBE = r"""
import gc, io, json, mmap, os, resource, sys, time
rounds = int(sys.argv[1])
PAGES, PAGE = 4000, mmap.PAGESIZE

def touch(buf):
    for i in range(0, PAGES * PAGE, PAGE):
        buf[i] = 1

def cow():
    buf = mmap.mmap(-1, PAGES * PAGE)
    touch(buf)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        t = time.perf_counter_ns()
        touch(buf)
        os.write(w, str(time.perf_counter_ns() - t).encode())
        os._exit(0)
    os.close(w)
    ns = int(os.read(r, 64))
    os.close(r)
    os.waitpid(pid, 0)
    buf.close()
    return ns / PAGES / 1000

def zero():
    buf = mmap.mmap(-1, PAGES * PAGE)
    t = time.perf_counter_ns()
    touch(buf)
    us = (time.perf_counter_ns() - t) / PAGES / 1000
    buf.close()
    return us

def run():
    req = json.loads('{"code": "print(sum(range(10)))"}')
    out = io.StringIO()
    sys.stdout = out
    exec(compile(req["code"], "<run>", "exec"), {"__name__": "__main__"})
    sys.stdout = sys.__stdout__
    return json.dumps({"ok": True, "stdout": out.getvalue()})

for _ in range(10):
    run()
gc.collect()
gc.freeze()

def forked(work):
    t = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        if work:
            run()
        os._exit(0)
    _, _, ru = os.wait4(pid, 0)
    return (time.perf_counter_ns() - t) / 1000, ru.ru_minflt, (ru.ru_utime + ru.ru_stime) * 1e6

out = {"cow-fault": [], "zero-fault": [], "fork-exit": [], "fork-run": []}
for i in range(rounds):
    if i % 20 == 0:
        out["cow-fault"].append(cow())
        out["zero-fault"].append(zero())
    out["fork-exit"].append(forked(False))
    out["fork-run"].append(forked(True))
# Parent and child CPU together, over a block of fork-run cycles (the parent pays for fork()'s
# page-table copy and the reaping).
def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
c0 = cpu()
for _ in range(rounds):
    forked(True)
out["cycle-cpu-us"] = (cpu() - c0) / rounds * 1e6
rss = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmRSS")][0]
print(json.dumps({"samples": out, "rss_kib": int(rss)}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    res = subprocess.run([PY, "-s", "-S", "-c", PROBE, str(args.rounds)], capture_output=True, text=True, check=True)
    data = json.loads(res.stdout)
    s = data["samples"]
    med = statistics.median
    print(f"# bench/fork_floor.py  {PY}  parent RSS {data['rss_kib'] / 1024:.1f} MiB  {os.cpu_count()} cores")
    print(f"copy-on-write fault: {med(s['cow-fault']):.2f} us per page (min {min(s['cow-fault']):.2f})")
    print(f"zero-fill fault:     {med(s['zero-fault']):.2f} us per page (min {min(s['zero-fault']):.2f})")
    for name in ("fork-exit", "fork-run"):
        wall = [x[0] for x in s[name]]
        faults = [x[1] for x in s[name]]
        cpu = [x[2] for x in s[name]]
        print(f"{name:10s} wall p50 {med(wall) / 1000:.2f} ms (p10 {sorted(wall)[len(wall) // 10] / 1000:.2f}), "
              f"child faults p50 {med(faults):.0f}, child CPU mean {statistics.mean(cpu) / 1000:.2f} ms")
    cycle = s["cycle-cpu-us"] / 1000
    print(f"fork + run + exit + reap: {cycle:.2f} ms CPU per run, parent and child together => at most "
          f"{2000 / cycle:.0f} trivial runs/s on 2 cores with a fresh process per run, before any jail, "
          f"protocol or caller")


if __name__ == "__main__":
    main()
