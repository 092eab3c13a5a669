#!/usr/bin/env python3
"""Guard overhead: what the in-interpreter guard (native PEP 578 audit hook) costs.

Three measurements, all in ONE run, every variant interleaved (each round runs every variant
once, in a freshly shuffled order, so drift on a shared machine hits all variants alike):

  (a) start-up, trivial:      stockade run -c 'pass'              guard on vs --no-guard
  (b) start-up, import-heavy: stockade run -c 'import json, re, decimal, datetime,
                              collections, statistics'           guard on vs --no-guard
  (c) hot loop: 100,000 audited calls, `open('/tmp/f', 'rb').close()`, timed INSIDE the jail
      with perf_counter_ns around the loop only, in three variants:
        native  - the native guard on (default policy: `open` is checked against
                  guard.files.read; /tmp is writable, so the path is realpath-resolved)
        none    - --no-guard: no hook at all
        python  - --no-guard plus the same decision written in Python with sys.addaudithook
                  (dict lookup of the event, mode/flags test, normalise against the cwd,
                  realpath under writable prefixes, whole-component prefix check against
                  the same read/write lists)
      per-call overhead = (median loop time of the variant - median of `none`) / 100,000.

(a) and (b) are the wall time from os.posix_spawn to os.wait4 of `stockade run`, stdout on
/dev/null. Reported: median, p10, p90, IQR, and the ratio of medians guard/no-guard.

Plain Python 3, stdlib only:

    cargo build --release --workspace      # stockade AND libstockade_guard.so
    python3 bench/guard.py                 # 40 start-up rounds, 15 loop rounds
    python3 bench/guard.py --rounds 60 --loop-rounds 20 --json > out.json

See bench/README.md, "Guard overhead".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEBIAN_PY = "/usr/bin/python3.11"
N_CALLS = 100_000
IMPORTS = "import json, re, decimal, datetime, collections, statistics"

# The loop, run inside the jail. HOOK is replaced by the Python hook for the `python` variant.
LOOP = r"""
import sys, time
HOOK
with open('/tmp/f', 'wb') as f:
    f.write(b'x')
for _ in range(2000):                       # warm up
    open('/tmp/f', 'rb').close()
t0 = time.perf_counter_ns()
for _ in range(N):
    open('/tmp/f', 'rb').close()
t1 = time.perf_counter_ns()
print(t1 - t0)
"""

# The Python equivalent of what the native guard decides for `open` (decide.rs, Handling::Open):
# the event table lookup, the write test by mode and flags, normalisation against the cwd
# (getcwd only for relative paths), realpath for paths under a writable prefix, and a whole-component prefix match on the read or write list. READ/WRITE are the default
# policy's lists as the jail expands them for this interpreter (filled in at run time).
PY_HOOK = r"""
import os as _os
def _install():
    O_ACCMODE, O_RDONLY = _os.O_ACCMODE, _os.O_RDONLY
    WFLAGS = _os.O_CREAT | _os.O_TRUNC | _os.O_APPEND
    READ = READ_LIST
    WRITE = WRITE_LIST
    # event -> handling, as in events.rs (only the handlings this loop can meet matter)
    EVENTS = {"open": 1, "os.listdir": 2, "os.scandir": 2, "os.remove": 3, "os.mkdir": 3,
              "compile": 0, "exec": 0, "import": 0, "os.system": 4, "subprocess.Popen": 4}
    getcwd = _os.getcwd
    realpath = _os.path.realpath
    def under(path, prefixes):
        for p in prefixes:
            if p == "/" or path == p or (path.startswith(p) and path[len(p):len(p) + 1] == "/"):
                return True
        return False
    def normalise(path, cwd):
        if not path.startswith("/"):
            path = cwd + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "" or part == ".":
                continue
            if part == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(part)
        return "/" + "/".join(parts)
    def hook(event, args):
        h = EVENTS.get(event)
        if h != 1:
            return
        raw = args[0]
        if not isinstance(raw, str):
            return
        mode, flags = args[1], args[2]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and ((flags & O_ACCMODE) != O_RDONLY or flags & WFLAGS))
        path = normalise(raw if raw.startswith("/") else getcwd() + "/" + raw, "/")
        if under(path, WRITE) or "/.." in raw or "/./" in raw:
            # symlinks can be planted where code writes: resolve like the kernel (lib.rs real_path)
            path = realpath(path)
        if not under(path, WRITE if writes else READ):
            raise PermissionError(f"stockade guard (python): opening {path!r} is not allowed")
    import sys as _sys
    _sys.addaudithook(hook)
