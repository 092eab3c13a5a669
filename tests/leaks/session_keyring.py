# Channel: kernel keyrings. Every process inherits its parent's session keyring; a key the
# writer adds to it (add_key "user" key in @s holding the token) is there for every later child
# of the same parent. The reader searches @s for the key and reads it.
# Control (siblings): the plain parent joined a fresh anonymous session keyring; both children
# share it; the reader reads the token.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"

WRITER = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
KEY_SPEC_SESSION_KEYRING = -3
serial = libc.syscall(248, b"user", b"stockade-leak", TOKEN.encode(), len(TOKEN), KEY_SPEC_SESSION_KEYRING)  # add_key
result = serial if serial >= 0 else "add_key: " + os.strerror(ctypes.get_errno())
"""

READER = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
KEY_SPEC_SESSION_KEYRING = -3
serial = libc.syscall(250, 10, KEY_SPEC_SESSION_KEYRING, b"user", b"stockade-leak", 0)  # KEYCTL_SEARCH
if serial < 0:
    result = "keyctl search: " + os.strerror(ctypes.get_errno())
else:
    buf = ctypes.create_string_buffer(256)
    n = libc.syscall(250, 11, serial, buf, 256)  # KEYCTL_READ
    result = buf.raw[: max(n, 0)].decode(errors="replace")
"""
