# Channel: the process environment (os.environ, putenv, the C environ the next exec would see).
# In-process state: a run that forks from the zygote starts with the zygote's environment.
# Control (same-process): writer and reader in one interpreter; the reader sees the token.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's interpreter keeps its state by design
CONTROL = "same-process"

WRITER = r"""
import ctypes, os
os.environ["LEAK_ENV"] = TOKEN
os.putenv("LEAK_PUTENV", TOKEN)
ctypes.CDLL(None).setenv(b"LEAK_SETENV", TOKEN.encode(), 1)
result = "set"
"""

READER = r"""
import ctypes, os
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
found = dict(os.environ)
for name in (b"LEAK_ENV", b"LEAK_PUTENV", b"LEAK_SETENV"):
    value = libc.getenv(name)
    if value is not None:
        found["C:" + name.decode()] = value.decode(errors="replace")
result = found
"""
