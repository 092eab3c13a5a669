# Patch the interpreter (and the hook) by writing /proc/self/mem: open it for writing
# directly, and through a symlink in scratch (the guard checks the lexical path /tmp/…).
# Expected: the direct open DENIED by guard.files.write; the symlink gets past the guard but the
# jail refuses the open (EACCES): contained.

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

attempt("open_proc_self_mem_rw", lambda: open("/proc/self/mem", "r+b", buffering=0))
os.symlink("/proc/self/mem", "/tmp/mem-link")
attempt("symlink_proc_self_mem_rw", lambda: open("/tmp/mem-link", "r+b", buffering=0))

done()
