# Channel: a process the writer leaves running (forked, setsid, double-forked, its name set to
# the token) that the next run can see in /proc (and could talk to). The reader lists every
# process it can see with its name and command line.
# Control (siblings): nothing ends the writer's daemon; the reader finds it.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = True  # the processes a cell starts end with the cell
CONTROL = "siblings"


def TOKEN():
    return "lk" + secrets.token_hex(6)  # 14 characters: fits a process name (comm)


WRITER = r"""
import ctypes, os, select, time
libc = ctypes.CDLL(None)
started = []
for _ in range(2):
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            libc.prctl(15, TOKEN.encode(), 0, 0, 0)  # PR_SET_NAME
            os.write(ready_w, b"!")
            for fd in range(0, 256):
                try:
                    os.close(fd)
                except OSError:
                    pass
            time.sleep(20)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.waitpid(pid, 0)
    if select.select([ready_r], [], [], 5)[0] and os.read(ready_r, 1) == b"!":
        started.append(pid)
    os.close(ready_r)
result = started
"""

READER = r"""
import os
found = []
for name in sorted(os.listdir("/proc")):
    if name.isdigit() and int(name) != os.getpid():
        try:
            comm = open("/proc/%s/comm" % name).read().strip()
            cmd = open("/proc/%s/cmdline" % name, "rb").read().replace(b"\0", b" ").decode(errors="replace")
            found.append((int(name), comm, cmd))
        except OSError:
            pass
result = found
"""
