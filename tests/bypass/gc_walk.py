# gc.get_objects()/get_referrers() to find modules and functions (os.system) without
# importing them. Expected: importing gc DENIED by guard.imports (gc is not loaded by the
# interpreter, so there is no other way to reach it), and gc events DENIED by
# guard.rules.introspection if it is reachable at all.

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

attempt("import_gc", lambda: __import__("gc"))
attempt("gc_in_sys_modules", lambda: sys.modules["gc"].get_objects())

done()
