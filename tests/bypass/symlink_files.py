# The file rules compare lexical paths (no symlink resolution, no dir_fd): a symlink in scratch
# to /proc/self/mountinfo, and os.open(relative, dir_fd=<stdlib dir>) with a cwd deep enough
# in scratch that the lexical path stays under /tmp. Expected: DENIED by guard.files.read. What
# gets through can only read what the jail shows anyway (its own private /proc): contained.

import json, sys

import os

os.symlink("/proc/self/mountinfo", "/tmp/mi-link")
attempt("symlink_read_mountinfo", lambda: open("/tmp/mi-link").read(40))


def dir_fd_walk():
    stdlib = os.path.dirname(os.__file__)
    depth = len([p for p in stdlib.split("/") if p])
    deep = "/tmp/" + "/".join("d" * depth)
    os.makedirs(deep)
    os.chdir(deep)
    fd = os.open(stdlib, os.O_RDONLY)
    out = os.read(os.open("../" * depth + "proc/self/mountinfo", os.O_RDONLY, dir_fd=fd), 40)
    os.chdir("/tmp")
    return out


attempt("dir_fd_read_mountinfo", dir_fd_walk)

done()
