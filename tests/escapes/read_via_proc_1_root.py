# Attack: reach the host filesystem through the root/cwd of pid 1 (the jail's init, which is a
# fork of the host-side stockade) and of every other visible pid (argv[1] = host secret path).
# Evidence: the secret token must not appear. Control: it does (pid 1 there sees the host fs).
import os, sys
path = sys.argv[1]
pids = [p for p in os.listdir("/proc") if p.isdigit()]
for pid in pids:
    for via in ("root", "cwd"):
        p = f"/proc/{pid}/{via}" + (path if via == "root" else "/../../../.." + path)
        try:
            with open(p) as f:
                print("READ", p, f.read())
        except OSError as e:
            print("DENIED", p, e.errno)
