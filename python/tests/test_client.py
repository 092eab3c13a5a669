"""stockade.Client against a real `stockade serve` (SQLite): the same Result as stockade.run,
streaming, async runs, sessions, and the service's errors as the package's exceptions."""
import asyncio
import datetime
import decimal
import select
import threading
import time
import traceback

import pytest

import stockade
from stockade import _client
from serve_util import Server, free_port

# A server that closes idle keep-alive connections after 1 s (its header timeout), so the
# client's reconnecting is exercised.
HEADER_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server():
    s = Server(settings={"header_timeout_ms": int(HEADER_TIMEOUT_S * 1000)}).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(server):
    with stockade.Client(server.url, api_key=server.admin_key, timeout=60) as c:
        yield c


def same_outcome(remote, local):
    assert remote.status == local.status, (remote, local)
    assert remote.ok == local.ok
    assert remote.stdout == local.stdout
    assert remote.stderr == local.stderr
    assert remote.value == local.value
    assert remote.error == local.error
    assert remote.exit_code == local.exit_code
    assert remote.files == local.files


# ----- the same results as stockade.run -----


def test_run_returns_the_same_result_as_the_local_api(client):
    code = (
        "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"
        "{'n': 2**100, 'b': b'\\x00\\xff', 's': {1, 2}, 'f': 2.5, 'none': None, 't': (1, 'a')}"
    )
    remote = client.run(code)
    local = stockade.run(code)
    assert isinstance(remote, stockade.Result)
    assert remote.ok and remote.value == {"n": 2**100, "b": b"\x00\xff", "s": {1, 2}, "f": 2.5, "none": None, "t": (1, "a")}
    same_outcome(remote, local)
    assert remote.raw["schema"] == local.raw["schema"]


def test_a_run_that_raises_gives_the_same_error_as_locally(client):
    code = "import json\ndef f():\n    json.loads('{bad')\nprint('before')\nf()"
    remote = client.run(code)
    local = stockade.run(code)
    assert not remote.ok and remote.status == "error"
    assert remote.error["type"] == "JSONDecodeError"
    assert "/sandbox/main.py" in remote.error["traceback"]
    same_outcome(remote, local)


def test_inputs_files_and_stdin_round_trip(client):
    inputs = {
        "big": -(3**80),
        "data": b"\x00\x01binary\xff",
        "tags": frozenset({"a", "b"}),
        "when": datetime.datetime(2024, 2, 29, 12, 30, 15, 123456),
        "price": decimal.Decimal("12.340"),
        "nested": {"k": [1, (2, 3), {"z": None}], 5: "int key"},
        "inf": float("inf"),
    }
    code = (
        "import os, sys\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/copy.bin', 'wb').write(open('blob.bin', 'rb').read()[::-1])\n"
        "result = {'inputs': [big, data, tags, when, price, nested, inf],\n"
        "          'csv': open('data.csv').read(), 'stdin': sys.stdin.read()}\n"
    )
    files = {"data.csv": "a,b\n1,2\n", "blob.bin": bytes(range(256))}
    r = client.run(code, inputs=inputs, files=files, stdin=b"line 1\nline \xc3\xa9\n")
    assert r.ok, r
    assert r.value["inputs"] == [inputs[k] for k in ("big", "data", "tags", "when", "price", "nested", "inf")]
    assert type(r.value["inputs"][2]) is frozenset and str(r.value["inputs"][4]) == "12.340"
    assert r.value["csv"] == "a,b\n1,2\n"
    assert r.value["stdin"] == "line 1\nline é\n"
    assert r.files == {"copy.bin": bytes(range(256))[::-1]}
    local = stockade.run(code, inputs=inputs, files=files, stdin=b"line 1\nline \xc3\xa9\n")
    same_outcome(r, local)


def test_main_function_receives_inputs_and_str_stdin(client):
    r = client.run("def main(a, b=10):\n    return [a, b, input()]", inputs={"a": 5}, stdin="typed\n")
    assert r.ok and r.value == [5, 10, "typed"], r


