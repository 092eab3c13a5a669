"""The dashboard (`/ui/`) in a real headless Chromium — Debian's `chromium` and
`chromium-driver`, driven through WebDriver by Selenium — against a real `stockade serve`.

Attacks are checked by their evidence, each with a control that shows the check can fail: an
XSS payload that is inert in the dashboard fires (a window variable and a connection to a
loopback listener) when the same browser inserts it with innerHTML into a page without the
dashboard's defences; a cross-origin request that carries the session cookie is refused and
leaves no run behind, while the same request with the session's CSRF token is taken.

Each page's screenshot is kept under target/dashboard-screenshots/ (docs/img/ holds a few).
"""
import json
import os
import shutil
import socket
import threading
import time
import urllib.request
import uuid

import jwt
import pytest

from serve_util import ROOT, Server, request

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = os.path.join(ROOT, "target", "dashboard-screenshots")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
JWT_SECRET = "dashboard-test-secret-0123456789abcdef"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if os.environ.get("CI"):
        raise RuntimeError("chromium and chromium-driver are missing (scripts/test installs them)")
    pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)


class Listener:
    """A loopback TCP listener that counts the connections it gets (an exfiltration canary)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: 0\r\n\r\n")
            finally:
                conn.close()


class PlainPage:
    """A page on another loopback origin with none of the dashboard's defences (no CSP)."""

    def __init__(self):
        body = b"<!doctype html><title>plain</title><div id=t></div>"
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
            len(body), body)

        def serve():
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                try:
                    conn.recv(4096)
                    conn.sendall(resp)
                finally:
                    conn.close()

        threading.Thread(target=serve, daemon=True).start()


@pytest.fixture(scope="module")
def srv():
    s = Server(settings={"pool_size": 1, "jwt.hs256_secret_env": "STOCKADE_DASHBOARD_JWT"},
               env={"STOCKADE_DASHBOARD_JWT": JWT_SECRET}).start()
    s.tenant = s.new_tenant(f"acme-{uuid.uuid4().hex[:6]}")
    s.keys = {role: s.new_key(s.tenant, role)[0] for role in ["tenant-admin", "runner", "auditor"]}
    s.keys["admin"] = s.admin_key
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,1000", "--disable-extensions", "--no-first-run"]:
        opts.add_argument(a)
    d = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    os.makedirs(SHOTS, exist_ok=True)
    yield d
    d.quit()


def wait(d, cond, timeout=15):
    # A table redrawn between finding a row and reading it: look again.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(d, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(lambda _: cond())


def sign_in(d, srv, key):
    d.delete_all_cookies()
    d.get(srv.url + "/ui/")
    wait(d, lambda: d.find_elements(By.ID, "token"))
    d.find_element(By.ID, "token").send_keys(key)
    d.find_element(By.CSS_SELECTOR, "#signin button").click()
    wait(d, lambda: d.current_url.endswith("/ui/runs") and d.find_elements(By.ID, "identity"))


def session_cookie(d):
    return next(c for c in d.get_cookies() if c["name"] == "stockade_session")


def with_cookie(d, srv, method, path, body=None, headers=None):
    h = {"Cookie": f"stockade_session={session_cookie(d)['value']}", **(headers or {})}
    return request(srv.url, method, path, body=body, headers=h)


def shot(d, name):
    d.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def run(srv, key, code, **extra):
    r = srv.req("POST", "/v1/runs", key=key, body={"code": code, **extra})
    assert r.status in (200, 202), r
    return r


