"""`stockade serve` attacked and exercised through real HTTP, on SQLite and on PostgreSQL.

Every test that touches the store runs on both backends (PostgreSQL is a throwaway server from
Debian's packages, see serve_util.postgres_url). Attacks are checked by their evidence: the
status code, the object that must not be returned, the audit record that must exist, the
process that must not survive.
"""
import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from serve_util import BIN, Server, postgres_url, request, stop_postgres

FAST = {"pool_size": 1, "session_idle_seconds": 30}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def srv(request):
    db = postgres_url() if request.param == "postgres" else None
    s = Server(database=db, settings=FAST).start()
    s.backend = request.param
    yield s
    s.stop()


def run(s, key, code, **extra):
    return s.req("POST", "/v1/runs", key=key, body={"code": code, **extra})


# ----- first start -----


def test_first_start_prints_one_admin_key_and_keeps_it(tmp_path):
    s = Server(data_dir=str(tmp_path), settings=FAST).start()
    key = s.admin_key
    assert key and key.startswith("sk_")
    assert s.req("GET", "/v1/keys").status == 200
    s.stop()
    s2 = Server(data_dir=str(tmp_path), settings=FAST, instance=s.instance, port=s.port).start()
    assert s2.admin_key is None or s2.admin_key == key  # not printed again
    assert open(s2.out_path).read().count("sk_") == 1
    assert request(s2.url, "GET", "/v1/keys", key=key).status == 200
    # only the hash is stored
    db = sqlite3.connect(os.path.join(str(tmp_path), "stockade.db"))
    dump = "\n".join(db.iterdump())
    assert key.split("_", 2)[2] not in dump
    s2.stop()


# ----- runs -----


def test_run_returns_the_result_document(srv):
    r = run(srv, None, "print(6 * 7)")
    assert r.status == 200, r
    doc = r.json()
    assert doc["schema"] == "stockade.run/2" and doc["status"] == "ok" and doc["stdout"] == "42\n"
    rid = r.headers["stockade-run-id"]
    rec = srv.req("GET", f"/v1/runs/{rid}").json()
    assert rec["state"] == "done" and rec["status"] == "ok" and rec["result"]["stdout"] == "42\n"
    assert rec["code"] == "print(6 * 7)"


def test_async_run_and_fetch(srv):
    r = run(srv, None, "import time; time.sleep(0.5); print('late')", **{"async": True})
    assert r.status == 202, r
    rid = r.json()["id"]
    assert r.headers["Location"] == f"/v1/runs/{rid}"
    for _ in range(100):
        rec = srv.req("GET", f"/v1/runs/{rid}").json()
        if rec["state"] == "done":
            break
        time.sleep(0.1)
    assert rec["result"]["stdout"] == "late\n"


def test_stream_sends_output_and_violations_before_the_result(srv):
    code = "import time\nprint('a', flush=True)\ntime.sleep(0.6)\nimport socket\n"
    req = ["curl", "-sN", "-H", f"Authorization: Bearer {srv.admin_key}", "-H", "Accept: text/event-stream",
           "--data-binary", json.dumps({"code": code}), srv.url + "/v1/runs"]
    p = subprocess.Popen(req, stdout=subprocess.PIPE, text=True)
    t0 = time.time()
    events, first_stdout_at = [], None
    kind = None
    for line in p.stdout:
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
            if kind == "stdout" and first_stdout_at is None:
                first_stdout_at = time.time() - t0
    p.wait()
    kinds = [k for k, _ in events]
    assert kinds[0] == "run" and kinds[-1] == "result", kinds
    assert base64.b64decode(events[1][1]["data"]) == b"a\n"
    assert "violation" in kinds, kinds
    assert first_stdout_at is not None and first_stdout_at < time.time() - t0 - 0.4


# ----- authentication attacks -----


