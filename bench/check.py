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

Recall (`--recall`): the documented server-side vulnerabilities of five deliberately vulnerable
Python web apps (pinned commits; the ground truth is RECALL_APPS below: each vulnerability with the
lines a finding may sit on), checked by stockade, Bandit and ruff `S` with their defaults; a
vulnerability counts as found by a tool when one of its findings covers one of those lines.

    python3 bench/check.py --recall                         # clones the apps into target/bench-recall
    python3 bench/check.py --recall --apps /path/to/copies  # <owner>+<name> directories already there

Variants:
  stockade         stockade check --exit-zero --format json --isolated <stdlib>   (every rule, taint on)
  stockade-1cpu    the same pinned to one CPU (taskset -c 0)
  stockade-before  another stockade binary (--before BIN), the same command: a before/after pair
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


# Deliberately vulnerable apps: (owner/name, commit, [(id, CWE, description, {file: [lines]})]).
# Only server-side flaws a static reader of Python can see are listed (injection, unsafe
# deserialisation, secrets, crypto and configuration); XSS in templates, CSRF, clickjacking, DoS and
# authorisation logic are left out for all three tools. Lines are where the flaw is: the sink call,
# and for a sink in a shared helper, also the view's call into it.
RECALL_APPS = [
    ("stamparm/DSVW", "2e9706c", [
        ("sqli-blind", "CWE-89", "id parameter concatenated into SELECT", {"dsvw.py": [30]}),
        ("pickle", "CWE-502", "pickle.loads of the object parameter", {"dsvw.py": [35]}),
        ("path-traversal-ssrf", "CWE-22/918", "path parameter opened or fetched", {"dsvw.py": [37]}),
        ("cmdi", "CWE-78", "domain parameter into nslookup with shell=True", {"dsvw.py": [39]}),
        ("xxe", "CWE-611", "lxml parser with load_dtd/resolve_entities on the xml parameter", {"dsvw.py": [41]}),
        ("xpath", "CWE-643", "name parameter formatted into an XPath query", {"dsvw.py": [43]}),
        ("sqli-stored", "CWE-89", "comment parameter formatted into INSERT", {"dsvw.py": [50]}),
        ("file-inclusion", "CWE-98", "include parameter read or fetched, then exec", {"dsvw.py": [56, 57]}),
        ("open-redirect", "CWE-601", "redir parameter into a meta refresh", {"dsvw.py": [61]}),
        ("sqli-login", "CWE-89", "password parameter concatenated into the login query", {"dsvw.py": [67]}),
    ]),
    ("we45/Vulnerable-Flask-App", "b6a4f97", [
        ("ssti-404", "CWE-1336", "request.url formatted into render_template_string", {"app/app.py": [103, 114]}),
        ("sqli-search", "CWE-89", "JSON search term formatted into a query run by engine.execute",
         {"app/app.py": [262, 265]}),
        ("yaml-load", "CWE-502", "uploaded YAML read with yaml.load", {"app/app.py": [329]}),
        ("jwt-no-verify", "CWE-347", "jwt.decode(token, verify=False)", {"app/app.py": [97]}),
        ("jwt-key", "CWE-798", "JWT HMAC key 'secret' in app.config", {"app/app.py": [26, 86, 184]}),
        ("flask-secret", "CWE-798", "app.secret_key literal", {"app/app.py": [28]}),
    ]),
    ("anxolerd/dvpwa", "a1d8f89", [
        ("sqli-student", "CWE-89", "student name %-formatted into INSERT (view -> DAO)",
         {"sqli/dao/student.py": [42, 43, 45], "sqli/views.py": [57]}),
        ("md5-password", "CWE-916", "passwords checked as unsalted MD5", {"sqli/dao/user.py": [41]}),
        ("autoescape-off", "CWE-79", "aiohttp_jinja2 set up with autoescape=False", {"sqli/app.py": [33, 34, 35]}),
    ]),
    ("fportantier/vulpy", "5249cc8", [
        ("sqli-login", "CWE-89", "login query .format()-ed from the form (view -> lib)",
         {"bad/libuser.py": [12], "bad/mod_user.py": [20, 21, 22, 23]}),
        ("sqli-create", "CWE-89", "INSERT %-formatted from the form", {"bad/libuser.py": [25], "bad/mod_user.py": [50, 51, 52]}),
        ("sqli-chpasswd", "CWE-89", "UPDATE .format()-ed from the form", {"bad/libuser.py": [53], "bad/mod_user.py": [75, 76, 77]}),
        ("flask-secret", "CWE-798", "app.config['SECRET_KEY'] literal", {"bad/vulpy.py": [16]}),
        ("session-cookie", "CWE-614", "unsigned session cookie set without secure/httponly", {"bad/libsession.py": [7]}),
    ]),
    ("dolevf/Damn-Vulnerable-GraphQL-Application", "a961308", [
        ("cmdi-import-paste", "CWE-78", "host/path arguments into curl via run_cmd (os.popen)",
         {"core/views.py": [211], "core/helpers.py": [9]}),
        ("cmdi-diagnostics", "CWE-78", "cmd argument into run_cmd", {"core/views.py": [345], "core/helpers.py": [9]}),
        ("cmdi-debug", "CWE-78", "arg argument formatted into run_cmd", {"core/views.py": [352], "core/helpers.py": [9]}),
        ("sqli-filter", "CWE-89", "filter argument %-formatted into sqlalchemy text()", {"core/views.py": [320]}),
        ("path-traversal-upload", "CWE-22", "filename argument joined into the upload path and written",
         {"core/views.py": [186], "core/helpers.py": [25]}),
        ("jwt-no-verify", "CWE-347", "identity read from a JWT with verify_signature False", {"core/helpers.py": [21]}),
    ]),
]


