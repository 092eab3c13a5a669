#!/usr/bin/env python3
"""Guard overhead: what the in-interpreter guard (native PEP 578 audit hook) costs.

Three measurements, all in ONE run, every variant interleaved (each round runs every variant
once, in a freshly shuffled order, so drift on a shared machine hits all variants alike):

  (a) start-up, trivial:      stockade run -c 'pass'              guard on vs --no-guard
  (b) start-up, import-heavy: stockade run -c 'import json, re, decimal, datetime,
                              collections, statistics'           guard on vs --no-guard
  (c) the hot events of issue 16, each in a loop timed INSIDE the jail with perf_counter_ns
      around the loop only (best of 3 passes): `compile('x = 1', ...)`, `exec(code)`,
      `open('/tmp/f', 'rb').close()` (a file in the scratch) and a re-import of an allowed
      module (`colorsys`, removed from sys.modules first), in three variants:
        native  - the native guard on, default policy (`rules.code = "audit"`: user code's
                  compile/exec are attributed and recorded)
        none    - --no-guard: no hook at all
        python  - --no-guard plus the same decisions written in Python with sys.addaudithook,
                  attribution included (sys._getframe(1), the dispatcher and trusted-prefix
                  tests, records counted as the native guard counts repeats; the import
                  allow/deny sets; for open the mode/flags test, normalisation, realpath under
                  writable prefixes and the read/write prefix match)
      overhead per event = median of the variant - median of `none`; the target is
      native overhead <= 0.2 x the Python hook's.

  (d) the library alone: bare `python3.11 -c pass` (no jail) with the guard preloaded and the
      jail's configuration, against the same without it.

(a), (b) and (d) are the wall time from os.posix_spawn to os.wait4, stdout on
/dev/null. Reported: median, p10, p90, IQR, and the ratio of medians guard/no-guard.

Plain Python 3, stdlib only:

    cargo build --release --workspace      # stockade AND libstockade_guard.so
    python3 bench/guard.py                 # 40 start-up rounds, 15 loop rounds
    python3 bench/guard.py --rounds 60 --loop-rounds 10 --json > out.json

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
IMPORTS = "import json, re, decimal, datetime, collections, statistics"

# The hot loops, run inside the jail: each of the four hot events of issue 16 in a loop timed
# with perf_counter_ns around the loop only (best of three passes, after a warm-up). HOOK is
# replaced by the Python hook for the `python` variant. Prints one JSON object: ns per iteration.
LOOP = r"""
import json, sys, time
HOOK
open('/tmp/f', 'wb').write(b'x')
src = 'x = 1'
code = compile(src, '<s>', 'exec')
g = {}
import colorsys
def reimport():
    del sys.modules['colorsys']
    import colorsys
loops = {
    'compile': (lambda: compile(src, '<s>', 'exec'), 20000),
    'exec': (lambda: exec(code, g), 200000),
    'open': (lambda: open('/tmp/f', 'rb').close(), 20000),
    'import': (reimport, 6000),
}
out = {}
for name, (fn, n) in loops.items():
    for _ in range(n // 10):
        fn()
    best = None
    for _ in range(3):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        t = (time.perf_counter_ns() - t0) / n
        best = t if best is None else min(best, t)
    out[name] = best
print(json.dumps(out))
"""
HOT = ("compile", "exec", "open", "import")

# The Python equivalent of what the native guard decides for these events under the default
# policy (decide.rs), attribution included:
# - compile/exec (`rules.code = "audit"`): the filename spoof test for compile, then who called
#   (sys._getframe(1): the frame that raised the event), a dispatcher test on (file, function)
#   and a trusted-prefix test on the file; user code's events are recorded, repeats counted and
#   written at powers of two, as repeats.rs does;
# - import: the longest dotted prefix in the allow and deny sets;
# - open: the write test by mode and flags, normalisation against the cwd (getcwd only for
#   relative paths), realpath for paths under a writable prefix, whole-component prefix match
#   on the read or write list; the module-file test of a `.py` path.
# READ/WRITE/TRUSTED/ALLOW/DENY are the default policy's lists as the jail expands them for this
# interpreter (filled in at run time).
PY_HOOK = r"""
import os as _os
def _install():
    import sys as _sys
    O_ACCMODE, O_RDONLY = _os.O_ACCMODE, _os.O_RDONLY
    WFLAGS = _os.O_CREAT | _os.O_TRUNC | _os.O_APPEND
    READ, WRITE, TRUSTED = READ_LIST, WRITE_LIST, TRUSTED_LIST
    ALLOW, DENY = set(ALLOW_LIST), set(DENY_LIST)
    DISPATCHERS = DISPATCHER_LIST
    getcwd, realpath, getframe = _os.getcwd, _os.path.realpath, _sys._getframe
    sink = _os.open(_os.devnull, _os.O_WRONLY)
    counts = {}
    def under(path, prefixes):
        for p in prefixes:
            if p == "/" or path == p or (path.startswith(p) and path[len(p):len(p) + 1] == "/"):
                return True
        return False
    def normalise(path):
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
    def trusted(f):
        c = f.f_code
        file, name = c.co_filename, c.co_name
        for suffix, func in DISPATCHERS:
            if (not func or func == name) and file.endswith(suffix):
                return False
        return file.startswith("<frozen ") or under(file, TRUSTED)
    def record(event, args):
        key = (event, tuple(a if isinstance(a, (str, int)) else type(a).__name__ for a in args))
        n = counts.get(key, 0) + 1
        counts[key] = n
        if n & (n - 1) == 0:
            _os.write(sink, repr((event, n)).encode() + b"\n")
    def longest(name, names):
        best = -1
        end = name.find(".")
        while True:
            cut = name if end < 0 else name[:end]
            if cut in names:
                best = len(cut)
            if end < 0:
                return best
            end = name.find(".", end + 1)
    def hook(event, args):
        if event == "exec" or event == "compile":
            if event == "compile":
                fname = args[1]
                if isinstance(fname, str) and (fname.startswith("<frozen") or under(fname, TRUSTED)):
                    return  # (the native guard then checks the import system's frames; not hot)
            if not trusted(getframe(1)):
                record(event, args)
        elif event == "import":
            a, d = longest(args[0], ALLOW), longest(args[0], DENY)
            if d >= 0 and d >= a or a < 0:
                raise PermissionError(f"stockade guard (python): import of {args[0]!r} is not allowed")
        elif event == "open":
            raw = args[0]
            if not isinstance(raw, str):
                return
            mode, flags = args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and ((flags & O_ACCMODE) != O_RDONLY or flags & WFLAGS))
            path = normalise(raw if raw.startswith("/") else getcwd() + "/" + raw)
            if under(path, WRITE) or "/.." in raw or "/./" in raw:
                # symlinks can be planted where code writes: resolve like the kernel (lib.rs real_path)
                path = realpath(path)
            if path.endswith(".py") and under(path, TRUSTED):
                pass  # a module's source: the native guard judges it as the import it is (allowed here)
            if not under(path, WRITE if writes else READ):
                raise PermissionError(f"stockade guard (python): opening {path!r} is not allowed")
    _sys.addaudithook(hook)
