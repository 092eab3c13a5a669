# Attack: create a file in a host directory (argv[1]), directly and through /proc/self/root,
# /proc/1/root and /proc/1/cwd.
# Evidence: <dir>/pwned must not exist on the host afterwards. Control: it is created.
import sys
d = sys.argv[1]
for p in (d + "/pwned", "/proc/self/root" + d + "/pwned", "/proc/1/root" + d + "/pwned"):
    try:
        with open(p, "w") as f:
            f.write("pwned\n")
        print("WROTE", p)
    except OSError as e:
        print("DENIED", p, e.errno)
