# Channel: the writer raises soft resource limits of the process that will fork the next run
# (its parent, the zygote, or any process it can name), to values carrying the token; every
# later child inherits them. RLIMIT_RSS has no effect on Linux and RLIMIT_STACK's soft limit
# only sizes the next exec's stack, so the values are harmless.
# Control (siblings): the writer's prlimit(ppid, ...) reaches the plain parent; the reader,
# forked after it, inherits the token in its own limits.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return 20_000_000 + secrets.randbelow(70_000_000)


WRITER = r"""
import os, resource
targets = set(range(1, 65)) | {os.getppid()} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
targets -= {0, os.getpid()}
reached = []
for pid in sorted(targets):
    for res in (resource.RLIMIT_RSS, resource.RLIMIT_STACK):
        try:
            soft, hard = resource.prlimit(pid, res)
            if hard == resource.RLIM_INFINITY or hard >= TOKEN:
                resource.prlimit(pid, res, (TOKEN, hard))
                reached.append(pid)
        except OSError:
            pass
result = sorted(set(reached))
"""

READER = r"""
import resource
result = {name: resource.getrlimit(getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_")}
"""