def test_timeout_is_a_timeout_status(client):
    code = "import time\nprint('start', flush=True)\ntime.sleep(30)"
    started = time.monotonic()
    remote = client.run(code, timeout=0.5)
    assert time.monotonic() - started < 10
    assert remote.status == "timeout" and not remote.ok
    assert remote.limits["wall_time_ms"] == 500
    local = stockade.run(code, timeout=0.5)
    assert local.status == "timeout"
    assert remote.error["type"] == local.error["type"]
    assert remote.stdout == local.stdout == "start\n"


def test_dataclass_types_are_rebuilt(client):
    import dataclasses

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    r = client.run("p", inputs={"p": Point(1, 2)}, types=(Point,))
    assert r.ok and r.value == Point(1, 2), r


# ----- streaming -----


def test_stream_callback_gets_chunks_before_the_call_returns(client):
    seen = []
    code = (
        "import os, sys, time\n"
        "for i in range(3):\n"
        "    print('tick', i, flush=True)\n"
        "    time.sleep(0.5)\n"
        "sys.stderr.write('warn\\n'); sys.stderr.flush()\n"
        "try:\n    os.system('true')\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "'done'"
    )
    started = time.monotonic()
    r = client.run(code, stream=lambda kind, data: seen.append((time.monotonic(), kind, data)))
    returned = time.monotonic()
    assert r.ok and r.value == "done", r
    kinds = [k for _, k, _ in seen]
    assert {"stdout", "stderr", "violation"} <= set(kinds), seen
    first = seen[0]
    assert first[1] == "stdout" and first[2] == b"tick 0\n"
    assert first[0] - started < returned - started - 1.0, (first[0] - started, returned - started)
    assert b"".join(d for _, k, d in seen if k == "stdout").decode() == r.stdout
    assert b"".join(d for _, k, d in seen if k == "stderr").decode() == r.stderr
    violation = next(d for _, k, d in seen if k == "violation")
    assert violation["event"] == "os.system" and violation["decision"] == "denied"
    assert r.violations and r.violations[0]["event"] == "os.system"


def test_stream_events_yields_run_output_then_the_result(client):
    events = list(client.stream_events("print('a', flush=True)\nimport sys; sys.stderr.write('b')\n6 * 7"))
    assert events[0][0] == "run" and events[0][1].startswith("r_")
    assert ("stdout", b"a\n") in events and ("stderr", b"b") in events
    kind, result = events[-1]
    assert kind == "result" and isinstance(result, stockade.Result) and result.value == 42
    # the run is recorded under the id the stream gave
    assert client.get(events[0][1])["state"] == "done"


def test_leaving_a_stream_early_and_interleaving_requests(client):
    events = client.stream_events("import time\nfor i in range(4):\n    print(i, flush=True)\n    time.sleep(0.3)")
    assert next(events)[0] == "run"
    assert next(events) == ("stdout", b"0\n")
    # another request on the same thread while the stream is open: a connection of its own
    assert client.run("1 + 1").value == 2
    assert next(events) == ("stdout", b"1\n")
    events.close()
    assert client.run("2 + 2").value == 4


def test_a_callback_that_raises_stops_the_stream(client):
    class Enough(Exception):
        pass

    def callback(kind, data):
        raise Enough(kind)

    with pytest.raises(Enough, match="stdout"):
        client.run("import time\nprint(1, flush=True)\ntime.sleep(1)", stream=callback)
    assert client.run("'usable'").value == "usable"


def test_session_cells_stream_too(client):
    with client.session() as s:
        s.run("n = 3")
        events = list(s.stream_events("print(n, flush=True)\nn * 2"))
    assert events[0][0] == "run" and ("stdout", b"3\n") in events
    assert events[-1][0] == "result" and events[-1][1].value == 6


def test_bad_input_in_a_stream_raises_before_any_event(client):
    with pytest.raises(stockade.InputError, match=r"'\.' or '\.\.'") as info:
        client.run("1", files={"../x": b"a"}, stream=lambda k, d: None)
    assert info.value.status == 400 and info.value.field == "files"
    with pytest.raises(stockade.InputError):
        client.run("1", stream="not callable")


# ----- asynchronous runs -----


