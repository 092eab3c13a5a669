# Attack: fill the disk: write 1 MiB files into argv[1] until ENOSPC or argv[2] MiB.
# Evidence: in the jail (/tmp, --scratch 8M) the write fails with ENOSPC after <= 8 MiB and the
# host filesystem is untouched (scratch is a private tmpfs). Control (host dir, 4 MiB): all
# written ("WROTE 4").
import errno, os, sys
d, mib = sys.argv[1], int(sys.argv[2])
chunk = b"\0" * (1 << 20)
written = 0
try:
    for i in range(mib):
        with open(os.path.join(d, f"fill{i}"), "wb") as f:
            f.write(chunk)
        written += 1
    print("WROTE", written)
except OSError as e:
    print("ENOSPC" if e.errno == errno.ENOSPC else "ERROR", e.errno, written)
