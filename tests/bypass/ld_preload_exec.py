# Change LD_PRELOAD (or drop the guard's variables) and re-exec the interpreter, so that the
# new image starts without the guard or with a library of our own. Expected: setting the
# variable works (recorded by guard.rules.env = audit), every exec/spawn DENIED by
# guard.rules.process.

import json, sys

import os
import sys

os.environ["LD_PRELOAD"] = "/tmp/evil.so"
os.environ.pop("STOCKADE_GUARD_CONFIG", None)
attempt("execv", lambda: os.execv(sys.executable, [sys.executable, "-c", "print('unguarded')"]))
attempt("execve", lambda: os.execve(sys.executable, [sys.executable, "-c", "0"], {"LD_PRELOAD": "/tmp/evil.so"}))
attempt("posix_spawn", lambda: os.posix_spawn(sys.executable, [sys.executable, "-c", "0"], {}))
attempt("spawnv", lambda: os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "-c", "0"]))

done()
