# Channel: /proc/<pid>/stat of the process that forks the runs. When a parent reaps a child it
# adds the child's page faults (and CPU time) to its own "children" counters (cminflt, cutime,
# ...), which anyone who can read its stat sees. The writer makes TOKEN x 8192 minor faults
# (touching fresh anonymous pages, no huge pages); the reader reads the stat of every process
# it can see and reports cminflt // 8192 (the writer's other faults are far fewer than 8192).
# Control (siblings): the reader reads /proc/<ppid>/stat of the plain parent that reaped the
# writer, and finds the token.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return 3 + secrets.randbelow(10)


WRITER = r"""
import mmap
UNIT = 8192
for _ in range(TOKEN):
    m = mmap.mmap(-1, UNIT * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(mmap.MADV_NOHUGEPAGE)
    for offset in range(0, UNIT * 4096, 4096):
        m[offset] = 1
    m.close()
result = "faulted"
"""

READER = r"""
import os
seen = {}
pids = {int(p) for p in os.listdir("/proc") if p.isdigit()} | {os.getppid()}
for pid in sorted(pids - {0, os.getpid()}):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError as exc:
        seen[pid] = repr(exc)
        continue
    seen[pid] = int(fields[8]) // 8192  # cminflt
result = seen
"""
