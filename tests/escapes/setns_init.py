# Attack: join another process's namespaces with setns(2): open /proc/<pid>/ns/* for pid 1
# and our own, and call setns on each (in a throw-away child).
# Evidence: "SETNS_OK" is absent. Control (root, pid 1 = the control itself): present.
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for pid in ("1", "self"):
    for ns in ("user", "mnt", "net", "pid", "ipc", "uts", "cgroup"):
        path = f"/proc/{pid}/ns/{ns}"
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            print("DENIED_OPEN", path, e.errno, flush=True)
            continue
        child = os.fork()
        if child == 0:
            os._exit(0 if libc.setns(fd, 0) == 0 else min(ctypes.get_errno(), 255) or 1)
        _, st = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(st)
        print("SETNS_OK" if code == 0 else "DENIED", path, code, flush=True)
        os.close(fd)
