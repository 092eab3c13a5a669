# ctypes reached through an allowed venv package: numpy imports ctypes itself, and
# numpy.ctypeslib hands the module out. Then ctypes.CDLL(None), reading raw memory with
# ctypes.string_at, and numpy.ctypeslib.load_library (numpy, trusted as a venv package, calls
# ctypes on our behalf). Expected: every use DENIED by guard.rules.ctypes; the module object
# itself is only a handle.

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


import numpy
import numpy.ctypeslib

ctypes = numpy.ctypeslib.ctypes
attempt("CDLL_None", lambda: ctypes.CDLL(None))
attempt("string_at", lambda: ctypes.string_at(id(0), 8))
attempt("c_char_from_address", lambda: ctypes.c_char.from_address(id(0)))
attempt("load_library_libc", lambda: numpy.ctypeslib.load_library("libc.so.6", "/lib/x86_64-linux-gnu").system)

done()
