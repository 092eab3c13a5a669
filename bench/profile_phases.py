#!/usr/bin/env python3
"""Where does a cold `stockade run` spend its time? Phase breakdown from kernel tracepoints.

Runs `stockade run --python /usr/bin/python3.11 -c pass` N times under
`perf record -e raw_syscalls:*,sched:sched_process_*,cgroup:cgroup_attach_task` (in-kernel
tracepoints, ~1 us per event, far less distortion than strace's ~15-40 us per syscall), then
cuts each run's timeline into phases at marker syscalls of the three processes (supervisor S,
jail init I, interpreter P) and prints the median duration of every phase over the runs.

Needs root (or perf_event_paranoid <= 1) and `perf`. Plain Python 3, stdlib only.

    python3 bench/profile_phases.py                # 15 runs
    python3 bench/profile_phases.py --runs 30 --python /usr/bin/python3.11 --code pass
    python3 bench/profile_phases.py --json

The phase markers follow the code as of this commit (crates/stockade-jail/src/{supervise,child,
mounts}.rs); if the call sequence changes, a phase may come out as "n/a".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# x86_64 syscall numbers used as markers.
NR = dict(read=0, write=1, close=3, poll=7, mmap=9, munmap=11, ioctl=16, socket=41, getpid=39, clone=56,
          execve=59, wait4=61, mkdir=83, rmdir=84, readlink=89, geteuid=107, setsid=112, setresuid=117,
          setresgid=119, capset=126, statfs=137, pivot_root=155, prctl=157, mount=165, umount2=166,
          sethostname=170, getdents64=217, exit_group=231, openat=257, unshare=272, pipe2=293, prlimit64=302,
          seccomp=317, statx=332, openat2=437, landlock_create_ruleset=444, landlock_add_rule=445,
          landlock_restrict_self=446)
NAME = {v: k for k, v in NR.items()}

LINE = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$")
ENTER = re.compile(r"NR (\d+) \(")
EXIT = re.compile(r"NR (\d+) = (-?\d+)")


class Ev:
    __slots__ = ("pid", "t", "kind", "nr", "ret", "text")

    def __init__(self, pid, t, kind, nr, ret, text):
        self.pid, self.t, self.kind, self.nr, self.ret, self.text = pid, t, kind, nr, ret, text

    def __repr__(self):
        return f"{self.pid} {self.t:.6f} {self.kind} {NAME.get(self.nr, self.nr)} {self.ret}"


def parse(script_text: str) -> list[Ev]:
    out = []
    for line in script_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pid, t, event, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
        if event == "raw_syscalls:sys_enter":
            e = ENTER.search(rest)
            out.append(Ev(pid, t, "enter", int(e.group(1)), None, rest))
        elif event == "raw_syscalls:sys_exit":
            e = EXIT.search(rest)
            out.append(Ev(pid, t, "exit", int(e.group(1)), int(e.group(2)), rest))
        else:
            kind = event.split(":")[1]
            out.append(Ev(pid, t, kind, None, None, rest))
    return out


class Timeline:
    def __init__(self, evs: list[Ev]):
        self.evs = evs

    def find(self, pid, kind, nr=None, after=0.0, pred=None, last=False):
        hits = (e for e in (reversed(self.evs) if last else self.evs)
                if e.pid == pid and e.kind == kind and (nr is None or e.nr == nr) and e.t >= after
                and (pred is None or pred(e)))
        return next(hits, None)

    def count(self, pid, nr, t0, t1):
        return sum(1 for e in self.evs if e.pid == pid and e.kind == "enter" and e.nr == nr and t0 <= e.t <= t1)

    def syscall_time(self, pid, nr, t0, t1):
        """Total in-syscall time of syscall nr in pid between t0 and t1."""
        total, start = 0.0, None
        for e in self.evs:
            if e.pid != pid or e.nr != nr or not (t0 <= e.t <= t1):
                continue
            if e.kind == "enter":
                start = e.t
            elif e.kind == "exit" and start is not None:
                total += e.t - start
                start = None
        return total


def phases(evs: list[Ev]) -> tuple[list[tuple[str, float | None]], dict]:
    tl = Timeline(evs)
    ex = next(e for e in evs if e.kind == "sched_process_exec" and "stockade" in e.text)
    S = ex.pid
    forks = [e for e in evs if e.kind == "sched_process_fork"]
    f_init = next(e for e in forks if e.pid == S)
    I = int(re.search(r"child_pid=(\d+)", f_init.text).group(1))
    f_py = next(e for e in forks if e.pid == I)
    P = int(re.search(r"child_pid=(\d+)", f_py.text).group(1))

    def t(e):
        return e.t if e else None

    s_geteuid = tl.find(S, "enter", NR["geteuid"])
    s_readlink = tl.find(S, "enter", NR["readlink"])
    big_read = tl.find(S, "exit", NR["read"], pred=lambda e: e.ret > 8192)  # the interpreter ELF, read whole
    s_cache_open = tl.find(S, "enter", NR["openat"], after=big_read.t) if big_read else None
    s_sweep = tl.find(S, "enter", NR["getdents64"], after=t(s_cache_open) or 0)
    s_mkdir = tl.find(S, "enter", NR["mkdir"])
    s_pipe = tl.find(S, "enter", NR["pipe2"])
    s_clone = tl.find(S, "enter", NR["clone"])
    s_clone_x = tl.find(S, "exit", NR["clone"])
    writes = [e for e in evs if e.pid == S and e.nr == NR["write"] and e.t > s_clone_x.t]
    w_enter = [e for e in writes if e.kind == "enter"]
    w_exit = [e for e in writes if e.kind == "exit"]
    cg_first = w_enter[2]  # uid_map, gid_map, then cgroup.procs x3
    go = next(e for e in w_exit if e.ret == 1)
    go_enter = max((e for e in w_enter if e.t <= go.t), key=lambda e: e.t)
    s_wait_x = tl.find(S, "exit", NR["wait4"], last=True)
    s_exit = tl.find(S, "sched_process_exit")

    i_unshare = tl.find(I, "enter", NR["unshare"])
    i_setresgid = tl.find(I, "enter", NR["setresgid"])
    i_setresuid_x = tl.find(I, "exit", NR["setresuid"])
    i_pivot = tl.find(I, "enter", NR["pivot_root"])
    i_hostname = tl.find(I, "enter", NR["sethostname"])
    i_setsid = tl.find(I, "enter", NR["setsid"])
    i_fork = tl.find(I, "enter", NR["clone"])
    i_fork_x = tl.find(I, "exit", NR["clone"], after=i_fork.t)
    i_exit = tl.find(I, "sched_process_exit")

    p_first = next(e for e in evs if e.pid == P)
    p_ll = tl.find(P, "enter", NR["landlock_create_ruleset"])
    p_ll_x = tl.find(P, "exit", NR["landlock_restrict_self"])
    p_sc = tl.find(P, "enter", NR["seccomp"])
    p_sc_x = tl.find(P, "exit", NR["seccomp"])
    p_exec = tl.find(P, "enter", NR["execve"])
    p_exec_x = tl.find(P, "exit", NR["execve"])
    p_exitg = tl.find(P, "enter", NR["exit_group"])
    p_exit = tl.find(P, "sched_process_exit")

    def d(a, b):
        return (b - a) * 1e6 if a is not None and b is not None else None

    rows = [
        ("S exec -> main (ld.so, Rust init, clap parse)", d(ex.t, t(s_geteuid))),
        ("S host probe (/proc, cgroup layout x4 /proc/self/cgroup, landlock, seccomp)", d(t(s_geteuid), t(s_readlink))),
        ("S resolve interpreter (canonicalize + fs::read of the whole ELF)", d(t(s_readlink), t(s_cache_open))),
        ("S manifest cache read+parse, plan compile (seccomp BPF compile)", d(t(s_cache_open), t(s_sweep))),
        ("S sweep_stale + cgroup name (/dev/urandom)", d(t(s_sweep), t(s_mkdir))),
        ("S cgroup create (3 mkdir + limit writes, v1)", d(t(s_mkdir), t(s_pipe))),
        ("S 6 pipes", d(t(s_pipe), t(s_clone))),
        ("S clone(NEWUSER|NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS)", d(t(s_clone), t(s_clone_x))),
        ("S write uid_map/gid_map", d(t(s_clone_x), cg_first.t)),
        ("S cgroup attach: 3 x cgroup.procs (first = v1 memory)", d(cg_first.t, go_enter.t)),
        ("I go -> unshare(NEWCGROUP) (wakeup)", d(go.t, t(i_unshare))),
        ("I unshare cgroupns + setgroups + open bind sources (openat2)", d(t(i_unshare), t(i_setresgid))),
        ("I build root: tmpfs + binds + remounts + /dev + /proc + files", d(t(i_setresuid_x), t(i_pivot))),
        ("I pivot_root + detach old root + remount / ro", d(t(i_pivot), t(i_hostname))),
        ("I sethostname + loopback up", d(t(i_hostname), t(i_setsid))),
        ("I setsid, fds, rlimits, drop caps", d(t(i_setsid), t(i_fork))),
        ("I fork interpreter (clone)", d(t(i_fork), t(i_fork_x))),
        ("P fork -> landlock start (no_new_privs)", d(p_first.t, t(p_ll))),
        ("P landlock (create, add_rule xN, restrict_self)", d(t(p_ll), t(p_ll_x))),
        ("P seccomp install", d(t(p_sc), t(p_sc_x))),
        ("P execve", d(t(p_exec), t(p_exec_x))),
        ("P python runs (exec -> exit_group)", d(t(p_exec_x), t(p_exitg))),
        ("P exit_group -> exited", d(t(p_exitg), t(p_exit))),
        ("I reap python, report, exit", d(t(p_exit), t(i_exit))),
        ("S notice init exit -> wait4 returns", d(t(i_exit), t(s_wait_x))),
        ("S result, cgroup reads, kill_all, rmdir x3, exit", d(t(s_wait_x), t(s_exit))),
        ("TOTAL (S exec -> S exit)", d(ex.t, t(s_exit))),
    ]
    extra = {
        "mount_syscalls": tl.count(I, NR["mount"], i_setresuid_x.t, i_pivot.t),
        "mount_syscall_us": tl.syscall_time(I, NR["mount"], i_setresuid_x.t, i_pivot.t) * 1e6,
        "openat2_calls": tl.count(I, NR["openat2"], i_unshare.t, i_setresgid.t),
        "landlock_add_rule_calls": tl.count(P, NR["landlock_add_rule"], p_ll.t, p_ll_x.t),
        "first_cgroup_procs_write_us": (next(e for e in w_exit if e.t > cg_first.t).t - cg_first.t) * 1e6,
        "interpreter_full_read_bytes": big_read.ret if big_read else 0,
        "interpreter_full_read_syscall_us": (big_read.t - tl.find(S, "enter", NR["read"], last=True,
                                             pred=lambda e: e.t <= big_read.t).t) * 1e6 if big_read else 0,
        "supervisor_syscalls": sum(1 for e in evs if e.pid == S and e.kind == "enter"),
        "init_syscalls": sum(1 for e in evs if e.pid == I and e.kind == "enter"),
        "interpreter_syscalls_before_exec": sum(1 for e in evs if e.pid == P and e.kind == "enter" and e.t < p_exec.t),
    }
    return rows, extra


def record(argv: list[str], data: str) -> str:
    events = ",".join([
        "raw_syscalls:sys_enter", "raw_syscalls:sys_exit", "sched:sched_process_fork", "sched:sched_process_exec",
        "sched:sched_process_exit", "cgroup:cgroup_attach_task",
    ])
    subprocess.run(["perf", "record", "-q", "-o", data, "-e", events, "--", *argv],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return subprocess.run(["perf", "script", "-i", data, "-F", "pid,time,event,trace"],
                          capture_output=True, text=True, check=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--stockade", default=os.path.join(REPO, "target", "release", "stockade"))
    ap.add_argument("--python", default="/usr/bin/python3.11", help="--python for stockade ('' = its default)")
    ap.add_argument("--code", default="pass")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    argv = [args.stockade, "run", *(["--python", args.python] if args.python else []), "-c", args.code]
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)  # warm the manifest cache
    per_phase: dict[str, list[float]] = {}
    extras: dict[str, list[float]] = {}
    order: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            rows, extra = phases(parse(record(argv, os.path.join(tmp, f"{i}.data"))))
            for name, us in rows:
                if name not in per_phase:
                    order.append(name)
                per_phase.setdefault(name, [])
                if us is not None:
                    per_phase[name].append(us)
            for k, v in extra.items():
                extras.setdefault(k, []).append(v)
    med = {k: (statistics.median(v) if v else None) for k, v in per_phase.items()}
    if args.json:
        json.dump({"argv": argv, "runs": args.runs, "median_us": med, "samples_us": per_phase,
                   "extra_median": {k: statistics.median(v) for k, v in extras.items()}}, sys.stdout, indent=1)
        print()
        return
    print(f"{' '.join(argv)}: {args.runs} runs under perf tracepoints; median per phase (us)")
    print("S = supervisor (stockade), I = jail init (pid 1), P = interpreter process\n")
    width = max(len(n) for n in order)
    for name in order:
        v = per_phase[name]
        m = med[name]
        if m is None:
            print(f"  {name:<{width}}       n/a")
            continue
        p10 = sorted(v)[max(0, int(len(v) * 0.1))]
        p90 = sorted(v)[min(len(v) - 1, int(len(v) * 0.9))]
        print(f"  {name:<{width}} {m:9.0f}   (p10 {p10:.0f}, p90 {p90:.0f})")
    print()
    for k, v in extras.items():
        print(f"  {k}: median {statistics.median(v):.0f}")


if __name__ == "__main__":
    main()
