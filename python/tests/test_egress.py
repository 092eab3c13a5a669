"""Network through the host's egress proxy (`network.mode = "proxy"`), attacked for real.

Every destination is a server this file starts on 127.0.0.1, allowed by an explicit address
entry. Evidence is on the host: each server counts the connections and requests it got, so a
refusal is proven by a count that stays at zero, and each refusal has a control (the same
request, allowed) that shows the count can move.
"""
import datetime
import http.server
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

import stockade

PY = "/usr/bin/python3.11"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ----- servers on the host that count what reaches them -----


class Origin:
    """A threaded HTTP server on 127.0.0.1 (optionally TLS) that counts connections and
    requests and answers `hello <path>` (or `size` bytes for /big)."""

    def __init__(self, tls_context=None):
        self.connections = 0
        self.requests = []
        self.handshakes = 0
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                origin.requests.append((self.path, dict(self.headers)))
                if self.path.startswith("/big"):
                    body = b"x" * int(self.path.split("=")[1])
                else:
                    body = f"hello {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                origin.connections += 1
                if tls_context is not None:
                    sock = tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                    try:
                        sock.settimeout(5)
                        sock.do_handshake()
                        origin.handshakes += 1
                    except (ssl.SSLError, OSError):
                        sock.close()
                        raise
                return sock, addr

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Listener:
    """A bare TCP listener that only counts connections (UDP too when asked)."""

    def __init__(self, udp=False):
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.udp = udp
        if not udp:
            self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop:
            try:
                if self.udp:
                    self.sock.recvfrom(65536)
                else:
                    conn, _ = self.sock.accept()
                    conn.close()
                self.hits += 1
            except OSError:
                continue

    def close(self):
        self._stop = True
        self.thread.join()
        self.sock.close()


def make_ca(tmp_path, names):
    """A test CA and a server certificate for `names` (DNS names and IP addresses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stockade test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem)
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return ca_pem, ctx


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


@pytest.fixture
def hosts_file(tmp_path, monkeypatch):
    """Names the proxy resolves on the host (STOCKADE_EGRESS_HOSTS, read by the supervisor)."""
    path = tmp_path / "hosts"
    path.write_text(
        "127.0.0.1 api.test other.test loop.test\n"
        "169.254.169.254 metadata.test\n"
        "::ffff:169.254.169.254 mapped-metadata.test\n"
        "10.0.0.7 private.test\n"
    )
    monkeypatch.setenv("STOCKADE_EGRESS_HOSTS", str(path))
    return path


def policy(*allow, extra=""):
    entries = ", ".join(f'"{a}"' for a in allow)
    return f'version = 1\n[python]\ninterpreter = "{PY}"\n[network]\nallow = [{entries}]\n{extra}'


def flows(r, decision=None):
    fl = (r.network or {}).get("flows", [])
    return [f for f in fl if decision is None or f["decision"] == decision]


def supervisor_violations(r):
    return [v for v in r.violations if v.get("reported_by") == "supervisor"]


# ----- the basics: allowed, unlisted -----


def test_urllib_reaches_an_allowed_origin_and_an_unlisted_port_gets_403(origin):
    other = Listener()
    try:
        code = f"""
import urllib.request, urllib.error
print(urllib.request.urlopen("http://127.0.0.1:{origin.port}/a").read().decode())
try:
    urllib.request.urlopen("http://127.0.0.1:{other.port}/")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip(), "|", e.headers.get("X-Stockade-Refused-By"))
"""
        r = stockade.run(code, policy=policy(f"127.0.0.1:{origin.port}"))
        assert r.ok, r
        lines = r.stdout.splitlines()
        assert lines[0] == "hello /a"
        assert lines[1].startswith("403 ") and "not in network.allow" in lines[1], lines
        assert lines[1].endswith("| network.allow"), lines
        # Evidence on the host: the origin got the request, the unlisted listener nothing.
        assert [p for p, _ in origin.requests] == ["/a"]
        time.sleep(0.3)
        assert other.hits == 0
        allowed, denied = flows(r, "allowed"), flows(r, "denied")
        assert allowed[0]["host"] == "127.0.0.1" and allowed[0]["port"] == origin.port
        assert allowed[0]["address"] == "127.0.0.1" and allowed[0]["bytes_down"] > 0
        assert allowed[0]["rule"] == f"127.0.0.1:{origin.port}"
        assert denied[0]["port"] == other.port and denied[0]["rule"] == "network.allow"
        v = supervisor_violations(r)
        assert v and v[0]["event"] == "network.connect" and v[0]["rule"] == "network.allow"
        layer = [l for l in r.isolation["layers"] if l["name"] == "network-namespace"][0]
        assert "egress proxy on 127.0.0.1:3128" in layer["mechanism"]
    finally:
        other.close()


def test_without_a_network_policy_nothing_leaves(origin):
    code = f"""
