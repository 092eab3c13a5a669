# Lower-level openers on /proc: _io.FileIO("/proc/self/mem") for writing, io.open_code on
# /proc/self/mountinfo, os.open of /proc/self/mountinfo. Expected: DENIED by guard.files.*
# (every opener raises the "open" audit event).

import json, sys

import _io
import io
import os

attempt("fileio_proc_self_mem_rw", lambda: _io.FileIO("/proc/self/mem", "r+"))
attempt("fileio_proc_self_mem_r", lambda: _io.FileIO("/proc/self/mem", "r"))
attempt("open_code_mountinfo", lambda: io.open_code("/proc/self/mountinfo").read())
attempt("os_open_mountinfo", lambda: os.open("/proc/self/mountinfo", os.O_RDONLY))

done()
