"""Hostile review of host functions (webhooks) and replicas in `stockade serve`: each test is an
attack with its evidence on the host (what an endpoint, a decoy or a log received) and a
control showing the payload works when the protection is not in its way, so a test that passes
is one that could have failed.

Everything listens on loopback only.
"""
import json
import os
import signal
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from serve_util import Server, descendants, free_port, postgres_url, request

MARK = "hunter2-7f3a9c"  # what must never reach a run, a listing or a log


class Recorder:
    """An HTTP server on 127.0.0.1 (or another loopback address) whose behaviour is its path;
    it records every request (and every bare connection) it gets."""

    def __init__(self, host="127.0.0.1", port=None, other=None):
        self.requests = []
        self.connections = 0
        self.other = other  # (host, port) a redirect points at
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                rec.connections += 1
                super().setup()

            def do_GET(self):
                rec.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                self.send(200, json.dumps({"value": "reached " + self.path}).encode())

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(n)
                rec.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                     "body": body})
                name = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
                if name in ("ok", "search"):
                    return self.send(200, b'{"value": "ok"}')
                if name == "sleep":
                    time.sleep(4)
                    return self.send(200, b'{"value": "late"}')
                if name == "redirect":
                    h, p = rec.other
                    return self.send(302, b"", [("Location", f"http://{h}:{p}/latest/meta-data")])
                if name == "redirect307":
                    h, p = rec.other
                    return self.send(307, b"", [("Location", f"http://{h}:{p}/latest/meta-data")])
                if name.startswith("garbage"):
                    bodies = {
                        "garbage1": json.dumps({"error": f"upstream db://admin:{MARK}@10.0.0.5"}),
                        "garbage2": json.dumps({"value": 1, MARK: 0}),
                        "garbage3": json.dumps(f"db://admin:{MARK}@10.0.0.5"),
                        "garbage4": json.dumps({"error": {"kind": "X", "message": 5, MARK: 1}}),
                        "garbage5": f"<html>{MARK}</html>",
                        "garbage6": json.dumps({"error": {"kind": MARK, "message": 7}}),
                        # Kinds that would end the run if raised as themselves.
                        "garbage7": json.dumps({"error": {"kind": "SystemExit", "message": "0"}}),
                        "garbage8": json.dumps({"error": {"kind": "KeyboardInterrupt", "message": "x"}}),
                    }
                    return self.send(200, bodies[name].encode())
                if name == "close":
                    # Accept the request and hang up without an answer.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if name == "infinite":
                    self.send_response_only(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
                    try:
                        for _ in range(20000):  # 320 MB at most
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if name == "drip":
                    self.send_response_only(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        for _ in range(40):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.25)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if name == "slowheaders":
                    try:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                        for _ in range(40):
                            self.wfile.write(b"X-A: b\r\n")
                            self.wfile.flush()
                            time.sleep(0.25)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if name == "hugeheaders":
                    self.send_response_only(200)
                    try:
                        for i in range(2000):
                            self.send_header(f"X-Pad-{i}", "p" * 4000)
                        self.send_header("Content-Length", "15")
                        self.end_headers()
                        self.wfile.write(b'{"value": "ok"}')
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                return self.send(404, b"{}")

            def send(self, code, data, headers=()):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers:
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.host = host
        self.port = port or free_port()
        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer((host, self.port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path, host=None):
        return f"http://{host or self.host}:{self.port}/{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ep():
    meta = Recorder()  # stands for the metadata service / an internal admin API
    e = Recorder(other=("127.0.0.1", meta.port))
    e.meta = meta
    yield e
    e.close()
    meta.close()


@pytest.fixture(scope="module")
def srv(ep):
    s = Server(settings={"pool_size": 1, "session_idle_seconds": 30,
                         "functions.allow": f'["127.0.0.1:{ep.port}"]',
                         "functions.max_bytes": 4096}).start()
    yield s
    s.stop()


def register(s, tenant, name, url, key=None, **extra):
    return s.req("PUT", f"/v1/tenants/{tenant}/functions/{name}", key=key, body={"url": url, **extra})


def run(s, key, code, **extra):
    return s.req("POST", "/v1/runs", key=key, body={"code": code, **extra})


CATCH = "try:\n    print(repr({call}))\nexcept BaseException as e:\n    print(type(e).__name__, str(e))\n"


def everything(s, t, r):
    """What a tenant sees of a run: its result, its record, the audit trail."""
    out = [r.body.decode()]
    out.append(s.req("GET", f"/v1/audit?tenant={t}&limit=200").body.decode())
    out.append(s.req("GET", f"/v1/runs/{r.headers['stockade-run-id']}").body.decode())
    return "\n".join(out)


# ----- host functions: where an endpoint may be -----

def test_url_spellings_cannot_reach_outside_functions_allow(srv, ep):
    """Parser differentials and spellings of other hosts are refused at registration; those the
    URL parser reads as the allowed address are allowed and do connect there (so what is vetted
    is what is connected to). Control: the plain spelling registers."""
    t = srv.new_tenant()
    p = ep.port
    refused = [
        f"http://127.0.0.1:{p}@169.254.169.254/",          # userinfo
        f"http://u@127.0.0.1:{p}/",                          # userinfo on the allowed host
        f"http://169.254.169.254\\@127.0.0.1:{p}/",          # backslash is a path separator
        f"http://[::ffff:127.0.0.1]:{p}/",                   # IPv4-mapped IPv6
        f"http://[::ffff:a9fe:a9fe]:{p}/",                   # mapped metadata
        f"http://[::1]:{p}/",
        f"http://[fe80::1%25lo]:{p}/",                       # zone id
        f"http://localhost:{p}/", f"http://LOCALHOST:{p}/",
        f"http://0.0.0.0:{p}/", f"http://127.0.0.2:{p}/",
        f"http://127.0.0.1:{p + 1}/", "http://127.0.0.1/", "http://127.0.0.1:0/",
        f"http://169.254.169.254:{p}/", "http://169.254.169.254/latest",
        f"ftp://127.0.0.1:{p}/", f"gopher://127.0.0.1:{p}/", f"file:///etc/passwd",
        f"//127.0.0.1:{p}/", f"127.0.0.1:{p}", "http:///", "",
        f"http://xn--80ak6aa92e.com:{p}/",
    ]
    for url in refused:
        r = register(srv, t, "f", url)
        assert r.status == 422 and r.json().get("field") == "url", (url, r)
    # Same address, other spellings: the parser reads them as 127.0.0.1:p, and it is there the
    # request goes (evidence: the endpoint receives each call).
    spellings = (f"http://127.1:{p}/ok", f"http://0x7f.0.0.1:{p}/ok", f"http://%31%32%37.0.0.1:{p}/ok",
                 f"http://127.0.0.1.:{p}/ok", f"HTTP://127.0.0.1:{p}/ok", f"http://127.0.0.1:{p}\\@169.254.169.254/ok")
    for i, url in enumerate(spellings):
        r = register(srv, t, f"g{i}", url)
        assert r.status == 201, (url, r.status)
    k, _ = srv.new_key(t, "runner")
    before, meta = len(ep.requests), len(ep.meta.requests)
    r = run(srv, k, "".join(CATCH.format(call=f"g{i}(1)") for i in range(len(spellings))))
    assert r.status == 200 and r.json()["stdout"].splitlines() == ["'ok'"] * len(spellings), r
    assert [q["path"].split("@")[0] for q in ep.requests[before:]] == ["/ok"] * 5 + ["/"], ep.requests[before:]
    assert len(ep.meta.requests) == meta


def test_redirects_to_the_metadata_service_are_not_followed(srv, ep):
    t = srv.new_tenant()
    assert register(srv, t, "redirect", ep.url("redirect")).status == 201
    assert register(srv, t, "redirect307", ep.url("redirect307")).status == 201
    k, _ = srv.new_key(t, "runner")
    before = len(ep.meta.requests)
    r = run(srv, k, CATCH.format(call="redirect(1)") + CATCH.format(call="redirect307(1)"))
    assert r.status == 200, r
    out = r.json()["stdout"]
    assert out.count("HostFunctionError") == 2 and "answered 302" in out and "answered 307" in out, out
    assert len(ep.meta.requests) == before and "reached" not in out
    # Control: a client that follows redirects lands on the "metadata service".
    with urllib.request.urlopen(urllib.request.Request(ep.url("redirect"), data=b"{}", method="POST")) as resp:
        assert b"reached /latest/meta-data" in resp.read()
    assert len(ep.meta.requests) == before + 1


def test_hostile_answers_are_capped_and_timed_out(srv, ep):
    """An infinite chunked answer, a body dripped a byte at a time, headers dripped, a megabyte
    of headers, an endpoint that hangs up: each ends the call with an exception, promptly, and
    the run goes on."""
    t = srv.new_tenant()
    names = ("infinite", "drip", "slowheaders", "hugeheaders", "close")
    for n in names:
        assert register(srv, t, n, ep.url(n), timeout_ms=1500).status == 201
    k, _ = srv.new_key(t, "runner")
    code = "".join(CATCH.format(call=f"{n}(1)") for n in names) + "result = 'alive'"
    started = time.monotonic()
    r = run(srv, k, code)
    took = time.monotonic() - started
    assert r.status == 200 and r.json()["answer"]["value"] == "alive", r
    lines = r.json()["stdout"].splitlines()
    assert len(lines) == 5 and all(l.startswith("HostFunctionError") for l in lines), lines
    assert "CallTooLarge" in lines[0] and "CallTimeout" in lines[1] and "CallTimeout" in lines[2], lines
    assert took < 15, took
    assert srv.req("GET", "/healthz").status == 200
    # Control: the endpoint does send without end, and does drip.
    with socket.create_connection(("127.0.0.1", ep.port)) as c:
        c.sendall(b"POST /infinite HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        got = 0
        while got < 1 << 20:
            got += len(c.recv(65536))
    assert got >= 1 << 20


def test_the_endpoints_text_never_reaches_the_run(srv, ep):
    """A 200 whose body is neither {"value"} nor {"error": {kind, message}}: the run is told so,
    but never what the body held (a parser's message quotes what it read)."""
    t = srv.new_tenant()
    names = [f"garbage{i}" for i in range(1, 9)]
    for n in names:
        assert register(srv, t, n, ep.url(n)).status == 201
    k, _ = srv.new_key(t, "runner")
    before = len(ep.requests)
    r = run(srv, k, "".join(CATCH.format(call=f"{n}(1)") for n in names))
    assert r.status == 200, r
    res = r.json()
    lines = res["stdout"].splitlines()
    assert len(lines) == 8 and all(l.startswith("HostFunctionError") for l in lines), lines
    assert res["status"] == "ok" and "SystemExit" in lines[6] and "KeyboardInterrupt" in lines[7], lines
    assert MARK not in everything(srv, t, r), res["stdout"]
    # Control: the endpoint was called each time and its bodies do hold the mark.
    assert len(ep.requests) == before + 8
    with urllib.request.urlopen(urllib.request.Request(ep.url("garbage1"), data=b"{}", method="POST")) as resp:
        assert MARK in resp.read().decode()


def test_an_endpoints_url_stays_out_of_the_servers_log(srv, ep):
    """The URL's path or query may hold a credential (the audit keeps host:port only for that
    reason); a failed call's warning must not write it to the log either."""
    t = srv.new_tenant()
    url = ep.url(f"close?token={MARK}")
    assert register(srv, t, "hangup", url).status == 201
    k, _ = srv.new_key(t, "runner")
    before = len(ep.requests)
    r = run(srv, k, CATCH.format(call="hangup(1)"))
    assert r.status == 200 and "could not be reached" in r.json()["stdout"], r
    assert len(ep.requests) == before + 1 and MARK in ep.requests[-1]["path"]  # control: it was called
    time.sleep(0.3)
    log = srv.log()
    assert "hangup" in log, log  # control: the failure was logged
    assert MARK not in log, log
    assert MARK not in everything(srv, t, r)


def test_calls_do_not_outlive_the_runs_deadline(srv, ep):
    """A run with a 1.5 s deadline calls a function allowed 20 s whose endpoint takes 4 s: the
    call is cut at the run's deadline (the run sees CallTimeout, or is stopped for its time),
    and the answer does not wait for the endpoint."""
    t = srv.new_tenant()
    assert register(srv, t, "sleep", ep.url("sleep"), timeout_ms=20000).status == 201
    k, _ = srv.new_key(t, "runner")
    started = time.monotonic()
    r = run(srv, k, "sleep(1)", timeout_ms=1500)
    took = time.monotonic() - started
    res = r.json()
    assert r.status == 200 and (res["status"] == "timeout" or "CallTimeout" in res["stderr"]), r
    # Control: the endpoint did get the call (and takes 4 s).
    assert ep.requests[-1]["path"] == "/sleep"
    assert took < 3.5, (took, r)


def test_names_resolve_through_the_vetting_resolver_and_env_proxies_are_ignored(ep, tmp_path):
    """A name that resolves to an unnamed loopback address and to the allowed one: only the
    allowed one is connected to (a decoy listens on the other). The server's environment names
    a proxy: nothing goes through it. Then the operator narrows functions.allow and restarts:
    the registered endpoint may no longer be called, and the run is not told where it was."""
    p = ep.port
    decoy = Recorder(host="127.0.0.2", port=p)
    proxy = Recorder()
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.2 dual.test\n127.0.0.1 dual.test\n127.0.0.1 secret-endpoint.test\n"
                     f"127.0.0.1 evilsfx.test\n")
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    env = {"STOCKADE_EGRESS_HOSTS": str(hosts), "NO_PROXY": "", "no_proxy": ""}
    for v in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        env[v] = proxy_url
    data = str(tmp_path / "data")
    os.makedirs(data)
    wide = json.dumps([f"dual.test:{p}", f"127.0.0.1:{p}", f"secret-endpoint.test:{p}", f"*.sfx.test:{p}"])
    s = Server(settings={"pool_size": 1, "functions.allow": wide}, env=env, data_dir=data).start()
    admin = s.admin_key
    try:
        t = s.new_tenant()
        for url in (f"http://evilsfx.test:{p}/ok", f"http://sfx.test:{p}/ok", f"http://dual.test:{p + 1}/ok"):
            r = register(s, t, "f", url)
            assert r.status == 422 and r.json()["field"] == "url", (url, r)
        assert register(s, t, "dual", f"http://dual.test:{p}/ok").status == 201
        assert register(s, t, "hidden", f"http://secret-endpoint.test:{p}/ok").status == 201
        k, _ = s.new_key(t, "runner")
        before = len(ep.requests)
        r = run(s, k, CATCH.format(call="dual(1)") * 3 + CATCH.format(call="hidden(1)"))
        assert r.status == 200 and r.json()["stdout"].splitlines() == ["'ok'"] * 4, r
        assert len(ep.requests) == before + 4
        assert decoy.connections == 0 and decoy.requests == []
        assert proxy.requests == [] and proxy.connections == 0
    finally:
        s.stop()
    # Controls: the decoy is reachable, and the proxy, used, records the request.
    with urllib.request.urlopen(urllib.request.Request(decoy.url("ok"), data=b"{}", method="POST")) as resp:
        assert resp.status == 200 and decoy.requests
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
    with opener.open(urllib.request.Request(f"http://dual.test:{p}/ok", data=b"{}", method="POST")) as resp:
        assert resp.status == 200 and proxy.requests[-1]["path"] == f"http://dual.test:{p}/ok"
    decoy.close()
    proxy.close()
    # Narrowed: secret-endpoint.test is out of the list.
    s = Server(settings={"pool_size": 1, "functions.allow": json.dumps([f"127.0.0.1:{p}"])}, env=env,
               data_dir=data)
    s.start()
    s.admin_key = admin
    try:
        before = len(ep.requests)
        r = run(s, k, CATCH.format(call="hidden(1)"))
        assert r.status == 200, r
        res = r.json()
        assert res["stdout"].startswith("HostFunctionError"), res
        assert len(ep.requests) == before
        seen = json.dumps(res) + s.req("GET", f"/v1/runs/{r.headers['stockade-run-id']}").body.decode()
        assert "secret-endpoint" not in seen and str(p) not in seen, res["stdout"]
    finally:
        s.stop()
    assert f"secret-endpoint.test:{p}/ok" not in s.log()


def test_a_runner_key_does_not_list_the_endpoints_url(srv, ep):
    t = srv.new_tenant()
    assert register(srv, t, "hook", ep.url(f"ok?token={MARK}")).status == 201
    k, _ = srv.new_key(t, "runner")
    # Control: the URL with its token is what the function calls.
    before = len(ep.requests)
    assert run(srv, k, "print(hook(1))").json()["stdout"] == "ok\n"
    assert MARK in ep.requests[before]["path"]
    listed = srv.req("GET", f"/v1/tenants/{t}/functions", key=k)
    assert listed.status == 200 and listed.json()[0]["name"] == "hook"
    assert MARK not in listed.body.decode()


def test_a_deleted_function_is_not_callable_from_a_sessions_later_cell(srv, ep):
    """The stub stays in the session's namespace after the function is removed; calling it, or
    forging its call frame, reaches nothing. Control: the same call in the cell before works."""
    t = srv.new_tenant()
    assert register(srv, t, "search", ep.url("search")).status == 201
    k, _ = srv.new_key(t, "runner")
    sid = srv.req("POST", "/v1/sessions", key=k, body={}).json()["id"]
    try:
        before = len(ep.requests)
        r = srv.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "keep = search\nprint(search(1))"})
        assert r.status == 200 and r.json()["stdout"] == "ok\n", r
        assert len(ep.requests) == before + 1
        assert srv.req("DELETE", f"/v1/tenants/{t}/functions/search").status == 204
        forge = ("import json, os, struct\nbody = json.dumps({'name': 'search', 'args': [1], 'kwargs': {}}).encode()\n"
                 "try:\n    os.write(9, struct.pack('<2sBBIQ', b'SK', 1, 18, len(body), 99) + body)\n"
                 "    print('wrote', os.read(9, 4096))\nexcept OSError as e:\n    print('refused', e.errno)\n")
        r = srv.req("POST", f"/v1/sessions/{sid}/runs", key=k,
                    body={"code": CATCH.format(call="keep(1)") + forge})
        assert r.status == 200, r
        out = r.json()["stdout"]
        assert out.startswith("HostFunctionError") and "refused" in out.splitlines()[1], out
        assert len(ep.requests) == before + 1
    finally:
        srv.req("DELETE", f"/v1/sessions/{sid}", key=k)


