# Attack: list /proc/self/fd and /proc/1/fd and re-open every entry by path (this also works
# for fds that were closed for reading but whose file is still reachable by name).
# Evidence: the secret token (on fds 5..9 of stockade) must not appear. Control: it does.
import os
for pid in ("self", "1"):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError as e:
        print("DENIED", pid, e.errno)
        continue
    for fd in fds:
        p = f"/proc/{pid}/fd/{fd}"
        try:
            target = os.readlink(p)
        except OSError:
            target = "?"
        if target.startswith(("pipe:", "socket:", "anon_inode:")) or p.endswith(("/0", "/1", "/2")) and pid == "self":
            continue
        try:
            with open(p, "rb") as f:
                print("READ", p, target, f.read(4096).decode(errors="replace"))
        except OSError as e:
            print("DENIED", p, target, e.errno)
