# A thread started with a C callable runs with no Python frame at all. The guard used to read
# "no frame" as the trusted runtime, so compile() under a frozen-importlib file name gave
# fully trusted code (ctypes, gc, no violation). Once user code runs, "no frame" is user code.
import _thread
import collections
import time

SRC = "import ctypes\nRESULT['ctypes'] = ctypes.__name__"
RESULT = {}


def c_thread_compile():
    box = {}
    # map/exec/compile are all C: the new thread never enters a Python frame.
    _thread.start_new_thread(
        collections.deque,
        (map(exec, map(compile, [SRC], ["<frozen importlib._bootstrap>"], ["exec"]), [{"RESULT": box}]), 0),
    )
    time.sleep(0.3)
    return "ran as trusted code: " + box["ctypes"] if "ctypes" in box else "the code did not run"


attempt("c_thread_frozen_compile", c_thread_compile)
attempt("direct_frozen_compile", lambda: compile(SRC, "<frozen os>", "exec"))
done()
