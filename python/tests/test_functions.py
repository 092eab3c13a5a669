"""Host functions (`functions=`): round trips through cold runs, pools and sessions, exceptions
both ways, and a run that attacks the channel (forged frames, floods, huge arguments, names it
was not given, calls past its deadline). Evidence is on the host: each test function counts its
own calls, so a refused call is one that never arrived.
"""
import asyncio
import datetime
import decimal
import os
import threading
import time
import uuid

import pytest

import stockade

PY = "/usr/bin/python3.11"
POLICY = f'version = 1\n[python]\ninterpreter = "{PY}"\n'


class Spy:
    """A host function that records every call it gets."""

    def __init__(self, fn=None):
        self.calls = []
        self.fn = fn or (lambda *a, **k: (a, k))
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.calls.append((args, kwargs))
        return self.fn(*args, **kwargs)


VALUES = [None, True, 0, -7, 2**70, 1.5, float("inf"), "é\u2603", b"\x00\xff", [1, [2]], {"a": {"b": None}},
          (1, 2), {1, 2}, frozenset({3}), datetime.date(2026, 12, 7), datetime.datetime(2026, 12, 7, 3, 4, 5),
          decimal.Decimal("1.10"), uuid.UUID(int=5), 3 + 4j]


@pytest.mark.parametrize("where", ["cold", "pool", "session"])
def test_round_trips_of_every_value_and_exceptions_both_ways(where):
    echo = Spy(lambda *a, **k: {"args": list(a), "kwargs": k})

    def fails(kind):
        raise {"value": ValueError, "key": KeyError, "custom": type("Custom", (Exception,), {})}[kind]("on the host")

    async def later(x):
        await asyncio.sleep(0.01)
        return x + 1

    def typed(n: int, name: str = "x") -> str:
        return f"{name}{n}"

    fns = {"echo": echo, "fails": fails, "later": later, "typed": typed}
    code = """
out = {}
got = echo(*values, k=values[3])
out["echo"] = got["args"] == values and got["kwargs"] == {"k": values[3]}
out["types"] = [type(v).__name__ for v in got["args"]] == [type(v).__name__ for v in values]
for kind, exc in [("value", ValueError), ("key", KeyError), ("custom", Exception)]:
    try:
        fails(kind)
    except exc as e:
        out[kind] = type(e).__name__ + ": " + str(e)
out["later"] = later(41)
out["typed"] = typed(3, name="n")
try:
    typed([3])
except TypeError as e:
    out["typed_bad"] = str(e)
try:
    echo(object())
except TypeError as e:
    out["unencodable"] = str(e)[:60]
out
"""
    inputs = {"values": VALUES}
    if where == "cold":
        r = stockade.run(code, policy=POLICY, functions=fns, inputs=inputs)
    elif where == "pool":
        with stockade.Pool(size=1, policy=POLICY) as p:
            r = p.run(code, functions=fns, inputs=inputs)
    else:
        with stockade.Session(policy=POLICY) as s:
            r = s.run(code, functions=fns, inputs=inputs)
    assert r.ok, (r.error, r.stderr)
    out = r.value
    assert out["echo"] is True and out["types"] is True, out
    assert out["value"] == "ValueError: on the host"
    assert out["key"] == "KeyError: 'on the host'"
    assert out["custom"].startswith("HostFunctionError: Custom: on the host")
    assert out["later"] == 42 and out["typed"] == "n3"
    # Checked against the hints: by pydantic when it is installed, else with isinstance.
    assert "must be int" in out["typed_bad"] or "type hints" in out["typed_bad"], out["typed_bad"]
    assert "cannot cross" in out["unencodable"]
    assert len(echo.calls) == 1  # the unencodable call never left the jail
    names = [c["name"] for c in r.calls]
    assert names.count("echo") == 1 and names.count("fails") == 3 and "typed" in names
    assert {c["outcome"] for c in r.calls} <= {"returned", "raised"}


