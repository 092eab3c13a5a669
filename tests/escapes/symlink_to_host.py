# Attack: plant symlinks in scratch that point at host paths (argv[1] = host secret path), at
# /proc/1/root and at /proc/self/root, then read through them.
# Evidence: the secret token must not appear. Control: it does.
import os, sys, tempfile
path = sys.argv[1]
d = tempfile.mkdtemp()
targets = [path, "/proc/1/root" + path, "/proc/self/root" + path, "../../../../.." + path]
for i, t in enumerate(targets):
    link = os.path.join(d, f"l{i}")
    try:
        os.symlink(t, link)
        with open(link) as f:
            print("READ", t, f.read())
    except OSError as e:
        print("DENIED", t, e.errno)
