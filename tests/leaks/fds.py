# Channel: file descriptors. The writer writes the token into every descriptor it holds that it
# did not open itself (other than its stdout, stderr and answer: 1, 2, 4), e.g. anything it
# inherited from the process that forks the runs, and leaves new ones open (a memfd, a pipe, a
# file, all inheritable) holding it. The reader reads every descriptor it holds (files from
# offset 0, pipes and sockets without blocking).
# Control (siblings): the plain parent holds an inheritable memfd (as a server holds its own
# files); the writer writes into it, the reader inherits it and reads the token.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's interpreter keeps its own descriptors by design
CONTROL = "siblings"

WRITER = r"""
import os, stat
written = []
for fd in range(0, 1024):
    if fd in (1, 2, 4):
        continue
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        continue
    try:
        if stat.S_ISREG(mode):
            os.pwrite(fd, TOKEN.encode(), 0)
        else:
            os.set_blocking(fd, False)
            os.write(fd, TOKEN.encode())
        written.append(fd)
    except OSError:
        pass
m = os.memfd_create("left", 0)
os.write(m, TOKEN.encode())
r, w = os.pipe()
os.write(w, TOKEN.encode())
for fd in (m, r, w):
    os.set_inheritable(fd, True)
result = written
"""

READER = r"""
import os, stat
found = []
for fd in range(0, 1024):
    if fd in (1, 2, 4):
        continue
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        continue
    try:
        target = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        target = "?"
    try:
        if stat.S_ISREG(mode):
            data = os.pread(fd, 4096, 0)
        else:
            os.set_blocking(fd, False)
            data = os.read(fd, 4096)
    except OSError as exc:
        data = repr(exc).encode()
    found.append((fd, target, data.decode(errors="replace")))
result = found
"""
