#!/usr/bin/env python3
"""What a fresh process per run costs with each per-run namespace, and no jail, no Python run:
the floor under any warm-pool design that gives every run its own pid, mount, IPC or network
namespace on this machine.

    sudo python3 bench/ns_floor.py                 # 400 iterations x 5 rounds, table on stdout
    sudo python3 bench/ns_floor.py --iterations 1000 --rounds 7

A warmed CPython parent (about 10 MB, like a zygote) forks one child per iteration; the child
does what the variant says and exits; the parent reaps it. Variants, interleaved in a shuffled
order per round:

  fork                fork + _exit (the floor of a fresh process)
  +pid                the parent unshares CLONE_NEWPID before the fork (as stockade's zygote
                      does), so the child is pid 1 of a namespace of its own
  +mnt                the child unshares CLONE_NEWNS, makes mounts private, mounts a tmpfs
  +mnt+proc           ... and the pid namespace's process mounts a fresh /proc
  +ipc                the child unshares CLONE_NEWIPC
  +net                the child unshares CLONE_NEWNET
  all                 pid + mnt + proc + ipc (what a pool run gets)
  all+net             ... and a network namespace

CPU is the whole machine's (user + system + irq + softirq from /proc/stat, so the kernel work a
namespace defers to workqueues and RCU callbacks is counted), per iteration; run it on a quiet
machine. Wall time per iteration is the parent's. Requires root (or CAP_SYS_ADMIN); everything
happens inside a private mount namespace of the benchmark's own.
"""
import argparse
import ctypes
import os
import random
import statistics
import time

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x08000000, 0x20000000, 0x40000000
MS_REC, MS_PRIVATE = 0x4000, 0x40000
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def mount(src, target, fstype, flags, data=None):
    check(libc.mount(src, target, fstype, flags, data), f"mount {target!r}")


VARIANTS = {
    "fork": dict(),
    "+pid": dict(pid=True),
    "+mnt": dict(mnt=True),
    "+mnt+proc": dict(mnt=True, pid=True, proc=True),
    "+ipc": dict(ipc=True),
    "+net": dict(net=True),
    "all": dict(pid=True, mnt=True, proc=True, ipc=True),
    "all+net": dict(pid=True, mnt=True, proc=True, ipc=True, net=True),
}


def child(v, scratch):
    try:
        flags = (CLONE_NEWNS if v.get("mnt") else 0) | (CLONE_NEWIPC if v.get("ipc") else 0)
        flags |= CLONE_NEWNET if v.get("net") else 0
        if flags:
            check(libc.unshare(flags), "unshare")
        if v.get("mnt"):
            mount(None, b"/", None, MS_REC | MS_PRIVATE)
            mount(b"tmpfs", scratch, b"tmpfs", 0, b"size=1m")
        if v.get("proc"):
            mount(b"proc", b"/proc", b"proc", 0)
        os._exit(0)
    except BaseException as exc:
        os.write(2, f"variant failed: {exc}\n".encode())
        os._exit(1)


def machine_cpu():
    f = open("/proc/stat").readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in f[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def measure(v, n, scratch):
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    c0, t0 = machine_cpu(), time.perf_counter()
    for _ in range(n):
        if v.get("pid"):
            check(libc.unshare(CLONE_NEWPID), "unshare CLONE_NEWPID")
        pid = os.fork()
        if pid == 0:
            child(v, scratch)
        if v.get("pid"):
            check(libc.setns(own_pidns, CLONE_NEWPID), "setns back to the parent's pid namespace")
        _, status = os.waitpid(pid, 0)
        if status:
            raise SystemExit("a variant failed; see stderr")
    wall = time.perf_counter() - t0
    os.close(own_pidns)
    time.sleep(0.1)  # deferred namespace teardown (workqueues, RCU) lands in this window
    return (machine_cpu() - c0) / n * 1e6, wall / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    check(libc.unshare(CLONE_NEWNS), "unshare the benchmark's mount namespace")
    mount(None, b"/", None, MS_REC | MS_PRIVATE)
    scratch = b"/tmp/ns_floor_scratch"
    os.makedirs(scratch, exist_ok=True)
    ballast = [str(i) * 3 for i in range(150_000)]  # a zygote-sized heap (~10 MB RSS)
    rng = random.Random(args.seed)
    cpu = {k: [] for k in VARIANTS}
    wall = {k: [] for k in VARIANTS}
    for _ in range(args.rounds):
        order = list(VARIANTS)
        rng.shuffle(order)
        for k in order:
            c, w = measure(VARIANTS[k], args.iterations, scratch)
            cpu[k].append(c)
            wall[k].append(w)
    base = statistics.median(cpu["fork"])
    print(f"# bench/ns_floor.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {os.cpu_count()} cores  "
          f"kernel {os.uname().release}  iterations={args.iterations} rounds={args.rounds}  parent RSS ~{len(ballast) // 15_000} MB+\n")
    print("| variant | machine CPU us/iter (median) | min | max | + vs fork | wall us/iter (median) |")
    print("|:--|--:|--:|--:|--:|--:|")
    for k in VARIANTS:
        m = statistics.median(cpu[k])
        print(f"| {k} | {m:.0f} | {min(cpu[k]):.0f} | {max(cpu[k]):.0f} | {m - base:+.0f} | {statistics.median(wall[k]):.0f} |")


if __name__ == "__main__":
    main()
