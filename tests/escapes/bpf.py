# Attack: bpf(2) via ctypes: create a BPF array map (the entry point of many eBPF exploits).
# Evidence: "BPF_OK" is absent. Control (root): present.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_bpf, BPF_MAP_CREATE, BPF_MAP_TYPE_ARRAY = 321, 0, 2
attr = (ctypes.c_uint32 * 32)(BPF_MAP_TYPE_ARRAY, 4, 4, 1)  # type, key_size, value_size, max_entries
fd = libc.syscall(SYS_bpf, BPF_MAP_CREATE, ctypes.byref(attr), ctypes.sizeof(attr))
print("BPF_OK" if fd >= 0 else "DENIED", ctypes.get_errno(), flush=True)
