# Attack: fork bomb. Keep forking children that stay alive until fork fails (the error is not
# caught, as in a real bomb) or argv[1] processes exist (the bound only matters for the control).
# Evidence: stockade reports status "pids_limit" and returns promptly. Control (bounded to 40,
# own pid namespace): all forks succeed ("FORKED 40"), showing that only the jail stops it.
import os, sys, time
limit = int(sys.argv[1])
children = []
try:
    while len(children) < limit:
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        children.append(pid)
    print("FORKED", len(children), flush=True)
finally:
    for c in children:
        os.kill(c, 9)
        os.waitpid(c, 0)
