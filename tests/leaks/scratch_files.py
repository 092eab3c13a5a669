# Channel: files the writer leaves in its scratch (/tmp, its working directory): plain, hidden,
# nested, in a directory it made unreadable, a FIFO, a symlink, one named after the token.
# The reader walks the scratch (making directories readable again: same uid) and reads it all.
# Control (siblings): one shared /tmp; the reader finds the files.
POLICY = "version = 1\n[guard]\nenabled = false\n"
SESSION = False  # a session's scratch persists from cell to cell by design
CONTROL = "siblings"

WRITER = r"""
import os
for d in {"/tmp", os.getcwd()}:
    open(os.path.join(d, "plain.txt"), "w").write(TOKEN)
    open(os.path.join(d, ".hidden"), "w").write(TOKEN)
    open(os.path.join(d, "name-" + TOKEN), "w").write("x")
    os.makedirs(os.path.join(d, "a/b/c"), exist_ok=True)
    open(os.path.join(d, "a/b/c/deep"), "w").write(TOKEN)
    os.makedirs(os.path.join(d, "locked"), exist_ok=True)
    open(os.path.join(d, "locked/inside"), "w").write(TOKEN)
    os.chmod(os.path.join(d, "locked"), 0)
    try:
        os.mkfifo(os.path.join(d, "fifo-" + TOKEN))
        os.symlink("/nowhere/" + TOKEN, os.path.join(d, "link"))
    except FileExistsError:
        pass
result = sorted(os.listdir("/tmp"))
"""

READER = r"""
import os, stat
found = []
for top in sorted({"/tmp", os.getcwd()}):
    for root, dirs, files in os.walk(top):
        for d in dirs:
            try:
                os.chmod(os.path.join(root, d), 0o700)
            except OSError:
                pass
        for name in dirs + files:
            path = os.path.join(root, name)
            found.append(path)
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode):
                    found.append(os.readlink(path))
                elif stat.S_ISREG(mode):
                    found.append(open(path).read(4096))
            except OSError:
                pass
result = found
"""
