# Attack: send UDP datagrams to a socket the test binds on the host's 127.0.0.1:<argv[1]>.
# Evidence: the host socket receives nothing. Control: it receives a datagram.
import socket, sys
port = int(sys.argv[1])
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        s.sendto(b"pwned", ("127.0.0.1", port))
    print("SENT")
except OSError as e:
    print("DENIED", e.errno)
