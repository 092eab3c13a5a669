# Attack: steal file descriptors from our parent with pidfd_open + pidfd_getfd (in the jail:
# stockade's init; the test gave stockade a secret file on fds 5..9), then read them.
# Evidence: the secret token must not appear. Control: run under a parent holding the secret
# on fds 5..9, it does.
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
for pid in dict.fromkeys([os.getppid(), 1]):
    pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
    if pidfd < 0:
        print("PIDFD_DENIED", pid, ctypes.get_errno())
        continue
    for target in range(0, 64):
        fd = libc.syscall(SYS_pidfd_getfd, pidfd, target, 0)
        if fd < 0:
            if target == 5:
                print("GETFD_DENIED", pid, target, ctypes.get_errno())
            continue
        try:
            print("STOLE", pid, target, os.pread(fd, 4096, 0).decode(errors="replace"))
        except OSError as e:
            print("STOLE_UNREADABLE", pid, target, e.errno)
        os.close(fd)