def test_only_registered_names_cross_and_the_count_is_capped():
    spy = Spy(lambda: 1)
    code = """
import os, struct, json
res = []
def raw(kind, nonce, payload):
    os.write(9, struct.pack("<2sBBIQ", b"SK", 1, kind, len(payload), nonce) + payload)
    head = os.read(9, 16)
    magic, v, k, n, got = struct.unpack("<2sBBIQ", head)
    body = b""
    while len(body) < n:
        body += os.read(9, n - len(body))
    return k, got, json.loads(body)
# A forged call for a name this run was not given.
res.append(raw(18, 77, json.dumps({"name": "os_system", "args": ["id"], "kwargs": {}}).encode()))
# A malformed call.
res.append(raw(18, 78, b"{not json"))
# Calls past max_calls (3): the first three reach the host.
for i in range(5):
    try:
        res.append(spy())
    except Exception as e:
        res.append(type(e).__name__ + ": " + str(e))
res
"""
    r = stockade.run(code, policy=POLICY, functions=stockade.HostFunctions({"spy": spy}, max_calls=3))
    assert r.ok, (r.error, r.stderr)
    forged, malformed, *calls = r.value
    assert forged[0] == 19 and forged[1] == 77 and forged[2]["error"]["kind"] == "UnknownFunction"
    assert malformed[2]["error"]["kind"] == "MalformedCall"
    assert calls[:3] == [1, 1, 1]
    assert all("TooManyCalls" in c for c in calls[3:]), calls
    assert len(spy.calls) == 3
    outcomes = [c["outcome"] for c in r.calls]
    assert outcomes.count("returned") == 3 and "UnknownFunction" in outcomes and "TooManyCalls" in outcomes


def test_huge_and_broken_frames_close_the_channel_not_the_caller():
    spy = Spy(lambda *a: len(a))
    code = """
import os, struct
out = {}
try:
    spy("x" * 5000)
except Exception as e:
    out["big"] = type(e).__name__ + ": " + str(e)[:80]
# The channel is shut now; a header that announces 3 GB goes nowhere.
try:
    os.write(9, struct.pack("<2sBBIQ", b"SK", 1, 18, 3 << 30, 1))
except OSError as e:
    out["write"] = e.errno
try:
    spy(1)
except Exception as e:
    out["after"] = type(e).__name__
out
"""
    r = stockade.run(code, policy=POLICY, functions=stockade.HostFunctions({"spy": spy}, max_bytes=1024))
    assert r.ok, (r.error, r.stderr)
    # An oversized call breaks the framing: that call and every later one fail in the run...
    assert r.value["big"].startswith("HostFunctionError"), r.value
    assert r.value["after"] == "HostFunctionError"
    # ...and none of them reached the host; the caller carries on.
    assert spy.calls == []
    assert any(c["outcome"].startswith("MalformedCall") for c in r.calls), r.calls
    assert stockade.run("1 + 1", policy=POLICY, functions={"spy": spy}).value == 2


def test_a_slow_function_times_out_in_the_run_and_calls_stop_with_the_run():
    started = []

    def slow():
        started.append(time.monotonic())
        time.sleep(1.5)
        return "late"

    code = """
out = []
try:
    slow()
except Exception as e:
    out.append(type(e).__name__ + ": " + str(e))
out
"""
    r = stockade.run(code, policy=POLICY, functions=stockade.HostFunctions({"slow": slow}, timeout=0.3))
    assert r.ok, (r.error, r.stderr)
    assert r.value[0].startswith("HostFunctionError: CallTimeout"), r.value
    assert [c["outcome"] for c in r.calls] == ["CallTimeout"]
    # A run that keeps calling until its deadline: it ends on time, and no call is made after.
    spy = Spy(lambda: 0)
    r = stockade.run("while True:\n    spy()", policy=POLICY, timeout=1,
                     functions=stockade.HostFunctions({"spy": spy}, max_calls=10**6))
    assert r.status == "timeout", r
    n = len(spy.calls)
    assert n > 10
    time.sleep(0.5)
    assert len(spy.calls) == n
    assert len(r.calls) <= 1000  # records kept are capped; calls were counted all the same


