# sys.modules tampering: inject a fake module under a denied name, fetch sys.modules["os"]
# and sys.modules["posix"] and call system, delete os from sys.modules and re-import it.
# Expected: the fake module is only the user's own object (harmless); every real os.system
# is DENIED by guard.rules.process.

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


import os  # noqa: F401 - make sure it is loaded
import sys
import types

fake = types.ModuleType("ctypes")
fake.CDLL = lambda *a: "fake"
sys.modules["ctypes"] = fake
import ctypes  # noqa: E402

attempt("fake_module_is_only_ours", lambda: ctypes.CDLL(None))
attempt("sys_modules_os_system", lambda: sys.modules["os"].system("x"))
attempt("sys_modules_posix_system", lambda: sys.modules["posix"].system("x"))


def reimport():
    del sys.modules["os"]
    return __import__("os").system("x")


attempt("reimported_os_system", reimport)

done()