def test_missing_wrong_revoked_and_expired_keys(srv):
    t = srv.new_tenant()
    good, kid = srv.new_key(t, "runner")
    assert run(srv, good, "1").status == 200
    secret_part = good.split("_", 2)[2]
    wrong = good[: -4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    unknown = "sk_000000000000_" + secret_part
    for bad in [None, "", "Basic abc", wrong, unknown, "sk_short", "x.y.z", good.upper()]:
        h = {} if bad is None else {"Authorization": bad if bad.startswith("Basic") else f"Bearer {bad}"}
        r = request(srv.url, "POST", "/v1/runs", body={"code": "1"}, headers=h)
        assert r.status == 401, (bad, r)
        assert r.json()["code"] == "unauthorized"
    # revoked
    assert srv.req("DELETE", f"/v1/keys/{kid}").status == 204
    r = run(srv, good, "1")
    assert r.status == 401 and "revoked" in r.json()["message"]
    # expired
    soon = int(time.time() * 1000) + 1500
    exp, _ = srv.new_key(t, "runner", expires_at=soon)
    assert run(srv, exp, "1").status == 200
    time.sleep(1.7)
    r = run(srv, exp, "1")
    assert r.status == 401 and "expired" in r.json()["message"]
    # every failure is on the record, and no secret is
    audit = srv.req("GET", "/v1/audit?action=auth.failed&limit=500").json()["items"]
    assert {a["detail"]["reason"] for a in audit} >= {"missing", "malformed", "unknown_key", "revoked", "expired"}
    blob = json.dumps(audit)
    assert secret_part not in blob and exp.split("_", 2)[2] not in blob
    assert secret_part not in open(srv.err_path).read() + open(srv.out_path).read()
    metrics = srv.req("GET", "/metrics").body.decode()
    assert 'stockade_auth_failures_total{reason="revoked"}' in metrics


# ----- tenants never meet -----


def test_a_tenant_cannot_reach_another_tenants_objects(srv):
    a, b = srv.new_tenant(), srv.new_tenant()
    a_admin, _ = srv.new_key(a, "tenant-admin")
    b_admin, b_key_id = srv.new_key(b, "tenant-admin")
    b_runner, _ = srv.new_key(b, "runner")
    b_run = run(srv, b_runner, "print('b secret')").headers["stockade-run-id"]
    b_sess = srv.req("POST", "/v1/sessions", key=b_runner, body={}).json()["id"]
    try:
        for method, path in [
            ("GET", f"/v1/runs/{b_run}"),
            ("GET", f"/v1/sessions/{b_sess}"),
            ("DELETE", f"/v1/sessions/{b_sess}"),
            ("GET", f"/v1/tenants/{b}"),
            ("GET", f"/v1/tenants/{b}/policy"),
            ("DELETE", f"/v1/keys/{b_key_id}"),
        ]:
            r = srv.req(method, path, key=a_admin)
            assert r.status == 404, (method, path, r)
        r = srv.req("POST", f"/v1/sessions/{b_sess}/runs", key=a_admin, body={"code": "print(1)"})
        assert r.status == 404, r
        r = srv.req("PUT", f"/v1/tenants/{b}/policy", key=a_admin, body={"policy": "version = 1\n"})
        assert r.status == 404, r
        for path in [f"/v1/runs?tenant={b}", f"/v1/violations?tenant={b}", f"/v1/audit?tenant={b}", f"/v1/keys?tenant={b}"]:
            assert srv.req("GET", path, key=a_admin).status == 403, path
        assert srv.req("POST", "/v1/keys", key=a_admin, body={"name": "x", "role": "runner", "tenant": b}).status == 403
        listed = srv.req("GET", "/v1/runs?limit=200", key=a_admin).json()["items"]
        assert all(x["tenant"] == a for x in listed)
        assert b_run not in json.dumps(srv.req("GET", "/v1/audit?limit=500", key=a_admin).json())
        # the session still works for its owner
        assert srv.req("POST", f"/v1/sessions/{b_sess}/runs", key=b_runner, body={"code": "print(1)"}).status == 200
    finally:
        srv.req("DELETE", f"/v1/sessions/{b_sess}", key=b_runner)


def test_runners_see_only_their_own_runs_and_auditors_cannot_run(srv):
    t = srv.new_tenant()
    r1, k1 = srv.new_key(t, "runner")
    r2, _ = srv.new_key(t, "runner")
    aud, _ = srv.new_key(t, "auditor")
    mine = run(srv, r1, "1").headers["stockade-run-id"]
    theirs = run(srv, r2, "2").headers["stockade-run-id"]
    assert srv.req("GET", f"/v1/runs/{theirs}", key=r1).status == 404
    assert srv.req("GET", f"/v1/runs/{mine}", key=r1).status == 200
    assert {x["key_id"] for x in srv.req("GET", "/v1/runs", key=r1).json()["items"]} == {k1}
    assert srv.req("GET", f"/v1/runs/{theirs}", key=aud).status == 200
    assert run(srv, aud, "1").status == 403


def test_no_role_escalation(srv):
    t = srv.new_tenant()
    ta, _ = srv.new_key(t, "tenant-admin")
    runner, _ = srv.new_key(t, "runner")
    r = srv.req("POST", "/v1/keys", key=ta, body={"name": "x", "role": "admin"})
    assert r.status == 403 and r.json()["field"] == "role"
    assert srv.req("POST", "/v1/keys", key=runner, body={"name": "x", "role": "runner"}).status == 403
    assert srv.req("POST", "/v1/tenants", key=ta, body={"id": "mine-now"}).status == 403
    assert srv.req("PATCH", f"/v1/tenants/{t}", key=ta, body={"quotas": {"concurrent_runs": 999}}).status == 403
    # a tenant-admin cannot revoke the service admin's key even when it is in its tenant
    admin_id = srv.req("GET", "/v1/keys?tenant=default").json()[0]["id"]
    srv.req("PATCH", "/v1/tenants/default", body={"name": "Default"})
    assert srv.req("DELETE", f"/v1/keys/{admin_id}", key=ta).status == 404
    # and cannot open the host through its policy
    bad = "version = 1\n[filesystem]\nread-only = [{ host = \"/etc\", jail = \"/mnt/etc\" }]\n"
    r = srv.req("PUT", f"/v1/tenants/{t}/policy", key=ta, body={"policy": bad})
    assert r.status == 422 and r.json()["field"] == "filesystem.read-only", r


def test_every_route_and_role_matches_the_documented_matrix(srv):
    doc = srv.req("GET", "/v1/openapi.json").json()
    roles = {x["role"]: set(x["permissions"]) for x in srv.req("GET", "/v1/roles").json()}
    t = srv.new_tenant()
    keys = {role: srv.new_key("default" if role == "admin" else t, role)[0] for role in roles}
    # documentation holds the same matrix
    docs = open(os.path.join(os.path.dirname(BIN), "..", "..", "docs", "serve.md")).read()
    for role, perms in roles.items():
        for p in perms:
            assert f"`{p}`" in docs
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            perm = op["x-permission"]
            concrete = path.replace("{id}", "nonexistent")
            body = {} if method in ("post", "put", "patch") else None
            for role, key in keys.items():
                r = request(srv.url, method.upper(), concrete, key=key, body=body)
                allowed = perm == "public" or perm in roles[role]
                assert (r.status != 403) == allowed, (method, path, role, perm, r)
                assert r.status < 500 or (path == "/readyz"), (method, path, role, r)
                checked += 1
    assert checked >= 4 * 20


# ----- quotas -----


def test_concurrency_rate_and_body_quotas(srv):
    t = srv.new_tenant(quotas={"concurrent_runs": 1, "runs_per_minute": 3, "max_body_bytes": 4096})
    k, _ = srv.new_key(t, "runner")
    slow = run(srv, k, "import time; time.sleep(1.5)", **{"async": True})
    assert slow.status == 202
    r = run(srv, k, "1")
    assert r.status == 429 and r.json()["field"] == "concurrent_runs" and int(r.headers["Retry-After"]) >= 1
    time.sleep(2.0)
    assert run(srv, k, "1").status == 200
    assert run(srv, k, "1").status == 200
    r = run(srv, k, "1")
    assert r.status == 429 and r.json()["field"] == "runs_per_minute", r
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    r = run(srv, k, "x = '" + "a" * 5000 + "'")
    assert r.status == 413 and r.json()["code"] == "body_too_large"
    # another tenant is not slowed by this one being at its quota
    other, _ = srv.new_key(srv.new_tenant(), "runner")
    assert run(srv, other, "1").status == 200
    m = srv.req("GET", "/metrics").body.decode()
    assert 'stockade_rate_limited_total{quota="runs_per_minute"}' in m


def test_cpu_per_day_wall_cap_and_sessions_quota(srv):
    t = srv.new_tenant(quotas={"cpu_seconds_per_day": 1, "max_wall_time_ms": 3000, "sessions": 1})
    k, _ = srv.new_key(t, "runner")
    r = run(srv, k, "1", timeout_ms=5000)
    assert r.status == 422 and r.json()["field"] == "timeout_ms"
    r = run(srv, k, "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.2: pass")
    assert r.status == 200 and r.json()["status"] == "ok", r
    r = run(srv, k, "1")
    assert r.status == 429 and r.json()["field"] == "cpu_seconds_per_day"
    s1 = srv.req("POST", "/v1/sessions", key=k, body={})
    assert s1.status == 201
    r = srv.req("POST", "/v1/sessions", key=k, body={})
    assert r.status == 429 and r.json()["field"] == "sessions"
    assert srv.req("DELETE", f"/v1/sessions/{s1.json()['id']}", key=k).status == 204
    s2 = srv.req("POST", "/v1/sessions", key=k, body={})
    assert s2.status == 201
    srv.req("DELETE", f"/v1/sessions/{s2.json()['id']}", key=k)


# ----- sessions -----


def test_session_keeps_state_and_closes(srv):
    s = srv.req("POST", "/v1/sessions", body={"idle_timeout_ms": 20000})
    assert s.status == 201, s
    sid = s.json()["id"]
    assert srv.req("POST", f"/v1/sessions/{sid}/runs", body={"code": "x = 41"}).json()["status"] == "ok"
    r = srv.req("POST", f"/v1/sessions/{sid}/runs", body={"code": "print(x + 1)"}).json()
    assert r["stdout"] == "42\n"
    assert srv.req("DELETE", f"/v1/sessions/{sid}").status == 204
    r = srv.req("POST", f"/v1/sessions/{sid}/runs", body={"code": "print(x)"})
    assert r.status == 410
    assert srv.req("GET", f"/v1/sessions/{sid}").json()["reason"] == "deleted"


def test_idle_sessions_are_closed(srv):
    sid = srv.req("POST", "/v1/sessions", body={"idle_timeout_ms": 500}).json()["id"]
    for _ in range(60):
        if srv.req("GET", f"/v1/sessions/{sid}").json()["state"] == "closed":
            break
        time.sleep(0.2)
    rec = srv.req("GET", f"/v1/sessions/{sid}").json()
    assert rec["state"] == "closed" and rec["reason"] == "idle"


# ----- policies -----


def test_bad_policy_is_a_422_with_line_column_and_key(srv):
    t = srv.new_tenant()
    ta, _ = srv.new_key(t, "tenant-admin")
    r = srv.req("PUT", f"/v1/tenants/{t}/policy", key=ta, body={"policy": "version = 1\n[limits]\nmemory = \"12X\"\n"})
    assert r.status == 422, r
    e = r.json()
    assert (e["code"], e["line"], e["column"], e["field"]) == ("invalid_policy", 3, 10, "limits.memory")
    r = srv.req("PUT", f"/v1/tenants/{t}/policy", key=ta, body={"policy": "version = 1\n[env]\npass = ['HOME']\n"})
    assert r.status == 422 and r.json()["field"] == "env.pass"
    good = "version = 1\n[env]\nset = { GREETING = 'hi' }\n"
    r = srv.req("PUT", f"/v1/tenants/{t}/policy", key=ta, body={"policy": good})
    assert r.status == 200, r
    k, _ = srv.new_key(t, "runner")
    assert run(srv, k, "import os; print(os.environ['GREETING'])").json()["stdout"] == "hi\n"
    # the policy is this tenant's alone
    other, _ = srv.new_key(srv.new_tenant(), "runner")
    assert run(srv, other, "import os; print(os.environ.get('GREETING'))").json()["stdout"] == "None\n"


def test_secrets_in_a_policy_are_masked_everywhere(srv):
    t = srv.new_tenant()
    token = "tok-" + os.urandom(8).hex()
    pol = f"version = 1\n[env]\nset = {{ API_TOKEN = '{token}' }}\nsecret = ['API_TOKEN']\n"
    assert srv.req("PUT", f"/v1/tenants/{t}/policy", body={"policy": pol}).status == 200
    k, _ = srv.new_key(t, "runner")
    r = run(srv, k, f"import os, sys\nprint(os.environ['API_TOKEN'])\nprint('{token}', file=sys.stderr)\n")
    assert token not in r.body.decode()
    rid = r.headers["stockade-run-id"]
    everything = [srv.req("GET", f"/v1/runs/{rid}").body, srv.req("GET", f"/v1/tenants/{t}/policy").body,
                  srv.req("GET", "/v1/audit?limit=500").body]
    for blob in everything:
        assert token.encode() not in blob


# ----- bad input -----


def test_malformed_requests_get_a_json_4xx(srv):
    cases = [
        (b"{not json", 400, "invalid_json", None),
        (b'{"code": 5}', 400, "invalid_request", "code"),
        (b'{"code": "1", "nope": true}', 400, "invalid_request", None),
        (b'{"code": "1", "files": {"../x": "AA=="}}', 400, "invalid_request", "files"),
        (b'{"code": "1", "stdin": "***"}', 400, "invalid_request", "stdin"),
        (b'{"code": "1", "inputs": {"1bad": 1}}', 400, "invalid_request", "inputs"),
        (b"[]", 400, "invalid_request", None),
        (b"[null, null]", 400, "invalid_request", None),
        (b"\"code\"", 400, "invalid_request", None),
        (b"", 400, "invalid_json", None),
    ]
    for raw, status, code, field in cases:
        r = request(srv.url, "POST", "/v1/runs", key=srv.admin_key, raw=raw, headers={"Content-Type": "application/json"})
        assert r.status == status, (raw, r)
        e = r.json()
        assert e["code"] == code and set(e) >= {"code", "message", "field"}, (raw, e)
        if field:
            assert e["field"] == field, (raw, e)
    r = srv.req("GET", "/v1/runs?limit=abc")
    assert r.status == 400 and r.json()["field"] == "limit"
    r = srv.req("GET", "/v1/runs?cursor=zzz")
    assert r.status == 400 and r.json()["field"] == "cursor"
    assert srv.req("GET", "/v1/nothing").status == 404
    r = srv.req("PATCH", "/v1/runs")
    assert r.status == 405 and r.json()["code"] == "method_not_allowed"


def test_huge_bodies_and_slow_clients(tmp_path):
    s = Server(data_dir=str(tmp_path), settings={**FAST, "header_timeout_ms": 800, "body_timeout_ms": 800,
                                                 "max_body_bytes": 1 << 20}).start()
    try:
        r = request(s.url, "POST", "/v1/runs", key=s.admin_key, raw=b"x" * (3 << 20))
        assert r.status == 413 and r.json()["code"] == "body_too_large"
        # headers that never finish: the server hangs up
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"POST /v1/runs HTTP/1.1\r\nHost: x\r\n")
        c.settimeout(10)
        t0 = time.time()
        data = c.recv(4096)
        assert time.time() - t0 < 5 and (data == b"" or data.startswith(b"HTTP/1.1 408"))
        c.close()
        # a body that never finishes: 408 with a JSON error
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(f"POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s.admin_key}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":".encode())
        c.settimeout(10)
        t0 = time.time()
        data = b""
        while b"}" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        assert time.time() - t0 < 5
        assert data.startswith(b"HTTP/1.1 408"), data
        assert b'"code":"body_timeout"' in data
        c.close()
        assert s.req("GET", "/healthz").status == 200
    finally:
        s.stop()


# ----- the audit chain -----


def _db_exec(s, sql):
    if s.database:
        subprocess.run(["psql", s.database, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)
    else:
        db = sqlite3.connect(os.path.join(s.dir, "stockade.db"))
        db.execute(sql)
        db.commit()
        db.close()


def _verify(s):
    args = [BIN, "audit", "verify", "--data-dir", s.dir] + (["--database", s.database] if s.database else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_audit_verify_detects_changed_and_removed_records(backend, tmp_path):
    db = postgres_url() if backend == "postgres" else None
    s = Server(database=db, data_dir=str(tmp_path), settings=FAST).start()
    try:
        for i in range(3):
            assert run(s, None, f"print({i})").status == 200
        s.new_tenant()
        out = _verify(s)
        assert out.returncode == 0 and "intact" in out.stdout, out
        export = subprocess.run([BIN, "audit", "export", "--data-dir", s.dir] + (["--database", db] if db else []),
                                capture_output=True, text=True)
        lines = [json.loads(x) for x in export.stdout.splitlines()]
        assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1)) and len(lines) >= 5
        _db_exec(s, "UPDATE audit SET detail = '{\"status\":\"ok\"}' WHERE seq = 3")
        out = _verify(s)
        assert out.returncode == 1 and "record 3 was changed" in out.stdout, out
    finally:
        s.stop()
    s2 = Server(database=db, settings=FAST).start()
    s2.admin_key = s2.admin_key or s.admin_key
    try:
        for i in range(3):
            run(s2, None, "1")
        _db_exec(s2, "DELETE FROM audit WHERE seq = 2")
        out = _verify(s2)
        assert out.returncode == 1 and "record 2 is missing" in out.stdout, out
        _db_exec(s2, "INSERT INTO audit SELECT 2, at, tenant, actor, action, target, detail, prev, hash FROM audit WHERE seq = 3")
        out = _verify(s2)
        assert out.returncode == 1, out
    finally:
        s2.stop()
    s3 = Server(database=postgres_url() if backend == "postgres" else None, settings=FAST).start()
    s3.admin_key = s3.admin_key or s.admin_key
    try:
        run(s3, None, "1")
        _db_exec(s3, "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
        out = _verify(s3)
        assert out.returncode == 1 and "removed from the end" in out.stdout, out
    finally:
        s3.stop()


# ----- reliability -----


def _supervisors_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = open(f"/proc/{name}/stat").read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = open(f"/proc/{name}/cmdline", "rb").read()
        except OSError:
            continue
        if ppid == pid and b"supervise" in cmd:
            out.append(int(name))
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigterm_drains_then_kills_and_records(backend, tmp_path):
    db = postgres_url() if backend == "postgres" else None
    s = Server(database=db, data_dir=str(tmp_path), settings={**FAST, "drain_seconds": 2, "pool_size": 2}).start()
    short = run(s, None, "import time; time.sleep(1); print('done')", **{"async": True}).json()["id"]
    long = run(s, None, "import time; time.sleep(60)", timeout_ms=10000, **{"async": True}).json()["id"]
    time.sleep(0.3)
    pid = s.proc.pid
    t0 = time.time()
    assert s.stop() == 0
    assert time.time() - t0 < 20
    assert _supervisors_of(pid) == []
    s2 = Server(database=db, data_dir=str(tmp_path), settings=FAST, instance=s.instance).start()
    s2.admin_key = s.admin_key
    try:
        a = s2.req("GET", f"/v1/runs/{short}").json()
        b = s2.req("GET", f"/v1/runs/{long}").json()
        assert a["state"] == "done" and a["status"] == "ok" and a["result"]["stdout"] == "done\n", a
        assert b["state"] == "done" and b["status"] == "killed", b
    finally:
        s2.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_crash_leaves_lost_runs_never_missing_ones(backend, tmp_path):
    db = postgres_url() if backend == "postgres" else None
    s = Server(database=db, data_dir=str(tmp_path), settings=FAST).start()
    rid = run(s, None, "import time; time.sleep(3)", **{"async": True}).json()["id"]
    sess = s.req("POST", "/v1/sessions", body={}).json()["id"]
    time.sleep(0.3)
    pid = s.proc.pid
    s.kill()
    s2 = Server(database=db, data_dir=str(tmp_path), settings=FAST, instance=s.instance).start()
    s2.admin_key = s.admin_key
    try:
        rec = s2.req("GET", f"/v1/runs/{rid}").json()
        assert rec["state"] == "lost", rec
        assert s2.req("GET", f"/v1/sessions/{sess}").json()["reason"] == "lost"
        actions = [a["action"] for a in s2.req("GET", "/v1/audit?limit=500").json()["items"]]
        assert "run.lost" in actions
        assert _verify(s2).returncode == 0
    finally:
        s2.stop()


def test_database_outage_gives_503_then_recovers(tmp_path):
    db = postgres_url()
    s = Server(database=db, settings=FAST).start()
    name = db.rsplit("/", 1)[1]
    base = db.rsplit("/", 1)[0] + "/postgres"
    try:
        assert run(s, None, "1").status == 200
        # take the database away: block new connections and end the existing ones
        subprocess.run(["psql", base, "-qc", f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"], check=True, capture_output=True)
        subprocess.run(["psql", base, "-qc", f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"],
                       check=True, capture_output=True)
        statuses = set()
        for _ in range(5):
            r = run(s, None, "1")
            statuses.add(r.status)
            assert r.status == 503 and r.json()["code"] == "database_unavailable", r
        subprocess.run(["psql", base, "-qc", f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"], check=True, capture_output=True)
        for _ in range(50):
            r = run(s, None, "print('back')")
            if r.status == 200:
                break
            time.sleep(0.2)
        assert r.status == 200 and r.json()["stdout"] == "back\n", r
        assert _verify(s).returncode == 0
    finally:
        subprocess.run(["psql", base, "-qc", f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"], capture_output=True)
        s.stop()


def test_two_servers_on_one_postgres_share_quotas(tmp_path):
    db = postgres_url()
    a = Server(database=db, settings=FAST).start()
    b = Server(database=db, settings=FAST).start()
    try:
        assert b.admin_key is None  # one first start
        t = a.new_tenant(quotas={"concurrent_runs": 2, "runs_per_minute": 4})
        k, _ = a.new_key(t, "runner")
        assert run(a, k, "import time; time.sleep(2)", **{"async": True}).status == 202
        assert run(b, k, "import time; time.sleep(2)", **{"async": True}).status == 202
        for srv_ in (a, b):
            r = run(srv_, k, "1")
            assert r.status == 429 and r.json()["field"] == "concurrent_runs", r
        time.sleep(2.6)
        assert run(a, k, "1").status == 200
        assert run(b, k, "1").status == 200
        for srv_ in (a, b):
            r = run(srv_, k, "1")
            assert r.status == 429 and r.json()["field"] == "runs_per_minute", r
        # concurrent admission from both at once never exceeds the quota
        t2 = a.new_tenant(quotas={"concurrent_runs": 3})
        k2, _ = a.new_key(t2, "runner")
        codes = []
        def fire(s_):
            codes.append(run(s_, k2, "import time; time.sleep(1.5)", **{"async": True}).status)
        threads = [threading.Thread(target=fire, args=(s_,)) for s_ in (a, b) * 4]
        [th.start() for th in threads]
        [th.join() for th in threads]
        assert sorted(codes) == [202] * 3 + [429] * 5, codes
    finally:
        a.stop()
        b.stop()


def test_metrics_and_readiness(srv):
    run(srv, None, "import socket")
    m = srv.req("GET", "/metrics").body.decode()
    for name in ["stockade_runs_total", "stockade_run_duration_seconds_bucket", "stockade_queue_wait_seconds_bucket",
                 "stockade_pool_workers", "stockade_violations_total", "stockade_http_requests_total"]:
        assert name in m, name
    assert srv.req("GET", "/readyz").status == 200
    doc = srv.req("GET", "/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")


def test_tenants_with_the_same_policy_never_share_a_worker(srv):
    """Evidence on the host: the server's supervisor children. A second tenant's first run
    starts workers of its own even though its effective policy is byte-for-byte the same."""
    pid = srv.proc.pid
    a = srv.new_key(srv.new_tenant(), "runner")[0]
    b = srv.new_key(srv.new_tenant(), "runner")[0]
    assert run(srv, a, "print(1)").status == 200
    after_a = set(_supervisors_of(pid))
    assert run(srv, b, "print(1)").status == 200
    after_b = set(_supervisors_of(pid))
    assert len(after_b - after_a) >= 1, (after_a, after_b)
    # and a run of tenant a again uses a's workers, not b's new ones
    assert run(srv, a, "print(1)").status == 200
    assert set(_supervisors_of(pid)) >= after_b


def test_traces_reach_an_otlp_collector(tmp_path):
    """OTLP/HTTP JSON to a collector on loopback: a server span per request and a run span as
    its child; no key or code in any attribute."""
    import http.server

    got = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    s = Server(data_dir=str(tmp_path), settings={**FAST, "otlp_endpoint": f"http://127.0.0.1:{httpd.server_address[1]}"}).start()
    try:
        secret_code = "print('code-" + os.urandom(6).hex() + "')"
        assert run(s, None, secret_code).status == 200
    finally:
        s.stop()
        httpd.shutdown()
    assert got and all(p == "/v1/traces" for p, _ in got)
    spans = []
    for _, body in got:
        for rs in json.loads(body)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                spans += ss["spans"]
    names = {sp["name"] for sp in spans}
    assert "POST /v1/runs" in names and "run" in names, names
    req = next(sp for sp in spans if sp["name"] == "POST /v1/runs")
    run_span = next(sp for sp in spans if sp["name"] == "run")
    assert run_span["traceId"] == req["traceId"] and run_span["parentSpanId"] == req["spanId"]
    attrs = {a["key"]: a["value"] for a in run_span["attributes"]}
    assert attrs["stockade.run.status"]["stringValue"] == "ok"
    blob = b"".join(b for _, b in got)
    assert s.admin_key.encode() not in blob and secret_code.encode() not in blob


def test_changing_a_policy_retires_the_old_pool(srv):
    """A tenant-admin cannot pile up warm workers by changing its policy over and over."""
    pid = srv.proc.pid
    t = srv.new_tenant()
    ta, _ = srv.new_key(t, "tenant-admin")
    base = len(_supervisors_of(pid))
    for i in range(4):
        pol = f"version = 1\n[env]\nset = {{ N = '{i}' }}\n"
        assert srv.req("PUT", f"/v1/tenants/{t}/policy", key=ta, body={"policy": pol}).status == 200
        assert run(srv, ta, "import os; print(os.environ['N'])").json()["stdout"] == f"{i}\n"
    time.sleep(1.0)
    # one pool of this tenant is left (pool_size 1), not four
    assert len(_supervisors_of(pid)) - base <= 1, (base, _supervisors_of(pid))


def test_nul_characters_are_refused_not_a_database_error(srv):
    """PostgreSQL cannot store NUL in text: found by Schemathesis as a 503; now a 400 naming
    where, on both backends. Input values may still carry NUL (they are never stored)."""
    r = run(srv, None, "print(1)\x00")
    assert r.status == 400 and r.json()["field"] == "code", r
    r = srv.req("POST", "/v1/tenants", body={"id": "x", "name": "a\x00b"})
    assert r.status == 400 and r.json()["field"] == "name", r
    assert srv.req("GET", "/v1/runs/r_%00").status == 400
    r = srv.req("GET", "/v1/audit?action=a%00b")
    assert r.status == 400 and r.json()["field"] == "action", r
    r = run(srv, None, "print(len(s))", inputs={"s": "a\x00b"})
    assert r.status == 200 and r.json()["stdout"] == "3\n", r


def test_a_full_server_refuses_with_429_even_for_async_runs(tmp_path):
    s = Server(data_dir=str(tmp_path), settings={**FAST, "max_concurrent_runs": 1, "queue": 0}).start()
    try:
        first = run(s, None, "import time; time.sleep(1.5)", **{"async": True})
        assert first.status == 202
        for extra in ({"async": True}, {}):
            r = run(s, None, "print(1)", **extra)
            assert r.status == 429 and r.json()["code"] == "server_busy" and r.headers["Retry-After"], r
        # nothing was recorded for the refused ones
        ids = [x["id"] for x in s.req("GET", "/v1/runs").json()["items"]]
        assert ids == [first.json()["id"]]
        time.sleep(1.8)
        assert run(s, None, "print(1)").status == 200
    finally:
        s.stop()


def test_cursor_paging_walks_every_record_once(srv):
    t = srv.new_tenant()
    k, _ = srv.new_key(t, "tenant-admin")
    ids = [run(srv, k, f"print({i})").headers["stockade-run-id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        page = srv.req("GET", "/v1/runs?limit=2" + (f"&cursor={cursor}" if cursor else ""), key=k).json()
        assert len(page["items"]) <= 2
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1], (seen, ids)
    seqs, cursor = [], None
    while True:
        page = srv.req("GET", "/v1/audit?limit=2&action=run.finished" + (f"&cursor={cursor}" if cursor else ""), key=k).json()
        seqs += [x["seq"] for x in page["items"]]
        assert all(x["tenant"] == t for x in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seqs) == 5 and seqs == sorted(seqs)


def test_memory_cap_refuses_a_policy_and_idle_pools_are_closed(tmp_path):
    s = Server(data_dir=str(tmp_path), settings={**FAST, "pool_idle_seconds": 1, "prewarm": "false"}).start(wait_ready=False)
    try:
        t = s.new_tenant(quotas={"max_memory_bytes": 256 << 20})
        r = s.req("PUT", f"/v1/tenants/{t}/policy", body={"policy": "version = 1\n[limits]\nmemory = \"512M\"\n"})
        assert r.status == 422 and r.json()["field"] == "limits.memory", r
        assert s.req("PUT", f"/v1/tenants/{t}/policy", body={"policy": "version = 1\n[limits]\nmemory = \"128M\"\n"}).status == 200
        k, _ = s.new_key(t, "runner")
        assert run(s, k, "print(1)").status == 200
        assert len(_supervisors_of(s.proc.pid)) == 1
        # control above: the pool is there after a run; with no run for pool_idle_seconds it goes
        for _ in range(50):
            if not _supervisors_of(s.proc.pid):
                break
            time.sleep(0.2)
        assert _supervisors_of(s.proc.pid) == []
        assert run(s, k, "print(2)").json()["stdout"] == "2\n"
    finally:
        s.stop()
