# Builtins tampering: replace builtins.__import__ with a wrapper, and swap builtins.open for
# a function of our own, then use them for a denied import and a denied read. The swaps
# themselves work (builtins is ordinary Python state), but the guard is a native hook that
# never looks at builtins: the underlying operations are still DENIED (guard.imports,
# guard.files.read).

import json, sys

import builtins

real_import = builtins.__import__
builtins.__import__ = lambda name, *a, **k: real_import(name, *a, **k)
attempt("import_ctypes_through_replaced_import", lambda: __import__("ctypes"))
real_open = builtins.open
builtins.open = lambda *a, **k: real_open(*a, **k)
attempt("swapped_open_mountinfo", lambda: open("/proc/self/mountinfo").read())
attempt("io_open_behind_the_swap", lambda: __import__("io").open("/proc/self/mountinfo").read())

done()
