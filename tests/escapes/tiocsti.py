# Attack: TIOCSTI: push characters into a terminal's input queue (a command that the shell
# which started us would run after we exit). Tries fds 0-2 and a fresh pty if one can be opened.
# Evidence: "TIOCSTI_OK" is absent. Control (root, on a pty it opens): present.
import ctypes, fcntl, os, termios
libc = ctypes.CDLL(None, use_errno=True)
fds = [0, 1, 2]
try:
    master, slave = os.openpty()
    fds.append(slave)
except OSError as e:
    print("NO_PTY", e.errno, flush=True)
for fd in fds:
    c = ctypes.c_char(b"x")
    if libc.ioctl(fd, termios.TIOCSTI, ctypes.byref(c)) == 0:
        print("TIOCSTI_OK", fd, flush=True)
    else:
        print("DENIED", fd, ctypes.get_errno(), flush=True)
