#!/usr/bin/env python3
"""Cold-start benchmark: how long does it take to spawn, run and reap a trivial Python
program bare, in bubblewrap, in plain unshare, and in stockade?

Every variant runs `... -c 'print(sum(range(10)))'`. Variants are measured INTERLEAVED: each
round runs every variant once, in a freshly shuffled order, so drift on a shared machine
(other builds, thermal, page cache) hits all variants alike. Each sample is the wall time of
os.posix_spawn() .. os.wait4() measured with time.perf_counter_ns(); stdout goes to /dev/null.
The same code path spawns every variant, so the harness's own overhead is equal across them.

Plain Python 3, stdlib only. Run from anywhere:

    python3 bench/cold_start.py                 # 60 rounds, table on stdout
    python3 bench/cold_start.py --rounds 100
    python3 bench/cold_start.py --json > out.json
    python3 bench/cold_start.py --only stockade --rounds 20

See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = "print(sum(range(10)))"
EXPECTED = b"45\n"
DEBIAN_PY = "/usr/bin/python3.11"
ANCHOR = "python3.11 -c (debian)"


@dataclass
class Variant:
    name: str
    argv: list[str]
    note: str
    env: dict | None = None  # environment overrides
    samples_ns: list[int] = field(default_factory=list)
    cpu_us: list[int] = field(default_factory=list)  # user+sys of the whole process tree


def resolve_default_python() -> str | None:
    """The `python3` of PATH, resolved to the real binary (pyenv shims are shell scripts that
    cost ~30 ms of bash each; resolve once, the way `stockade run` without --python does)."""
    found = shutil.which("python3")
    if not found:
        return None
    real = os.path.realpath(found)
    with open(real, "rb") as f:
        elf = f.read(4) == b"\x7fELF"
    if elf:
        return real
    # A shim/script: ask the interpreter it runs where it really is.
    out = subprocess.run([found, "-c", "import sys,os; print(os.path.realpath(sys.executable))"],
                         capture_output=True, text=True, check=False)
    path = out.stdout.strip()
    return path if out.returncode == 0 and os.path.isfile(path) else None


def ensure_bwrap(install: bool) -> str | None:
    path = shutil.which("bwrap")
    if path:
        return path
    if not install:
        return None
    if os.geteuid() != 0:
        warn("bwrap (bubblewrap) not found and not root: install it with `sudo apt-get install -y bubblewrap`")
        return None
    warn("bwrap not found; installing bubblewrap with apt-get (pass --no-install to skip)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "bubblewrap"]
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=False)
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
    return shutil.which("bwrap")


def warn(msg: str) -> None:
    print(f"cold_start: {msg}", file=sys.stderr, flush=True)


def build_variants(args) -> list[Variant]:
    v: list[Variant] = []
    c = ["-c", CODE]
    if not os.access(DEBIAN_PY, os.X_OK):
        sys.exit(f"cold_start: the anchor {DEBIAN_PY} is missing (apt-get install -y python3.11)")
    v.append(Variant(ANCHOR, [DEBIAN_PY, *c], "Debian /usr/bin/python3.11, site on: the anchor"))
    v.append(Variant("python3.11 -I -S -c (debian)", [DEBIAN_PY, "-I", "-S", *c], "no site, isolated mode"))
    default_py = args.default_python or resolve_default_python()
    if default_py and os.path.realpath(default_py) != os.path.realpath(DEBIAN_PY):
        v.append(Variant("python3 -c (PATH default)", [default_py, *c], f"{default_py}, site on"))
        v.append(Variant("python3 -I -S -c (PATH default)", [default_py, "-I", "-S", *c], f"{default_py}, no site"))
    elif not default_py:
        warn("no python3 on PATH; skipping the PATH-default variants")

    bwrap = ensure_bwrap(not args.no_install)
    if bwrap:
        v.append(Variant("bwrap --unshare-all", [
            bwrap, "--unshare-all", "--die-with-parent",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            DEBIAN_PY, *c], "bubblewrap, all namespaces, /usr ro, debian python3.11"))
    else:
        warn("SKIPPING bwrap: not installed (apt-get install -y bubblewrap)")

    unshare = shutil.which("unshare")
    if unshare:
        v.append(Variant("unshare (6 namespaces)", [
            unshare, "--user", "--map-root-user", "--mount", "--pid", "--fork", "--net", "--ipc", "--uts",
            DEBIAN_PY, *c], "util-linux unshare: user+mnt+pid+net+ipc+uts, no root change"))

    stockade = args.stockade
    if not os.access(stockade, os.X_OK):
        sys.exit(f"cold_start: {stockade} not found; build it with `cargo build --release -p stockade` "
                 f"(or pass --stockade PATH)")
    off = {"STOCKADE_HELPER": "off"}
    v.append(Variant("stockade --python debian", [stockade, "run", "--python", DEBIAN_PY, *c],
                     "release build, default policy, every layer on", env=off))
    v.append(Variant("stockade (default python)", [stockade, "run", *c],
                     "release build, default policy, interpreter = python3 of PATH", env=off))
    if args.helper_socket:
        v.append(Variant("stockade --python debian, helper", [stockade, "run", "--python", DEBIAN_PY, *c],
                         "the same, in a jail `stockade helper` built ahead",
                         env={"STOCKADE_HELPER": args.helper_socket}))
    if args.only:
        v = [x for x in v if any(o.lower() in x.name.lower() for o in args.only) or x.name == ANCHOR]
    return v


def spawn_wait(argv: list[str], devnull: int, overrides: dict | None = None) -> tuple[int, int, int]:
    """Spawn argv with stdout on /dev/null; return (elapsed ns, wait status, child cpu us)."""
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
    env = {**os.environ, **overrides} if overrides else os.environ
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    cpu = int((ru.ru_utime + ru.ru_stime) * 1e6)
    return t1 - t0, status, cpu


def check_outputs(variants: list[Variant]) -> None:
    bad = []
    for v in variants:
        env = {**os.environ, **v.env} if v.env else None
        p = subprocess.run(v.argv, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=60, env=env)
        if p.returncode != 0 or p.stdout != EXPECTED:
            bad.append(f"  {v.name}: exit {p.returncode}, stdout {p.stdout!r} (want {EXPECTED!r}), "
                       f"stderr {p.stderr.decode(errors='replace').strip()[:500]!r}\n    argv: {v.argv}")
    if bad:
        print("cold_start: FAILED the output check (each variant must print 45):", file=sys.stderr)
        print("\n".join(bad), file=sys.stderr)
        sys.exit(1)


def percentile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_xs:
        return float("nan")
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarise(v: Variant) -> dict:
    ms = sorted(x / 1e6 for x in v.samples_ns)
    cpu = sorted(x / 1e3 for x in v.cpu_us)
    return {
        "variant": v.name,
        "argv": v.argv,
        "note": v.note,
        "n": len(ms),
        "median_ms": percentile(ms, 0.5),
        "p10_ms": percentile(ms, 0.1),
        "p25_ms": percentile(ms, 0.25),
        "p75_ms": percentile(ms, 0.75),
        "p90_ms": percentile(ms, 0.9),
        "iqr_ms": percentile(ms, 0.75) - percentile(ms, 0.25),
        "min_ms": ms[0] if ms else float("nan"),
        "max_ms": ms[-1] if ms else float("nan"),
        "cpu_median_ms": percentile(cpu, 0.5),
    }


def render_table(rows: list[dict]) -> str:
    anchor = next(r for r in rows if r["variant"] == ANCHOR)["median_ms"]
    head = ["variant", "median ms", "p10", "p90", "IQR", "x anchor", "+ms", "cpu ms"]
    body = []
    for r in rows:
        body.append([
            r["variant"], f"{r['median_ms']:.2f}", f"{r['p10_ms']:.2f}", f"{r['p90_ms']:.2f}",
            f"{r['iqr_ms']:.2f}", f"{r['median_ms'] / anchor:.2f}x", f"{r['median_ms'] - anchor:+.2f}",
            f"{r['cpu_median_ms']:.1f}",
        ])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": model,
            "python_harness": sys.version.split()[0], "euid": os.geteuid()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=60, help="measured rounds (each runs every variant once; default 60)")
    ap.add_argument("--warmup", type=int, default=3, help="discarded rounds first (default 3)")
    ap.add_argument("--seed", type=int, default=None, help="shuffle seed (default: random)")
    ap.add_argument("--json", action="store_true", help="print JSON (summary + raw samples) instead of the table")
    ap.add_argument("--stockade", default=os.path.join(REPO, "target", "release", "stockade"), help="stockade binary")
    ap.add_argument("--default-python", help="the PATH-default interpreter (default: python3 of PATH, shims resolved)")
    ap.add_argument("--only", action="append", help="only variants whose name contains this (repeatable; anchor always kept)")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install bubblewrap if missing")
    ap.add_argument("--no-helper", action="store_true", help="skip the `stockade helper` variant")
    ap.add_argument("--settle-ms", type=float, default=50,
                    help="pause after every sample, untimed, so work a run leaves behind (the helper building "
                         "its next jail) never overlaps the next sample (default 50; 0 for none)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")

    helper = None
    args.helper_socket = None
    if not args.no_helper and os.access(args.stockade, os.X_OK):
        helper, args.helper_socket = start_helper(args.stockade)
    try:
        run(args)
    finally:
        if helper:
            helper.terminate()
            helper.wait(timeout=10)


def start_helper(stockade: str):
    """`stockade helper` for the Debian interpreter's default policy, on a socket of its own."""
    import tempfile
    sock = os.path.join(tempfile.mkdtemp(prefix="stockade-bench-"), "helper.sock")
    proc = subprocess.Popen([stockade, "helper", "--python", DEBIAN_PY, "--socket", sock],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(sock):
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit("cold_start: `stockade helper` did not start")
        time.sleep(0.02)
    return proc, sock


def tree_cpu_ticks(pid: int) -> int:
    """utime+stime of pid and its reaped children (the helper's per-jail supervisors)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def run(args) -> None:
    variants = build_variants(args)
    check_outputs(variants)  # also warms the stockade manifest cache and the page cache
    helper_pid = None
    if args.helper_socket:
        out = subprocess.run(["pgrep", "-f", f"helper --python {DEBIAN_PY} --socket {args.helper_socket}"],
                             capture_output=True, text=True, check=False).stdout.split()
        helper_pid = int(out[0]) if out else None
    helper_ticks0 = tree_cpu_ticks(helper_pid) if helper_pid else 0
    rng = random.Random(args.seed)
    devnull = os.open(os.devnull, os.O_WRONLY)
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    t_start = time.monotonic()
    for rnd in range(args.warmup + args.rounds):
        order = list(variants)
        rng.shuffle(order)
        for v in order:
            ns, status, cpu = spawn_wait(v.argv, devnull, v.env)
            if args.settle_ms:
                # Outside the timed path: what a run leaves running (the helper building its
                # next jail) must not land in the next variant's sample.
                time.sleep(args.settle_ms / 1000)
            if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
                sys.exit(f"cold_start: {v.name} failed in round {rnd} (wait status {status:#x})")
            if rnd >= args.warmup:
                v.samples_ns.append(ns)
                v.cpu_us.append(cpu)
        if not args.json and (rnd + 1) % 20 == 0:
            print(f"  round {rnd + 1}/{args.warmup + args.rounds}", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - t_start
    os.close(devnull)
    helper_cpu_ms = None
    if helper_pid:
        time.sleep(0.5)  # the last jail's supervisor is reaped within the helper's 1 s poll
        runs = args.warmup + args.rounds + 1
        helper_cpu_ms = (tree_cpu_ticks(helper_pid) - helper_ticks0) * 1000 / os.sysconf("SC_CLK_TCK") / runs

    rows = [summarise(v) for v in variants]
    anchor = next(r for r in rows if r["variant"] == ANCHOR)["median_ms"]
    for r in rows:
        r["ratio_vs_anchor"] = r["median_ms"] / anchor
    meta = {"date": started, "rounds": args.rounds, "warmup": args.warmup, "seed": args.seed,
            "settle_ms": args.settle_ms,
            "code": CODE, "anchor": ANCHOR, "duration_s": round(elapsed, 1), "machine": machine(),
            "helper_cpu_ms_per_run": helper_cpu_ms}
    if args.json:
        json.dump({"meta": meta, "results": rows,
                   "samples_ms": {v.name: [x / 1e6 for x in v.samples_ns] for v in variants}}, sys.stdout, indent=1)
        print()
        return
    m = meta["machine"]
    print(f"cold start, {args.rounds} interleaved rounds (+{args.warmup} warm-up), {started}, "
          f"{m['cpus']} cpus ({m['cpu_model']}), kernel {m['kernel']}, {elapsed:.0f} s")
    print(f"program: -c {CODE!r}; ratio = median / median of '{ANCHOR}'; cpu = median user+sys of the tree")
    print()
    print(render_table(rows))
    if helper_cpu_ms is not None:
        print(f"\nthe helper variant's cpu column is the client's; building each jail ahead took "
              f"{helper_cpu_ms:.1f} ms of cpu in the helper's supervisors (mean per run, outside the timed path)")


if __name__ == "__main__":
    main()
