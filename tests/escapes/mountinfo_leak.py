# Attack: learn host paths from the mount table (/proc/self/mountinfo, /proc/mounts,
# /proc/1/mountinfo). The test runs this script from a host directory with a random name.
# Evidence: that directory's name must not appear. Control: prints the host's mount table
# (its root filesystem line), showing the payload reads it.
for p in ("/proc/self/mountinfo", "/proc/mounts", "/proc/1/mountinfo"):
    try:
        with open(p) as f:
            print("READ", p, f.read())
    except OSError as e:
        print("DENIED", p, e.errno)