def test_sign_in_makes_an_http_only_strict_cookie_and_keeps_no_key(srv, browser):
    d = browser
    d.delete_all_cookies()
    d.get(srv.url + "/ui/")
    shot(d, "sign-in")
    key = srv.keys["tenant-admin"]
    sign_in(d, srv, key)
    c = session_cookie(d)
    assert c["httpOnly"] is True and c["sameSite"] == "Strict" and c["path"] == "/"
    # plain HTTP on loopback: a Secure cookie would not be sent back here; over TLS it is
    assert c["secure"] is False
    assert d.find_element(By.ID, "identity").text.startswith(f"tenant-admin · {srv.tenant} · k_")
    # the key is nowhere the page's scripts could read it again
    stored = d.execute_script("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie")
    assert key not in stored and c["value"] not in stored
    assert key not in d.page_source
    # the page and the API both take the cookie; the session is the key's
    r = with_cookie(d, srv, "GET", "/ui/session")
    assert r.status == 200 and r.json()["role"] == "tenant-admin" and r.json()["tenant"] == srv.tenant
    assert r.headers["Cache-Control"] == "no-store"
    # over TLS (a proxy's X-Forwarded-Proto) the cookie is Secure and __Host- prefixed
    r = request(srv.url, "POST", "/ui/session", body={"token": key}, headers={"X-Forwarded-Proto": "https"})
    assert r.status == 201
    assert r.headers["Set-Cookie"].startswith("__Host-stockade_session=")
    assert {"HttpOnly", "SameSite=Strict", "Path=/", "Secure"} <= {p.strip() for p in r.headers["Set-Cookie"].split(";")}
    # a JWT signs in too, and its session ends no later than the token
    exp = int(time.time()) + 120
    tok = jwt.encode({"sub": "dana", "exp": exp, "tenant": srv.tenant, "role": "auditor"}, JWT_SECRET, algorithm="HS256")
    r = request(srv.url, "POST", "/ui/session", body={"token": tok})
    assert r.status == 201, r
    assert r.json()["key_id"] == "jwt:dana" and r.json()["expires_at"] == exp * 1000
    # a wrong key is refused, audited, and sets nothing
    r = request(srv.url, "POST", "/ui/session", body={"token": key[:-3] + "AAA"})
    assert r.status == 401 and "Set-Cookie" not in r.headers
    # sign-out ends it server-side
    old = session_cookie(d)["value"]
    d.find_element(By.ID, "signout").click()
    wait(d, lambda: d.current_url.endswith("/ui/") and d.find_elements(By.ID, "token"))
    r = request(srv.url, "GET", "/v1/runs", headers={"Cookie": f"stockade_session={old}"})
    assert r.status == 401


def test_every_page_sends_the_strict_headers(srv):
    for path in ["/ui/", "/ui/runs", "/ui/runs/r_x", "/ui/charts", "/ui/admin", "/ui/assets/runs.js",
                 "/ui/assets/style.css", "/ui/session"]:
        r = srv.req("GET", path)
        # a bearer key is no session: /ui/session answers 401
        assert r.status == (401 if path == "/ui/session" else 200), (path, r)
        assert r.headers["Content-Security-Policy"] == CSP, path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["X-Frame-Options"] == "DENY"
    assert srv.req("GET", "/ui/assets/runs.js").headers["Content-Type"].startswith("text/javascript")
    assert srv.req("GET", "/ui/assets/nope.js").status == 404
    r = request(srv.url, "GET", "/ui")  # followed
    assert r.status == 200 and b"signin.js" in r.body
    # not signed in: the sign-in page, with the status that says so
    r = request(srv.url, "GET", "/ui/runs")
    assert r.status == 401 and b"signin.js" in r.body and r.headers["Content-Type"].startswith("text/html")
    # no page or script writes HTML from strings
    for name in ["dom.js", "api.js", "chart.js", "signin.js", "runs.js", "run.js", "charts.js", "admin.js", "notice.js"]:
        lines = srv.req("GET", f"/ui/assets/{name}").body.decode().splitlines()
        text = "\n".join(line for line in lines if not line.lstrip().startswith("//"))
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage"]:
            assert sink not in text, (name, sink)