_install()
"""

# is_dispatcher's table in crates/stockade-guard/src/lib.rs (suffix, function; "" = any).
DISPATCHERS = [
    ("/concurrent/futures/thread.py", "run"), ("/concurrent/futures/_base.py", "_invoke_callbacks"),
    ("/threading.py", "run"), ("/asyncio/events.py", "_run"), ("/contextlib.py", "_exit_wrapper"),
    ("/contextlib.py", "__exit__"), ("/contextlib.py", "_invoke"), ("/sched.py", "run"),
    ("/weakref.py", "__call__"), ("/copy.py", "_reconstruct"), ("/copyreg.py", "__newobj__"),
    ("/copyreg.py", "__newobj_ex__"), ("/logging/__init__.py", "filter"), ("/unittest/case.py", "_callCleanup"),
    ("/unittest/case.py", "doCleanups"), ("/atexit.py", ""), ("/functools.py", "wrapper"),
    ("/functools.py", "_method"), ("/pickle.py", "load_reduce"), ("/pickle.py", "load_newobj"),
    ("/pickle.py", "load_build"),
]


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


def spawn_wait(argv: list[str], devnull: int, env: dict | None = None) -> tuple[int, int]:
    # stdout and fd 9 (the guard's report fd in variant (d)) go to /dev/null
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 9)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env or os.environ, file_actions=fa)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    return t1 - t0, status


def guard_config(stockade: str, python: str) -> dict:
    """The guard configuration the jail gives the default policy for this interpreter: asked
    from inside the jail (it is written at /etc/stockade/guard.json)."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write('version = 1\n[guard]\nmode = "audit"\n')  # same lists; lets the script read the config
    p = subprocess.run([stockade, "run", "--python", python, "--policy", f.name, "-c",
                        "print(open('/etc/stockade/guard.json').read())"],
                       capture_output=True, text=True, check=False, timeout=60)
    os.unlink(f.name)
    if p.returncode != 0:
        sys.exit(f"guard: could not read the guard config in the jail: {p.stderr.strip()[:300]}")
    return json.loads(p.stdout)


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
    cfg = guard_config(st, py)
    # (d): the library alone, preloaded into the bare interpreter outside any jail, with the
    # jail's configuration (minus the filter it would install at arm, a file of the jail's)
    import tempfile
    bare_cfg = {k: v for k, v in cfg.items() if k != "seccomp-on-arm"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bare_cfg, f)
        bare_cfg_path = f.name
    env_lib = dict(os.environ, LD_PRELOAD=lib, STOCKADE_GUARD_CONFIG=bare_cfg_path, STOCKADE_GUARD_FD="9")
    env_bare = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_GUARD") and k != "LD_PRELOAD"}
    envs = {"d: bare python -c pass, guard library": env_lib, "d: bare python -c pass": env_bare}
    startup["d: bare python -c pass, guard library"] = [py, "-c", "pass"]
    startup["d: bare python -c pass"] = [py, "-c", "pass"]
    py_hook = (PY_HOOK.replace("READ_LIST", repr(cfg["read"])).replace("WRITE_LIST", repr(cfg["write"]))
               .replace("TRUSTED_LIST", repr(cfg["trusted"])).replace("ALLOW_LIST", repr(cfg["import-allow"]))
               .replace("DENY_LIST", repr(cfg["import-deny"])).replace("DISPATCHER_LIST", repr(DISPATCHERS)))
    loop_plain = LOOP.replace("HOOK", "")
    loop_hooked = LOOP.replace("HOOK", py_hook)
    # The loops are long (the Python hook's most of all): room past the default 10 s limits on a
    # loaded machine, the same for every variant.
    limits = ["--timeout", "120s", "--cpu", "120s"]
    loops = {
        "native": [*base, *limits, "-c", loop_plain],
        "none": [*base, *limits, "--no-guard", "-c", loop_plain],
        "python": [*base, *limits, "--no-guard", "-c", loop_hooked],
    }
    for name, argv in {**startup, **loops}.items():
        p = subprocess.run(argv, capture_output=True, timeout=120, check=False, env=envs.get(name))
        if p.returncode != 0:
            sys.exit(f"guard: variant {name!r} failed (exit {p.returncode}): {p.stderr.decode()[-800:]}")

    rng = random.Random(args.seed)
    devnull = os.open(os.devnull, os.O_WRONLY)
    samples: dict[str, list[float]] = {k: [] for k in startup}
    for r in range(args.warmup + args.rounds):
        order = list(startup.items())
        rng.shuffle(order)
        for name, argv in order:
            ns, status = spawn_wait(argv, devnull, envs.get(name))
            if status != 0:
                sys.exit(f"guard: {name} failed in round {r} (status {status})")
            if r >= args.warmup:
                samples[name].append(ns / 1e6)
    # ns per iteration: loop_ns[variant][event] = samples
    loop_ns: dict[str, dict[str, list[float]]] = {k: {e: [] for e in HOT} for k in loops}
    for r in range(1 + args.loop_rounds):
        order = list(loops.items())
        rng.shuffle(order)
        for name, argv in order:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
            if p.returncode != 0:
                sys.exit(f"guard: loop {name} failed: {p.stderr[-500:]}")
            if r >= 1:
                for e, v in json.loads(p.stdout).items():
                    loop_ns[name][e].append(v)

    s = {k: stats(v) for k, v in samples.items()}
    l = {k: {e: stats(v) for e, v in per.items()} for k, per in loop_ns.items()}
    over = {k: {e: l[k][e]["median"] - l["none"][e]["median"] for e in HOT} for k in ("native", "python")}
    ratio = {e: over["native"][e] / over["python"][e] if over["python"][e] > 0 else float("nan") for e in HOT}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cpus, {platform.platform()}",
        "python": py,
        "rounds": args.rounds,
        "loop_rounds": args.loop_rounds,
        "startup_ms": s,
        "ratio_a": s["a: -c pass, guard"]["median"] / s["a: -c pass, --no-guard"]["median"],
        "ratio_b": s["b: imports, guard"]["median"] / s["b: imports, --no-guard"]["median"],
        "cold_cost_ms_a": s["a: -c pass, guard"]["median"] - s["a: -c pass, --no-guard"]["median"],
        "cold_cost_ms_d": s["d: bare python -c pass, guard library"]["median"] - s["d: bare python -c pass"]["median"],
        "loop_ns_per_iteration": l,
        "overhead_ns": over,
        "native_over_python": ratio,
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
        r = ""
        if k.endswith(", guard"):
            r = f"{result['ratio_a'] if k.startswith('a') else result['ratio_b']:.3f}x"
        elif k.endswith("guard library"):
            r = f"{v['median'] / s['d: bare python -c pass']['median']:.3f}x"
        print(f"| {k} | {v['median']:.2f} | {v['p10']:.2f} | {v['p90']:.2f} | {v['iqr']:.2f} | {r} |")
    print(f"\nguard's cold cost (a), in the jail: {result['cold_cost_ms_a']:+.2f} ms (target <= 0.5 ms); "
          f"(d), the library alone in a bare interpreter: {result['cold_cost_ms_d']:+.2f} ms")
    os.unlink(bare_cfg_path)
    print(f"\nhot events: {args.loop_rounds} interleaved rounds; ns per iteration inside the jail (median of "
          f"rounds, each the best of 3 passes); overhead = variant - none\n")
    print("| event | none ns | native ns (p10-p90) | python hook ns (p10-p90) | native overhead | python overhead "
          "| native / python |")
    print("|:--|--:|--:|--:|--:|--:|--:|")
    for e in HOT:
        n, nat, pyh = l["none"][e], l["native"][e], l["python"][e]
        print(f"| {e} | {n['median']:.0f} | {nat['median']:.0f} ({nat['p10']:.0f}-{nat['p90']:.0f}) "
              f"| {pyh['median']:.0f} ({pyh['p10']:.0f}-{pyh['p90']:.0f}) | {over['native'][e]:+.0f} "
              f"| {over['python'][e]:+.0f} | **{ratio[e]:.2f}** |")
    print("\ntarget: native / python <= 0.2 on each hot event")


if __name__ == "__main__":
    main()
