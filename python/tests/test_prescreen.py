"""`[check] prescreen = true` in a policy: stockade.run, Pool.run and Session.run refuse code the
pre-screen refuses (status "refused", the reasons named, nothing runs) and run ordinary code.
Each refusal has a control: the same code under the same policy without the key runs.
"""
import json

import pytest

import stockade

PRESCREEN = "version = 1\n[check]\nprescreen = true\n"
NO_PRESCREEN = "version = 1\n"
ATTACK = "x = ().__class__.__base__.__subclasses__()\nprint('ran', len(x))\n"
ORDINARY = "import json\nresult = json.loads(json.dumps({'a': [1, 2, 3]}))\nprint('ok')\n"


def _assert_refused(r):
    assert r.status == "refused", r
    assert not r.ok
    assert r.stdout == ""
    assert "STK902" in r.error["message"]
    assert any(f["rule"] == "STK902" for f in r.raw["prescreen"])


def test_run_refuses_and_the_control_runs():
    _assert_refused(stockade.run(ATTACK, policy=PRESCREEN))
    control = stockade.run(ATTACK, policy=NO_PRESCREEN)
    assert control.status == "ok" and control.stdout.startswith("ran"), control


def test_run_accepts_ordinary_code():
    r = stockade.run(ORDINARY, policy=PRESCREEN)
    assert r.ok and r.value == {"a": [1, 2, 3]} and r.stdout == "ok\n", r


def test_pool_refuses_and_keeps_serving():
    with stockade.Pool(policy=PRESCREEN, size=1) as pool:
        _assert_refused(pool.run(ATTACK))
        r = pool.run(ORDINARY)
        assert r.ok and r.value == {"a": [1, 2, 3]}, r
    with stockade.Pool(policy=NO_PRESCREEN, size=1) as pool:
        assert pool.run(ATTACK).stdout.startswith("ran")


def test_session_refuses_a_cell():
    with stockade.Session(policy=PRESCREEN) as session:
        assert session.run("total = 41").ok
        _assert_refused(session.run(ATTACK))
        r = session.run("result = total + 1")
        assert r.ok and r.value == 42, r


def test_unparsable_code_is_refused_fail_closed():
    r = stockade.run("print(1\n", policy=PRESCREEN)
    assert r.status == "refused" and "STK001" in r.error["message"], r


def test_a_broken_policy_is_a_policy_error():
    with pytest.raises(stockade.PolicyError):
        stockade.Pool(policy="version = 1\n[check]\nprescreen = 'yes'\n", size=1)
