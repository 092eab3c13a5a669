# Attack: io_uring_setup(2) via ctypes. io_uring operations bypass seccomp filtering of the
# syscalls they perform (e.g. connect, openat), so the ring must not be obtainable at all.
# Evidence: "IO_URING_OK" is absent. Control: present.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_io_uring_setup = 425
params = (ctypes.c_uint8 * 120)()
fd = libc.syscall(SYS_io_uring_setup, 8, ctypes.byref(params))
print("IO_URING_OK" if fd >= 0 else "DENIED", ctypes.get_errno(), flush=True)
