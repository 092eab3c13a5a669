# The "import" audit event is raised only by the C import path (an `import` statement,
# __import__). importlib.import_module and _frozen_importlib._gcd_import go straight to the
# Python-level _find_and_load, which raises no "import" event for the module itself, so the
# import lists never see it. Expected by the guard's docs: DENIED by guard.imports
# ("importlib.import_module(...) in user code counts as user code").

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

bootstrap = sys.modules["_frozen_importlib"]
attempt("gcd_import_ctypes", lambda: bootstrap._gcd_import("ctypes").__name__)
attempt("gcd_import_subprocess", lambda: bootstrap._gcd_import("subprocess").__name__)
attempt("gcd_import_gc", lambda: bootstrap._gcd_import("gc").__name__)

done()