_install()
"""


def warn(msg: str) -> None:
    print(f"guard: {msg}", file=sys.stderr, flush=True)


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def stats(xs: list[float]) -> dict:
    return {
        "n": len(xs),
        "median": percentile(xs, 0.5),
        "p10": percentile(xs, 0.1),
        "p90": percentile(xs, 0.9),
        "iqr": percentile(xs, 0.75) - percentile(xs, 0.25),
    }


def spawn_wait(argv: list[str], devnull: int) -> tuple[int, int]:
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    return t1 - t0, status


def default_lists(stockade: str, python: str) -> tuple[list[str], list[str]]:
    """The read/write lists the jail gives the guard for the default policy: asked from inside
    the jail (the guard config is written at /etc/stockade/guard.json)."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write('version = 1\n[guard]\nmode = "audit"\n')  # same lists; lets the script read the config
    p = subprocess.run([stockade, "run", "--python", python, "--policy", f.name, "-c",
                        "import json; c = json.load(open('/etc/stockade/guard.json')); "
                        "print(json.dumps([c['read'], c['write']]))"],
                       capture_output=True, text=True, check=False, timeout=60)
    os.unlink(f.name)
    if p.returncode == 0:
        read, write = json.loads(p.stdout)
        return read, write
    warn(f"could not read the guard config in the jail ({p.stderr.strip()[:200]}); using a fixed list")
    return (["/tmp", "/usr/lib/python3.11", "/dev/null", "/dev/urandom"], ["/tmp", "/dev/null"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=40, help="interleaved rounds for (a) and (b)")
    ap.add_argument("--loop-rounds", type=int, default=15, help="interleaved rounds for (c)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stockade", default=os.path.join(REPO, "target/release/stockade"))
    ap.add_argument("--python", default=DEBIAN_PY, help="interpreter for the jail (default: Debian's)")
    ap.add_argument("--json", action="store_true", help="one JSON document instead of tables")
    args = ap.parse_args()

    st, py = args.stockade, args.python
    if not os.access(st, os.X_OK):
        sys.exit(f"guard: {st} not found; build with `cargo build --release --workspace`")
    lib = os.path.join(os.path.dirname(st), "libstockade_guard.so")
    if not os.path.isfile(lib):
        sys.exit(f"guard: {lib} not found; build with `cargo build --release --workspace`")
    base = [st, "run", "--python", py]

    # Sanity: the guard is really on in the `native` variants and off in the others.
    p = subprocess.run([*base, "--json", "-c", "import subprocess"], capture_output=True, text=True, timeout=60)
    doc = json.loads(p.stdout)
    layer = next((l for l in doc["isolation"]["layers"] if l["name"] == "guard"), None)
    if not (layer and layer["active"] and doc["violations"]):
        sys.exit(f"guard: the guard is not active in `stockade run` ({layer}); nothing to measure")
    p = subprocess.run([*base, "--no-guard", "-c", "import subprocess"], capture_output=True, timeout=60)
    if p.returncode != 0:
        sys.exit("guard: --no-guard still denied `import subprocess`")

    startup = {
        "a: -c pass, guard": [*base, "-c", "pass"],
        "a: -c pass, --no-guard": [*base, "--no-guard", "-c", "pass"],
        "b: imports, guard": [*base, "-c", IMPORTS],
        "b: imports, --no-guard": [*base, "--no-guard", "-c", IMPORTS],
    }
    read, write = default_lists(st, py)
    py_hook = PY_HOOK.replace("READ_LIST", repr(read)).replace("WRITE_LIST", repr(write))
    loop_plain = LOOP.replace("HOOK", "").replace("range(N)", f"range({N_CALLS})")
    loop_hooked = LOOP.replace("HOOK", py_hook).replace("range(N)", f"range({N_CALLS})")
    loops = {
        "native": [*base, "-c", loop_plain],
        "none": [*base, "--no-guard", "-c", loop_plain],
        "python": [*base, "--no-guard", "-c", loop_hooked],
    }
    for name, argv in {**startup, **loops}.items():
        p = subprocess.run(argv, capture_output=True, timeout=120, check=False)
        if p.returncode != 0:
            sys.exit(f"guard: variant {name!r} failed (exit {p.returncode}): {p.stderr.decode()[-800:]}")

    rng = random.Random(args.seed)
    devnull = os.open(os.devnull, os.O_WRONLY)
    samples: dict[str, list[float]] = {k: [] for k in startup}
    for r in range(args.warmup + args.rounds):
        order = list(startup.items())
        rng.shuffle(order)
        for name, argv in order:
            ns, status = spawn_wait(argv, devnull)
            if status != 0:
                sys.exit(f"guard: {name} failed in round {r} (status {status})")
            if r >= args.warmup:
                samples[name].append(ns / 1e6)
    loop_ns: dict[str, list[float]] = {k: [] for k in loops}
    for r in range(1 + args.loop_rounds):
        order = list(loops.items())
        rng.shuffle(order)
        for name, argv in order:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
            if p.returncode != 0:
                sys.exit(f"guard: loop {name} failed: {p.stderr[-500:]}")
            if r >= 1:
                loop_ns[name].append(float(p.stdout.strip()))

    s = {k: stats(v) for k, v in samples.items()}
    l = {k: stats([x / N_CALLS / 1e3 for x in v]) for k, v in loop_ns.items()}  # µs per call
    over = {k: l[k]["median"] - l["none"]["median"] for k in ("native", "python")}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cpus, {platform.platform()}",
        "python": py,
        "rounds": args.rounds,
        "loop_rounds": args.loop_rounds,
        "calls": N_CALLS,
        "startup_ms": s,
        "ratio_a": s["a: -c pass, guard"]["median"] / s["a: -c pass, --no-guard"]["median"],
        "ratio_b": s["b: imports, guard"]["median"] / s["b: imports, --no-guard"]["median"],
        "loop_us_per_call": l,
        "overhead_us_per_call": over,
        "native_over_python": over["native"] / over["python"] if over["python"] > 0 else float("nan"),
        "samples_ms": samples,
        "loop_samples_ns": loop_ns,
    }
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        return
    print(f"{result['date']}, {result['machine']}, python {py}")
    print(f"start-up: {args.rounds} interleaved rounds (+{args.warmup} warm-up); wall ms of `stockade run`\n")
    print("| variant | median ms | p10 | p90 | IQR | guard / no-guard |")
    print("|:--|--:|--:|--:|--:|--:|")
    for k, v in s.items():
        ratio = ""
        if k.endswith(", guard"):
            ratio = f"{result['ratio_a'] if k.startswith('a') else result['ratio_b']:.3f}x"
        print(f"| {k} | {v['median']:.2f} | {v['p10']:.2f} | {v['p90']:.2f} | {v['iqr']:.2f} | {ratio} |")
    print(f"\nhot loop: {N_CALLS:,} x open('/tmp/f','rb').close(), {args.loop_rounds} interleaved rounds; "
          f"µs per iteration inside the jail\n")
    print("| variant | median µs/call | p10 | p90 | IQR | overhead µs/call |")
    print("|:--|--:|--:|--:|--:|--:|")
    for k, v in l.items():
        o = f"{over[k]:+.3f}" if k in over else "—"
        print(f"| {k} | {v['median']:.3f} | {v['p10']:.3f} | {v['p90']:.3f} | {v['iqr']:.3f} | {o} |")
    print(f"\nnative / python hook overhead: {result['native_over_python']:.3f} "
          f"(target ≤ 0.2); start-up overhead (a) {100 * (result['ratio_a'] - 1):+.1f}%, "
          f"(b) {100 * (result['ratio_b'] - 1):+.1f}% (target ≤ 3%)")


if __name__ == "__main__":
    main()
