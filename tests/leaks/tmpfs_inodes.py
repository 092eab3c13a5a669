# Channel: the scratch filesystem's inode counter. tmpfs numbers inodes from a counter kept per
# mount; the writer creates and deletes TOKEN files (nothing is left), the reader creates one
# file and reports its inode number, which is the counter: about TOKEN if the mount is shared.
# Control (siblings): one tmpfs /tmp for both; the reader's inode number is TOKEN + a few.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return 1000 + secrets.randbelow(2000)


def LEAKED(token, outcome):
    value = outcome["reader"]
    return isinstance(value, int) and 0 <= value - token <= 64


WRITER = r"""
import os
for i in range(TOKEN):
    open("/tmp/f%d" % i, "w").close()
for i in range(TOKEN):
    os.unlink("/tmp/f%d" % i)
result = len(os.listdir("/tmp"))
"""

READER = r"""
import os
with open("/tmp/probe", "w") as f:
    pass
result = os.stat("/tmp/probe").st_ino
"""
