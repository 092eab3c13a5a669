# Channel: /dev/shm, where POSIX shared memory (shm_open, multiprocessing.shared_memory) lives:
# the writer leaves a segment holding the token and a file named after it; the reader lists
# /dev/shm and reads what is there.
# Control (siblings): one /dev/shm for both.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # in a session /dev/shm is the scratch, which persists by design
CONTROL = "siblings"

WRITER = r"""
import os, _posixshmem
fd = _posixshmem.shm_open("/stockade-leak", os.O_CREAT | os.O_RDWR, 0o600)
os.ftruncate(fd, 4096)
os.pwrite(fd, TOKEN.encode(), 0)
os.close(fd)
open("/dev/shm/note-" + TOKEN, "w").write(TOKEN)
result = sorted(os.listdir("/dev/shm"))
"""

READER = r"""
import os
found = []
for name in sorted(os.listdir("/dev/shm")):
    found.append(name)
    try:
        found.append(open(os.path.join("/dev/shm", name), "rb").read(4096).rstrip(b"\0").decode(errors="replace"))
    except OSError:
        pass
result = found
"""
