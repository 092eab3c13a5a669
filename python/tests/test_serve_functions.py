"""A tenant's host functions in `stockade serve`: webhooks a tenant-admin registers, called from
the tenant's runs through the server. Evidence is on the host: the endpoint (a server on
127.0.0.1) records every request it gets and checks its signature, so a refused call is one
that never arrived, and a secret that leaks is one found in what the run or the API returned.
"""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from serve_util import Server, free_port


class Endpoint:
    """Webhook endpoints on 127.0.0.1, one per path, recording each request."""

    def __init__(self):
        self.requests = []
        self.secrets = {}
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stamp = self.headers.get("X-Stockade-Timestamp", "")
                sig = self.headers.get("X-Stockade-Signature", "")
                secret = endpoint.secrets.get(self.path.strip("/"), "")
                want = "v1=" + hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                signed = bool(secret) and hmac.compare_digest(sig, want)
                endpoint.requests.append({"path": self.path, "body": json.loads(body), "signed": signed,
                                          "headers": dict(self.headers)})
                if not signed:
                    return self.answer(401, {"error": {"kind": "PermissionError", "message": "bad signature"}})
                call = json.loads(body)
                name = self.path.strip("/")
                if name == "search":
                    q, = call["args"]
                    return self.answer(200, {"value": [f"{q}-{i}" for i in range(call["kwargs"].get("limit", 1))]})
                if name == "missing":
                    return self.answer(200, {"error": {"kind": "KeyError", "message": "no such user"}})
                if name == "slow":
                    time.sleep(3)
                    return self.answer(200, {"value": "late"})
                if name == "big":
                    return self.answer(200, {"value": "x" * 100_000})
                if name == "broken":
                    return self.answer(503, {"detail": "internal: db://admin:hunter2@10.0.0.5"})
                return self.answer(404, {})

            def answer(self, code, obj):
                data = json.dumps(obj).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def endpoint():
    e = Endpoint()
    yield e
    e.close()


@pytest.fixture(scope="module")
def srv(endpoint):
    s = Server(settings={"pool_size": 1, "session_idle_seconds": 30,
                         "functions.allow": f'["127.0.0.1:{endpoint.port}"]',
                         "functions.max_bytes": 4096}).start()
    yield s
    s.stop()


def register(srv, tenant, name, endpoint, key=None, **extra):
    r = srv.req("PUT", f"/v1/tenants/{tenant}/functions/{name}", key=key,
                body={"url": endpoint.url(name), **extra})
    if r.status in (200, 201):
        endpoint.secrets[name] = r.json()["signing_secret"]
    return r


def run(srv, key, code, **extra):
    return srv.req("POST", "/v1/runs", key=key, body={"code": code, **extra})


def test_a_tenant_function_is_called_from_the_jail_and_its_secret_stays_on_the_host(srv, endpoint):
    t = srv.new_tenant()
    ta, _ = srv.new_key(t, "tenant-admin")
    r = register(srv, t, "search", endpoint, key=ta, description="Search the catalogue")
    assert r.status == 201, r
    secret = r.json()["signing_secret"]
    assert secret.startswith("whsec_") and r.json()["url"] == endpoint.url("search")
    runner, _ = srv.new_key(t, "runner")
    before = len(endpoint.requests)
    r = run(srv, runner, "import os\nprint(search('q', limit=2))\nprint(sorted(os.environ.items()))\n"
                         "print(search.__doc__, getattr(search, '__wrapped__', None))")
    assert r.status == 200, r
    res = r.json()
    assert res["status"] == "ok" and res["stdout"].splitlines()[0] == "['q-0', 'q-1']", res
    got = endpoint.requests[before:]
    assert len(got) == 1 and got[0]["signed"], got
    assert got[0]["body"]["tenant"] == t and got[0]["body"]["run"] == r.headers["stockade-run-id"]
    assert got[0]["body"]["args"] == ["q"] and got[0]["body"]["kwargs"] == {"limit": 2}
    # The run saw neither the endpoint nor its secret; the API never shows the secret again.
    text = json.dumps(res)
    assert secret not in text and str(endpoint.port) not in text
    assert [c["name"] for c in res["calls"]] == ["search"] and res["calls"][0]["outcome"] == "returned"
    listed = srv.req("GET", f"/v1/tenants/{t}/functions", key=runner)
    assert listed.status == 200 and [f["name"] for f in listed.json()] == ["search"]
    assert secret not in listed.body.decode() and listed.json()[0]["description"] == "Search the catalogue"
    audit = srv.req("GET", f"/v1/audit?tenant={t}").json()["items"]
    registered = [e for e in audit if e["action"] == "function.registered"]
    assert registered and registered[0]["detail"]["endpoint"] == f"127.0.0.1:{endpoint.port}", audit
    assert secret not in json.dumps(audit) and endpoint.url("search") not in json.dumps(audit)
    # Registering again makes a new secret (the old one no longer signs).
    again = register(srv, t, "search", endpoint, key=ta)
    assert again.status == 200 and again.json()["signing_secret"] != secret


