# importlib internals without `import importlib` (denied to user code): the frozen
# _frozen_importlib / _frozen_importlib_external are always in sys.modules. Load the stdlib
# ctypes/__init__.py under another name with spec_from_file_location + exec_module, load ctypes
# with _bootstrap._load, and load a user file in scratch that imports ctypes.
# Expected: the user file's `import ctypes` is DENIED (guard.imports); a stdlib ctypes loaded
# by hand is the stdlib's own code (its `from _ctypes import …` is trusted), so it loads, and
# what matters is that using it is DENIED by guard.rules.ctypes (ctypes.CDLL(None)).

import json, sys

import os
import sys

bootstrap = sys.modules["_frozen_importlib"]
external = sys.modules["_frozen_importlib_external"]
ctypes_init = os.path.join(os.path.dirname(os.__file__), "ctypes", "__init__.py")


def by_file(name, path):
    spec = external.spec_from_file_location(name, path)
    module = bootstrap.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# First, before anything has loaded ctypes.
with open("/tmp/evil_user_module.py", "w") as f:
    f.write("import ctypes\nlibc = ctypes.CDLL(None)\n")
attempt("user_file_importing_ctypes", lambda: by_file("evil_user_module", "/tmp/evil_user_module.py"))
attempt("import_importlib", lambda: __import__("importlib"))
attempt("stdlib_ctypes_by_file_then_CDLL", lambda: by_file("not_ctypes", ctypes_init).CDLL(None))


def load():
    spec = external.spec_from_file_location("ctypes", ctypes_init, submodule_search_locations=[os.path.dirname(ctypes_init)])
    return bootstrap._load(spec).CDLL(None)


attempt("bootstrap_load_ctypes_then_CDLL", load)

done()
