# Attack: open an AF_PACKET socket (sniff or inject link-layer frames) and bind it to every
# interface the jail can see.
# Evidence: the payload reports "PACKET_OPEN" only on success; the test asserts it is absent.
# Control (root, host network): it is present.
import socket
try:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind(("lo", 0))
    print("PACKET_OPEN")
except OSError as e:
    print("DENIED", e.errno)
