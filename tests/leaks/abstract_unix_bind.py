# Channel: abstract unix socket names live in the network namespace; binding a name that is in
# use fails with EADDRINUSE whoever holds it (Landlock's scoping covers connect and send, not
# bind). The writer (_abstract.py) leaves names alive; the reader tries to bind each
# "stockade-leak-bit-<i>" and reads the token's bits from the refusals.
# Control (siblings): one network namespace; the writer's daemon holds the names.
from _abstract import LEAKED, TOKEN, WRITER  # noqa: F401

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a cell may keep a socket in its interpreter by design
REPEAT = 100  # a race (see _abstract.py): the test runs the pair this many times
CONTROL = "siblings"

READER = r"""
import errno, socket
bits, errors = 0, {}
for i in range(32):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind("\0stockade-leak-bit-%d" % i)
    except OSError as exc:
        errors[i] = errno.errorcode.get(exc.errno, exc.errno)
        if exc.errno == errno.EADDRINUSE:
            bits |= 1 << i
    finally:
        s.close()
result = {"bits": bits, "errors": errors}
"""