def test_submit_get_and_wait(client):
    run_id = client.submit("import time\ntime.sleep(0.5)\nresult = sum(xs)", inputs={"xs": [1, 2, 3]})
    assert isinstance(run_id, str) and run_id.startswith("r_")
    assert client.get(run_id)["state"] in ("queued", "running", "done")
    r = client.wait(run_id, timeout=30)
    assert isinstance(r, stockade.Result) and r.ok and r.value == 6, r
    record = client.get(run_id)
    assert record["state"] == "done" and record["result"]["status"] == "ok"


def test_wait_gives_up_with_a_timeout_error(client):
    run_id = client.submit("import time\ntime.sleep(2)\n'late'")
    with pytest.raises(stockade.WaitTimeout) as info:
        client.wait(run_id, timeout=0.2)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, stockade.StockadeError)
    assert client.wait(run_id, timeout=30).value == "late"


def test_unknown_run_is_not_found(client):
    with pytest.raises(stockade.NotFound) as info:
        client.get("r_000000000000000000000000")
    assert info.value.status == 404 and info.value.code == "not_found"
    with pytest.raises(stockade.NotFound):
        client.wait("r_does/not/exist", timeout=5)


# ----- sessions -----


def test_session_keeps_state_across_cells_and_forgets_it_after_close(client):
    with client.session(idle_timeout=60) as s:
        assert s.id.startswith("s_") and not s.closed
        assert s.run("x = 41\nimport json").ok
        r = s.run("x + 1")
        assert r.ok and r.value == 42
        r = s.run("result = open('in.txt').read() + str(v)", files={"in.txt": "v="}, inputs={"v": 7})
        assert r.value == "v=7", r
        streamed = []
        r = s.run("print(x, flush=True)\njson.dumps([x])", stream=lambda k, d: streamed.append((k, d)))
        assert r.value == "[41]" and streamed == [("stdout", b"41\n")]
        assert s.info()["state"] == "open"
    assert s.closed
    s.close()  # twice is fine
    with pytest.raises(stockade.NotFound) as info:
        s.run("x")
    assert info.value.status == 410 and info.value.code == "session_closed"
    assert s.info()["state"] == "closed"
    with client.session() as fresh:
        r = fresh.run("x")
        assert not r.ok and r.error["type"] == "NameError"


def test_session_idle_timeout_beyond_the_servers_is_an_input_error(client):
    with pytest.raises(stockade.InputError) as info:
        client.session(idle_timeout=24 * 3600)
    assert info.value.status == 422 and info.value.field == "idle_timeout_ms"


# ----- errors -----


def test_refusals_do_not_break_the_next_request(server):
    """The service refuses some requests before reading their body and may then close the
    connection without saying so; the client must not lose the next request to that."""
    # (a race: without the client's care, about 1 request in 50 here was lost on a server with
    # the default settings, fewer on this one; this loop caught it in about 1 run of 3)
    for _ in range(150):
        with stockade.Client(server.url, api_key="sk_ffffffffffff_WrongSecretWrongSecretWrongSecret1234567") as bad:
            for size in (1, 100, 1, 100_000):
                with pytest.raises(stockade.AuthError):
                    bad.submit("#" * size)


def test_wrong_key_is_an_auth_error_that_never_shows_the_key(server):
    key_id = server.admin_key.split("_")[1]
    secret = "WrongSecretWrongSecretWrongSecret1234567"
    for key in (f"sk_{key_id}_{secret}", f"sk_ffffffffffff_{secret}", secret):
        c = stockade.Client(server.url, api_key=key)
        assert secret not in repr(c)
        for call in (lambda: c.run("1"), lambda: c.submit("1"), lambda: c.session(), lambda: c.get("r_x")):
            with pytest.raises(stockade.AuthError) as info:
                call()
            exc = info.value
            assert exc.status == 401 and exc.code == "unauthorized"
            text = str(exc) + repr(exc) + "".join(traceback.format_exception(exc)) + repr(exc.__dict__)
            assert secret not in text and key not in text
        c.close()


def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(server):
    secret = "sk_abc_Secret\nInjected: yes"
    with pytest.raises(stockade.AuthError) as info:
        stockade.Client(server.url, api_key=secret)
    assert "Secret" not in str(info.value) and "Secret" not in repr(info.value)


