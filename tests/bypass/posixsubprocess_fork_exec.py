# _posixsubprocess.fork_exec: `import _posixsubprocess` is denied, but an allowed module
# (asyncio) imports subprocess, which loads it, and sys.modules hands it out. fork_exec raises
# no audit event in CPython 3.11 (subprocess.Popen raises "subprocess.Popen" in Python code
# before calling it), and with an environment of our own the child interpreter starts without
# LD_PRELOAD, i.e. WITHOUT the guard, and runs os.system unchecked.
# Expected: DENIED (guard.imports / guard.rules.process). The jail still contains the child
# (same namespaces, seccomp, Landlock, limits), but the guard is gone for it.

import json, sys

import os
import sys

attempt("import_posixsubprocess", lambda: __import__("_posixsubprocess"))
import asyncio  # noqa: E402,F401 - loads subprocess and _posixsubprocess on our behalf


def fork_exec():
    ps = sys.modules["_posixsubprocess"]
    r, w = os.pipe()
    er, ew = os.pipe()
    code = b"import os\ntry:\n os.system('x'); print('UNGUARDED_SYSTEM_RAN', 'LD_PRELOAD' in os.environ)\nexcept Exception as e: print('child denied', e)"
    args = [sys.executable.encode(), b"-c", code]
    pid = ps.fork_exec(args, [sys.executable.encode()], True, tuple(sorted((w, ew))), None, [b"PATH=/usr/bin"],
                       -1, -1, -1, w, -1, w, er, ew, False, False, -1, None, None, -1, -1, None, False)
    os.close(w)
    os.close(ew)
    os.waitpid(pid, 0)
    return os.read(r, 4096).decode()


attempt("fork_exec_unguarded_child", fork_exec)

done()