def test_a_run_appears_live_and_its_violation_opens(srv, browser):
    d = browser
    sign_in(d, srv, srv.keys["admin"])
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#live.live"))
    r = run(srv, srv.keys["runner"], "import time\ntime.sleep(1.2)\nprint('from the runner')", **{"async": True})
    rid = r.json()["id"]
    row = f"tr[data-run='{rid}']"
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, row), timeout=10)
    wait(d, lambda: d.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") == "done", timeout=15)
    assert "ok" in d.find_element(By.CSS_SELECTOR, row).text
    # a run the guard refused something in
    bad = run(srv, srv.keys["runner"], "import socket\ns = socket.socket()\n")
    bad_id = bad.headers["stockade-run-id"]
    violations = srv.req("GET", f"/v1/runs/{bad_id}").json()["result"]["violations"]
    assert violations, bad
    # filters: this tenant, with violations — the refused run, not the clean one
    d.get(srv.url + f"/ui/runs?tenant={srv.tenant}&has_violations=true")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, f"tr[data-run='{bad_id}']"))
    assert not d.find_elements(By.CSS_SELECTOR, row)
    shot(d, "runs")
    d.find_element(By.CSS_SELECTOR, f"tr[data-run='{bad_id}'] a.badge").click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#violations tr.violation"))
    first = d.find_element(By.CSS_SELECTOR, "#violations tr.violation")
    assert first.find_element(By.CSS_SELECTOR, ".rule").text == violations[0]["rule"]
    args = [a.text for a in first.find_elements(By.CSS_SELECTOR, "code.arg")]
    assert args == violations[0]["args"]
    for title in ["Usage", "Limits", "Isolation report", "Code", "stdout", "stderr"]:
        assert d.find_elements(By.XPATH, f"//h2[starts-with(normalize-space(), '{title}')]"), title
    # its place in the audit chain is the audit trail's record of it
    audit = [a for a in srv.req("GET", "/v1/audit?action=run.finished&limit=500").json()["items"] if a["target"] == bad_id]
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#audit dl"))
    text = d.find_element(By.ID, "audit").text
    assert str(audit[0]["seq"]) in text and audit[0]["hash"] in text
    shot(d, "run")


def test_a_run_page_fills_in_when_the_run_ends(srv, browser):
    d = browser
    sign_in(d, srv, srv.keys["auditor"])
    r = run(srv, srv.keys["runner"], "import time\ntime.sleep(2)\nprint('late')", **{"async": True})
    rid = r.json()["id"]
    d.get(srv.url + f"/ui/runs/{rid}")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "h1 .badge"))
    assert d.find_element(By.CSS_SELECTOR, "h1 .badge").text in ("queued", "running")
    d.execute_script("window.__same_page = 1")
    wait(d, lambda: d.find_element(By.CSS_SELECTOR, "pre[aria-label=stdout]").text == "late", timeout=15)
    assert d.find_element(By.CSS_SELECTOR, "h1 .badge").text == "done"
    assert d.execute_script("return window.__same_page") == 1  # redrawn, not reloaded


def test_charts_draw_violations_by_rule_and_quota_use(srv, browser):
    d = browser
    sign_in(d, srv, srv.keys["admin"])
    run(srv, srv.keys["runner"], "import socket\nsocket.socket()\n")
    d.get(srv.url + "/ui/charts")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#violations-chart rect.bar"))
    rules = {v["rule"] for v in srv.req("GET", "/v1/violations?limit=200").json()["items"]}
    legend = d.find_element(By.CSS_SELECTOR, "#violations-chart .legend").text
    assert all(rule in legend for rule in rules), (rules, legend)
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, f"[data-tenant='{srv.tenant}'] rect.gauge"))
    assert len(d.find_elements(By.CSS_SELECTOR, f"[data-tenant='{srv.tenant}'] rect.gauge")) == 4
    shot(d, "charts")


