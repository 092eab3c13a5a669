# Attack: open a TCP connection to a listener the test runs on the host's 127.0.0.1:<argv[1]>
# (and on ::1 and 0.0.0.0, in case the loopback is shared).
# Evidence: the host listener accepts no connection. Control: it accepts one.
import socket, sys
port = int(sys.argv[1])
for host in ("127.0.0.1", "0.0.0.0", "localhost"):
    try:
        s = socket.create_connection((host, port), timeout=1)
        s.sendall(b"pwned")
        s.close()
        print("CONNECTED", host)
    except OSError as e:
        print("DENIED", host, e.errno)
