# Channel: the filesystem of the process that forks the runs, reached through /proc/<pid>/root
# and /proc/<pid>/cwd of any process the run can name (in a warm jail, pid 1 of the run's
# namespace is stockade's init, which stays in the worker's own mount namespace, whose /tmp is
# under the run's fresh one and shared by every run). The writer leaves the token there; the
# reader looks there.
# Control (siblings): /proc/<ppid>/root/tmp is the parent's /tmp, shared with the reader.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"

WRITER = r"""
import os
pids = {int(p) for p in os.listdir("/proc") if p.isdigit()} | {1, os.getppid()}
done = []
for pid in sorted(pids - {0, os.getpid()}):
    for where in ("/proc/%d/root/tmp" % pid, "/proc/%d/cwd" % pid):
        try:
            with open(os.path.join(where, "under-" + TOKEN), "w") as f:
                f.write(TOKEN)
            done.append(where)
        except OSError as exc:
            done.append("%s: %s" % (where, exc.strerror))
result = done
"""

READER = r"""
import os
pids = {int(p) for p in os.listdir("/proc") if p.isdigit()} | {1, os.getppid()}
found = []
for pid in sorted(pids - {0, os.getpid()}):
    for where in ("/proc/%d/root/tmp" % pid, "/proc/%d/cwd" % pid):
        try:
            for name in os.listdir(where):
                found.append(name)
                try:
                    found.append(open(os.path.join(where, name)).read(256))
                except OSError:
                    pass
        except OSError as exc:
            found.append("%s: %s" % (where, exc.strerror))
result = found
"""
