# Channel: as signal_kill.py, through pidfd_open(2) + pidfd_send_signal(2) (a pidfd names a
# process once, so a pid reused later cannot redirect the signal).
# Control (siblings): the plain parent dies of the token signal.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"


def TOKEN():
    return secrets.choice([1, 10, 12, 14, 15, 9])


def LEAKED(token, outcome):
    return outcome["server"] == "signal %d" % token


WRITER = r"""
import os, signal
targets = set(range(1, 65)) | {os.getppid()} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
targets -= {0, os.getpid()}
reached = []
for pid in sorted(targets):
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        continue
    try:
        signal.pidfd_send_signal(fd, TOKEN)
        reached.append(pid)
    except OSError:
        pass
    finally:
        os.close(fd)
result = reached
"""

READER = r"""
import os
result = os.getpid()
"""
