# Attack: read every file descriptor 3..1023 the runtime may have leaked (the test opens a
# secret file on fds 5..9 in stockade's own process before it starts).
# Evidence: the secret token must not appear. Control: started with the same fds, it does.
import os
for fd in range(3, 1024):
    try:
        data = os.pread(fd, 4096, 0)
    except OSError:
        try:
            data = os.read(fd, 4096)
        except OSError:
            continue
    print("FD", fd, data.decode(errors="replace"))
