# Channel: threads the writer leaves running (named after the token, in Python and in the
# kernel), still alive when the next code runs in the same process. A pool run is a fresh
# process, so they cannot be there. (Daemon threads: a run, like any Python program, waits for
# its non-daemon threads before it ends, so those would only make the writer time out.)
# Control (same-process): writer and reader in one interpreter; the reader sees the threads.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's threads persist from cell to cell by design
CONTROL = "same-process"

WRITER = r"""
import ctypes, threading, time
def linger():
    ctypes.CDLL(None).prctl(15, TOKEN[:15].encode(), 0, 0, 0)
    time.sleep(20)
for i in range(2):
    threading.Thread(target=linger, name=TOKEN, daemon=True).start()
result = threading.active_count()
"""

READER = r"""
import os, threading, time
time.sleep(0.1)
found = [t.name for t in threading.enumerate()]
for tid in os.listdir("/proc/self/task"):
    try:
        found.append(open("/proc/self/task/%s/comm" % tid).read().strip())
    except OSError:
        pass
result = found
"""
