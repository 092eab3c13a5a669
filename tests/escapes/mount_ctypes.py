# Attack: mount(2) via ctypes: a tmpfs over a directory in argv[1], a bind mount of / and a
# remount of / read-write (the jail's root is read-only).
# Evidence: "MOUNT_OK" is absent. Control (root, own mount namespace, so harmless): present.
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
MS_BIND, MS_REMOUNT = 0x1000, 0x20
tries = [(b"tmpfs", d.encode(), b"tmpfs", 0), (b"/", d.encode(), None, MS_BIND),
         (None, b"/", None, MS_REMOUNT)]
for src, dst, fstype, flags in tries:
    if libc.mount(src, dst, fstype, flags, None) == 0:
        print("MOUNT_OK", src, dst, flags, flush=True)
        if flags != MS_REMOUNT:
            libc.umount2(dst, 2)
    else:
        print("DENIED", src, dst, flags, ctypes.get_errno(), flush=True)
