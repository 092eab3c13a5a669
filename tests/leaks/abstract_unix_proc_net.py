# Channel: abstract unix socket names live in the network namespace, and /proc/net/unix lists
# every one of them (Landlock's scoping covers connect and send, not listing). The writer
# (_abstract.py) leaves named sockets alive; the reader lists /proc/net/unix and decodes the
# names it finds.
# Control (siblings): one network namespace; the writer's daemon keeps the names alive and the
# reader lists them.
from _abstract import LEAKED, TOKEN, WRITER  # noqa: F401

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a cell may keep a socket in its interpreter by design
REPEAT = 100  # a race (see _abstract.py): the test runs the pair this many times
CONTROL = "siblings"

READER = r"""
names, bits, full = [], 0, []
with open("/proc/net/unix") as f:
    for line in f:
        parts = line.split()
        if len(parts) >= 8 and parts[7].startswith("@stockade-leak-"):
            name = parts[7][len("@stockade-leak-"):]
            names.append(name)
            if name.startswith("bit-"):
                bits |= 1 << int(name[4:])
            else:
                full.append(int(name, 16))
result = {"bits": bits, "full": full, "names": names}
"""
