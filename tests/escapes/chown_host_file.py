# Attack: take ownership of a host file (argv[1], owned by the test user), giving it to the
# jail's uid 1000 (and to 0), directly and via /proc paths.
# Evidence: the host file's owner is unchanged. Control: it changes to uid 1000.
import os, sys
path = sys.argv[1]
for p in (path, "/proc/self/root" + path, "/proc/1/root" + path):
    for uid in (1000, 0):
        try:
            os.chown(p, uid, uid)
            print("CHOWN", p, uid)
            break
        except OSError as e:
            print("DENIED", p, uid, e.errno)
