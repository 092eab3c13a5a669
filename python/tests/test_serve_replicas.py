"""Replicas that share nothing but PostgreSQL (issue 19): three `stockade serve` processes on
loopback behind a round-robin client. Quotas hold across them, a session is reachable through
any of them (forwarded to the one holding its jail), and killing one mid-run leaves its runs
`lost` and its sessions closed — noticed by the others — with no error for runs on the rest.
"""
import itertools
import json
import os
import threading
import time

import pytest

from serve_util import Server, descendants, postgres_url, request

FAST = {"pool_size": 1, "session_idle_seconds": 60, "heartbeat_ms": 300, "peer_timeout_ms": 2000,
        "max_concurrent_runs": 4}


class RoundRobin:
    """A load balancer's view: each request to the next replica."""

    def __init__(self, servers):
        self.servers = servers
        self.next = itertools.cycle(range(len(servers)))
        self.lock = threading.Lock()

    def req(self, method, path, key, body=None, **kw):
        with self.lock:
            s = self.servers[next(self.next)]
        return request(s.url, method, path, key=key, body=body, **kw)


@pytest.fixture
def replicas():
    db = postgres_url()
    servers = [Server(database=db, settings=FAST, instance=f"replica-{i}").start() for i in range(3)]
    admin = next(s.admin_key for s in servers if s.admin_key)
    for s in servers:
        s.admin_key = admin
    yield servers
    for s in servers:
        if s.proc and s.proc.poll() is None:
            s.stop()



