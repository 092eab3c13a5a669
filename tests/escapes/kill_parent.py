# Attack: kill the process that supervises us: SIGKILL/SIGTERM/SIGSTOP to getppid(), then to
# pid 1 (in the jail that is stockade's init, a fork of the host-side stockade).
# Evidence: stockade still returns a result with status "ok" (the payload ends with
# "SURVIVED"), the test runner and a host sentinel process survive. Control: run under a parent
# process, that parent is killed by a signal.
import os, signal
ppid = os.getppid()
for target in [ppid] + ([1] if ppid != 1 else []):
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL):
        try:
            os.kill(target, sig)
            print("SENT", target, sig.name, flush=True)
        except OSError as e:
            print("DENIED", target, sig.name, e.errno, flush=True)
print("SURVIVED", flush=True)