def test_another_tenant_cannot_see_change_remove_or_call_a_function(srv, ep):
    a, b = srv.new_tenant(), srv.new_tenant()
    assert register(srv, a, "search", ep.url("search")).status == 201
    tb, _ = srv.new_key(b, "tenant-admin")
    kb, _ = srv.new_key(b, "runner")
    for method, path, body in (("GET", f"/v1/tenants/{a}/functions", None),
                               ("PUT", f"/v1/tenants/{a}/functions/search", {"url": ep.url("ok")}),
                               ("DELETE", f"/v1/tenants/{a}/functions/search", None)):
        r = srv.req(method, path, key=tb, body=body)
        assert r.status == 404, (method, r)
    before = len(ep.requests)
    r = run(srv, kb, "search(1)", functions=["search"])
    assert r.status == 422 and r.json()["field"] == "functions", r
    assert len(ep.requests) == before
    # Control: tenant a's own admin sees it, and its run calls it.
    ta, _ = srv.new_key(a, "tenant-admin")
    assert [f["name"] for f in srv.req("GET", f"/v1/tenants/{a}/functions", key=ta).json()] == ["search"]
    ka, _ = srv.new_key(a, "runner")
    assert run(srv, ka, "print(search(1))", functions=["search"]).json()["stdout"] == "ok\n"


