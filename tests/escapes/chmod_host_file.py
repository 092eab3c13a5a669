# Attack: make a host file (argv[1], mode 0600) world-writable, directly and via /proc paths.
# Evidence: the host file's mode is still 0600. Control: it becomes 0777.
import os, sys
path = sys.argv[1]
for p in (path, "/proc/self/root" + path, "/proc/1/root" + path):
    try:
        os.chmod(p, 0o777)
        print("CHMOD", p)
    except OSError as e:
        print("DENIED", p, e.errno)
