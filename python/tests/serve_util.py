"""Start and stop real `stockade serve` processes for the service's tests.

The binary is $STOCKADE_BIN or the workspace's target/debug/stockade (scripts/test builds it).
PostgreSQL, when a test asks for it, is a throwaway server from Debian's packages started by
scripts/postgres (once per test session; $STOCKADE_TEST_PG names an existing one instead).
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("STOCKADE_BIN") or os.path.join(ROOT, "target", "debug", "stockade")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def descendants(pid):
    """Every descendant pid of `pid` (from /proc)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def request(url, method="GET", path="/", key=None, body=None, headers=None, timeout=60, raw=None):
    """One HTTP request; never raises for an HTTP status."""
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


class Server:
    """A `stockade serve` process on a free loopback port."""

    def __init__(self, database=None, settings=None, data_dir=None, instance=None, env=None, port=None):
        self.dir = data_dir or tempfile.mkdtemp(prefix="stockade-serve-")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = database
        self.settings = dict(settings or {})
        self.instance = instance or f"test-{uuid.uuid4().hex[:8]}"
        self.env = env or {}
        self.proc = None
        self.admin_key = None
        self.out_path = os.path.join(self.dir, f"out-{self.port}.log")
        self.err_path = os.path.join(self.dir, f"err-{self.port}.log")

    def argv(self):
        a = [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir, "--instance", self.instance]
        if self.database:
            a += ["--database", self.database]
        for k, v in self.settings.items():
            a += ["--set", f"{k}={v}"]
        return a

    def start(self, wait_ready=True, timeout=60):
        env = dict(os.environ)
        env.update(self.env)
        self.proc = subprocess.Popen(
            self.argv(), stdout=open(self.out_path, "ab"), stderr=open(self.err_path, "ab"), env=env,
            start_new_session=True,
        )
        deadline = time.time() + timeout
        path = "/readyz" if wait_ready else "/healthz"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stockade serve exited {self.proc.returncode}: {self.log()}")
            try:
                if request(self.url, path=path, timeout=2).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"stockade serve did not become ready: {self.log()}")
        lines = open(self.out_path).read().splitlines()
        for i, line in enumerate(lines):
            if "admin API key" in line and i + 1 < len(lines):
                self.admin_key = lines[i + 1].strip()
        return self

    def log(self):
        out = open(self.out_path).read() if os.path.exists(self.out_path) else ""
        err = open(self.err_path).read() if os.path.exists(self.err_path) else ""
        return f"stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise

    def kill(self):
        """SIGKILL the server alone (a crash): its supervisors are left to die on their own."""
        self.proc.kill()
        self.proc.wait()

    def req(self, method, path, key=None, body=None, **kw):
        return request(self.url, method, path, key=key if key is not None else self.admin_key, body=body, **kw)

    def new_tenant(self, tenant_id=None, quotas=None):
        tid = tenant_id or f"t-{uuid.uuid4().hex[:10]}"
        r = self.req("POST", "/v1/tenants", body={"id": tid, "quotas": quotas or {}})
        assert r.status == 201, r
        return tid

    def new_key(self, tenant, role, key=None, **extra):
        r = self.req("POST", "/v1/keys", key=key, body={"name": f"{role} key", "role": role, "tenant": tenant, **extra})
        assert r.status == 201, r
        return r.json()["token"], r.json()["key"]["id"]


_PG = {}


def postgres_url():
    """A fresh database on the session's throwaway PostgreSQL (None if it cannot start)."""
    if "base" not in _PG:
        url = os.environ.get("STOCKADE_TEST_PG")
        if not url:
            d = tempfile.mkdtemp(prefix="stockade-pg-")
            out = subprocess.run([os.path.join(ROOT, "scripts", "postgres"), "start", d],
                                 capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise RuntimeError(f"scripts/postgres start failed: {out.stderr[-2000:]}")
            url = out.stdout.strip().splitlines()[-1]
            _PG["dir"] = d
        _PG["base"] = url
    base = _PG["base"]
    name = f"t_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True, timeout=60)
    return base.rsplit("/", 1)[0] + "/" + name


def stop_postgres():
    if "dir" in _PG:
        subprocess.run([os.path.join(ROOT, "scripts", "postgres"), "stop", _PG["dir"]], capture_output=True, timeout=120)
        _PG.clear()
