# Channel: the writer signals the process that will fork the next run, with kill(2) on every
# pid it can name (its parent, the zygote, pid 1, anything in /proc). The token is the signal
# (all terminate by default). What the signal does to the serving process is the evidence:
# in the jail the test checks on the host that the worker's zygote is the same process, alive
# and not stopped, after both runs; in the control the plain parent dies of the token signal.
# Control (siblings): the plain parent is killed by the writer (server "signal <token>").
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return secrets.choice([1, 10, 12, 14, 15, 9])  # HUP USR1 USR2 ALRM TERM KILL


def LEAKED(token, outcome):
    return outcome["server"] == "signal %d" % token


WRITER = r"""
import os
targets = set(range(1, 65)) | {os.getppid()} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
targets -= {0, os.getpid()}
reached = []
for pid in sorted(targets):
    try:
        os.kill(pid, TOKEN)
        reached.append(pid)
    except OSError:
        pass
result = reached
"""

READER = r"""
import os
result = os.getpid()
"""
