# ctypes in every form available without a venv: import ctypes, __import__("ctypes"),
# __import__("_ctypes"), importlib.import_module("_ctypes") (importlib is not allowed, so its
# import is denied first), and the hook-removal route: ctypes.pythonapi._PySys_ClearAuditHooks.
# Expected: DENIED by guard.imports.

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


attempt("import_ctypes", lambda: __import__("ctypes"))
attempt("import__ctypes", lambda: __import__("_ctypes"))
attempt("importlib_import_module__ctypes", lambda: __import__("importlib").import_module("_ctypes"))
attempt("clear_audit_hooks", lambda: __import__("ctypes").pythonapi._PySys_ClearAuditHooks())

done()
