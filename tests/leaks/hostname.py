# Channel: the host and domain names (the UTS namespace, shared by every run of a worker). The
# writer sets both to the token; the reader reads them. Setting them needs CAP_SYS_ADMIN over
# the UTS namespace, so the control runs as root in a UTS namespace of its own.
# Control (siblings, as root): the reader reads the token.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"
CONTROL_AS_ROOT = True


def TOKEN():
    return "h" + secrets.token_hex(8)


WRITER = r"""
import ctypes, os, socket
done = []
try:
    socket.sethostname(TOKEN)
    done.append("hostname")
except OSError as exc:
    done.append(repr(exc))
libc = ctypes.CDLL(None, use_errno=True)
if libc.setdomainname(TOKEN.encode(), len(TOKEN)) == 0:
    done.append("domainname")
else:
    done.append("setdomainname: " + os.strerror(ctypes.get_errno()))
result = done
"""

READER = r"""
import os
u = os.uname()
result = [u.nodename, open("/proc/sys/kernel/domainname").read().strip()]
"""
