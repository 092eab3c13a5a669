# Attack: read host hardware/kernel details from /sys (block devices, network interfaces),
# and try to mount a fresh sysfs if /sys is absent.
# Evidence: the host's block device and interface names (read by the test from the real /sys)
# must not appear. Control: they do.
import ctypes, os
for p in ("/sys/block", "/sys/class/net"):
    try:
        print("LIST", p, " ".join(os.listdir(p)))
    except OSError as e:
        print("DENIED", p, e.errno)
libc = ctypes.CDLL(None, use_errno=True)
import tempfile
mnt = tempfile.mkdtemp()
if libc.mount(b"sysfs", mnt.encode(), b"sysfs", 0, None) == 0:
    print("MOUNTED", " ".join(os.listdir(mnt + "/block")))
    libc.umount2(mnt.encode(), 2)
else:
    print("MOUNT_DENIED", ctypes.get_errno())
os.rmdir(mnt)
