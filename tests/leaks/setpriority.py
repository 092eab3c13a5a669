# Channel: the writer renices the process that will fork the next run (PRIO_PROCESS on every
# pid it can name, PRIO_PGRP on their process groups, PRIO_USER on its own uid, which covers
# every process of that uid the kernel lets it see). Raising a nice value needs no privilege;
# children inherit it. The token is the nice value (1-19; both sides start at 0).
# Control (siblings): the plain parent is reniced; the reader inherits the token as its nice.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return 1 + secrets.randbelow(19)


def LEAKED(token, outcome):
    return outcome["reader"] == token


WRITER = r"""
import os
targets = set(range(1, 65)) | {os.getppid()} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
targets -= {0, os.getpid()}
reached = []
for pid in sorted(targets):
    try:
        os.setpriority(os.PRIO_PROCESS, pid, TOKEN)
        reached.append(("pid", pid))
    except OSError:
        pass
    try:
        pgrp = os.getpgid(pid)
        if pgrp not in (0, os.getpgrp()):
            os.setpriority(os.PRIO_PGRP, pgrp, TOKEN)
            reached.append(("pgrp", pgrp))
    except OSError:
        pass
try:
    os.setpriority(os.PRIO_USER, os.getuid(), TOKEN)
    reached.append(("user", os.getuid()))
except OSError as exc:
    reached.append(("user", repr(exc)))
result = reached
"""

READER = r"""
import os
result = os.getpriority(os.PRIO_PROCESS, 0)
"""
