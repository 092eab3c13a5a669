# The guard decides code/code-objects/introspection/ctypes/import by the innermost Python
# frame ("the standard library is trusted"). A C callable handed to a standard-library
# function that calls it (concurrent.futures.ThreadPoolExecutor.submit -> _WorkItem.run in
# concurrent/futures/thread.py) is called with a trusted frame innermost: sys._getframe,
# types.CodeType, getattr(frame, "f_code") all pass; with ctypes loaded without an import event
# (_frozen_importlib._gcd_import, see import_without_audit.py), ctypes.CDLL(None), the dlsym of
# "system" and the foreign call itself pass too: libc system() runs with no audit record (it
# returns 127<<8 only because the jail has no /bin/sh). Expected: DENIED like the direct
# calls (guard.rules.introspection / guard.rules.code-objects).

import json, sys

import sys
import types
from concurrent.futures import ThreadPoolExecutor

pool = ThreadPoolExecutor(1)


def via_stdlib(fn, *args):
    return pool.submit(fn, *args).result()


c = compile("x = 1", "<payload>", "exec")
attempt("getframe", lambda: via_stdlib(sys._getframe, 0))
attempt("frame_f_code", lambda: via_stdlib(getattr, via_stdlib(sys._getframe, 0), "f_code"))
attempt("CodeType", lambda: via_stdlib(types.CodeType, c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount,
                                       c.co_nlocals, c.co_stacksize, c.co_flags, c.co_code, c.co_consts, c.co_names,
                                       c.co_varnames, c.co_filename, c.co_name, c.co_qualname, c.co_firstlineno,
                                       c.co_linetable, c.co_exceptiontable))
attempt("gen_gi_frame", lambda: via_stdlib(getattr, (i for i in ()), "gi_frame"))


def libc_system():
    ctypes = sys.modules["_frozen_importlib"]._gcd_import("ctypes")
    libc = via_stdlib(ctypes.CDLL, None)
    system = via_stdlib(getattr, libc, "system")
    return "libc system() returned %d" % via_stdlib(system, b"exit 3")


attempt("ctypes_libc_system", libc_system)
done()