def test_quotas_hold_and_sessions_are_reachable_through_any_replica(replicas):
    a = replicas[0]
    lb = RoundRobin(replicas)
    t = a.new_tenant(quotas={"concurrent_runs": 2, "sessions": 4})
    k, _ = a.new_key(t, "runner")
    # Concurrent runs counted in PostgreSQL: 2 of 6 fired through three replicas at once.
    codes = []

    def fire():
        codes.append(lb.req("POST", "/v1/runs", k, {"code": "import time; time.sleep(1.5)", "async": True}).status)

    threads = [threading.Thread(target=fire) for _ in range(6)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    assert sorted(codes) == [202, 202, 429, 429, 429, 429], codes
    time.sleep(2)
    # A session opened through one replica; its cells through all three (state is shared, so
    # every cell ran in the same interpreter), streamed cells too.
    s = lb.req("POST", "/v1/sessions", k, {})
    assert s.status == 201, s
    sid, owner = s.json()["id"], s.json()["instance"]
    values = []
    for i in range(6):
        r = lb.req("POST", f"/v1/sessions/{sid}/runs", k, {"code": f"n = globals().get('n', 0) + 1\nresult = n"})
        assert r.status == 200, r
        values.append(r.json()["answer"]["value"])
    assert values == [1, 2, 3, 4, 5, 6]
    others = [x for x in replicas if x.instance != owner]
    r = request(others[0].url, "POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "print(n)"},
                headers={"Accept": "text/event-stream"})
    assert r.status == 200 and b"event: stdout" in r.body and b"event: result" in r.body, r
    assert r.headers.get("x-stockade-forwarded-by") == owner
    # Another tenant reaching the session by id through a replica that forwards: still 404.
    t2 = a.new_tenant()
    k2, _ = a.new_key(t2, "runner")
    assert request(others[1].url, "POST", f"/v1/sessions/{sid}/runs", key=k2, body={"code": "n"}).status == 404
    # Closed through a replica that does not hold it: the owner closes the jail.
    assert request(others[1].url, "DELETE", f"/v1/sessions/{sid}", key=k).status == 204
    owner_srv = next(x for x in replicas if x.instance == owner)
    r = request(owner_srv.url, "POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "n"})
    assert r.status == 410, r
    # A forged "already forwarded" header cannot make a replica run someone else's session.
    s2 = lb.req("POST", "/v1/sessions", k, {}).json()
    other = next(x for x in replicas if x.instance != s2["instance"])
    r = request(other.url, "POST", f"/v1/sessions/{s2['id']}/runs", key=k, body={"code": "1"},
                headers={"X-Stockade-Forwarded-By": "nobody"})
    assert r.status == 410, r


def test_a_killed_replica_leaves_lost_runs_closed_sessions_and_no_errors_elsewhere(replicas):
    a, b, c = replicas
    t = a.new_tenant(quotas={"concurrent_runs": 8, "sessions": 4})
    k, _ = a.new_key(t, "runner")
    runs = [a.req("POST", "/v1/runs", key=k, body={"code": "import time; time.sleep(60)", "async": True})
            for _ in range(2)]
    assert all(r.status == 202 for r in runs), runs
    ids = [r.json()["id"] for r in runs]
    sess = a.req("POST", "/v1/sessions", key=k, body={})
    assert sess.status == 201 and sess.json()["instance"] == a.instance, sess
    sid = sess.json()["id"]
    time.sleep(1)
    jails = descendants(a.proc.pid)
    assert jails, "replica-0 runs no supervisor"
    # Runs keep going through the others while replica-0 dies.
    errors, done = [], threading.Event()

    def load():
        lb = RoundRobin([b, c])
        while not done.is_set():
            r = lb.req("POST", "/v1/runs", k, {"code": "result = 6 * 7"})
            if r.status != 200 or r.json()["answer"]["value"] != 42:
                errors.append(r)

    th = threading.Thread(target=load)
    th.start()
    try:
        a.kill()
        deadline = time.monotonic() + 15
        states = []
        while time.monotonic() < deadline:
            states = [b.req("GET", f"/v1/runs/{i}", key=k).json()["state"] for i in ids]
            if states == ["lost", "lost"]:
                break
            time.sleep(0.2)
        assert states == ["lost", "lost"], states
        # The session is reported gone at once, never a hang.
        started = time.monotonic()
        r = c.req("POST", f"/v1/sessions/{sid}/runs", key=k, body={"code": "1"}, timeout=20)
        assert r.status == 410 and time.monotonic() - started < 5, r
        assert c.req("GET", f"/v1/sessions/{sid}", key=k).json()["state"] == "closed"
    finally:
        done.set()
        th.join()
    assert errors == [], errors[:3]
    audit = b.req("GET", f"/v1/audit?tenant={t}&action=run.lost&limit=50").json()["items"]
    assert sorted(e["target"] for e in audit) == sorted(ids)
    assert {e["detail"]["noticed_by"] for e in audit} <= {b.instance, c.instance}
    # Nothing of replica-0's jails survives it.
    time.sleep(1)
    alive = [p for p in jails if os.path.exists(f"/proc/{p}")]
    assert alive == [], alive


def test_a_second_live_server_under_the_same_name_is_refused_and_a_restart_is_not():
    db = postgres_url()
    a = Server(database=db, settings=FAST, instance="twin").start()
    try:
        key = a.admin_key
        r = a.req("POST", "/v1/runs", key=key, body={"code": "import time; time.sleep(30)", "async": True})
        run_id = r.json()["id"]
        twin = Server(database=db, settings=FAST, instance="twin")
        with pytest.raises(RuntimeError) as e:
            twin.start(timeout=30)
        assert "another live server uses the instance name" in str(e.value)
        # The live server's run was not taken for a crashed one's.
        assert a.req("GET", f"/v1/runs/{run_id}", key=key).json()["state"] in ("queued", "running")
        # A crash, then a restart under the same name: allowed, and the run is lost.
        a.kill()
        again = Server(database=db, settings=FAST, instance="twin", port=a.port).start()
        try:
            again.admin_key = key
            assert again.req("GET", f"/v1/runs/{run_id}", key=key).json()["state"] == "lost"
        finally:
            again.stop()
    finally:
        if a.proc.poll() is None:
            a.stop()


def test_a_dashboard_session_works_through_every_replica(replicas):
    """Dashboard sessions live in the database: a browser signed in through one replica is
    signed in on all of them, and signing out through another ends it everywhere."""
    a, b, c = replicas
    k, _ = a.new_key("default", "auditor")
    r = request(a.url, "POST", "/ui/session", body={"token": k}, headers={"Origin": a.url})
    assert r.status == 201, r
    cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    csrf = r.json()["csrf_token"]
    for s in (b, c):
        got = request(s.url, "GET", "/v1/runs", headers={"Cookie": cookie})
        assert got.status == 200, got
    # A change needs the CSRF token on every replica alike.
    r = request(b.url, "DELETE", "/ui/session", headers={"Cookie": cookie, "Origin": b.url})
    assert r.status == 403, r
    r = request(b.url, "DELETE", "/ui/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": b.url})
    assert r.status == 204, r
    for s in (a, c):
        assert request(s.url, "GET", "/v1/runs", headers={"Cookie": cookie}).status == 401
