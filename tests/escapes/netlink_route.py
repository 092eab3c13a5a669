# Attack: open an AF_NETLINK/NETLINK_ROUTE socket and dump the network interfaces
# (RTM_GETLINK), to learn about or reconfigure the host network.
# Evidence: the host's non-loopback interface name (read by the test from /sys/class/net) must
# not appear. Control: it does.
import socket, struct
try:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    # nlmsghdr(len, type=RTM_GETLINK(18), flags=NLM_F_REQUEST|NLM_F_DUMP, seq, pid) + ifinfomsg
    msg = struct.pack("=LHHLL", 32, 18, 0x301, 1, 0) + struct.pack("=BxHiII", 0, 0, 0, 0, 0)
    s.send(msg)
    data = b""
    s.settimeout(1)
    while True:
        chunk = s.recv(65536)
        data += chunk
        if struct.unpack("=LH", chunk[:6])[1] == 3 or len(data) > 1 << 20:  # NLMSG_DONE
            break
    print("NETLINK", data.decode("latin1"))
except OSError as e:
    print("DENIED", e.errno)
