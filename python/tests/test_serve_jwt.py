"""JWT bearer tokens against a real `stockade serve`: HS256, RS256 and EdDSA accepted with the
configured keys; `alg: none`, HS/RS confusion, wrong `aud`/`iss`, expired and not-yet-valid
tokens, unknown tenants and roles refused — each refusal next to the same token made valid, so
the test would fail if the server accepted anything."""
import base64
import hashlib
import hmac
import json
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from serve_util import Server

ISS = "https://issuer.test"
AUD = "stockade"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hand_made(header, claims, key=b""):
    """A token built by hand (PyJWT refuses to build the malicious ones)."""
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = hmac.new(key, signing.encode(), hashlib.sha256).digest() if key else b""
    return signing + "." + b64(sig)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("jwt")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_pub = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    ed_pub = ed_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (d / "rsa.pem").write_bytes(rsa_pub)
    (d / "ed.pem").write_bytes(ed_pub)
    secret = os.urandom(32).hex()
    s = Server(settings={
        "pool_size": 1,
        "jwt.issuer": ISS,
        "jwt.audience": AUD,
        "jwt.hs256_secret_env": "TEST_JWT_SECRET",
        "jwt.rs256_public_key": str(d / "rsa.pem"),
        "jwt.eddsa_public_key": str(d / "ed.pem"),
    }, env={"TEST_JWT_SECRET": secret}).start()
    tenant = s.new_tenant()
    yield {"server": s, "rsa": rsa_key, "rsa_pub": rsa_pub, "ed": ed_key, "secret": secret, "tenant": tenant}
    s.stop()


def claims(env, **over):
    now = int(time.time())
    c = {"sub": "alice", "iss": ISS, "aud": AUD, "exp": now + 300, "nbf": now - 10, "iat": now,
         "tenant": env["tenant"], "role": "runner"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def call(env, token):
    return env["server"].req("POST", "/v1/runs", key=token, body={"code": "print('in')"})


def test_each_configured_algorithm_is_accepted(env):
    for token in [
        jwt.encode(claims(env), env["secret"], algorithm="HS256"),
        jwt.encode(claims(env), env["rsa"], algorithm="RS256"),
        jwt.encode(claims(env), env["ed"], algorithm="EdDSA"),
    ]:
        r = call(env, token)
        assert r.status == 200 and r.json()["stdout"] == "in\n", r
    # the run is on record under the token's subject, in the token's tenant
    runs = env["server"].req("GET", f"/v1/runs?tenant={env['tenant']}").json()["items"]
    assert runs and all(x["key_id"] == "jwt:alice" for x in runs)


def test_alg_none_is_refused(env):
    c = claims(env)
    assert call(env, hand_made({"alg": "none", "typ": "JWT"}, c)).status == 401
    assert call(env, hand_made({"alg": "None", "typ": "JWT"}, c)).status == 401
    assert call(env, hand_made({"alg": "none", "typ": "JWT"}, c)[:-1]).status == 401


def test_hs_rs_confusion_is_refused(env):
    # An HS256 token whose HMAC key is the RSA *public* key (the classic confusion attack).
    forged = hand_made({"alg": "HS256", "typ": "JWT"}, claims(env), key=env["rsa_pub"])
    assert call(env, forged).status == 401
    # control: the same construction with the real HS256 secret passes
    real = hand_made({"alg": "HS256", "typ": "JWT"}, claims(env), key=env["secret"].encode())
    assert call(env, real).status == 200
    # and an RS256 header over an HMAC signature is refused
    assert call(env, hand_made({"alg": "RS256", "typ": "JWT"}, claims(env), key=env["secret"].encode())).status == 401


@pytest.mark.parametrize("over", [
    {"aud": "someone-else"},
    {"aud": None},
    {"iss": "https://evil.test"},
    {"iss": None},
    {"exp": int(time.time()) - 120},
    {"exp": None},
    {"nbf": int(time.time()) + 3600},
    {"tenant": "no-such-tenant"},
    {"tenant": None},
    {"role": "superuser"},
    {"sub": None},
])
def test_bad_claims_are_refused(env, over):
    assert call(env, jwt.encode(claims(env), env["rsa"], algorithm="RS256")).status == 200
    assert call(env, jwt.encode(claims(env, **over), env["rsa"], algorithm="RS256")).status == 401


def test_wrong_key_and_tampered_payload_are_refused(env):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert call(env, jwt.encode(claims(env), other, algorithm="RS256")).status == 401
    good = jwt.encode(claims(env), env["rsa"], algorithm="RS256")
    h, p, s = good.split(".")
    evil = json.loads(base64.urlsafe_b64decode(p + "=="))
    evil["role"] = "admin"
    assert call(env, ".".join([h, b64(json.dumps(evil).encode()), s])).status == 401


def test_token_roles_are_enforced(env):
    aud = jwt.encode(claims(env, role="auditor"), env["ed"], algorithm="EdDSA")
    assert call(env, aud).status == 403
    assert env["server"].req("GET", "/v1/runs", key=aud).status == 200
    # a tenant-admin token cannot reach another tenant
    ta = jwt.encode(claims(env, role="tenant-admin"), env["ed"], algorithm="EdDSA")
    assert env["server"].req("GET", "/v1/tenants/default", key=ta).status == 404
    assert env["server"].req("GET", f"/v1/tenants/{env['tenant']}", key=ta).status == 200


def test_keys_from_a_jwks_url_and_their_rotation(tmp_path):
    """RS256 keys served as a JWKS on loopback, fetched at start and refreshed: a token of a
    rotated-in key is accepted after the refresh, one of the rotated-out key is refused."""
    import http.server
    import threading

    from jwt.algorithms import RSAAlgorithm

    k1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(key, kid):
        d = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        d.update({"kid": kid, "alg": "RS256", "use": "sig"})
        return json.dumps({"keys": [d]}).encode()

    served = {"body": jwks(k1, "one")}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(served["body"])

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    s = Server(data_dir=str(tmp_path), settings={
        "pool_size": 1, "jwt.issuer": ISS, "jwt.audience": AUD,
        "jwt.jwks_url": f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json",
        "jwt.jwks_refresh_seconds": 1,
    }).start()
    try:
        tenant = s.new_tenant()
        env = {"tenant": tenant}
        t1 = jwt.encode(claims(env), k1, algorithm="RS256", headers={"kid": "one"})
        t2 = jwt.encode(claims(env), k2, algorithm="RS256", headers={"kid": "two"})
        assert s.req("GET", "/v1/runs", key=t1).status == 200
        assert s.req("GET", "/v1/runs", key=t2).status == 401
        served["body"] = jwks(k2, "two")
        for _ in range(50):
            if s.req("GET", "/v1/runs", key=t2).status == 200:
                break
            time.sleep(0.1)
        assert s.req("GET", "/v1/runs", key=t2).status == 200
        assert s.req("GET", "/v1/runs", key=t1).status == 401
    finally:
        s.stop()
        httpd.shutdown()
