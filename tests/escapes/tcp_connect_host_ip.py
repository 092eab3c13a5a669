# Attack: open a TCP connection to the host's external address (argv[1]) and port (argv[2]),
# where the test runs a listener bound to 0.0.0.0.
# Evidence: the host listener accepts no connection. Control: it accepts one.
import socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((ip, port), timeout=1)
    s.sendall(b"pwned")
    s.close()
    print("CONNECTED", ip)
except OSError as e:
    print("DENIED", ip, e.errno)
