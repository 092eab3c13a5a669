# Attack: create new namespaces with unshare(2) via ctypes (user, mount, net, pid, ipc, uts,
# cgroup, time), the first step of most user-namespace kernel exploits. Each call runs in a
# throw-away child so a success does not change the payload itself.
# Evidence: "UNSHARE_OK" is absent. Control (root): present.
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
flags = {"NEWUSER": 0x10000000, "NEWNS": 0x00020000, "NEWNET": 0x40000000, "NEWPID": 0x20000000,
         "NEWIPC": 0x08000000, "NEWUTS": 0x04000000, "NEWCGROUP": 0x02000000, "NEWTIME": 0x00000080}
for name, flag in flags.items():
    pid = os.fork()
    if pid == 0:
        os._exit(0 if libc.unshare(flag) == 0 else min(ctypes.get_errno(), 255) or 1)
    _, st = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(st)
    print("UNSHARE_OK" if code == 0 else "DENIED", name, code, flush=True)
