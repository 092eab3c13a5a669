# Patch the interpreter (and the hook) by writing /proc/self/mem: open it for writing
# directly, and through a symlink in scratch (the guard checks the lexical path /tmp/…).
# Expected: the direct open DENIED by guard.files.write; the symlink gets past the guard but the
# jail refuses the open (EACCES): contained.

import json, sys

import os

attempt("open_proc_self_mem_rw", lambda: open("/proc/self/mem", "r+b", buffering=0))
os.symlink("/proc/self/mem", "/tmp/mem-link")
attempt("symlink_proc_self_mem_rw", lambda: open("/tmp/mem-link", "r+b", buffering=0))

done()