import os
print(sorted(k for k in os.environ if "proxy" in k.lower()))
"""
    r = stockade.run(code, policy=f'version = 1\n[python]\ninterpreter = "{PY}"\n')
    assert r.ok and r.stdout.strip() == "[]" and r.network is None
    # The guard still refuses the network modules, and the kernel would refuse the socket.
    r = stockade.run(f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{origin.port}/')",
                     policy=f'version = 1\n[python]\ninterpreter = "{PY}"\n')
    assert not r.ok and origin.connections == 0


def test_http_client_tunnel_and_plain_request(origin):
    code = f"""
import http.client
c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
c.set_tunnel("127.0.0.1", {origin.port})
c.request("GET", "/tunnelled")
print(c.getresponse().read().decode())
c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
c.request("GET", "http://127.0.0.1:{origin.port}/plain", headers={{"Proxy-Authorization": "Basic eA==", "X-Mine": "1"}})
print(c.getresponse().read().decode())
"""
    r = stockade.run(code, policy=policy(f"127.0.0.1:{origin.port}"))
    assert r.ok, r
    assert r.stdout.splitlines() == ["hello /tunnelled", "hello /plain"]
    methods = sorted(f["method"] for f in flows(r, "allowed"))
    assert methods == ["CONNECT", "GET"]
    # Hop-by-hop and proxy headers are not forwarded; the request is in origin form.
    plain = {k.lower(): v for k, v in [h for p, h in origin.requests if p == "/plain"][0].items()}
    assert "proxy-authorization" not in plain and plain.get("x-mine") == "1"
    assert plain["host"] == f"127.0.0.1:{origin.port}"


# ----- names: resolution on the host, special ranges -----


def test_names_resolve_on_the_host_and_special_ranges_need_an_address_entry(origin, hosts_file):
    code = f"""
import urllib.request, urllib.error
for url in ["http://loop.test:{origin.port}/name", "http://localhost:{origin.port}/real-resolver",
            "http://metadata.test:80/", "http://mapped-metadata.test:80/", "http://private.test:80/"]:
    try:
        print(urllib.request.urlopen(url, timeout=10).read().decode())
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode().strip())
"""
    allow = [f"loop.test:{origin.port}", f"localhost:{origin.port}", "metadata.test:80",
             "mapped-metadata.test:80", "private.test:80"]
    r = stockade.run(code, policy=policy(*allow))
    assert r.ok, r
    out = r.stdout.splitlines()
    assert all(line.startswith("403 ") for line in out), out
    assert "loopback" in out[0] and "metadata" in out[2] and "metadata" in out[3] and "private" in out[4]
    assert origin.requests == []
    assert {f["rule"] for f in flows(r, "denied")} == {"network.address"}
    # Control: an entry that names the address lets the same name through.
    r = stockade.run(code, policy=policy(*allow, f"127.0.0.1:{origin.port}"))
    assert r.stdout.splitlines()[:2] == ["hello /name", "hello /real-resolver"], r.stdout
    assert [p for p, _ in origin.requests] == ["/name", "/real-resolver"]
    ok = flows(r, "allowed")[0]
    assert ok["host"] == "loop.test" and ok["address"] == "127.0.0.1" and ok["rule"] == f"loop.test:{origin.port}"


def test_ip_literal_tricks_are_refused(origin):
    tricks = ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]",
              "[::ffff:7f00:1]", "127.0.0.1."]
    code = f"""
import http.client
for host in {tricks!r}:
    c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
    c.request("GET", "http://" + host + ":{origin.port}/trick")
    r = c.getresponse()
    print(r.status, r.read().decode().strip()[:160])
