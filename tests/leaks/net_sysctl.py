# Channel: per-network-namespace sysctls (/proc/sys/net/...), shared by every run of a worker.
# The writer writes the token into net.core.somaxconn and into the low end of
# net.ipv4.ip_local_port_range; the reader reads them. Writing needs CAP_NET_ADMIN over the
# network namespace, so the control runs as root in a network namespace of its own.
# Control (siblings, as root): the reader reads the token.
import secrets

POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False
CONTROL = "siblings"
CONTROL_AS_ROOT = True


def TOKEN():
    return 20000 + secrets.randbelow(9000)


WRITER = r"""
done = []
for path, value in (("/proc/sys/net/core/somaxconn", "%d" % TOKEN),
                    ("/proc/sys/net/ipv4/ip_local_port_range", "%d 60999" % TOKEN)):
    try:
        with open(path, "w") as f:
            f.write(value)
        done.append(path)
    except OSError as exc:
        done.append(repr(exc))
result = done
"""

READER = r"""
result = [open(p).read().split() for p in ("/proc/sys/net/core/somaxconn", "/proc/sys/net/ipv4/ip_local_port_range")]
"""