def test_a_role_without_the_permission_is_an_auth_error(server):
    tenant = server.new_tenant()
    key, _ = server.new_key(tenant, "auditor")
    with stockade.Client(server.url, api_key=key) as c:
        with pytest.raises(stockade.AuthError) as info:
            c.run("1")
    assert info.value.status == 403 and info.value.code == "forbidden"
    assert key not in str(info.value)


def test_quota_exceeded_has_retry_after_and_the_quota(server):
    tenant = server.new_tenant(quotas={"runs_per_minute": 1})
    key, _ = server.new_key(tenant, "runner")
    with stockade.Client(server.url, api_key=key) as c:
        assert c.run("1").value == 1
        with pytest.raises(stockade.QuotaExceeded) as info:
            c.run("2")
        exc = info.value
        assert exc.status == 429 and exc.code == "quota_exceeded"
        assert exc.quota == "runs_per_minute"
        assert isinstance(exc.retry_after, float) and 0 < exc.retry_after <= 60
        assert key not in str(exc)
        with pytest.raises(stockade.QuotaExceeded):
            c.submit("3")
        with pytest.raises(stockade.QuotaExceeded):
            list(c.stream_events("4"))


def test_bad_inputs_raise_the_same_class_as_the_local_api(client):
    cases = [
        {"files": {"../x": b"a"}},
        {"files": {"/abs": b"a"}},
        {"inputs": {"__x__": 1}},
        {"inputs": {"x": object()}},  # refused before sending, as locally
        {"stdin": 12},
        {"timeout": 0},
    ]
    for kwargs in cases:
        with pytest.raises(stockade.StockadeError) as local:
            stockade.run("1", **kwargs)
        with pytest.raises(stockade.StockadeError) as remote:
            client.run("1", **kwargs)
        assert type(remote.value) is type(local.value), (kwargs, remote.value, local.value)
        assert str(remote.value) == str(local.value), kwargs
    with pytest.raises(stockade.InputError) as info:
        client.run(b"1")
    assert "code must be a str" in str(info.value)


def test_timeout_above_the_tenants_policy_is_an_input_error(client):
    with pytest.raises(stockade.InputError) as info:
        client.run("1", timeout=3600)
    assert info.value.status == 422 and info.value.code == "override_not_allowed"
    assert info.value.field == "timeout_ms"


def test_a_body_above_the_tenants_quota_is_an_input_error(server):
    tenant = server.new_tenant(quotas={"max_body_bytes": 1024})
    key, _ = server.new_key(tenant, "runner")
    with stockade.Client(server.url, api_key=key) as c:
        for size in (2000, 4 << 20):
            with pytest.raises(stockade.InputError) as info:
                c.run("1", files={"big": b"x" * size})
            assert info.value.status == 413 and info.value.code == "body_too_large"
        assert c.run("'still fine'").value == "still fine"


def test_an_unreachable_service_is_service_unavailable():
    with stockade.Client(f"http://127.0.0.1:{free_port()}", api_key="sk_x_y", timeout=5) as c:
        with pytest.raises(stockade.ServiceUnavailable) as info:
            c.run("1")
    assert "sk_x_y" not in str(info.value)


