# Attack: change the mode of /dev/null (and /dev/zero, /dev/urandom), which in the jail are
# bind mounts of the HOST's device nodes: chmod 0600 would break every other program on the
# host. argv[1] = octal mode to set.
# Evidence: the host's /dev/null keeps its mode. Control: the chmod succeeds (the control sets
# the current mode again, so the host is not changed).
import os, sys
mode = int(sys.argv[1], 8)
for p in ("/dev/null", "/dev/zero", "/dev/urandom"):
    try:
        os.chmod(p, mode)
        print("CHMOD_OK", p)
    except OSError as e:
        print("DENIED", p, e.errno)