def test_a_run_without_functions_reaches_nobody_and_flooding_does_not_hang():
    code = """
import os, struct
try:
    os.write(9, struct.pack("<2sBBIQ", b"SK", 1, 18, 2, 1) + b"{}")
    print("read", os.read(9, 100))
except OSError as e:
    print("oserror", e.errno)
"""
    r = stockade.run(code, policy=POLICY)
    assert r.ok, r
    assert r.stdout.startswith(("read b''", "oserror")), r.stdout
    # A run that writes calls but never reads the replies only fills its own buffers.
    spy = Spy(lambda: "x" * 1000)
    flood = """
import os, struct, json
p = json.dumps({"name": "spy", "args": [], "kwargs": {}}).encode()
frame = struct.pack("<2sBBIQ", b"SK", 1, 18, len(p), 1) + p
os.set_blocking(9, False)
sent = 0
for i in range(100000):
    try:
        os.write(9, frame)
        sent += 1
    except BlockingIOError:
        break
print(sent)
"""
    t = time.monotonic()
    r = stockade.run(flood, policy=POLICY, timeout=5,
                     functions=stockade.HostFunctions({"spy": spy}, max_calls=50))
    assert time.monotonic() - t < 20
    assert r.status in ("ok", "timeout"), r
    assert len(spy.calls) <= 50


def test_the_secret_stays_with_the_host():
    token = "tok-" + os.urandom(8).hex()

    def whoami():
        return {"authenticated": token.startswith("tok-")}

    code = """
import os
r = whoami()
found = "tok-" in repr(globals()) or "tok-" in repr(dict(os.environ)) or "tok-" in repr(whoami.__closure__)
{"r": r, "env": [k for k in os.environ if "TOK" in k.upper()], "found": found}
"""
    r = stockade.run(code, policy=POLICY, functions={"whoami": whoami})
    assert r.ok, (r.error, r.stderr)
    assert r.value == {"r": {"authenticated": True}, "env": [], "found": False}
    assert token not in repr(r.raw)


def test_bad_registrations_are_refused_before_anything_runs():
    with pytest.raises(ValueError):
        stockade.run("1", policy=POLICY, functions={"not an identifier": print})
    with pytest.raises(TypeError):
        stockade.run("1", policy=POLICY, functions={"f": 42})
    with pytest.raises(stockade.InputError):
        stockade.run("1", policy=POLICY, inputs={"f": 1}, functions={"f": print})


def test_without_pydantic_plain_hints_are_checked_with_isinstance(monkeypatch):
    import json

    from stockade import _functions

    monkeypatch.setattr(_functions, "_validated", lambda f: f)

    def typed(n: int, ratio: float, name: str = "x") -> str:
        return f"{name}{n * ratio}"

    d = _functions.Dispatcher(_functions.HostFunctions({"typed": typed}))
    call = lambda *args, **kwargs: json.loads(d(json.dumps({"id": 7, "name": "typed", "args": list(args), "kwargs": kwargs})))
    assert call(2, 1) == {"id": 7, "value": "x2", "error": None}  # an int is a float here
    for bad in [("2", 1.0), (True, 1.0), (2, "1")]:
        r = call(*bad)
        assert r["error"]["kind"] == "TypeError" and "must be" in r["error"]["message"], r
    r = call(1, 2, 3, 4)
    assert r["error"]["kind"] == "TypeError" and "too many" in r["error"]["message"]
    assert call(1, 1.0, nope=1)["error"]["kind"] == "TypeError"
    assert json.loads(d("{broken"))["error"]["kind"] == "MalformedCall"