def test_errors_cross_as_exceptions_and_the_run_goes_on(srv, endpoint):
    t = srv.new_tenant()
    for name, extra in (("missing", {}), ("slow", {"timeout_ms": 500}), ("big", {}), ("broken", {})):
        assert register(srv, t, name, endpoint, **extra).status == 201
    k, _ = srv.new_key(t, "runner")
    code = """
out = []
for f in (missing, slow, big, broken):
    try:
        f(1)
    except KeyError as e:
        out.append(("KeyError", str(e)))
    except Exception as e:
        out.append((type(e).__name__, str(e)))
print(out)
result = "survived"
"""
    start = time.monotonic()
    r = run(srv, k, code)
    assert r.status == 200, r
    res = r.json()
    assert res["status"] == "ok" and res["answer"]["value"] == "survived", res
    out = res["stdout"]
    assert "('KeyError', \"'no such user'\")" in out, out
    assert "CallTimeout" in out and "CallTooLarge" in out and "answered 503" in out, out
    # The endpoint's own error text (a DSN with a password) never reaches the run.
    assert "hunter2" not in json.dumps(res)
    assert time.monotonic() - start < 10
    assert [(c["name"], c["outcome"]) for c in res["calls"]] == [
        ("missing", "raised"), ("slow", "raised"), ("big", "raised"), ("broken", "raised")], res["calls"]


def test_a_run_calls_only_its_tenants_functions_and_only_those_it_names(srv, endpoint):
    a, b = srv.new_tenant(), srv.new_tenant()
    assert register(srv, a, "search", endpoint).status == 201
    kb, _ = srv.new_key(b, "runner")
    before = len(endpoint.requests)
    r = run(srv, kb, "search('x')")
    assert r.status == 200 and r.json()["status"] == "error" and "NameError" in r.json()["stderr"], r
    ka, _ = srv.new_key(a, "runner")
    r = run(srv, ka, "search('x')", functions=[])
    assert r.status == 200 and "NameError" in r.json()["stderr"], r
    r = run(srv, ka, "search('x')", functions=["nope"])
    assert r.status == 422 and r.json()["field"] == "functions", r
    assert len(endpoint.requests) == before
    # A hostile run forging a call frame for a name it was not given gets nothing through.
    forge = """
import json, os, struct
body = json.dumps({"name": "search", "args": ["x"], "kwargs": {}}).encode()
try:
    os.write(9, struct.pack("<2sBBIQ", b"SK", 1, 18, len(body), 1) + body)
    print("wrote", os.read(9, 4096))
except OSError as e:
    print("refused", e.errno)
"""
    for key, extra in ((kb, {}), (ka, {"functions": []})):
        r = run(srv, key, forge, **extra)
        assert r.status == 200 and "refused" in r.json()["stdout"] or "UnknownFunction" in r.json()["stdout"], r
    assert len(endpoint.requests) == before