def test_at_most_64_functions_even_registered_all_at_once(srv, ep):
    t = srv.new_tenant()
    codes = []

    def put(i):
        r = register(srv, t, f"f{i}", ep.url("ok"), description="d" * 4096)
        codes.append(r.status)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(72)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    assert codes.count(201) == 64 and codes.count(422) == 8, sorted(codes)
    assert len(srv.req("GET", f"/v1/tenants/{t}/functions").json()) == 64
    r = register(srv, t, "f0", ep.url("ok"), description="d" * 4097)
    assert r.status == 422 and r.json()["field"] == "description", r


# ----- replicas sharing PostgreSQL -----

FAST = {"pool_size": 1, "session_idle_seconds": 60, "heartbeat_ms": 300, "peer_timeout_ms": 2000,
        "max_concurrent_runs": 4}


@pytest.fixture
def pair():
    db = postgres_url()
    servers = [Server(database=db, settings=FAST, instance=f"attack-{i}").start() for i in range(2)]
    admin = next(s.admin_key for s in servers if s.admin_key)
    for s in servers:
        s.admin_key = admin
        s.db = db
    yield servers
    for s in servers:
        if s.proc and s.proc.poll() is None:
            os.kill(s.proc.pid, signal.SIGCONT)
            s.stop()



def test_sessions_of_another_tenant_are_404_through_either_replica_forged_header_or_not(pair):
    a, b = pair
    t, other = a.new_tenant(), a.new_tenant()
    k, _ = a.new_key(t, "runner")
    k2, _ = a.new_key(other, "tenant-admin")
    k3, _ = a.new_key(t, "runner")  # same tenant, another runner: sees only its own sessions
    sid = a.req("POST", "/v1/sessions", key=k, body={}).json()["id"]
    for s in (a, b):
        for h in ({}, {"X-Stockade-Forwarded-By": "attack-0"}, {"X-Stockade-Forwarded-By": "attack-1"}):
            for method, path, body in (("POST", f"/v1/sessions/{sid}/runs", {"code": "1"}),
                                       ("GET", f"/v1/sessions/{sid}", None),
                                       ("DELETE", f"/v1/sessions/{sid}", None)):
                for other_key in (k2, k3):
                    r = request(s.url, method, path, key=other_key, body=body, headers=h)
                    assert r.status == 404, (s.instance, h, method, r)
                r = request(s.url, method, path, key="sk_000000000000_" + "A" * 43, body=body, headers=h)
                assert r.status == 401, (s.instance, h, method, r)
    # Control: the owner's tenant reaches it through either replica.
    for s in (a, b):
        r = request(s.url, "POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "result = 7"})
        assert r.status == 200 and r.json()["answer"]["value"] == 7, r
    assert request(b.url, "DELETE", f"/v1/sessions/{sid}", key=k).status == 204


def test_a_forged_forwarded_delete_cannot_orphan_a_jail_past_the_session_quota(pair):
    """DELETE through the replica that does not hold the session, with a forged
    X-Stockade-Forwarded-By: that replica must not mark the session closed while its jail lives
    on in the owner (the quota counts records, so each such jail would be one more than the
    tenant may have)."""
    a, b = pair
    t = a.new_tenant(quotas={"sessions": 1})
    k, _ = a.new_key(t, "runner")
    sid = a.req("POST", "/v1/sessions", key=k, body={}).json()["id"]
    r = a.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "import os\nresult = os.getpid()"})
    assert r.status == 200, r
    r = request(b.url, "DELETE", f"/v1/sessions/{sid}", key=k, headers={"X-Stockade-Forwarded-By": "attack-0"})
    assert r.status != 204, r
    # The record still says open (so the quota still counts it) and the jail still answers.
    assert a.req("GET", f"/v1/sessions/{sid}", key=k).json()["state"] == "open"
    assert a.req("POST", "/v1/sessions", key=k, body={}).status == 429
    r = a.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "result = 1"})
    assert r.status == 200, r
    # Control: a plain DELETE through the same replica closes the jail on the owner.
    assert request(b.url, "DELETE", f"/v1/sessions/{sid}", key=k).status == 204
    assert a.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "result = 1"}).status == 410
    assert a.req("POST", "/v1/sessions", key=k, body={}).status == 201


