# Attack: read a secret file the test created on the host (argv[1] = its host path; the host
# /tmp is not supposed to be visible in the jail).
# Evidence: the random token inside the file must not appear in the output. Control: it does.
import sys
path = sys.argv[1]
try:
    with open(path) as f:
        print("READ", f.read())
except OSError as e:
    print("DENIED", e.errno)