def test_admin_creates_a_key_shown_once_revokes_it_and_sees_policy_errors_inline(srv, browser):
    d = browser
    sign_in(d, srv, srv.keys["tenant-admin"])
    d.get(srv.url + "/ui/admin")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#new-key input[name=name]"))
    d.find_element(By.CSS_SELECTOR, "#new-key input[name=name]").send_keys("made in the dashboard")
    d.find_element(By.CSS_SELECTOR, "#new-key select[name=role]").send_keys("runner")
    d.find_element(By.CSS_SELECTOR, "#new-key button").click()
    wait(d, lambda: d.find_elements(By.ID, "new-token"))
    token = d.find_element(By.ID, "new-token").text
    assert token.startswith("sk_") and run(srv, token, "1").status == 200
    kid = "k_" + token.split("_")[1]
    shot(d, "admin")
    # shown once: not after a reload, and nowhere in what the server sends
    d.refresh()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, f"tr[data-key='{kid}']"))
    assert token not in d.page_source and not d.find_elements(By.ID, "new-token")
    assert token.split("_", 2)[2] not in with_cookie(d, srv, "GET", "/v1/keys").body.decode()
    # revoke: two clicks, then the key is refused
    button = d.find_element(By.CSS_SELECTOR, f"tr[data-key='{kid}'] button.revoke")
    button.click()
    d.find_element(By.CSS_SELECTOR, f"tr[data-key='{kid}'] button.revoke").click()
    wait(d, lambda: "revoked" in d.find_element(By.CSS_SELECTOR, f"tr[data-key='{kid}']").text)
    assert srv.req("POST", "/v1/runs", key=token, body={"code": "1"}).status == 401
    # a policy the validator refuses: its line, column and key next to the editor
    editor = d.find_element(By.ID, "policy-text")
    editor.clear()
    editor.send_keys("version = 1\n[limits]\nwall-time = \"soon\"\n")
    d.find_element(By.CSS_SELECTOR, "#policy button").click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#policy-error .error"))
    shown = d.find_element(By.CSS_SELECTOR, "#policy-error .error").text
    expected = srv.req("PUT", f"/v1/tenants/{srv.tenant}/policy", key=srv.keys["tenant-admin"],
                       body={"policy": "version = 1\n[limits]\nwall-time = \"soon\"\n"}).json()
    assert f"line {expected['line']}" in shown and expected["field"] in shown, (shown, expected)
    shot(d, "admin-policy-error")


def test_an_admin_creates_a_tenant_and_sets_its_quotas(srv, browser):
    d = browser
    sign_in(d, srv, srv.keys["admin"])
    d.get(srv.url + "/ui/admin")
    tid = f"made-{uuid.uuid4().hex[:6]}"
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#new-tenant input[name=id]"))
    d.find_element(By.CSS_SELECTOR, "#new-tenant input[name=id]").send_keys(tid)
    d.find_element(By.CSS_SELECTOR, "#new-tenant input[name=name]").send_keys("Made <b>here</b>")
    d.find_element(By.CSS_SELECTOR, "#new-tenant button").click()
    row = f"#main tr[data-tenant='{tid}']"
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, row))
    assert "Made <b>here</b>" in d.find_element(By.CSS_SELECTOR, row).text
    d.find_element(By.CSS_SELECTOR, f"{row} button.edit-quotas").click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, f"#quotas[data-tenant='{tid}'] input[name=concurrent_runs]"))
    d.find_element(By.CSS_SELECTOR, "#quotas input[name=concurrent_runs]").send_keys("2")
    d.find_element(By.CSS_SELECTOR, "#quotas button[type=submit]").click()
    wait(d, lambda: not d.find_elements(By.ID, "quotas"))
    assert srv.req("GET", f"/v1/tenants/{tid}").json()["quotas"] == {"concurrent_runs": 2}
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, row)[0].find_elements(By.CSS_SELECTOR, "td.num")[0].text == "2")
    # a value the server refuses is shown with the quota it names
    d.find_element(By.CSS_SELECTOR, f"{row} button.edit-quotas").click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#quotas input[name=max_wall_time_ms]"))
    d.find_element(By.CSS_SELECTOR, "#quotas input[name=max_wall_time_ms]").send_keys("5")
    d.find_element(By.CSS_SELECTOR, "#quotas button[type=submit]").click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#quotas .error"))
    assert "max_wall_time_ms" in d.find_element(By.CSS_SELECTOR, "#quotas .error").text
    shot(d, "admin-quotas")