"""
    r = stockade.run(code, policy=policy(f"127.0.0.1:{origin.port}"))
    assert r.ok, r
    lines = r.stdout.splitlines()
    assert len(lines) == len(tricks)
    assert all(l.startswith(("403 ", "400 ")) for l in lines), lines
    assert origin.requests == [] and origin.connections == 0
    # Control: the canonical spelling goes through.
    r = stockade.run(code.replace(repr(tricks), repr(["127.0.0.1"])), policy=policy(f"127.0.0.1:{origin.port}"))
    assert r.stdout.startswith("200 hello /trick"), r.stdout


# ----- TLS: SNI must name the CONNECT host -----


def test_tls_through_connect_and_sni_must_match(tmp_path, hosts_file):
    ca_pem, ctx = make_ca(tmp_path, ["api.test", "other.test", "127.0.0.1"])
    tls = Origin(tls_context=ctx)
    try:
        code = f"""
import http.client, ssl
ctx = ssl.create_default_context(cafile="ca.pem")
def get(connect_host, sni):
    c = http.client.HTTPSConnection("127.0.0.1", 3128, timeout=10, context=ctx)
    c.set_tunnel(connect_host, {tls.port})
    if sni != connect_host:
        # http.client takes the SNI from the tunnel host; wrap by hand to send another.
        import socket
        s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
        s.sendall(f"CONNECT {{connect_host}}:{tls.port} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        try:
            t = ctx.wrap_socket(s, server_hostname=sni)
            t.sendall(b"GET /sni HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            return "unexpected " + t.recv(100).decode()
        except (ssl.SSLError, OSError) as e:
            return "failed " + type(e).__name__
    c.request("GET", "/" + connect_host)
    return c.getresponse().read().decode()
print(get("api.test", "api.test"))
print(get("127.0.0.1", "127.0.0.1"))
print(get("api.test", "other.test"))
"""
        allow = policy(f"api.test:{tls.port}", f"other.test:{tls.port}", f"127.0.0.1:{tls.port}")
        r = stockade.run(code, policy=allow, files={"ca.pem": ca_pem})
        assert r.ok, r
        out = r.stdout.splitlines()
        assert out[0] == "hello /api.test" and out[1] == "hello /127.0.0.1", out
        assert out[2].startswith("failed"), out
        # Evidence: the origin completed two handshakes, not the third.
        assert tls.handshakes == 2
        sni = [f for f in flows(r) if f["rule"] == "network.sni"]
        assert sni and "other.test" in sni[0]["reason"] and sni[0]["bytes_up"] == 0
    finally:
        tls.close()


# ----- limits -----


def test_connection_and_byte_limits_end_flows_and_are_reported(origin):
    code = f"""
import urllib.request, urllib.error
for i in range(5):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:{origin.port}/n" + str(i)).status)
    except urllib.error.HTTPError as e:
        print(e.code)
"""
    r = stockade.run(code, policy=policy(f"127.0.0.1:{origin.port}", extra="max-connections = 3\n"))
    assert r.ok, r
    assert r.stdout.split() == ["200", "200", "200", "403", "403"]
    assert len(origin.requests) == 3
    assert [f["rule"] for f in flows(r, "denied")] == ["network.max-connections"] * 2
    code = f"""
import urllib.request
try:
    body = urllib.request.urlopen("http://127.0.0.1:{origin.port}/big?size=2000000").read()
    print("read", len(body))
except Exception as e:
    print("cut", type(e).__name__)
"""
    r = stockade.run(code, policy=policy(f"127.0.0.1:{origin.port}", extra='max-bytes = "100K"\n'))
    assert r.ok, r
    assert r.stdout.startswith("cut") or int(r.stdout.split()[1]) < 2000000, r.stdout
    ended = flows(r)[0]
    assert ended["rule"] == "network.max-bytes" and "max-bytes" in ended["reason"]
    assert r.network["bytes"] < 400_000


# ----- raw attempts, with the kernel alone (guard off) -----

RAW = """
import socket, errno, json, os
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
def tcp():
    s = socket.socket(); s.settimeout(3); s.connect(("127.0.0.1", TCP_PORT)); s.close()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", ("127.0.0.1", UDP_PORT)); s.close()
def packet():
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
def netlink():
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
def inet6():
    socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
def listen():
    s = socket.socket(); s.bind(("127.0.0.1", 9999)); s.listen(1)
def via_proxy_port():
    s = socket.socket(); s.settimeout(3); s.connect(("127.0.0.1", 3128))
    s.sendall(b"CONNECT 127.0.0.1:" + str(TCP_PORT).encode() + b" HTTP/1.1\\r\\n\\r\\n")
    line = s.recv(100).split(b"\\r\\n")[0].decode()
    if not line.startswith("HTTP/1.1 403"):
        raise OSError(0, line)
    raise OSError(errno.EACCES, line)
for name, fn in [("tcp", tcp), ("udp", udp), ("packet", packet), ("netlink", netlink), ("inet6", inet6),
                 ("listen", listen), ("via_proxy_port", via_proxy_port)]:
    attempt(name, fn)
print(json.dumps(out))
"""


def test_raw_network_attempts_fail_in_the_jail_and_succeed_bare():
    import json as _json

    tcp, udp = Listener(), Listener(udp=True)
    try:
        code = RAW.replace("TCP_PORT", str(tcp.port)).replace("UDP_PORT", str(udp.port))
        r = stockade.run(code, policy=policy("192.0.2.1:443", extra="[guard]\nenabled = false\n"))
        assert r.ok, r
        got = _json.loads(r.stdout)
        # EACCES is Landlock's answer (without it the jail's loopback would refuse: ECONNREFUSED).
        assert got["tcp"] == "EACCES", got
        assert got["udp"] == "EAFNOSUPPORT" and got["packet"] == "EAFNOSUPPORT"
        assert got["netlink"] == "EAFNOSUPPORT" and got["inet6"] == "EAFNOSUPPORT"
        assert got["listen"] in ("EACCES", "EPERM"), got
        assert got["via_proxy_port"] == "EACCES", got
        time.sleep(0.3)
        assert tcp.hits == 0 and udp.hits == 0
        # Control: the same code, bare (its own pid and mount namespace, limits), reaches both.
        bare = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "prlimit", "--nproc=64", "--as=1000000000",
             PY, "-c", code.replace("(\"listen\", listen), (\"via_proxy_port\", via_proxy_port)", "")],
            capture_output=True, text=True, timeout=60,
        )
        control = _json.loads(bare.stdout)
        assert control["tcp"] == "ok" and control["udp"] == "ok", control
        time.sleep(0.3)
        assert tcp.hits == 1 and udp.hits == 1
    finally:
        tcp.close()
        udp.close()


# ----- warm: every run its own account -----


def test_pool_and_session_runs_each_get_their_own_limits_and_flows(origin):
    code = f"""
import urllib.request, urllib.error
codes = []
for i in range(3):
    try:
        codes.append(urllib.request.urlopen("http://127.0.0.1:{origin.port}/w").status)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
print(codes)
"""
    pol = policy(f"127.0.0.1:{origin.port}", extra="max-connections = 2\n")
    with stockade.Pool(size=1, policy=pol) as pool:
        for _ in range(3):
            r = pool.run(code)
            assert r.ok, r
            assert r.stdout.strip() == "[200, 200, 403]", r.stdout
            assert len(flows(r)) == 3 and r.network["connections"] == 3
    assert len(origin.requests) == 6
    with stockade.Session(policy=pol) as s:
        for _ in range(2):
            r = s.run(code)
            assert r.ok and r.stdout.strip() == "[200, 200, 403]", r


# ----- clients from a venv -----


@pytest.fixture(scope="module")
def net_venv():
    """A venv with requests and httpx (pinned), built once under target/."""
    venv = os.path.join(REPO, "target", "test-venv-net")
    marker = os.path.join(venv, ".complete")
    if not os.path.exists(marker):
        subprocess.run([PY, "-m", "venv", "--clear", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "requests==2.32.3", "httpx==0.27.2"], check=True)
        open(marker, "w").close()
    return venv


def test_requests_and_httpx_from_a_venv(origin, tmp_path, hosts_file, net_venv):
    ca_pem, ctx = make_ca(tmp_path, ["api.test"])
    tls = Origin(tls_context=ctx)
    try:
        code = f"""
import requests, httpx
print(requests.get("http://127.0.0.1:{origin.port}/requests", timeout=10).text)
print(requests.get("https://api.test:{tls.port}/requests-tls", verify="ca.pem", timeout=10).text)
print(httpx.get("http://127.0.0.1:{origin.port}/httpx", timeout=10).text)
print(httpx.get("https://api.test:{tls.port}/httpx-tls", verify="ca.pem", timeout=10).text)
r = requests.get("http://127.0.0.1:1/", timeout=10)
print(r.status_code)
"""
        pol = policy(f"127.0.0.1:{origin.port}", f"api.test:{tls.port}", f"127.0.0.1:{tls.port}")
        r = stockade.run(code, policy=pol, venv=net_venv, files={"ca.pem": ca_pem})
        assert r.ok, r
        assert r.stdout.splitlines() == ["hello /requests", "hello /requests-tls", "hello /httpx",
                                         "hello /httpx-tls", "403"], r.stdout
        assert tls.handshakes == 2
    finally:
        tls.close()


# ----- secrets: the value never enters the jail -----


class EchoOrigin(Origin):
    """An origin that answers with the Authorization header it received."""

    def __init__(self, tls_context=None):
        super().__init__(tls_context)
        origin = self
        handler = self.server.RequestHandlerClass

        def do_GET(h):
            auth = h.headers.get("Authorization", "")
            origin.requests.append((h.path, dict(h.headers)))
            body = f"you sent: {auth}".encode()
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.send_header("X-Echo", auth)
            h.end_headers()
            h.wfile.write(body)

        handler.do_GET = do_GET


def test_secret_reaches_only_its_host_and_echoes_come_back_masked(tmp_path, hosts_file, monkeypatch):
    token = "sk-test-" + os.urandom(12).hex()
    ca_pem, ctx = make_ca(tmp_path, ["api.test", "other.test"])
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    monkeypatch.setenv("STOCKADE_EGRESS_CA_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("HOST_API_TOKEN", token)
    api, other, plain = EchoOrigin(ctx), EchoOrigin(ctx), EchoOrigin()
    try:
        code = f"""
import os, urllib.request, urllib.error
tok = os.environ["API_TOKEN"]
print("placeholder" if tok.startswith("stockade-placeholder-") else "value?")
def get(url):
    req = urllib.request.Request(url, headers={{"Authorization": "Bearer " + tok}})
    try:
        r = urllib.request.urlopen(req, timeout=10)
        return r.read().decode() + " | " + r.headers["X-Echo"]
    except urllib.error.HTTPError as e:
        return str(e.code) + " " + e.read().decode().strip()
    except Exception as e:
        return "failed " + type(e).__name__
print(get("https://api.test:{api.port}/with-secret"))
print(get("https://other.test:{other.port}/elsewhere"))
print(get("http://127.0.0.1:{plain.port}/plain"))
print(tok == get("https://api.test:{api.port}/again").split("Bearer ")[1].split(" |")[0])
"""
        pol = policy(f"api.test:{api.port}", f"other.test:{other.port}", f"127.0.0.1:{api.port}",
                     f"127.0.0.1:{other.port}", f"127.0.0.1:{plain.port}",
                     extra=f'[secrets]\nAPI_TOKEN = {{ from = "env:HOST_API_TOKEN", hosts = ["api.test"] }}\n')
        r = stockade.run(code, policy=pol)
        assert r.ok, r
        out = r.stdout.splitlines()
        assert out[0] == "placeholder"
        # The host got the value; the code saw its placeholder echoed back, in body and header.
        got = [{k.lower(): v for k, v in h.items()}.get("authorization") for p, h in api.requests]
        assert got == [f"Bearer {token}"] * 2
        assert out[1].startswith("you sent: Bearer stockade-placeholder-") and " | Bearer stockade-placeholder-" in out[1]
        assert out[4] == "True"
        # Anywhere else the placeholder is refused: over TLS (the proxy terminates it) and in
        # plain HTTP; those origins got nothing.
        assert out[2].startswith("403") and "API_TOKEN" in out[2], out
        assert out[3].startswith("403") and "API_TOKEN" in out[3], out
        assert other.requests == [] and plain.requests == []
        refused = [f for f in flows(r, None) if f["rule"] == "secrets.placeholder"]
        assert len(refused) == 2, flows(r)
        # The value appears nowhere in what came back.
        assert token not in repr(r.raw)
        layer = [l for l in r.isolation["layers"] if l["name"] == "network-namespace"][0]
        assert "1 secret(s)" in layer["mechanism"]
    finally:
        api.close()
        other.close()
        plain.close()


def test_a_secret_needs_its_host_variable(monkeypatch):
    monkeypatch.delenv("HOST_MISSING_TOKEN", raising=False)
    pol = policy("api.test:443", extra='[secrets]\nT = { from = "env:HOST_MISSING_TOKEN", hosts = ["api.test"] }\n')
    with pytest.raises(stockade.SetupError) as e:
        stockade.run("print(1)", policy=pol)
    assert "HOST_MISSING_TOKEN is not set" in str(e.value)


def test_env_secrets_are_masked_in_their_encodings(monkeypatch):
    value = "hunter2-" + os.urandom(8).hex()
    monkeypatch.setenv("HOST_PW", value)
    code = """
import os, base64, binascii
v = os.environ["PW"]
print(v)
print(base64.b64encode(v.encode()).decode())
print(base64.urlsafe_b64encode(("user:" + v).encode()).decode())
print("".join(c if c.isalnum() or c in "-._~" else "%%%02X" % ord(c) for c in v + "/?&"))
print(binascii.hexlify(v.encode()).decode().upper())
os.makedirs("out", exist_ok=True)
open("out/f.txt", "w").write(base64.b64encode(("x" + v).encode()).decode())
raise RuntimeError(v.encode().hex())
"""
    pol = f'version = 1\n[python]\ninterpreter = "{PY}"\n[env]\npass = ["PW"]\nsecret = ["PW"]\n'
    monkeypatch.setenv("PW", value)
    r = stockade.run(code, policy=pol)
    import base64 as b64
    import binascii as ba
    forms = [value, b64.b64encode(value.encode()).decode()[:16], ba.hexlify(value.encode()).decode()]
    everything = repr(r.raw) + r.files.get("f.txt", b"").decode()
    for f in forms:
        assert f not in everything, f
    assert r.stdout.count("[secret]") == 5, r.stdout


# ----- packages at run time -----


def _wheel_index(root, name="tinypkg", version="1.0"):
    """A PEP 503 simple index in `root` with one pure-Python wheel."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{name}/__init__.py": f"def hello():\n    return 'hello from {name}'\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text)}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = f"{name}-{version}-py3-none-any.whl"
    pkg = root / "simple" / name
    pkg.mkdir(parents=True)
    with zipfile.ZipFile(pkg / wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    (pkg / "index.html").write_text(f'<html><body><a href="{wheel}">{wheel}</a></body></html>')


class FileOrigin(Origin):
    """An origin that serves the files under `root` (and counts requests)."""

    def __init__(self, root):
        super().__init__()
        origin = self
        handler = self.server.RequestHandlerClass

        def do_GET(h):
            origin.requests.append((h.path, dict(h.headers)))
            path = root / h.path.lstrip("/")
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                h.send_response(404)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            body = path.read_bytes()
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.send_header("Content-Type", "text/html" if path.suffix == ".html" else "application/octet-stream")
            h.end_headers()
            h.wfile.write(body)

        handler.do_GET = do_GET


def test_pip_install_in_a_session_through_the_proxy(tmp_path, net_venv):
    _wheel_index(tmp_path)
    index = FileOrigin(tmp_path)
    elsewhere = Listener()
    try:
        pol = (f'version = 1\n[python]\ninterpreter = "{PY}"\nvenv = "{net_venv}"\n'
               f'[env]\nset = {{ PIP_INDEX_URL = "http://127.0.0.1:{index.port}/simple/", PIP_TRUSTED_HOST = "127.0.0.1" }}\n'
               f'[network]\nallow = ["127.0.0.1:{index.port}"]\n')
        install = """
from pip._internal.cli.main import main as pip
print("pip", pip(["install", "--quiet", "--disable-pip-version-check", "--no-cache-dir"] + ARGS))
"""
        with stockade.Session(policy=pol) as s:
            r = s.run("import tinypkg")
            assert not r.ok and "tinypkg" in r.error["message"]
            r = s.run(install.replace("ARGS", '["tinypkg"]'))
            assert r.ok and r.stdout.strip() == "pip 0", r
            r = s.run("import tinypkg\nprint(tinypkg.hello(), tinypkg.__file__)")
            assert r.ok, r
            assert r.stdout.strip() == "hello from tinypkg /tmp/packages/tinypkg/__init__.py"
            # An index the policy does not name is refused by the proxy.
            other = f'["--index-url", "http://127.0.0.1:{elsewhere.port}/simple/", "othermod"]'
            r = s.run(install.replace("ARGS", other))
            assert r.stdout.strip() != "pip 0", r
            assert any(f["rule"] == "network.allow" for f in flows(r, "denied"))
        assert any(p.endswith(".whl") for p, _ in index.requests)
        time.sleep(0.3)
        assert elsewhere.hits == 0
    finally:
        index.close()
        elsewhere.close()


# ----- every supported CPython -----

INTERPRETERS = [os.path.expanduser("~/.pyenv/versions/%s" % p) for p in (
    "3.9.18/bin/python3.9", "3.10.13/bin/python3.10", "3.11.7/bin/python3.11",
    "3.12.1/bin/python3.12", "3.13.0/bin/python3.13")]


@pytest.mark.parametrize("python", INTERPRETERS, ids=lambda p: p.split("/")[-1])
def test_the_proxy_works_the_same_on_every_cpython(python, origin, tmp_path):
    """urllib, http.client through a tunnel, TLS and a refusal, compared with the same code bare
    (straight to the origin, no proxy) on the same interpreter."""
    if not os.path.exists(python):
        pytest.skip(f"{python} is not installed")
    other = Listener()
    try:
        code = f"""
import http.client, os, urllib.request, urllib.error
via = "HTTP_PROXY" in os.environ
print(urllib.request.urlopen("http://127.0.0.1:{origin.port}/u").read().decode())
c = http.client.HTTPConnection("127.0.0.1", 3128 if via else {origin.port}, timeout=10)
if via:
    c.set_tunnel("127.0.0.1", {origin.port})
c.request("GET", "/t")
print(c.getresponse().read().decode())
if via:
    try:
        urllib.request.urlopen("http://127.0.0.1:{other.port}/")
    except urllib.error.HTTPError as e:
        print("refused", e.code)
else:
    print("refused", 403)
"""
        bare = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin"})
        assert bare.returncode == 0, bare.stderr
        pol = (f'version = 1\n[python]\ninterpreter = "{python}"\n[network]\n'
               f'allow = ["127.0.0.1:{origin.port}"]\n')
        r = stockade.run(code, policy=pol)
        assert r.ok, r
        assert r.stdout == bare.stdout == "hello /u\nhello /t\nrefused 403\n"
        assert other.hits == 0
    finally:
        other.close()


def test_each_pool_run_gets_its_own_placeholder(tmp_path, hosts_file, monkeypatch):
    token = "sk-pool-" + os.urandom(12).hex()
    ca_pem, ctx = make_ca(tmp_path, ["api.test"])
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    monkeypatch.setenv("STOCKADE_EGRESS_CA_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("HOST_POOL_TOKEN", token)
    api = EchoOrigin(ctx)
    try:
        pol = policy(f"api.test:{api.port}", f"127.0.0.1:{api.port}",
                     extra='[secrets]\nTOKEN = { from = "env:HOST_POOL_TOKEN", hosts = ["api.test"] }\n')
        code = f"""
import os, urllib.request
def call(tok):
    req = urllib.request.Request("https://api.test:{api.port}/p", headers={{"Authorization": "Bearer " + tok}})
    return urllib.request.urlopen(req, timeout=10).read().decode()
mine = os.environ["TOKEN"]
result = [mine, call(mine), call(old) if old else None]
"""
        with stockade.Pool(size=1, policy=pol) as pool:
            first = pool.run(code, inputs={"old": None})
            assert first.ok, first
            second = pool.run(code, inputs={"old": first.value[0]})
            assert second.ok, second
        assert first.value[0] != second.value[0]
        assert all(v.startswith("stockade-placeholder-") for v in (first.value[0], second.value[0]))
        got = [{k.lower(): v for k, v in h.items()}.get("authorization") for _, h in api.requests]
        # Each run's own placeholder became the value; the first run's placeholder means nothing
        # to the second run's proxy account: it went out as the inert string it is.
        assert got == [f"Bearer {token}", f"Bearer {token}", f"Bearer {first.value[0]}"]
        assert token not in repr(first.raw) + repr(second.raw)
    finally:
        api.close()


def test_landlock_lets_pool_runs_connect_to_the_proxy_port_only():
    code = """
import socket, errno
out = {}
for port in (1, 3128, 8080):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        out[port] = "ok"
    except OSError as e:
        out[port] = errno.errorcode[e.errno]
out
"""
    pol = policy("192.0.2.1:443", extra="[guard]\nenabled = false\n")
    with stockade.Pool(size=1, policy=pol) as pool:
        r = pool.run(code)
    assert r.ok, r
    # The proxy's port is the control: the same connect succeeds there.
    assert r.value == {1: "EACCES", 3128: "ok", 8080: "EACCES"}, r.value
