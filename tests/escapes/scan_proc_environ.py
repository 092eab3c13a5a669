# Attack: read /proc/<pid>/environ and /proc/<pid>/cmdline of every visible process, including
# threads under /proc/<pid>/task (the caller's STOCKADE_TEST_SECRET lives in stockade's env).
# Evidence: the token must not appear. Control: it does.
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    tasks = [f"/proc/{pid}"]
    try:
        tasks += [f"/proc/{pid}/task/{t}" for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        pass
    for base in tasks:
        for what in ("environ", "cmdline"):
            try:
                print("READ", base, what, open(f"{base}/{what}", "rb").read().decode(errors="replace"))
            except OSError as e:
                print("DENIED", base, what, e.errno)
