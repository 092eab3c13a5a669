# Attack: reach the host filesystem through /proc/self/root (argv[1] = host secret path),
# including walking up with '..' and through /proc/self/cwd.
# Evidence: the secret token must not appear. Control: it does.
import sys
path = sys.argv[1]
for p in ("/proc/self/root" + path, "/proc/self/root/../../.." + path, "/proc/self/cwd/../../.." + path,
          "/proc/thread-self/root" + path):
    try:
        with open(p) as f:
            print("READ", p, f.read())
    except OSError as e:
        print("DENIED", p, e.errno)