def test_who_may_register_what_and_where(srv, endpoint):
    t, other = srv.new_tenant(), srv.new_tenant()
    ta, _ = srv.new_key(t, "tenant-admin")
    for role in ("runner", "auditor"):
        k, _ = srv.new_key(t, role)
        r = srv.req("PUT", f"/v1/tenants/{t}/functions/f", key=k, body={"url": endpoint.url("search")})
        assert r.status == 403, (role, r)
    # Another tenant's functions look absent.
    r = srv.req("PUT", f"/v1/tenants/{other}/functions/f", key=ta, body={"url": endpoint.url("search")})
    assert r.status == 404, r
    assert srv.req("GET", f"/v1/tenants/{other}/functions", key=ta).status == 404
    # Only where the operator allows: another port, the metadata address, a user in the URL,
    # a scheme that is not HTTP, a name that is not an identifier.
    for url in (f"http://127.0.0.1:{endpoint.port + 1}/f", "http://169.254.169.254/latest/meta-data",
                f"http://u:p@127.0.0.1:{endpoint.port}/f", f"file:///etc/passwd",
                f"http://localhost:{endpoint.port}/f"):
        r = srv.req("PUT", f"/v1/tenants/{t}/functions/f", key=ta, body={"url": url})
        assert r.status == 422 and r.json()["field"] == "url", (url, r)
    for bad in ("not-a-name", "print", "open", "result", "_call"):
        r = srv.req("PUT", f"/v1/tenants/{t}/functions/{bad}", key=ta, body={"url": endpoint.url("search")})
        assert r.status == 422 and r.json()["field"] == "name", (bad, r)
    r = srv.req("PUT", f"/v1/tenants/{t}/functions/f", key=ta, body={"url": endpoint.url("f"), "timeout_ms": 600000})
    assert r.status == 422 and r.json()["field"] == "timeout_ms", r
    assert srv.req("GET", f"/v1/tenants/{t}/functions", key=ta).json() == []
    # Removal: the name is gone from later runs.
    assert register(srv, t, "search", endpoint, key=ta).status == 201
    assert srv.req("DELETE", f"/v1/tenants/{t}/functions/search", key=ta).status == 204
    assert srv.req("DELETE", f"/v1/tenants/{t}/functions/search", key=ta).status == 404
    k, _ = srv.new_key(t, "runner")
    assert "NameError" in run(srv, k, "search('x')").json()["stderr"]


def test_sessions_call_functions_too_and_calls_are_audited(srv, endpoint):
    t = srv.new_tenant()
    assert register(srv, t, "search", endpoint).status == 201
    k, _ = srv.new_key(t, "runner")
    s = srv.req("POST", "/v1/sessions", key=k, body={})
    assert s.status == 201, s
    sid = s.json()["id"]
    try:
        r = srv.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "hits = search('s', limit=3)"})
        assert r.status == 200 and r.json()["status"] == "ok", r
        r = srv.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "result = len(hits)"})
        assert r.json()["answer"]["value"] == 3, r
    finally:
        srv.req("DELETE", f"/v1/sessions/{sid}", key=k)
    items = srv.req("GET", f"/v1/audit?tenant={t}").json()["items"]
    calls = [c for e in items if e["action"] == "run.finished" for c in (e["detail"].get("calls") or [])]
    assert [c["name"] for c in calls] == ["search"], items
    metrics = srv.req("GET", "/metrics").body.decode()
    assert 'stockade_function_calls_total{outcome="returned"}' in metrics


def test_a_name_that_resolves_to_a_special_address_is_refused_when_called(endpoint, tmp_path):
    """The endpoint's name is allowed, but it resolves to loopback (a rebinding attack, or a
    mistake): the server's resolver hands the client no address, so nothing connects. Naming
    the address in functions.allow is the control that lets the same call through."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 tools.test\n")
    results = []
    for allow in ([f"tools.test:{endpoint.port}"], [f"tools.test:{endpoint.port}", f"127.0.0.1:{endpoint.port}"]):
        s = Server(settings={"pool_size": 1, "functions.allow": json.dumps(allow)},
                   env={"STOCKADE_EGRESS_HOSTS": str(hosts)}).start()
        try:
            t = s.new_tenant()
            r = s.req("PUT", f"/v1/tenants/{t}/functions/search", body={"url": f"http://tools.test:{endpoint.port}/search"})
            assert r.status == 201, r
            endpoint.secrets["search"] = r.json()["signing_secret"]
            k, _ = s.new_key(t, "runner")
            before = len(endpoint.requests)
            r = run(s, k, "try:\n    print(search('q'))\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
            results.append((r.json()["stdout"], len(endpoint.requests) - before))
        finally:
            s.stop()
    (refused, n_refused), (allowed, n_allowed) = results
    assert "could not be reached" in refused and n_refused == 0, results
    assert allowed.strip() == "['q-0']" and n_allowed == 1, results
