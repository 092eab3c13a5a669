#!/usr/bin/env python3
"""Static analysis speed: `stockade check` vs Bandit vs `ruff check --select S` on the CPython
standard library of this machine's python3.11 (site-packages excluded), plus the pre-screen of a
1,000-line snippet.

    cargo build --release -p stockade
    python3 bench/check.py                    # 7 interleaved rounds (Bandit takes ~90 s each)
    python3 bench/check.py --rounds 3 --json out.json

Bandit and ruff are installed from PyPI into target/bench-venv (created on first use).
Each round runs every tool once, in a shuffled order; the table gives median, min and max wall
time, the ratio of medians to stockade's, and how many findings each reported (Bandit and ruff
count differently; the number is there to show each did real work, not to compare).

Variants:
  stockade         stockade check --exit-zero --format json --isolated <stdlib>   (every rule, taint on)
  stockade-1cpu    the same pinned to one CPU (taskset -c 0)
  bandit           bandit -r -q -f json <stdlib>                (every plugin, its defaults)
  ruff-S           ruff check --select S --no-cache --exit-zero --output-format json <stdlib>
  prescreen-1000   stockade check --prescreen on a 1,000-line model-written snippet (process
                   start-up included; the in-process figure is printed by `cargo test -p
                   stockade-check --release --test prescreen -- --nocapture`)
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")


def stdlib_dir():
    out = subprocess.run(
        ["python3.11", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(os.path.join(VENV, "bin", "bandit")) or not os.path.exists(os.path.join(VENV, "bin", "ruff")):
        subprocess.run(["python3.11", "-m", "venv", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "bandit", "ruff"], check=True)
    versions = subprocess.run([py, "-m", "pip", "list", "--format", "json"], capture_output=True, text=True)
    pkgs = {p["name"].lower(): p["version"] for p in json.loads(versions.stdout)}
    return os.path.join(VENV, "bin"), pkgs.get("bandit"), pkgs.get("ruff")


def snippet(lines=1000):
    """A realistic model-written program, repeated to `lines` lines."""
    unit = '''
import json
import math
from dataclasses import dataclass, field


@dataclass
class Item{n}:
    name: str
    price: float
    tags: list = field(default_factory=list)

    def total(self, qty: int) -> float:
        return round(self.price * qty * (1 + 0.2), 2)


def summarise{n}(items):
    by_tag = {{}}
    for item in items:
        for tag in item.tags:
            by_tag.setdefault(tag, []).append(item.name)
    stats = {{"count": len(items), "mean": sum(i.price for i in items) / max(len(items), 1)}}
    stats["sd"] = math.sqrt(sum((i.price - stats["mean"]) ** 2 for i in items) / max(len(items), 1))
    return json.dumps({{"tags": by_tag, "stats": stats}}, sort_keys=True)
'''
    out, n = [], 0
    while sum(part.count("\n") for part in out) < lines:
        out.append(unit.format(n=n))
        n += 1
    text = "".join(out)
    return "\n".join(text.splitlines()[:lines]) + "\n"


def count_findings(name, stdout):
    try:
        doc = json.loads(stdout)
    except ValueError:
        return None
    if name == "bandit":
        return len(doc.get("results", []))
    return len(doc) if isinstance(doc, list) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--stockade", default=os.path.join(ROOT, "target", "release", "stockade"))
    ap.add_argument("--skip-bandit", action="store_true", help="Bandit takes ~90 s per round")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    lib = stdlib_dir()
    bindir, bandit_version, ruff_version = ensure_venv()
    files = sum(1 for d, _, fs in os.walk(lib) if "site-packages" not in d for f in fs if f.endswith(".py"))
    work = tempfile.mkdtemp(prefix="stockade-bench-")
    # A copy without site-packages, so every tool sees the same files with its own defaults.
    src = os.path.join(work, "Lib")
    shutil.copytree(lib, src, ignore=shutil.ignore_patterns("site-packages", "__pycache__"))
    snippet_path = os.path.join(work, "snippet.py")
    with open(snippet_path, "w") as f:
        f.write(snippet())

    variants = {
        "stockade": [args.stockade, "check", "--exit-zero", "--format", "json", "--isolated", src],
        "stockade-1cpu": ["taskset", "-c", "0", args.stockade, "check", "--exit-zero", "--format", "json",
                          "--isolated", src],
        "ruff-S": [os.path.join(bindir, "ruff"), "check", "--select", "S", "--no-cache", "--exit-zero",
                   "--output-format", "json", "--isolated", src],
        "prescreen-1000": [args.stockade, "check", "--prescreen", "--exit-zero", "--isolated", snippet_path],
    }
    if not args.skip_bandit:
        variants["bandit"] = [os.path.join(bindir, "bandit"), "-r", "-q", "-f", "json", src]

    samples = {name: [] for name in variants}
    findings = {}
    for name, cmd in variants.items():  # warm the page cache once
        out = subprocess.run(cmd, capture_output=True, text=True)
        findings[name] = count_findings(name, out.stdout)
    for r in range(args.rounds):
        order = list(variants)
        random.shuffle(order)
        for name in order:
            t0 = time.perf_counter()
            subprocess.run(variants[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append(time.perf_counter() - t0)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    anchor = statistics.median(samples["stockade"])
    print(f"CPython {sysconfig.get_python_version()} stdlib: {files} files; {os.cpu_count()} CPUs; "
          f"{args.rounds} interleaved rounds; bandit {bandit_version}, ruff {ruff_version}")
    print(f"{'variant':<16} {'median':>9} {'min':>9} {'max':>9} {'÷ stockade':>11} {'findings':>9}")
    for name in variants:
        s = samples[name]
        med = statistics.median(s)
        print(f"{name:<16} {med:9.3f} {min(s):9.3f} {max(s):9.3f} {med / anchor:11.1f} "
              f"{findings.get(name) if findings.get(name) is not None else '-':>9}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"files": files, "samples": samples, "findings": findings}, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