@pytest.mark.parametrize(
    "status, body, headers_retry, cls, attrs",
    [
        (422, {"code": "invalid_policy", "message": "bad key", "field": "limits.memory", "line": 3, "column": 1},
         None, stockade.PolicyError, {"line": 3, "column": 1, "field": "limits.memory"}),
        (503, {"code": "layer_missing", "message": "no landlock", "field": "landlock"}, None, stockade.LayerMissing,
         {"step": "landlock"}),
        (503, {"code": "setup_failed", "message": "no fork", "field": "zygote"}, None, stockade.SetupError,
         {"step": "zygote"}),
        (503, {"code": "run_lost", "message": "gone", "field": None}, None, stockade.WorkerLost, {}),
        (503, {"code": "database_unavailable", "message": "db", "field": None}, 2.0, stockade.ServiceUnavailable,
         {"retry_after": 2.0}),
        (503, {"code": "shutting_down", "message": "bye", "field": None}, 5.0, stockade.ServiceUnavailable, {}),
        (429, {"code": "server_busy", "message": "full", "field": None}, 1.0, stockade.QuotaExceeded,
         {"quota": None, "retry_after": 1.0}),
        (410, {"code": "session_closed", "message": "closed", "field": None}, None, stockade.NotFound, {}),
        (403, {"code": "forbidden", "message": "no", "field": None}, None, stockade.AuthError, {}),
        (400, {"code": "invalid_json", "message": "eof", "field": None}, None, stockade.InputError, {}),
        (409, {"code": "conflict", "message": "exists", "field": None}, None, stockade.ServiceError, {}),
        (502, {"message": "bad gateway"}, None, stockade.ServiceUnavailable, {}),
    ],
)
def test_error_bodies_map_to_the_exception_tree(status, body, headers_retry, cls, attrs):
    exc = _client._api_error(status, body, headers_retry, "sk_secret")
    assert type(exc) is cls
    assert exc.status == status and exc.code == body.get("code")
    for name, value in attrs.items():
        assert getattr(exc, name) == value, name
    # an error event of a stream has no status: the code alone decides
    assert type(_client._api_error(None, body, None, "sk_secret")) is cls or "code" not in body


def test_the_key_is_scrubbed_from_whatever_the_service_says():
    exc = _client._api_error(400, {"code": "invalid_request", "message": "got sk_abc_SECRET here"}, None, "sk_abc_SECRET")
    assert "SECRET" not in str(exc) and "[api key]" in str(exc)


def test_retry_after_as_an_http_date():
    import email.utils

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < _client._retry_after(when) <= 30
    assert _client._retry_after("7") == 7.0
    assert _client._retry_after("soon") is None


# ----- connections, threads, asyncio -----


def test_keep_alive_survives_the_server_closing_idle_connections(client):
    assert client.run("1").value == 1
    sock = client._local.conn.http.sock
    time.sleep(HEADER_TIMEOUT_S + 0.5)
    assert select.select([sock], [], [], 0)[0], "the server should have closed the idle connection"
    assert client.run("2").value == 2
    assert client.get(client.submit("3"))["id"]


def test_threads_each_use_their_own_connection(server):
    # a tenant of its own: runs other tests left going do not count towards its quotas
    tenant = server.new_tenant(quotas={"concurrent_runs": 8})
    key, _ = server.new_key(tenant, "runner")
    client = stockade.Client(server.url, api_key=key)
    results, errors = {}, []

    def work(i):
        try:
            for j in range(3):
                results[(i, j)] = client.run("a * b", inputs={"a": i, "b": j}).value
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert results == {(i, j): i * j for i in range(4) for j in range(3)}
    client.close()


def test_arun_and_the_async_client(server, client):
    async def main():
        r = await client.arun("sum(xs)", inputs={"xs": [1, 2]})
        assert r.value == 3
        async with stockade.AsyncClient(server.url, api_key=server.admin_key) as ac:
            rs = await asyncio.gather(*(ac.run("n * n", inputs={"n": n}) for n in range(4)))
            assert [r.value for r in rs] == [0, 1, 4, 9]
            kinds = [k async for k, _ in ac.stream_events("print('x', flush=True)\n5")]
            assert kinds[0] == "run" and "stdout" in kinds and kinds[-1] == "result"
            # leaving an async stream early does not hang
            async for kind, _ in ac.stream_events("import time\nprint(1, flush=True)\ntime.sleep(1.5)"):
                if kind == "stdout":
                    break
            run_id = await ac.submit("result = 'async'")
            assert (await ac.wait(run_id, timeout=30)).value == "async"
            assert (await ac.get(run_id))["state"] == "done"
            async with await ac.session() as s:
                await s.run("y = 2")
                assert (await s.run("y * 21")).value == 42
            assert s.closed
            with pytest.raises(stockade.AuthError):
                await stockade.AsyncClient(server.url, api_key="sk_nope_nope").run("1")

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 60


def test_a_closed_client_refuses_work(server):
    c = stockade.Client(server.url, api_key=server.admin_key)
    assert c.run("1").value == 1
    c.close()
    with pytest.raises(stockade.StockadeError, match="closed"):
        c.run("1")
