# Channel: System V IPC objects (shared memory, message queues, semaphores) live in the IPC
# namespace, not in a process or a file: they outlive their creator. The writer leaves a shared
# memory segment holding the token, a message queue with the token queued, and a semaphore set
# whose value is a part of the token; the reader looks them up by key (and in /proc/sysvipc).
# Control (siblings): one IPC namespace; the reader finds all three.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's cells share their jail on purpose
CONTROL = "siblings"


def TOKEN():
    return "ipc" + secrets.token_hex(8)


WRITER = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
left = []
shmid = libc.shmget(0x57C4, 4096, 0o1600)
if shmid >= 0:
    addr = libc.shmat(shmid, None, 0)
    if addr not in (None, ctypes.c_void_p(-1).value):
        ctypes.memmove(addr, TOKEN.encode(), len(TOKEN))
        left.append("shm")
msqid = libc.msgget(0x57C5, 0o1600)
if msqid >= 0:
    msg = ctypes.create_string_buffer(8 + 64)
    ctypes.c_long.from_buffer(msg).value = 1
    ctypes.memmove(ctypes.addressof(msg) + 8, TOKEN.encode(), len(TOKEN))
    if libc.msgsnd(msqid, msg, len(TOKEN), 0o4000) == 0:
        left.append("msg")
semid = libc.semget(0x57C6, 1, 0o1600)
if semid >= 0 and libc.semctl(semid, 0, 16, int(TOKEN[3:6], 16)) == 0:  # SETVAL
    left.append("sem")
result = left
"""

READER = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
found = []
shmid = libc.shmget(0x57C4, 0, 0)
if shmid >= 0:
    addr = libc.shmat(shmid, None, 0o10000)  # SHM_RDONLY
    if addr not in (None, ctypes.c_void_p(-1).value):
        found.append(ctypes.string_at(addr, 64).rstrip(b"\0").decode(errors="replace"))
msqid = libc.msgget(0x57C5, 0)
if msqid >= 0:
    msg = ctypes.create_string_buffer(8 + 64)
    n = libc.msgrcv(msqid, msg, 64, 0, 0o4000)  # IPC_NOWAIT
    if n > 0:
        found.append(msg.raw[8 : 8 + n].decode(errors="replace"))
semid = libc.semget(0x57C6, 0, 0)
if semid >= 0:
    found.append("sem:%03x" % libc.semctl(semid, 0, 12))  # GETVAL
for table in ("shm", "msg", "sem"):
    try:
        found.extend(open("/proc/sysvipc/" + table).read().splitlines()[1:])
    except OSError:
        pass
result = found
"""
