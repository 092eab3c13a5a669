# Channel: POSIX message queues live in the IPC namespace and outlive their creator: the writer
# leaves "/stockade-leak" with the token queued in it; the reader opens it by name and receives.
# Control (siblings): one IPC namespace; the reader receives the token.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return "mq" + secrets.token_hex(8)


WRITER = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class Attr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long), ("msgsize", ctypes.c_long), ("curmsgs", ctypes.c_long), ("pad", ctypes.c_long * 4)]
attr = Attr(0, 4, 64, 0)
q = libc.mq_open(b"/stockade-leak", os.O_CREAT | os.O_RDWR, 0o600, ctypes.byref(attr))
if q < 0:
    result = "mq_open: " + os.strerror(ctypes.get_errno())
else:
    result = libc.mq_send(q, TOKEN.encode(), len(TOKEN), 0)
"""

READER = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
q = libc.mq_open(b"/stockade-leak", os.O_RDONLY | os.O_NONBLOCK)
if q < 0:
    result = "mq_open: " + os.strerror(ctypes.get_errno())
else:
    buf = ctypes.create_string_buffer(64)
    n = libc.mq_receive(q, buf, 64, None)
    result = buf.raw[: max(n, 0)].decode(errors="replace")
"""
