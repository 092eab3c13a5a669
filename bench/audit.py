#!/usr/bin/env python3
"""Dependency audit speed: `stockade audit` of a uv.lock with several hundred packages against
an OSV database of several thousand PyPI records, as the export zip and as a directory.

    cargo build -p stockade                   # the binary under test (target/debug unless --bin)
    python3 bench/audit.py                    # 600 packages, 6,000 records, 15 interleaved rounds
    python3 bench/audit.py --packages 800 --records 12000 --rounds 9 --bin target/release/stockade

Everything is generated, deterministically (--seed), in a temporary directory:
  - the database: --records OSV records shaped like the real PyPI export (PYSEC/GHSA ids,
    aliases, 1-3 ECOSYSTEM intervals out of order, a `versions` list of 5-250 releases with
    pre- and post-releases, GIT ranges, CVSS vectors or GitHub's severity word, summaries,
    details and references of real lengths), over --projects project names;
  - the lock: a uv.lock (revision 2) of --packages packages, each with an sdist and wheels as uv
    writes them, a third of them projects that have records, at versions some of which are
    affected.

Variants, each run once per round in a shuffled order; wall time of the whole process, and its
CPU time (user + system, all threads: steadier than wall time on a shared machine):
  zip      stockade audit uv.lock --db all.zip --format json
  dir      stockade audit uv.lock --db db/ --format json
  zip-1    the same zip, a lock of one package: the cost of loading the database alone
"""
import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Real project names for the head of the distribution (the projects with most advisories).
HEAD = """django pillow tensorflow jinja2 urllib3 requests cryptography pyyaml numpy lxml paramiko
flask werkzeug sqlalchemy aiohttp tornado twisted ansible salt mlflow gradio transformers
setuptools pip wheel certifi idna sentry-sdk celery redis pymongo psycopg2 bleach markdown
pygments sphinx nltk scrapy ujson orjson httpx starlette fastapi uvicorn gunicorn waitress
pyjwt python-jose oauthlib rsa ecdsa pycryptodome pyopenssl babel mako genshi plone zope
moin trac mercurial ipython jupyter-server notebook nbconvert jupyterlab bokeh dash streamlit
langchain llama-index onnx torch keras scikit-learn scipy pandas matplotlib""".split()


def version_list(rng):
    """Releases of a project, oldest first, with some pre- and post-releases."""
    out = []
    major = rng.randint(0, 5)
    for _ in range(rng.randint(5, 250)):
        r = rng.random()
        if r < 0.05:
            major += 1
            minor, patch = 0, 0
            out.append(f"{major}.0.0rc1")
        elif r < 0.3:
            minor = (out and int(out[-1].split(".")[1].rstrip("abcrcpostdev") or 0) + 1) or 1
            patch = 0
        else:
            patch = rng.randint(1, 30)
            minor = rng.randint(0, 20)
        v = f"{major}.{minor}.{patch}"
        if rng.random() < 0.03:
            v += ".post1"
        out.append(v)
    # Unique and in PEP 440 order is not needed: the export lists them as the database found them.
    return list(dict.fromkeys(out))


def cvss(rng):
    pick = lambda *o: rng.choice(o)
    return (f"CVSS:3.1/AV:{pick('N','A','L','P')}/AC:{pick('L','H')}/PR:{pick('N','L','H')}/UI:{pick('N','R')}"
            f"/S:{pick('U','C')}/C:{pick('N','L','H')}/I:{pick('N','L','H')}/A:{pick('N','L','H')}")


def record(rng, i, project, releases):
    ghsa = rng.random() < 0.5
    ident = f"GHSA-{rng.randrange(16**4):04x}-{rng.randrange(16**4):04x}-{i:04x}" if ghsa else f"PYSEC-{2014 + i % 11}-{i}"
    cve = f"CVE-{2014 + i % 11}-{10000 + i}"
    k = rng.randint(1, min(3, len(releases)))
    cuts = sorted(rng.sample(range(len(releases)), k))
    events = []
    for c in cuts:
        events.append({"introduced": "0" if c == 0 else releases[max(0, c - rng.randint(1, 8))]})
        if rng.random() < 0.9:
            events.append({"fixed": releases[c]})
        else:
            events.append({"last_affected": releases[c]})
    rng.shuffle(events)  # PYSEC-2023-192 lists its intervals out of order; sorting is the reader's job
    affected_versions = [v for v in releases if rng.random() < 0.6]
    rec = {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": "2025-01-01T00:00:00Z",
        "published": "2024-06-01T00:00:00Z",
        "aliases": [cve] + ([f"PYSEC-2024-{i}"] if ghsa and rng.random() < 0.5 else []),
        "details": (f"{project} is a library for Python. " + "An issue in the parser allows crafted input "
                    "to cause excessive resource use or code execution under some configurations. " * rng.randint(1, 6)),
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": project, "purl": f"pkg:pypi/{project}"},
            "ranges": [
                {"type": "GIT", "repo": f"https://github.com/example/{project}",
                 "events": [{"introduced": "0"}, {"fixed": f"{rng.randrange(16**40):040x}"}]},
                {"type": "ECOSYSTEM", "events": events},
            ],
            "versions": affected_versions,
        }],
        "references": [{"type": "WEB", "url": f"https://example.org/{project}/advisory/{i}/{n}"} for n in range(rng.randint(2, 9))],
    }
    if ghsa:
        rec["summary"] = f"{project}: crafted input leads to trouble ({i})"
        rec["severity"] = [{"type": "CVSS_V3", "score": cvss(rng)}]
        rec["database_specific"] = {"severity": rng.choice(["LOW", "MODERATE", "HIGH", "CRITICAL"]),
                                    "cwe_ids": ["CWE-400"], "github_reviewed": True}
    elif rng.random() < 0.4:
        rec["severity"] = [{"type": "CVSS_V3", "score": cvss(rng)}]
    return ident, rec


