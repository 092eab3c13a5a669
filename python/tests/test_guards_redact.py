"""stockade.guards redaction over a corpus of credential *formats*: every value here is made up
by a seeded generator in the shape the real issuer uses (prefix, alphabet, length); none is a
real credential. Each secret must vanish from messages, arguments, exceptions and structlog
events, and ordinary log lines must come through unchanged."""
import base64
import io
import json
import logging
import random
import string
import time

import pytest

from stockade.guards.redaction import MASK, Redactor, RedactingFilter, StructlogRedactor, encoded_forms, install

rnd = random.Random(17)
A = string.ascii_letters + string.digits
UP = string.ascii_uppercase + string.digits


def r(n, alphabet=A):
    return "".join(rnd.choice(alphabet) for _ in range(n))


def b64(n):
    return base64.b64encode(rnd.randbytes(n)).decode()


def fake_pem(kind="PRIVATE KEY"):
    body = "\n".join(b64(48) for _ in range(6))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def fake_jwt():
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'sub': r(8), 'exp': 1700000000})}.{r(43, A + '-_')}"


def corpus():
    """(what, text, secret, must_keep): `secret` must be gone, `must_keep` still there."""
    pw = r(12) + "@/:" + r(4)  # passwords with URL-hostile characters, unescaped
    out = []
    for scheme in ("postgres", "postgresql", "mysql", "mysql+pymysql", "redis", "rediss", "amqp", "amqps",
                   "mongodb", "mongodb+srv", "https", "ftp", "sqlserver"):
        out.append((f"url {scheme}", f"connecting to {scheme}://app_user:{pw}@db-1.internal:5432/prod?x=1",
                    pw, "db-1.internal:5432/prod"))
    p2 = r(16)
    out += [
        ("url no user", f"redis://:{p2}@cache:6379/0", p2, "cache:6379"),
        ("libpq conninfo", f"host=db port=5432 dbname=app user=app password={p2} sslmode=require", p2, "sslmode=require"),
        ("jdbc", f"jdbc:sqlserver://db;databaseName=app;user=sa;password={p2};encrypt=true", p2, "encrypt=true"),
        ("json password", json.dumps({"user": "app", "password": p2 + " with space"}), p2, '"user": "app"'),
        ("env dump", f"DB_PASSWORD={p2}\nDEBUG=1", p2, "DEBUG=1"),
        ("yaml-ish", f"client_secret: {p2}", p2, "client_secret"),
    ]
    tok = r(32, A + "-._~")
    out.append(("bearer", f"Authorization: Bearer {tok}", tok, "Authorization"))
    basic = base64.b64encode(f"user:{r(10)}".encode()).decode()
    out.append(("basic", f"headers={{'Authorization': 'Basic {basic}'}}", basic, "headers"))
    jwt = fake_jwt()
    out.append(("jwt", f"token={jwt}", jwt, "token="))
    out.append(("jwt bare", f"decoded {jwt} ok", jwt, "decoded"))
    aws_id, aws_secret = "AKIA" + r(16, UP), r(40, A + "/+")
    out.append(("aws id", f"using key {aws_id} for s3", aws_id, "for s3"))
    out.append(("aws sts id", "ASIA" + r(16, UP), None, None))
    out.append(("aws secret", f"aws_secret_access_key = {aws_secret}", aws_secret, "aws_secret_access_key"))
    out.append(("aws env", f"AWS_SECRET_ACCESS_KEY={aws_secret} AWS_REGION=eu-west-1", aws_secret, "eu-west-1"))
    gcp_pem = fake_pem()
    sa = json.dumps({"type": "service_account", "project_id": "demo", "private_key_id": r(40, "0123456789abcdef"),
                     "private_key": gcp_pem + "\n", "client_email": "svc@demo.iam.gserviceaccount.com"})
    out.append(("gcp service account", sa, gcp_pem.split("\n")[1], "svc@demo.iam.gserviceaccount.com"))
    out.append(("gcp api key", "key=AIza" + r(35, A + "-_"), None, None))
    azure_key = b64(64)
    out.append(("azure storage", f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={azure_key};"
                f"EndpointSuffix=core.windows.net", azure_key, "AccountName=acct"))
    sb_key = b64(32)
    out.append(("azure service bus", f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;"
                f"SharedAccessKey={sb_key}", sb_key, "ns.servicebus.windows.net"))
    sig = r(40, A + "%")
    out.append(("azure sas", f"https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig={sig}", sig, "sp=r"))
    for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"):
        t = prefix + r(36)
        out.append((f"github {prefix}", f"git clone with {t}", t, "git clone"))
    fine = "github_pat_" + r(22) + "_" + r(59)
    out.append(("github fine-grained", fine, fine, None))
    out.append(("gitlab", "glpat-" + r(20, A + "-_"), None, None))
    for p in ("xoxb-", "xoxp-", "xoxa-", "xoxr-"):
        t = p + f"{r(11, string.digits)}-{r(12, string.digits)}-{r(24)}"
        out.append((f"slack {p}", f"slack token {t}", t, "slack token"))
    hook = f"T{r(8, UP)}/B{r(8, UP)}/{r(24)}"
    out.append(("slack webhook", f"posting to https://hooks.slack.com/services/{hook}", hook, "hooks.slack.com"))
    for p in ("sk_live_", "sk_test_", "rk_live_", "whsec_"):
        t = p + r(32)
        out.append((f"stripe {p}", f"stripe.api_key set: {t}", t, "stripe"))
    out.append(("openai", "OPENAI key sk-proj-" + r(48, A + "-_"), None, None))
    out.append(("pypi", "pypi-AgEIcHlwaS5vcmc" + r(60, A + "-_"), None, None))
    out.append(("npm", "//registry/:_authToken=npm_" + r(36), None, None))
    for kind in ("RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PRIVATE KEY"):
        pem = fake_pem(kind)
        out.append((f"pem {kind}", f"loaded key:\n{pem}\n(done)", pem.split("\n")[2], "(done)"))
    # whole-token entries: the secret is the text after its prefix's first character
    return [(w, t, s if s is not None else t.split()[-1].split("=")[-1], k) for w, t, s, k in out]


