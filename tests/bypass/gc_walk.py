# gc.get_objects()/get_referrers() to find modules and functions (os.system) without
# importing them. Expected: importing gc DENIED by guard.imports (gc is not loaded by the
# interpreter, so there is no other way to reach it), and gc events DENIED by
# guard.rules.introspection if it is reachable at all.

import json, sys

import sys

attempt("import_gc", lambda: __import__("gc"))
attempt("gc_in_sys_modules", lambda: sys.modules["gc"].get_objects())

done()
