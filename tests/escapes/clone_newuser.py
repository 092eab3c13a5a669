# Attack: raw clone(2) syscall with CLONE_NEWUSER (and CLONE_NEWNS|CLONE_NEWNET), which seccomp
# must catch even when unshare is blocked. The child exits at once.
# Evidence: "CLONE_OK" is absent. Control: present.
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_clone = 56
for name, flags in (("NEWUSER", 0x10000000), ("NEWUSER|NEWNS|NEWNET", 0x10000000 | 0x00020000 | 0x40000000)):
    pid = libc.syscall(SYS_clone, ctypes.c_ulong(flags | signal.SIGCHLD), None, None, None, None)
    if pid == 0:
        os._exit(0)
    if pid < 0:
        print("DENIED", name, ctypes.get_errno(), flush=True)
    else:
        os.waitpid(pid, 0)
        print("CLONE_OK", name, flush=True)
