# Attack: learn host paths from the command lines of other processes in the jail (pid 1 is
# the runtime's own init). The test runs this script from a host directory with a random name.
# Evidence: that directory's name must not appear. Control: it does (the control's own
# command line names the script's host path).
import os
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            print("CMDLINE", pid, f.read().replace(b"\0", b" ").decode(errors="replace"))
    except OSError as e:
        print("DENIED", pid, e.errno)
