# The control harness: runs one case's WRITER and READER WITHOUT the jail, to show that the
# channel exists when nothing closes it. python/tests/test_leaks.py starts it as
#
#   unshare --pid --fork --mount-proc --mount --ipc --net --uts -- \
#       prlimit --nproc=64 --as=2000000000 --cpu=20 -- python3 -I -S _control.py <case>
#
# with the token (repr) on stdin, never on a command line (a reader that lists command lines
# would find it there). Inside those namespaces this process is pid 1 (the namespace's init): it
# mounts private tmpfs on /tmp and /dev/shm, drops to an unused uid (unless the case says
# CONTROL_AS_ROOT), and forks one plain parent (pid 2) that plays the part of the zygote:
#
# - CONTROL = "siblings": the parent imports what a zygote would have imported, then forks the
#   writer (exec of WRITER with TOKEN bound), waits for it, forks the reader (exec of READER),
#   waits for it (with CONTROL_FORK = "libc", through libc's fork(2), as a native fork loop
#   does, so that Python's at-fork hooks do not run);
# - CONTROL = "same-process": one child of the parent runs WRITER, then READER, in one process.
#
# Each child hands back repr(result) and its stdout through pipes of its own. The last line of
# this harness's stdout is JSON: {"writer": ..., "reader": ..., "server": ...}, where "server"
# is what became of the plain parent ("exit 0", or "signal N" if something killed it).
import ast
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PIPE_SIZE = 1 << 20


def load_case(name):
    namespace = {"__name__": "leak_case_" + name, "__file__": os.path.join(HERE, name + ".py")}
    sys.path.insert(0, HERE)
    with open(namespace["__file__"]) as f:
        exec(compile(f.read(), namespace["__file__"], "exec"), namespace)
    return namespace


def mount_tmpfs(ctypes_libc, target, mode):
    if not os.path.isdir(target):
        return
    rc = ctypes_libc.mount(b"tmpfs", target.encode(), b"tmpfs", 0, ("mode=%o" % mode).encode())
    if rc != 0:
        import ctypes

        raise OSError(ctypes.get_errno(), "mount tmpfs on " + target)


def read_available(fd):
    """Everything a dead child left in a pipe (daemons may still hold its write end)."""
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def pipe():
    r, w = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(w, 1031, PIPE_SIZE)  # F_SETPIPE_SZ
    except OSError:
        pass
    return r, w


def run_code(sources, token):
    """In a fresh child: exec each source (WRITER gets TOKEN), report repr(result) of each."""
    results = []
    for source, with_token in sources:
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        if with_token:
            namespace["TOKEN"] = token
        try:
            exec(compile(source, "<payload>", "exec"), namespace)
            results.append(repr(namespace.get("result")))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results.append(repr({"control-error": "%s: %s" % (type(exc).__name__, exc)}))
    return results


def child(sources, token, raw_fork=False):
    """Fork a child that runs `sources`; return (results, stdout) once it has exited. With
    raw_fork, fork(2) through libc, as a native fork loop does: Python's at-fork hooks (which
    re-seed random, among others) do not run."""
    out_r, out_w = pipe()
    res_r, res_w = pipe()
    if raw_fork:
        import ctypes

        pid = ctypes.CDLL(None, use_errno=True).fork()
    else:
        pid = os.fork()
    if pid == 0:
        try:
            os.close(out_r)
            os.close(res_r)
            os.dup2(out_w, 1)
            os.close(out_w)
            sys.stdout = open(1, "w", closefd=False)
            results = run_code(sources, token)
            sys.stdout.flush()
            os.write(res_w, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(out_w)
    os.close(res_w)
    os.waitpid(pid, 0)
    stdout = read_available(out_r)
    text = read_available(res_r)
    try:
        results = json.loads(text)
    except ValueError:
        results = [repr({"control-error": "no result: " + text[:200]})] * len(sources)
    return results, stdout


def plain_parent(case, token, report_fd):
    # What a zygote would hold before forking runs: preloaded modules, a session keyring of its
    # own, an inheritable file descriptor.
    import ctypes
    import random  # noqa: F401 - seeded once, here, like a zygote's preload
    import resource  # noqa: F401
    import signal  # noqa: F401
    import socket  # noqa: F401
    import threading  # noqa: F401

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(250, 1, None)  # keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): a fresh anonymous one
    held = os.memfd_create("server-state", 0)  # inheritable
    os.set_inheritable(held, True)
    writer, reader = case["WRITER"], case["READER"]
    raw = case.get("CONTROL_FORK") == "libc"
    if case.get("CONTROL", "siblings") == "same-process":
        (w, r), stdout = child([(writer, True), (reader, False)], token, raw)
        outcome = {"writer": w, "reader": r, "reader_stdout": stdout}
    else:
        (w,), _ = child([(writer, True)], token, raw)
        (r,), stdout = child([(reader, False)], token, raw)
        outcome = {"writer": w, "reader": r, "reader_stdout": stdout}
    os.write(report_fd, json.dumps(outcome).encode())


def main():
    import ctypes

    name = sys.argv[1]
    token = ast.literal_eval(sys.stdin.read())
    case = load_case(name)
    assert os.getpid() == 1, "run me as the init of a pid namespace of my own"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount(None, b"/", None, 0x4000 | 0x40000, None)  # MS_REC | MS_PRIVATE
    mount_tmpfs(libc, "/tmp", 0o1777)
    mount_tmpfs(libc, "/dev/shm", 0o1777)
    os.chdir("/tmp")
    if not case.get("CONTROL_AS_ROOT"):
        uid = 3000000 + int.from_bytes(os.urandom(2), "little")  # unused on this host
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: as a process started by that uid would be
    rep_r, rep_w = pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rep_r)
            plain_parent(case, token, rep_w)
        finally:
            os._exit(0)
    os.close(rep_w)
    _, status = os.waitpid(pid, 0)
    text = read_available(rep_r)
    outcome = json.loads(text) if text else {"writer": None, "reader": None, "reader_stdout": ""}
    if os.WIFSIGNALED(status):
        outcome["server"] = "signal %d" % os.WTERMSIG(status)
    else:
        outcome["server"] = "exit %d" % os.WEXITSTATUS(status)
    sys.stdout.write("\n" + json.dumps(outcome) + "\n")
    sys.stdout.flush()
    # Leaving ends the namespace: the kernel kills whatever the payloads left running.
    os._exit(0)


if __name__ == "__main__":
    main()
