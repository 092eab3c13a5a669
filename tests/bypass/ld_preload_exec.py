# Change LD_PRELOAD (or drop the guard's variables) and re-exec the interpreter, so that the
# new image starts without the guard or with a library of our own. Expected: setting the
# variable works (recorded by guard.rules.env = audit), every exec/spawn DENIED by
# guard.rules.process.

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


import os
import sys

os.environ["LD_PRELOAD"] = "/tmp/evil.so"
os.environ.pop("STOCKADE_GUARD_CONFIG", None)
attempt("execv", lambda: os.execv(sys.executable, [sys.executable, "-c", "print('unguarded')"]))
attempt("execve", lambda: os.execve(sys.executable, [sys.executable, "-c", "0"], {"LD_PRELOAD": "/tmp/evil.so"}))
attempt("posix_spawn", lambda: os.posix_spawn(sys.executable, [sys.executable, "-c", "0"], {}))
attempt("spawnv", lambda: os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "-c", "0"]))

done()
