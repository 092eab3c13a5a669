# Attack: leave a daemon behind: double fork + setsid, ignore SIGHUP/SIGTERM, then exec a
# long sleep whose argv carries argv[1] (a unique token), and exit the main program at once.
# Evidence: after stockade has returned, no host process has the token in /proc/*/cmdline.
# The payload prints "DAEMON_UP" once it sees the daemon running (in the jail and in the
# control), so the host-side check is not vacuous.
import os, sys, time
tok = sys.argv[1]
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.close(r)
        for fd in range(3):
            try:
                os.dup2(os.open("/dev/null", os.O_RDWR), fd)
            except OSError:
                pass
        os.write(w, b"x")
        os.close(w)
        code = "import signal,time\nfor s in (1,2,15): signal.signal(s, signal.SIG_IGN)\ntime.sleep(60)"
        os.execv(sys.executable, [sys.executable, "-c", code, tok])
    os._exit(0)
os.close(w)
os.read(r, 1)
for _ in range(50):
    found = False
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            found |= tok.encode() in open(f"/proc/{pid}/cmdline", "rb").read() and int(pid) != os.getpid()
        except OSError:
            pass
    if found:
        print("DAEMON_UP", flush=True)
        break
    time.sleep(0.05)
