# ctypes in every form available without a venv: import ctypes, __import__("ctypes"),
# __import__("_ctypes"), importlib.import_module("_ctypes") (importlib is not allowed, so its
# import is denied first), and the hook-removal route: ctypes.pythonapi._PySys_ClearAuditHooks.
# Expected: DENIED by guard.imports.

import json, sys

attempt("import_ctypes", lambda: __import__("ctypes"))
attempt("import__ctypes", lambda: __import__("_ctypes"))
attempt("importlib_import_module__ctypes", lambda: __import__("importlib").import_module("_ctypes"))
attempt("clear_audit_hooks", lambda: __import__("ctypes").pythonapi._PySys_ClearAuditHooks())

done()
