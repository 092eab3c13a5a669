# Attack: read the host's /etc/shadow directly, and through /proc/self/root and /proc/1/root.
# Evidence: the host test reads the first line of the real /etc/shadow; it must not appear in
# the jail's output. Control (unconfined, as the test user): the line is printed.
import sys
for p in ("/etc/shadow", "/proc/self/root/etc/shadow", "/proc/1/root/etc/shadow"):
    try:
        with open(p) as f:
            print("READ", p, f.read())
    except OSError as e:
        print("DENIED", p, e.errno)
