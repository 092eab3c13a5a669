# Attack: open a raw IP socket and hand-craft a UDP packet to the test's UDP socket on
# 127.0.0.1:<argv[1]> (raw sockets bypass port checks and allow spoofing).
# Evidence: the host socket receives nothing. Control (root): it receives the packet.
import socket, struct, sys
port = int(sys.argv[1])
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    payload = b"pwned-raw"
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    s.sendto(udp, ("127.0.0.1", 0))
    print("RAW_SENT")
except OSError as e:
    print("DENIED", e.errno)
