# Frame walks to reach frames (and through them globals of other code): sys._getframe,
# generator gi_frame, coroutine cr_frame, async generator ag_frame, traceback tb_frame and
# tb_next (tb_next itself is only another traceback; its tb_frame is what matters).
# Expected: every frame access DENIED by guard.rules.introspection.

import json, sys

RESULTS = {}


def attempt(name, fn):
    """Run one attempt: 'denied: …' (stockade.PolicyViolation), 'error: …' (anything else the
    interpreter or the kernel refused), or 'ESCAPED: …' (it returned)."""
    try:
        value = fn()
    except PermissionError as e:
        kind = "denied" if type(e).__name__ == "PolicyViolation" else "error"
        RESULTS[name] = "%s: %s: %s" % (kind, type(e).__name__, e)
    except BaseException as e:  # noqa: BLE001 - every outcome is reported
        RESULTS[name] = "error: %s: %s" % (type(e).__name__, e)
    else:
        RESULTS[name] = "ESCAPED: " + repr(value)[:300]


def done():
    print(json.dumps({"results": RESULTS}))


import sys


def gen():
    yield 1


async def coro():
    pass


async def agen():
    yield 1


def tb():
    try:
        1 / 0
    except ZeroDivisionError as e:
        return e.__traceback__


attempt("sys_getframe", lambda: sys._getframe(0).f_back)
attempt("gi_frame", lambda: gen().gi_frame)
c = coro()
attempt("cr_frame", lambda: c.cr_frame)
c.close()
attempt("ag_frame", lambda: agen().ag_frame)
attempt("tb_frame", lambda: tb().tb_frame)
attempt("tb_next_tb_frame", lambda: (tb().tb_next or tb()).tb_frame)

done()
