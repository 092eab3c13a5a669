# The "import" audit event is raised only by the C import path (an `import` statement,
# __import__). importlib.import_module and _frozen_importlib._gcd_import go straight to the
# Python-level _find_and_load, which raises no "import" event for the module itself, so the
# import lists never see it. Expected by the guard's docs: DENIED by guard.imports
# ("importlib.import_module(...) in user code counts as user code").

import json, sys

import sys

bootstrap = sys.modules["_frozen_importlib"]
attempt("gcd_import_ctypes", lambda: bootstrap._gcd_import("ctypes").__name__)
attempt("gcd_import_subprocess", lambda: bootstrap._gcd_import("subprocess").__name__)
attempt("gcd_import_gc", lambda: bootstrap._gcd_import("gc").__name__)

done()
