# sys.modules tampering: inject a fake module under a denied name, fetch sys.modules["os"]
# and sys.modules["posix"] and call system, delete os from sys.modules and re-import it.
# Expected: the fake module is only the user's own object (harmless); every real os.system
# is DENIED by guard.rules.process.

import json, sys

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