def test_a_stopped_owner_does_not_hang_requests_forwarded_to_it(pair):
    """The owner is stopped (SIGSTOP: its socket still accepts, nothing answers) — a hung
    process, or a VM paused. A cell sent through the other replica, before and while it stops,
    must end once the owner is taken for dead, not wait for ever."""
    a, b = pair
    t = a.new_tenant()
    k, _ = a.new_key(t, "runner")
    sid = a.req("POST", "/v1/sessions", key=k, body={}).json()["id"]
    assert request(b.url, "POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "result = 1"}).status == 200
    results = {}

    def streaming():  # in flight when the owner stops
        try:
            results["stream"] = request(b.url, "POST", f"/v1/sessions/{sid}/runs", key=k, timeout=20,
                                        body={"code": "import time\nfor i in range(8):\n    print(i, flush=True)\n"
                                                      "    time.sleep(0.5)"},
                                        headers={"Accept": "text/event-stream"})
        except Exception as e:  # a cut-off stream is an answer too
            results["stream"] = e

    th = threading.Thread(target=streaming)
    th.start()
    time.sleep(1.0)
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        # Control: the owner itself does not answer.
        with pytest.raises(OSError):
            request(a.url, "GET", "/healthz", timeout=1)
        started = time.monotonic()
        try:
            r = request(b.url, "POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "result = 2"}, timeout=12)
        except OSError as e:
            r = e
        took = time.monotonic() - started
        th.join(25)
        assert not isinstance(r, OSError) and r.status in (410, 503), (r, took)
        assert took < 8, took
        assert "stream" in results and not th.is_alive()
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)


def test_a_replica_taken_for_dead_does_not_turn_its_lost_runs_back(pair):
    """docs/serve.md: "A replica that was only cut off ... comes back registers again; its runs
    that were marked lost stay lost." The replica is stopped past the peer timeout mid-run, its
    peer marks the run lost, then it resumes and its run ends."""
    a, b = pair
    t = a.new_tenant()
    k, _ = a.new_key(t, "runner")
    r = a.req("POST", "/v1/runs", key=k, body={"code": "import time; time.sleep(3); result = 'finished'",
                                               "async": True})
    assert r.status == 202, r
    rid = r.json()["id"]
    time.sleep(0.5)
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b.req("GET", f"/v1/runs/{rid}", key=k).json()["state"] != "lost":
            time.sleep(0.2)
        assert b.req("GET", f"/v1/runs/{rid}", key=k).json()["state"] == "lost"  # control: it was taken for dead
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    time.sleep(2.5)  # the jail's sleep is over; the resumed replica has its result
    state = b.req("GET", f"/v1/runs/{rid}", key=k).json()["state"]
    actions = [e["action"] for e in b.req("GET", f"/v1/audit?tenant={t}&limit=50").json()["items"]
               if e.get("target") == rid]
    assert state == "lost" and actions.count("run.lost") == 1 and "run.finished" not in actions, (state, actions)


def test_the_jail_cannot_abuse_the_call_channel(srv, ep):
    """From inside the run: an argument over functions.max_bytes, more calls than
    functions.max_calls, and a forged frame announcing 4 GiB. The endpoint sees only the calls
    within the limits; the run ends on time and the server stays up."""
    t = srv.new_tenant()
    assert register(srv, t, "search", ep.url("search")).status == 201
    k, _ = srv.new_key(t, "runner")
    before = len(ep.requests)
    # Over the limit: the supervisor shuts the channel (docs/functions.md), nothing is passed on.
    r = run(srv, k, CATCH.format(call="search('x' * 10000)") + CATCH.format(call="search(1)"))
    assert r.status == 200, r
    lines = r.json()["stdout"].splitlines()
    assert len(lines) == 2 and all(l.startswith("HostFunctionError") for l in lines), lines
    assert len(ep.requests) == before
    code = """
n, errors = 0, set()
for i in range(110):
    try:
        search(i)
        n += 1
    except Exception as e:
        errors.add(type(e).__name__ + ': ' + str(e)[:60])
print(n, sorted(errors))
"""
    r = run(srv, k, code)
    assert r.status == 200, r
    out = r.json()["stdout"]
    assert out.startswith("100 ") and "TooManyCalls" in out, out  # control: calls within the limit pass
    assert len(ep.requests) - before == 100
    forge = """
import os, struct
try:
    os.write(9, struct.pack("<2sBBIQ", b"SK", 1, 18, 0xFFFFFFF0, 1) + b"{" * 1000)
    print("wrote", os.read(9, 64))
except OSError as e:
    print("refused", e.errno)
"""
    started = time.monotonic()
    r = run(srv, k, forge, timeout_ms=3000)
    assert r.status == 200 and time.monotonic() - started < 10, r
    assert srv.req("GET", "/healthz").status == 200
    assert run(srv, k, "print(search(1))").json()["stdout"] == "ok\n"


def test_a_claim_that_was_never_settled_does_not_strand_runs_for_ever(pair):
    """A peer claims a dead replica's row (a DELETE) and dies, or the database fails it, before
    it marks the runs lost (here: the row is deleted by hand after the replica is killed). The
    runs must not stay `running` for ever, holding the tenant's concurrent_runs quota."""
    import subprocess
    a, b = pair
    t = a.new_tenant(quotas={"concurrent_runs": 1, "sessions": 1})
    k, _ = a.new_key(t, "runner")
    r = a.req("POST", "/v1/runs", key=k, body={"code": "import time; time.sleep(60)", "async": True})
    assert r.status == 202, r
    rid = r.json()["id"]
    sid = a.req("POST", "/v1/sessions", key=k, body={}).json()["id"]
    time.sleep(0.5)
    a.kill()
    subprocess.run(["psql", a.db, "-v", "ON_ERROR_STOP=1", "-qc", f"DELETE FROM instances WHERE name = '{a.instance}'"],
                   check=True, capture_output=True, timeout=30)
    # Control: while the run is unfinished, its tenant's quota is taken.
    assert b.req("POST", "/v1/runs", key=k, body={"code": "result = 1"}).status == 429
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and b.req("GET", f"/v1/runs/{rid}", key=k).json()["state"] != "lost":
        time.sleep(0.3)
    assert b.req("GET", f"/v1/runs/{rid}", key=k).json()["state"] == "lost"
    assert b.req("GET", f"/v1/sessions/{sid}", key=k).json()["state"] == "closed"
    r = b.req("POST", "/v1/runs", key=k, body={"code": "result = 1"})
    assert r.status == 200 and r.json()["answer"]["value"] == 1, r
    time.sleep(2.5)  # another sweep: nothing is recorded twice
    items = b.req("GET", f"/v1/audit?tenant={t}&limit=50").json()["items"]
    assert [e["action"] for e in items if e.get("target") == rid].count("run.lost") == 1


def test_a_replica_taken_for_dead_closes_the_jails_of_its_lost_sessions(pair):
    """Stopped past the peer timeout, the replica's session is closed as lost by its peer (so it
    no longer counts against the tenant's quota); when it resumes, the jail must go too, not live
    on to its idle timeout."""
    a, b = pair
    t = a.new_tenant(quotas={"sessions": 1})
    k, _ = a.new_key(t, "runner")
    baseline = descendants(a.proc.pid)
    sid = a.req("POST", "/v1/sessions", key=k, body={}).json()["id"]
    assert a.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "x = 1"}).status == 200
    jail = descendants(a.proc.pid) - baseline
    assert jail, "the session has no processes"  # control: the session's jail is there
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b.req("GET", f"/v1/sessions/{sid}", key=k).json()["state"] != "closed":
            time.sleep(0.2)
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    assert b.req("GET", f"/v1/sessions/{sid}", key=k).json()["state"] == "closed"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [p for p in jail if os.path.exists(f"/proc/{p}")]:
        time.sleep(0.2)
    assert [p for p in jail if os.path.exists(f"/proc/{p}")] == []


