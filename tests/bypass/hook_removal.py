# Removing or overriding the guard hook from Python: add our own audit hook that swallows
# everything (sys.addaudithook), one that raises, then try denied operations. Hooks added later
# run after ours and cannot undo a denial. Expected: os.system still DENIED by
# guard.rules.process; the swallowing hook was really installed (it saw events).

import json, sys

import os
import sys

seen = []
sys.addaudithook(lambda event, args: seen.append(event))
attempt("system_after_swallowing_hook", lambda: os.system("x"))
sys.addaudithook(lambda event, args: None)
attempt("import_ctypes_after_hooks", lambda: __import__("ctypes"))

RESULTS["own_hook_events"] = "info: %d events seen by our own hook" % len(seen)
done()
