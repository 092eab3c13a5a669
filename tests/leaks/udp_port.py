# Channel: UDP ports live in the network namespace, and Landlock (TCP rights only) does not
# restrict binding them. The writer binds the token as a UDP port and keeps the socket alive
# after it ends (a process that outlives it, an in-flight SCM_RIGHTS cycle); the reader lists
# /proc/net/udp and /proc/net/udp6. (In the jail the seccomp filter refuses AF_INET sockets
# altogether: the writer reports that and leaves nothing.)
# Control (siblings): one network namespace; the writer's daemon holds the port.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a cell may keep a socket in its interpreter by design
CONTROL = "siblings"


def TOKEN():
    return 20000 + secrets.randbelow(30000)


WRITER = r"""
import os, socket, time
kept = []
s = None
for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    try:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((host, TOKEN))
        break
    except OSError as exc:
        s = None
        kept.append("udp %s: %r" % (host, exc))
if s is None:
    pid = -1
    kept.append("nothing to keep")
else:
    try:
        pid = os.fork()
    except OSError as exc:
        pid = -1
        kept.append("fork: " + repr(exc))
if pid == 0:
    try:
        os.setsid()
        for fd in range(0, 256):
            if fd != s.fileno():
                try:
                    os.close(fd)
                except OSError:
                    pass
        time.sleep(20)
    finally:
        os._exit(0)
elif pid > 0:
    kept.append("process")
if s is not None:
    a, b = socket.socketpair()
    socket.send_fds(a, [b"x"], [s.fileno(), b.fileno()])
    kept.append("in-flight")
    for x in (s, a, b):
        x.close()
result = kept
"""

READER = r"""
ports = []
for table in ("/proc/net/udp", "/proc/net/udp6"):
    try:
        with open(table) as f:
            next(f)
            for line in f:
                ports.append(int(line.split()[1].rsplit(":", 1)[1], 16))
    except OSError:
        pass
result = sorted(ports)
"""
