# The writer shared by the abstract_unix_* cases (each case imports it; the payload itself is
# self-contained). It binds listening abstract unix sockets whose names carry the token twice:
# "stockade-leak-<hex>" and one "stockade-leak-bit-<i>" per set bit i of the 32-bit token, then
# keeps them alive after it ends in the two ways a run could try: a process that outlives it
# (forked, setsid, sleeping) and an in-flight SCM_RIGHTS cycle (the sockets and the receiving
# end of a socketpair sent into that same socketpair, every fd closed). The kernel's unix
# garbage collector frees such a cycle, but only when something schedules a collection (the
# release of any unix socket on the host) and then through a deferred fput: the names outlive
# the run by a few milliseconds (in a session, often hundreds).
#
# Measured on Linux 6.18 (Landlock ABI 7, so no network namespace per run): the reader of the
# next pool run finds the names at its start in 5 to 30% of pairs (in /proc/net/unix, by
# EADDRINUSE, by EPERM instead of ECONNREFUSED); hence REPEAT (the test runs the pair that many
# times). With a network namespace per run (forced by STOCKADE_DISABLE_LAYERS=landlock and
# allow_degraded), 0 of 300. In a session the cycle outlives the cell nearly always (15 of 15
# cells), but a cell may keep a socket in its interpreter by design, so SESSION is off.
import secrets


def TOKEN():
    return secrets.randbits(31) | (1 << 31)


def LEAKED(token, outcome):
    value = outcome["reader"]
    if isinstance(value, dict):
        value = value.get("bits")
    return isinstance(value, int) and value & token != 0


WRITER = r"""
import os, socket, time
names = ["stockade-leak-%x" % TOKEN] + ["stockade-leak-bit-%d" % i for i in range(32) if TOKEN >> i & 1]
socks, kept = [], []
for name in names:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind("\0" + name)  # in use: an earlier run's name is still alive
    except OSError as exc:
        kept.append("%s: %s" % (name, exc.strerror))
        s.close()
        continue
    s.listen()
    socks.append(s)
try:
    pid = os.fork()
except OSError as exc:
    pid = -1
    kept.append("fork: " + repr(exc))
if pid == 0:
    try:
        os.setsid()
        keep = {s.fileno() for s in socks}
        for fd in range(0, 256):
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        time.sleep(20)
    finally:
        os._exit(0)
elif pid > 0:
    kept.append("process")
a, b = socket.socketpair()
socket.send_fds(a, [b"x"], [s.fileno() for s in socks] + [b.fileno()])
for s in socks + [a, b]:
    s.close()
kept.append("in-flight")
result = {"names": len(names), "kept": kept}
"""