SKEW_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *) = 0;
    if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
    int r = real(id, ts);
    const char *s = getenv("SKEW_SECONDS");
    if (r == 0 && s && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += atol(s);
    return r;
}
"""


def test_a_replica_with_a_clock_ahead_does_not_take_live_peers_for_dead(tmp_path):
    """One replica's clock runs 30 s ahead (NTP broken; an LD_PRELOAD shim here). Heartbeats
    judged by the servers' own clocks make it claim its live peer at once and lose its runs."""
    import shutil
    import subprocess
    if not shutil.which("gcc"):
        pytest.skip("no gcc to build the clock shim")
    so = tmp_path / "libskew.so"
    (tmp_path / "skew.c").write_text(SKEW_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), str(tmp_path / "skew.c"), "-ldl"], check=True)
    # Control: the shim does move the clock.
    ahead = subprocess.run(["date", "+%s"], env={**os.environ, "LD_PRELOAD": str(so), "SKEW_SECONDS": "30"},
                           capture_output=True, text=True).stdout
    assert int(ahead) - time.time() > 25
    db = postgres_url()
    a = Server(database=db, settings=FAST, instance="clock-ok").start()
    b = Server(database=db, settings=FAST, instance="clock-ahead",
               env={"LD_PRELOAD": str(so), "SKEW_SECONDS": "30"}).start()
    try:
        k = a.admin_key or b.admin_key
        r = a.req("POST", "/v1/runs", key=k, body={"code": "import time; time.sleep(4); result = 1", "async": True})
        assert r.status == 202, r
        rid = r.json()["id"]
        time.sleep(3)
        assert a.req("GET", f"/v1/runs/{rid}", key=k).json()["state"] == "running"
        assert "stopped answering" not in b.log()
    finally:
        b.stop()
        a.stop()
