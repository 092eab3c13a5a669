"""Run a command the way a Kubernetes pod with `hostUsers: false` runs it: as root of a user
namespace that maps only 65536 ids (to an unprivileged range of the host), in its own mount and
pid namespaces with a fresh /proc. Optionally with parts of /proc masked (as a runtime's default
`procMount` does) and with the capability bounding set a pod's securityContext leaves.

    python3 podlike.py [--mask-proc] [--caps setuid,setgid] -- COMMAND...

Needs root on the host (it writes the namespace's id maps from outside, as the runtime does).
The command runs in its own pid namespace, so nothing it starts outlives it.
"""
import argparse
import ctypes
import os
import sys

CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID = 0x10000000, 0x00020000, 0x20000000
MS_REC, MS_PRIVATE, MS_RDONLY = 0x4000, 0x40000, 0x1
OUTSIDE = 200000  # the host ids the pod's 0..65535 stand for


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mask-proc", action="store_true")
    ap.add_argument("--caps")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    libc = ctypes.CDLL(None, use_errno=True)
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(to_parent_r)
        os.close(to_child_w)
        if libc.unshare(CLONE_NEWUSER) != 0:
            os._exit(90)
        os.write(to_parent_w, b"u")
        os.read(to_child_r, 1)
        os.setgid(0)
        os.setuid(0)
        if libc.unshare(CLONE_NEWNS | CLONE_NEWPID) != 0:
            os._exit(91)
        inner = os.fork()
        if inner == 0:
            libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
            if libc.mount(b"proc", b"/proc", b"proc", 0, None) != 0:
                os._exit(92)
            if a.mask_proc and libc.mount(b"tmpfs", b"/proc/acpi", b"tmpfs", MS_RDONLY, None) != 0:
                os._exit(93)
            if a.caps is not None:
                caps = "".join(f",+{c}" for c in a.caps.split(",") if c)
                command[:0] = ["setpriv", f"--bounding-set=-all{caps}", "--inh-caps=-all", "--"]
            os.execvp(command[0], command)
        _, status = os.waitpid(inner, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    os.close(to_parent_w)
    os.close(to_child_r)
    os.read(to_parent_r, 1)
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(f"0 {OUTSIDE} 65536\n")
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("allow\n")
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(f"0 {OUTSIDE} 65536\n")
    os.write(to_child_w, b"g")
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
