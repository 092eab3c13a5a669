# Channel: the writer moves the process that will fork the next run to another scheduling
# policy (SCHED_BATCH or SCHED_IDLE: the token; moving down needs no privilege, and an
# unprivileged process cannot come back from SCHED_IDLE); children inherit the policy.
# Control (siblings): the plain parent's policy changes; the reader's is the token.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return secrets.choice([3, 5])  # SCHED_BATCH, SCHED_IDLE


def LEAKED(token, outcome):
    return outcome["reader"] == token


WRITER = r"""
import os
targets = set(range(1, 65)) | {os.getppid()} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
targets -= {0, os.getpid()}
reached = []
for pid in sorted(targets):
    try:
        os.sched_setscheduler(pid, TOKEN, os.sched_param(0))
        reached.append(pid)
    except OSError:
        pass
result = reached
"""

READER = r"""
import os
result = os.sched_getscheduler(0)
"""
