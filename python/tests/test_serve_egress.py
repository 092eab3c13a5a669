"""The egress proxy through `stockade serve`: a tenant's network policy is the admin's to give,
its runs get the proxy with the tenant's allow list, and every flow reaches the store (the run's
result, the violations table, the audit chain). Destinations are servers on 127.0.0.1 that count
what reaches them.
"""
import pytest

from serve_util import Server
from test_egress import Listener, Origin

FAST = {"pool_size": 1, "session_idle_seconds": 30}


@pytest.fixture(scope="module")
def srv():
    s = Server(settings=FAST).start()
    yield s
    s.stop()


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def run(s, key, code):
    return s.req("POST", "/v1/runs", key=key, body={"code": code})


def net_policy(*allow):
    entries = ", ".join(f'"{a}"' for a in allow)
    return f"version = 1\n[network]\nallow = [{entries}]\n"


def test_only_an_admin_may_give_a_tenant_the_network(srv, origin):
    t = srv.new_tenant()
    ta, _ = srv.new_key(t, "tenant-admin")
    r = srv.req("PUT", f"/v1/tenants/{t}/policy", key=ta,
                body={"policy": "version = 1\n[network]\nmode = \"proxy\"\nallow = [\"127.0.0.1:1\"]\n"})
    assert r.status == 422 and r.json()["field"] == "network.mode", r
    assert r.json()["line"] == 3
    secrets = ("version = 1\n[network]\nallow = [\"api.test:443\"]\n"
               "[secrets]\nT = { from = \"env:HOME\", hosts = [\"api.test\"] }\n")
    r = srv.req("PUT", f"/v1/tenants/{t}/policy", key=ta, body={"policy": secrets})
    assert r.status == 422 and r.json()["field"] in ("network.mode", "secrets"), r
    # The admin may; the tenant's runs then reach what it names.
    assert srv.req("PUT", f"/v1/tenants/{t}/policy", body={"policy": net_policy(f"127.0.0.1:{origin.port}")}).status == 200
    k, _ = srv.new_key(t, "runner")
    r = run(srv, k, f"import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:{origin.port}/t').read().decode())")
    assert r.status == 200 and r.json()["stdout"] == "hello /t\n", r


def test_flows_reach_the_store_and_other_tenants_get_nothing(srv, origin):
    other_port = Listener()
    try:
        t = srv.new_tenant()
        assert srv.req("PUT", f"/v1/tenants/{t}/policy", body={"policy": net_policy(f"127.0.0.1:{origin.port}")}).status == 200
        k, _ = srv.new_key(t, "runner")
        code = f"""
import urllib.request, urllib.error
print(urllib.request.urlopen("http://127.0.0.1:{origin.port}/ok").status)
try:
    urllib.request.urlopen("http://127.0.0.1:{other_port.port}/")
except urllib.error.HTTPError as e:
    print(e.code)
"""
        r = run(srv, k, code)
        assert r.status == 200, r
        doc = r.json()
        assert doc["stdout"].split() == ["200", "403"]
        decisions = [(f["port"], f["decision"], f["rule"]) for f in doc["network"]["flows"]]
        assert decisions == [(origin.port, "allowed", f"127.0.0.1:{origin.port}"),
                             (other_port.port, "denied", "network.allow")]
        rid = r.headers["stockade-run-id"]
        stored = srv.req("GET", f"/v1/runs/{rid}").json()
        assert stored["result"]["network"]["flows"] == doc["network"]["flows"]
        v = srv.req("GET", f"/v1/violations?run_id={rid}").json()["items"]
        assert [(x["rule"], x["detail"]["reported_by"]) for x in v] == [("network.allow", "supervisor")], v
        audit = srv.req("GET", f"/v1/audit?limit=500").json()["items"]
        finished = [a for a in audit if a["action"] == "run.finished" and a["target"] == rid]
        assert finished and any(x["rule"] == "network.allow" for x in finished[0]["detail"]["violations"])
        audited = [(f["port"], f["decision"], f["address"]) for f in finished[0]["detail"]["flows"]]
        assert audited == [(origin.port, "allowed", "127.0.0.1"), (other_port.port, "denied", None)]
        # Another tenant, no network policy: its code gets no proxy and the origin nothing more.
        before = len(origin.requests)
        k2, _ = srv.new_key(srv.new_tenant(), "runner")
        r = run(srv, k2, f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{origin.port}/x')")
        assert r.status == 200 and r.json()["status"] == "error" and "network" not in r.json()
        assert len(origin.requests) == before
        assert other_port.hits == 0
    finally:
        other_port.close()
