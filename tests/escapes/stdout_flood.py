# Attack: flood stdout with argv[1] MiB.
# Evidence: with --output 64K stockade reports "output_limit", stdout_truncated = true, and the
# captured stdout is at most 64 KiB. Control (1 MiB): all of it is produced.
import sys
mib = int(sys.argv[1])
line = "A" * 1023 + "\n"
for _ in range(mib * 1024):
    sys.stdout.write(line)
