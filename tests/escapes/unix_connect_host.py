# Attack: connect to a unix socket the test listens on in a host directory (argv[1] = path),
# directly and through /proc/1/root.
# Evidence: the host listener accepts no connection. Control: it accepts one.
import socket, sys
path = sys.argv[1]
for p in (path, "/proc/1/root" + path, "/proc/self/root" + path):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(p)
        s.sendall(b"pwned")
        s.close()
        print("CONNECTED", p)
    except OSError as e:
        print("DENIED", p, e.errno)
