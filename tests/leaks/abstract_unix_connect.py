# Channel: connecting to an abstract unix socket name. A name nobody holds gives ECONNREFUSED;
# any other outcome (connected, or EPERM from Landlock's scoping, which is checked only once the
# listener is found) says the name exists. The reader reads the token's bits that way.
# Control (siblings): one network namespace; the writer's daemon holds the names; connect works.
from _abstract import LEAKED, TOKEN, WRITER  # noqa: F401

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a cell may keep a socket in its interpreter by design
REPEAT = 200  # a race (see _abstract.py), rarer by connect: the test runs the pair this many times
CONTROL = "siblings"

READER = r"""
import errno, socket
bits, outcomes = 0, {}
for i in range(32):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect("\0stockade-leak-bit-%d" % i)
        outcomes[i] = "connected"
        bits |= 1 << i
    except OSError as exc:
        outcomes[i] = errno.errorcode.get(exc.errno, str(exc))
        if exc.errno != errno.ECONNREFUSED:
            bits |= 1 << i
    finally:
        s.close()
result = {"bits": bits, "outcomes": outcomes}
"""
