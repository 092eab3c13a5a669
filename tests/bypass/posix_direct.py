# The posix module directly (os without its Python layer; already loaded, so no import
# event): posix.system, posix.fork, posix.execv, posix.posix_spawn, posix.kill(1).
# Expected: DENIED by guard.rules.process / guard.rules.signal (the C functions raise the
# audit events themselves).

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

posix = sys.modules["posix"]
attempt("posix_system", lambda: posix.system("x"))
attempt("posix_fork", lambda: posix.fork())
attempt("posix_execv", lambda: posix.execv(sys.executable, [sys.executable, "-c", "0"]))
attempt("posix_spawn", lambda: posix.posix_spawn(sys.executable, [sys.executable, "-c", "0"], {}))
attempt("posix_kill_pid1", lambda: posix.kill(1, 9))

done()
