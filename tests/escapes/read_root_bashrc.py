# Attack: read root's home directory (/root/.bashrc) on the host.
# Evidence: the host test reads /root/.bashrc; its content must not appear in the jail's
# output. Control: printed.
for p in ("/root/.bashrc", "/proc/self/root/root/.bashrc", "/proc/1/root/root/.bashrc"):
    try:
        with open(p) as f:
            print("READ", p, f.read())
    except OSError as e:
        print("DENIED", p, e.errno)
