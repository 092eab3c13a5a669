# Attack: use the kernel keyring (keyctl/add_key via ctypes), which is not namespaced and has
# a long history of bugs: read the session keyring id and add a user key.
# Evidence: "KEYCTL_OK"/"ADD_KEY_OK" are absent. Control: present.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_add_key, SYS_keyctl = 248, 250
KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING = 0, -2
r = libc.syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1)
print("KEYCTL_OK" if r >= 0 else "DENIED keyctl", ctypes.get_errno(), flush=True)
r = libc.syscall(SYS_add_key, b"user", b"stockade-test", b"x", 1, KEY_SPEC_PROCESS_KEYRING)
print("ADD_KEY_OK" if r >= 0 else "DENIED add_key", ctypes.get_errno(), flush=True)