def test_an_auditor_is_refused_the_admin_pages_by_the_server(srv, browser):
    d = browser
    sign_in(d, srv, srv.keys["auditor"])
    assert [a.text for a in d.find_elements(By.CSS_SELECTOR, "#nav a")] == ["Runs", "Charts"]
    d.get(srv.url + "/ui/admin")
    wait(d, lambda: d.find_elements(By.ID, "notice"))
    assert "auditor does not hold" in d.find_element(By.ID, "notice").text
    shot(d, "auditor-refused")
    # the refusal is the server's: the page, and every admin call with the session and its token
    assert with_cookie(d, srv, "GET", "/ui/admin").status == 403
    csrf = with_cookie(d, srv, "GET", "/ui/session").json()["csrf_token"]
    h = {"X-CSRF-Token": csrf}
    assert with_cookie(d, srv, "GET", "/v1/keys").status == 403
    assert with_cookie(d, srv, "POST", "/v1/keys", body={"name": "x", "role": "auditor"}, headers=h).status == 403
    assert with_cookie(d, srv, "PUT", f"/v1/tenants/{srv.tenant}/policy", body={"policy": None}, headers=h).status == 403
    assert request(srv.url, "GET", "/ui/admin", key=srv.keys["auditor"]).status == 403
    # HEAD runs a GET handler: it needs the GET's permission
    assert request(srv.url, "HEAD", "/ui/admin", key=srv.keys["auditor"]).status == 403
    assert request(srv.url, "HEAD", "/ui/admin").status == 401
    assert request(srv.url, "HEAD", "/ui/admin", key=srv.keys["tenant-admin"]).status == 200
    # a runner is refused the charts (it holds neither violations:read nor tenant:read)
    assert request(srv.url, "GET", "/ui/charts", key=srv.keys["runner"]).status == 403


