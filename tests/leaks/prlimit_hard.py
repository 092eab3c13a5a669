# Channel: the writer lowers hard resource limits of the process that will fork the next run
# (an unprivileged process can never raise them again), to values carrying the token. RLIMIT_RSS
# is ignored by Linux and RLIMIT_RTTIME only concerns real-time threads: harmless values.
# Control (siblings): prlimit(ppid, ...) lowers the plain parent's hard limits; the reader
# inherits them.
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
    for res in (resource.RLIMIT_RSS, resource.RLIMIT_RTTIME):
        try:
            resource.prlimit(pid, res, (TOKEN, TOKEN))
            reached.append(pid)
        except (OSError, ValueError):
            pass
result = sorted(set(reached))
"""

READER = r"""
import resource
result = {name: resource.getrlimit(getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_")}
"""