CORPUS = corpus()
ORDINARY = [
    "GET /api/v1/users?id=5&sort=name 200 3.1ms",
    "token bucket refilled: 5 tokens, max_tokens=100",
    "user=bob host=db port=5432 dbname=app",
    "see https://docs.example.com/guide#passwords for details",
    "commit 3f6c1e0b9a4d8e7f6c5b4a3928170f6e5d4c3b2a passed 10 tests",
    "request id 5d0c0b9e-2c1e-4b0a-9c6d-1e2f3a4b5c6d",
    "password reset email sent to user 42",
    "Basic auth is disabled",
    "a bearer of bad news",
    "skipping sk-1 and AKIA",
]


@pytest.mark.parametrize("what,text,secret,keep", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_masked(what, text, secret, keep):
    red = Redactor().redact(text)
    assert secret not in red, red
    assert MASK in red
    if keep:
        assert keep in red, red


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_lines_unchanged(line):
    assert Redactor().redact(line) == line


def logger_with_filter(redactor=None):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger(f"test_guards_redact.{rnd.random()}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    install(log, redactor)
    return log, stream


def test_filter_masks_messages_args_and_exceptions():
    log, stream = logger_with_filter()
    for _, text, secret, _ in CORPUS:
        log.warning(text)
        log.warning("arg: %s", text)
        log.warning("dict arg: %(cfg)s", {"cfg": {"dsn": text}})
        try:
            raise RuntimeError(f"failed with {text}")
        except RuntimeError:
            log.exception("boom")
        out = stream.getvalue()
        assert secret not in out, out[-500:]
    # the control: the same logger without the filter prints them
    naive = io.StringIO()
    plain = logging.getLogger("test_guards_redact.plain")
    plain.propagate = False
    plain.addHandler(logging.StreamHandler(naive))
    plain.warning("arg: %s", CORPUS[0][1])
    assert CORPUS[0][2] in naive.getvalue()


def test_registered_secrets_and_their_encodings():
    value = "correct horse battery staple"
    red = Redactor([value])
    log, stream = logger_with_filter(red)
    forms = encoded_forms(value)
    assert len(forms) >= 6
    log.info("raw %s / b64 %s / b64 in a longer blob %s / url %s / hex %s", value,
             base64.b64encode(value.encode()).decode(), base64.b64encode(b"xy" + value.encode() + b"z").decode(),
             "x?q=correct%20horse%20battery%20staple", value.encode().hex())
    out = stream.getvalue()
    for f in forms:
        assert f not in out, (f, out)
    assert out.count(MASK) == 5
    with pytest.raises(ValueError):
        red.add_secret("abc")


def test_filter_keeps_other_fields_and_survives_bad_format():
    log, stream = logger_with_filter()
    log.error("two args %s %s", "only one")  # logging would print a traceback to stderr otherwise
    log.info("%d%% done", 50)
    assert "50% done" in stream.getvalue()


def test_redact_value_by_key():
    red = Redactor()
    event = {"event": "login", "password": "hunter22", "nested": {"api_key": "abcd1234", "n": 3},
             "items": ["postgres://u:pw123456@h/db", 7], "max_tokens": "100", "tokens": "100"}
    out = red.redact_value(event)
    assert out == {"event": "login", "password": MASK, "nested": {"api_key": MASK, "n": 3},
                   "items": [f"postgres://u:{MASK}@h/db", 7], "max_tokens": "100", "tokens": "100"}


def test_structlog_processor():
    proc = StructlogRedactor()
    event = proc(None, "info", {"event": f"connect {CORPUS[0][1]}", "secret": "x" * 10})
    assert CORPUS[0][2] not in json.dumps(event) and event["secret"] == MASK
    structlog = pytest.importorskip("structlog")
    out = io.StringIO()
    structlog.configure(processors=[StructlogRedactor(), structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(out), cache_logger_on_first_use=False)
    try:
        structlog.get_logger().info("db up", dsn=CORPUS[0][1], token="t0ps3cr3t!")
    finally:
        structlog.reset_defaults()
    line = json.loads(out.getvalue())
    assert CORPUS[0][2] not in out.getvalue() and line["token"] == MASK and "db-1.internal" in line["dsn"]


PATHOLOGICAL = {
    "url starts": "a://b:" * 20000 + "@",
    "url many @": "a://b:" + "@x" * 50000,
    "pem begins": "-----BEGIN PRIVATE KEY-----" * 5000,
    "unterminated quote": 'password: "' + "x" * 100000,
    "keys": "password=" * 20000,
    "bearers": "bearer " * 20000,
    "jwt heads": "eyJaaaa.eyJ" * 20000,
}


@pytest.mark.parametrize("what", PATHOLOGICAL)
def test_no_input_makes_it_quadratic(what):
    # Log lines carry attacker-chosen text: ~100 KB of the worst shapes for each pattern must
    # stay fast. (Before the bounds, 24 KB of "a://b:" took 0.85 s and 81 KB of BEGIN lines
    # 2.7 s, growing with the square of the length.)
    text = PATHOLOGICAL[what]
    t = time.perf_counter()
    Redactor().redact(text)
    assert time.perf_counter() - t < 2.0


def test_pem_without_end_is_masked_to_the_end():
    pem = fake_pem()
    cut = pem[: len(pem) // 2]  # a log line truncated in the middle of a key
    red = Redactor().redact("key: " + cut)
    assert red == "key: -----BEGIN PRIVATE KEY-----" + MASK
