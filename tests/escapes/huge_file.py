# Attack: write a single huge file (argv[1] = path, argv[2] = MiB).
# Evidence: with --file-size 1M the write is stopped (SIGXFSZ/EFBIG) and stockade reports
# status "file_limit". Control (2 MiB into a host dir): written ("WROTE 2").
import sys
path, mib = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    for _ in range(mib):
        f.write(b"\0" * (1 << 20))
        f.flush()
print("WROTE", mib)
