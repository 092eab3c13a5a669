# Attack: connect to an abstract unix socket ("\0<argv[1]>") the test binds on the host;
# abstract sockets have no file, so only the network namespace (and Landlock scoping) stop it.
# Evidence: the host listener accepts no connection. Control: it accepts one.
import socket, sys
name = "\0" + sys.argv[1]
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    s.connect(name)
    s.sendall(b"pwned")
    s.close()
    print("CONNECTED")
except OSError as e:
    print("DENIED", e.errno)
