# Attack: read the environment of pid 1 (the jail's init is a fork of stockade, so its
# environment is the caller's: STOCKADE_TEST_SECRET) via /proc/1/environ and /proc/1/task/*/environ.
# Evidence: the token the test put in stockade's environment must not appear. Control: the
# control's pid 1 is the payload itself, started with the token in its environment.
import os
paths = ["/proc/1/environ"] + [f"/proc/1/task/{t}/environ" for t in os.listdir("/proc/1/task")] \
    if os.path.isdir("/proc/1/task") else ["/proc/1/environ"]
for p in paths:
    try:
        with open(p, "rb") as f:
            print("READ", p, f.read().decode(errors="replace"))
    except OSError as e:
        print("DENIED", p, e.errno)
