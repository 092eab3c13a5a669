# Channel: the pid counter of a shared pid namespace. The writer starts (and reaps) TOKEN short
# processes; the next process created in the namespace gets a pid about TOKEN above the writer's.
# The reader reports its own pid.
# Control (siblings): one pid namespace (harness 1, plain parent 2, writer 3, its children,
# reader): the reader's pid is TOKEN + 4.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's processes share its jail's pid namespace by design
CONTROL = "siblings"


def TOKEN():
    return 40 + secrets.randbelow(150)


def LEAKED(token, outcome):
    value = outcome["reader"]
    return isinstance(value, int) and 0 <= value - token <= 16


WRITER = r"""
import os
for _ in range(TOKEN):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
result = pid
"""

READER = r"""
import os
result = os.getpid()
"""
