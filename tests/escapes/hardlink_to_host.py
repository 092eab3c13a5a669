# Attack: hard-link a host file (argv[1] = host secret path) into a writable directory, then
# read it through the link; also try linkat through /proc/self/root.
# Evidence: the secret token must not appear. Control: it does (link in the secret's own dir).
import os, sys
path = sys.argv[1]
for src in (path, "/proc/self/root" + path, "/proc/1/root" + path):
    for dst_dir in ("/tmp", os.path.dirname(path)):
        dst = os.path.join(dst_dir, f"hl-{os.getpid()}")
        try:
            os.link(src, dst)
            with open(dst) as f:
                print("READ", src, f.read())
            os.unlink(dst)
        except OSError as e:
            print("DENIED", src, dst_dir, e.errno)