def test_csrf_a_change_without_the_token_is_refused(srv, browser):
    d = browser
    sign_in(d, srv, srv.keys["tenant-admin"])
    before = len(srv.req("GET", f"/v1/runs?tenant={srv.tenant}&limit=200").json()["items"])

    def csrf_refusals():
        audit = srv.req("GET", "/v1/audit?action=auth.failed&limit=500").json()["items"]
        return sum(a["detail"].get("reason") == "csrf" for a in audit)

    refused = csrf_refusals()
    # another origin (same site: only the port differs, so SameSite=Strict still sends the
    # cookie) posts to the API with the browser's session
    other = PlainPage()
    d.get(other.url)
    status = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0] + "/v1/runs", {method: "POST", mode: "no-cors", credentials: "include",
              headers: {"Content-Type": "text/plain"}, body: JSON.stringify({code: "print('csrf')"})})
          .then(() => done("sent"), (e) => done(String(e)));""", srv.url)
    assert status == "sent"
    d.get(srv.url + "/ui/runs")
    wait(d, lambda: d.find_elements(By.ID, "identity"))
    after = srv.req("GET", f"/v1/runs?tenant={srv.tenant}&limit=200").json()["items"]
    assert len(after) == before
    # the cookie did reach the server with the forged request (so only the token stopped it)
    assert csrf_refusals() == refused + 1
    # evidence of each side, by hand: no token, a wrong token: 403; the session's token: taken
    body = {"code": "print(1)"}
    r = with_cookie(d, srv, "POST", "/v1/runs", body=body)
    assert r.status == 403 and r.json()["code"] == "csrf", r
    assert with_cookie(d, srv, "POST", "/v1/runs", body=body, headers={"X-CSRF-Token": "x" * 43}).status == 403
    csrf = with_cookie(d, srv, "GET", "/ui/session").json()["csrf_token"]
    assert with_cookie(d, srv, "POST", "/v1/runs", body=body, headers={"X-CSRF-Token": csrf}).status == 200
    assert with_cookie(d, srv, "DELETE", "/ui/session").status == 403
    assert with_cookie(d, srv, "GET", "/ui/session").status == 200
    assert csrf_refusals() == refused + 4  # the two by hand and the sign-out
    # a sign-in from another origin is refused (it would sign the browser in as someone else)
    r = request(srv.url, "POST", "/ui/session", body={"token": srv.keys["runner"]},
                headers={"Origin": "http://evil.example"})
    assert r.status == 403 and "Set-Cookie" not in r.headers


def test_revoking_the_key_ends_its_sessions(srv, browser):
    d = browser
    key, kid = srv.new_key(srv.tenant, "auditor")
    sign_in(d, srv, key)
    assert with_cookie(d, srv, "GET", "/v1/runs").status == 200
    assert srv.req("DELETE", f"/v1/keys/{kid}").status == 204
    assert with_cookie(d, srv, "GET", "/v1/runs").status == 401
    d.get(srv.url + "/ui/runs")
    wait(d, lambda: d.find_elements(By.ID, "token"))


def test_xss_payloads_in_code_output_and_file_names_are_inert(srv, browser):
    d = browser
    canary = Listener()
    # An <img> whose error handler sets a window variable and calls the canary (no '/' and no
    # backslash in it, so the same text can be a file name).
    payload = (f"<img src=x onerror=\"window.__xss=1;fetch('http:'+String.fromCharCode(47,47)+"
               f"'127.0.0.1:{canary.port}')\">")
    code = (f"import os, sys\nos.makedirs('out', exist_ok=True)\nP = {payload!r}\n# {payload}\nprint(P)\nprint(P, file=sys.stderr)\n"
            f"open('out/' + P, 'w').write(P)\nP\n")
    r = run(srv, srv.keys["runner"], code)
    rid = r.headers["stockade-run-id"]
    rec = srv.req("GET", f"/v1/runs/{rid}").json()
    assert rec["result"]["stdout"] == payload + "\n", rec["result"]
    assert payload in rec["result"]["answer"]["files"], rec["result"]["answer"]
    # control: the same payload, inserted as HTML in a page without the dashboard's defences,
    # runs in this browser and reaches the canary
    plain = PlainPage()
    d.get(plain.url)
    d.execute_script("document.getElementById('t').innerHTML = arguments[0]", payload)
    wait(d, lambda: d.execute_script("return window.__xss") == 1)
    wait(d, lambda: canary.hits >= 1)
    canary.hits = 0
    # the dashboard shows it as text, everywhere it appears
    sign_in(d, srv, srv.keys["admin"])
    d.get(srv.url + f"/ui/runs/{rid}")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "td.file-name"))
    assert d.find_element(By.CSS_SELECTOR, "pre[aria-label=stdout]").text == payload
    assert d.find_element(By.CSS_SELECTOR, "pre[aria-label=stderr]").text == payload
    assert payload in d.find_element(By.CSS_SELECTOR, "pre[aria-label=code]").text
    assert d.find_element(By.CSS_SELECTOR, "pre[aria-label=value]").text == payload
    assert d.find_element(By.CSS_SELECTOR, "td.file-name").text == payload
    assert d.execute_script("return document.querySelectorAll('main img').length") == 0
    # and if a bug ever did insert it as HTML, the CSP forbids the inline handler
    d.execute_script("const x = document.createElement('div'); x.innerHTML = arguments[0];"
                     "document.getElementById('main').append(x)", payload)
    time.sleep(1.0)
    assert d.execute_script("return window.__xss") is None
    assert canary.hits == 0
    shot(d, "run-xss")


def test_page_weight_and_first_render(srv, browser):
    """Measured, not only asserted: the numbers go to docs/dashboard.md."""
    d = browser
    sign_in(d, srv, srv.keys["admin"])
    t0 = time.time()
    d.get(srv.url + "/ui/runs")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#runs table"))
    first_render = time.time() - t0
    shot(d, "runs-live")  # last: every test's runs are in it
    total = sum(len(srv.req("GET", f"/ui/assets/{n}").body) for n in
                ["style.css", "icon.svg", "dom.js", "api.js", "runs.js"]) + len(srv.req("GET", "/ui/runs").body)
    print(f"\nruns page: {total} bytes (HTML, CSS, icon, scripts), first table in {first_render * 1000:.0f} ms")
    assert total < 40_000 and first_render < 5