def fetch_app(apps_dir, repo, commit):
    """The app's checkout: <apps_dir>/<owner>+<name> (cloned at `commit` when missing)."""
    path = os.path.join(apps_dir, repo.replace("/", "+"))
    if not os.path.isdir(path):
        subprocess.run(["git", "clone", "-q", f"https://github.com/{repo}", path], check=True)
        subprocess.run(["git", "-C", path, "checkout", "-q", commit], check=True)
    return path


def spans(tool, stdout, root):
    """(relative path, first line, last line) of every finding a tool reported."""
    try:
        doc = json.loads(stdout)
    except ValueError:
        return []
    out = []
    rel = lambda p: os.path.relpath(os.path.join(root, p) if not os.path.isabs(p) else p, root)
    if tool == "bandit":
        for r in doc.get("results", []):
            lines = r.get("line_range") or [r["line_number"]]
            out.append((rel(r["filename"]), min(lines), max(lines)))
    elif tool == "ruff-S":
        for r in doc:
            out.append((rel(r["filename"]), r["location"]["row"], r["end_location"]["row"]))
    else:
        for r in doc:
            out.append((rel(r["path"]), r["line"], r["end_line"]))
    return out


def recall(args, bindir):
    apps_dir = args.apps or os.path.join(ROOT, "target", "bench-recall")
    os.makedirs(apps_dir, exist_ok=True)
    tools = {
        "stockade": lambda root: [args.stockade, "check", "--exit-zero", "--format", "json", "--isolated", root],
        "bandit": lambda root: [os.path.join(bindir, "bandit"), "-r", "-q", "-f", "json", root],
        "ruff-S": lambda root: [os.path.join(bindir, "ruff"), "check", "--select", "S", "--no-cache", "--exit-zero",
                                "--output-format", "json", "--isolated", root],
    }
    total = {t: 0 for t in tools}
    count = 0
    rows = []
    for repo, commit, vulns in RECALL_APPS:
        root = fetch_app(apps_dir, repo, commit)
        found = {}
        for tool, cmd in tools.items():
            out = subprocess.run(cmd(root), capture_output=True, text=True)
            found[tool] = spans(tool, out.stdout, root)
        for vid, cwe, what, where in vulns:
            hit = {}
            for tool in tools:
                hit[tool] = any(
                    path == f and first <= line <= last
                    for f, lines in where.items() for line in lines for path, first, last in found[tool]
                )
                total[tool] += hit[tool]
            count += 1
            rows.append((repo.split("/")[1], vid, cwe, hit))
    print(f"{'app':<40} {'vulnerability':<22} {'CWE':<10} " + " ".join(f"{t:>8}" for t in tools))
    for app, vid, cwe, hit in rows:
        print(f"{app:<40} {vid:<22} {cwe:<10} " + " ".join(f"{'yes' if hit[t] else '-':>8}" for t in tools))
    print(f"{'found':<74} " + " ".join(f"{total[t]:>5}/{count}" for t in tools))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": [{"app": a, "id": v, "cwe": c, "found": h} for a, v, c, h in rows]}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--stockade", default=os.path.join(ROOT, "target", "release", "stockade"))
    ap.add_argument("--skip-bandit", action="store_true", help="Bandit takes ~90 s per round")
    ap.add_argument("--before", metavar="BIN", help="also time this (older) stockade binary, interleaved")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--recall", action="store_true", help="recall on deliberately vulnerable apps, not speed")
    ap.add_argument("--apps", metavar="DIR", help="where the apps are (default target/bench-recall)")
    args = ap.parse_args()
    if args.recall:
        bindir, _, _ = ensure_venv()
        recall(args, bindir)
        return

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
    if args.before:
        variants["stockade-before"] = [args.before, "check", "--exit-zero", "--format", "json", "--isolated", src]
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
