# The posix module directly (os without its Python layer; already loaded, so no import
# event): posix.system, posix.fork, posix.execv, posix.posix_spawn, posix.kill(1).
# Expected: DENIED by guard.rules.process / guard.rules.signal (the C functions raise the
# audit events themselves).

import json, sys

import sys

posix = sys.modules["posix"]
attempt("posix_system", lambda: posix.system("x"))
attempt("posix_fork", lambda: posix.fork())
attempt("posix_execv", lambda: posix.execv(sys.executable, [sys.executable, "-c", "0"]))
attempt("posix_spawn", lambda: posix.posix_spawn(sys.executable, [sys.executable, "-c", "0"], {}))
attempt("posix_kill_pid1", lambda: posix.kill(1, 9))

done()
