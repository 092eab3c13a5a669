# Channel: the writer pins the process that will fork the next run to one CPU (the token) with
# sched_setaffinity; children inherit the mask. Needs at least two CPUs.
# Control (siblings): the plain parent is pinned; the reader's mask is the token's CPU alone.
import os
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None  # the test skips: one CPU cannot carry a token
    return secrets.choice(cpus)


def LEAKED(token, outcome):
    return outcome["reader"] == [token]


WRITER = r"""
import os
targets = set(range(1, 65)) | {os.getppid()} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
targets -= {0, os.getpid()}
reached = []
for pid in sorted(targets):
    try:
        os.sched_setaffinity(pid, {TOKEN})
        reached.append(pid)
    except OSError:
        pass
result = reached
"""

READER = r"""
import os
result = sorted(os.sched_getaffinity(0))
"""
