# Lower-level openers on /proc: _io.FileIO("/proc/self/mem") for writing, io.open_code on
# /proc/self/mountinfo, os.open of /proc/self/mountinfo. Expected: DENIED by guard.files.*
# (every opener raises the "open" audit event).

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


import _io
import io
import os

attempt("fileio_proc_self_mem_rw", lambda: _io.FileIO("/proc/self/mem", "r+"))
attempt("fileio_proc_self_mem_r", lambda: _io.FileIO("/proc/self/mem", "r"))
attempt("open_code_mountinfo", lambda: io.open_code("/proc/self/mountinfo").read())
attempt("os_open_mountinfo", lambda: os.open("/proc/self/mountinfo", os.O_RDONLY))

done()
