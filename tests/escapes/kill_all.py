# Attack: kill(-1, SIGKILL): every process we may signal. On the host as root that is the whole
# machine (which is why the control only ever runs in its own pid namespace).
# The payload first forks a child of its own, so it can show that kill(-1) did something.
# Evidence: a host sentinel process started by the test survives, stockade returns a result.
# Control (own pid namespace): the payload's child is killed ("CHILD_KILLED 9").
import os, signal, time
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
time.sleep(0.1)
try:
    os.kill(-1, signal.SIGKILL)
    print("KILL_SENT", flush=True)
except OSError as e:
    print("DENIED", e.errno, flush=True)
_, st = os.waitpid(child, 0)
print("CHILD_KILLED", os.WTERMSIG(st) if os.WIFSIGNALED(st) else 0, flush=True)