def build(tmp, args):
    rng = random.Random(args.seed)
    projects = HEAD + [f"project-{n:05d}" for n in range(args.projects - len(HEAD))]
    releases = {p: version_list(rng) for p in projects}
    # Advisories concentrate on a few projects, as in the real export (django alone has hundreds).
    weights = [1.0 / (1 + n) ** 0.8 for n in range(len(projects))]
    db_dir = os.path.join(tmp, "db")
    os.makedirs(db_dir)
    zpath = os.path.join(tmp, "all.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(args.records):
            p = rng.choices(projects, weights)[0]
            ident, rec = record(rng, i, p, releases[p])
            text = json.dumps(rec, indent=2)
            z.writestr(f"{ident}.json", text)
            with open(os.path.join(db_dir, f"{ident}.json"), "w") as f:
                f.write(text)
    # The lock: a third of its packages from projects with records, the rest without.
    with_records = rng.sample(projects[: len(projects) // 3], min(args.packages // 3, len(projects) // 3))
    others = [f"lockpkg-{n:04d}" for n in range(args.packages - len(with_records))]
    lines = ['version = 1', 'revision = 2', 'requires-python = ">=3.11"', ""]
    for name in sorted(with_records + others):
        v = rng.choice(releases[name]) if name in releases else f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        h = f"{rng.randrange(16**64):064x}"
        lines += [
            "[[package]]", f'name = "{name}"', f'version = "{v}"', 'source = { registry = "https://pypi.org/simple" }',
            f'sdist = {{ url = "https://files.pythonhosted.org/packages/{h[:2]}/{h[2:4]}/{h[4:60]}/{name}-{v}.tar.gz", hash = "sha256:{h}", size = {rng.randint(10**4, 10**7)} }}',
            "wheels = [",
            f'    {{ url = "https://files.pythonhosted.org/packages/{h[:2]}/{h[2:4]}/{h[4:60]}/{name.replace("-", "_")}-{v}-py3-none-any.whl", hash = "sha256:{h[::-1]}", size = {rng.randint(10**4, 10**7)} }},',
            "]", "",
        ]
    lock = os.path.join(tmp, "big", "uv.lock")
    os.makedirs(os.path.dirname(lock))
    with open(lock, "w") as f:
        f.write("\n".join(lines))
    one = os.path.join(tmp, "one", "uv.lock")
    os.makedirs(os.path.dirname(one))
    with open(one, "w") as f:
        f.write('version = 1\n\n[[package]]\nname = "django"\nversion = "4.2.3"\nsource = { registry = "https://pypi.org/simple" }\n')
    return zpath, db_dir, lock, one


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "stockade"))
    ap.add_argument("--packages", type=int, default=600)
    ap.add_argument("--records", type=int, default=6000)
    ap.add_argument("--projects", type=int, default=2500)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR (new) and keep it, for profiling")
    args = ap.parse_args()
    if args.keep:
        os.makedirs(args.keep)
    with tempfile.TemporaryDirectory(prefix="stockade-audit-bench-") as scratch:
        tmp = args.keep or scratch
        zpath, db_dir, lock, one = build(tmp, args)
        variants = {
            "zip": [args.bin, "audit", lock, "--db", zpath, "--format", "json"],
            "dir": [args.bin, "audit", lock, "--db", db_dir, "--format", "json"],
            "zip-1": [args.bin, "audit", one, "--db", zpath, "--format", "json"],
        }
        report = json.loads(subprocess.run(variants["zip"], capture_output=True, text=True).stdout)
        print(f"binary {args.bin}")
        print(f"lock: {args.packages} packages ({report['audited']} audited); database: {report['database']['records']} records, "
              f"zip {os.path.getsize(zpath) / 1e6:.1f} MB; findings: {len(report['findings'])} in "
              f"{len({(f['package'], f['version']) for f in report['findings']})} packages")
        times = {k: [] for k in variants}
        cpu = {k: [] for k in variants}
        for _ in range(args.rounds):
            order = list(variants)
            random.shuffle(order)
            for k in order:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                p = subprocess.run(variants[k], capture_output=True)
                times[k].append((time.perf_counter() - t) * 1000)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[k].append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
                if p.returncode not in (0, 1):
                    sys.exit(f"{k}: exit {p.returncode}: {p.stderr.decode()}")
        print(f"\n{args.rounds} interleaved rounds, ms per run; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print("| variant | wall median | wall min | wall max | CPU median |\n|:--|--:|--:|--:|--:|")
        for k, v in times.items():
            print(f"| {k} | {statistics.median(v):.0f} | {min(v):.0f} | {max(v):.0f} | {statistics.median(cpu[k]):.0f} |")


if __name__ == "__main__":
    main()
